"""Storage accounting: every format measured on the same images, in consistent units."""
import numpy as np
import pytest

from seitpp.data import render_shapes
from seitpp.tokens import downsample, encoded_bytes, storage_table


def test_downsample_averages_blocks():
    images = np.zeros((1, 4, 4, 3), np.uint8)
    images[0, :2, :2] = 200
    images[0, :2, 2:] = 100
    small = downsample(images, 2)
    assert small.shape == (1, 2, 2, 3)
    assert small[0, 0, 0, 0] == 200 and small[0, 0, 1, 0] == 100 and small[0, 1, 0, 0] == 0


def test_jpeg_quality_orders_sizes():
    image = render_shapes(1).images[0]
    assert encoded_bytes(image, "JPEG", quality=5) < encoded_bytes(image, "JPEG", quality=95)


def test_storage_table_units():
    shapes = render_shapes(40)
    ids = np.random.default_rng(0).integers(0, 391, size=(40, 16, 16))
    rows = {r["format"]: r for r in storage_table(shapes.images, ids, shapes.labels, 391, 12, jpeg_qualities=(75,))}
    raw = rows["raw pixels (uint8 RGB)"]
    assert raw["bytes/image"] == 64 * 64 * 3 and raw["% of raw"] == 100 and raw["bits/token"] == 64 * 64 * 3 * 8 / 256
    fixed = rows["fixed-width tokens, log2(391) bits"]
    assert fixed["bits/token"] == pytest.approx(np.log2(391))
    assert rows["PNG"]["bytes/image"] < raw["bytes/image"]
    assert rows["SeiT token files (gzip)"]["bytes/image"] > 0 and rows["our token store (entropy coded)"]["bytes/image"] > 0
    sizes = [r["bytes/image"] for r in rows.values()]
    assert sizes == sorted(sizes, reverse=True)
