"""Token batches: random crops are real windows of the right grid, labels travel with their ids."""
import numpy as np
import pytest
import torch

from seitpp.tokens import write_store
from seitpp.tokens.loader import TokenLoader, random_crops


def test_random_crops_are_windows_of_their_own_grid():
    grids = torch.arange(5 * 8 * 8).view(5, 8, 8)  # every id unique: a crop reveals where it came from
    crops = random_crops(grids, 3, torch.Generator().manual_seed(0))
    assert crops.shape == (5, 3, 3) and crops.dtype == grids.dtype
    for b in range(5):
        top, left = divmod(int(crops[b, 0, 0]) - b * 64, 8)
        assert torch.equal(crops[b], grids[b, top:top + 3, left:left + 3])
    with pytest.raises(ValueError, match="does not fit"):
        random_crops(grids, 9)


def test_crop_positions_vary():
    grids = torch.arange(8 * 8).view(1, 8, 8).expand(200, 8, 8)
    corners = random_crops(grids, 4, torch.Generator().manual_seed(1))[:, 0, 0]
    assert len(corners.unique()) == 25  # all (8 - 4 + 1)^2 positions occur


def test_loader_keeps_labels_with_their_ids_and_visits_each_image_once():
    n = 100
    ids = np.repeat(np.arange(n, dtype=np.uint16)[:, None, None], 6, axis=1).repeat(6, axis=2)  # grid i holds id i
    labels = np.arange(n) * 10
    loader = TokenLoader(ids, labels, batch_size=16, crop=4, seed=3)
    seen = []
    for batch_ids, batch_labels in loader:
        assert batch_ids.shape == (16, 4, 4) and batch_ids.dtype == torch.int64
        assert torch.equal(batch_ids[:, 0, 0] * 10, batch_labels)
        seen += batch_labels.tolist()
    assert len(loader) == 6 and len(seen) == 96 and len(set(seen)) == 96
    again = TokenLoader(ids, labels, batch_size=16, crop=4, seed=3)
    assert torch.equal(next(iter(again))[1], next(iter(TokenLoader(ids, labels, 16, 4, seed=3)))[1])
    with pytest.raises(ValueError, match="labels"):
        TokenLoader(ids, labels[:5], batch_size=4, crop=4)


def test_loader_reads_a_store(tmp_path):
    ids = np.random.default_rng(0).integers(0, 391, size=(40, 16, 16)).astype(np.uint16)
    labels = np.arange(40) % 4
    write_store(tmp_path / "s.tokens", ids, labels, codebook_size=391, num_classes=4, tokenizer_hash="t")
    loader = TokenLoader.from_store(tmp_path / "s.tokens", batch_size=8, crop=16)
    batch_ids, batch_labels = next(iter(loader))
    for grid, label in zip(batch_ids, batch_labels):
        matches = [i for i in range(40) if np.array_equal(ids[i], grid.numpy())]
        assert len(matches) == 1 and labels[matches[0]] == label
