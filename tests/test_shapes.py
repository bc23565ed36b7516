"""Tests for the procedural Shapes dataset (seitpp.data.shapes)."""
from dataclasses import replace

import numpy as np
import pytest
import torch
from scipy.ndimage import binary_erosion

from seitpp.data import (
    OBJECT_CLASSES,
    SHAPE_CLASSES,
    ShapeParams,
    Shapes,
    ShapesDataset,
    images_to_tensor,
    render_shapes,
    shape_coverage,
)

K = len(SHAPE_CLASSES)
R = 64
LUMA = np.array([0.299, 0.587, 0.114])


@pytest.fixture(scope="module")
def batch() -> Shapes:
    return render_shapes(20 * K, resolution=R, seed=0, split="train")  # 20 images per class


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def random_params(rng: np.random.Generator, label: int) -> ShapeParams:
    size = rng.uniform(0.2, 0.375) * R
    cx, cy = rng.uniform(size, R - size, 2)
    return ShapeParams(label, (float(cx), float(cy)), float(size), float(rng.uniform(-25, 25)))


# --- determinism and indexing -----------------------------------------------------------------

def test_deterministic_for_a_seed():
    a, b = render_shapes(15, seed=3), render_shapes(15, seed=3)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.masks, b.masks)


def test_seeds_and_splits_differ():
    ref = render_shapes(12, seed=0, split="train").images
    for other in (render_shapes(12, seed=1, split="train").images,
                  render_shapes(12, seed=0, split="val").images,
                  render_shapes(12, seed=0, split="test").images):
        # every single image differs, not just the batch as a whole
        assert (ref != other).reshape(12, -1).any(axis=1).all()


def test_prefix_and_single_index(batch):
    small = render_shapes(10)
    np.testing.assert_array_equal(small.images, batch.images[:10])
    np.testing.assert_array_equal(small.masks, batch.masks[:10])
    for i in (0, 7, 13, 50):
        one = render_shapes(1, start=i)
        np.testing.assert_array_equal(one.images[0], batch.images[i])
        np.testing.assert_array_equal(one.masks[0], batch.masks[i])
        assert one.labels[0] == batch.labels[i]
    window = render_shapes(5, start=21)
    np.testing.assert_array_equal(window.images, batch.images[21:26])


def test_progress_bar_does_not_change_output(batch):
    np.testing.assert_array_equal(render_shapes(3, progress=True).images, batch.images[:3])


# --- arrays -----------------------------------------------------------------------------------

def test_dtypes_shapes_and_balanced_labels(batch):
    n = 20 * K
    assert batch.images.shape == (n, R, R, 3) and batch.images.dtype == np.uint8
    assert batch.masks.shape == (n, R, R) and batch.masks.dtype == np.uint8
    assert batch.labels.shape == (n,) and batch.labels.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(batch.labels, minlength=K), np.full(K, 20))
    np.testing.assert_array_equal(render_shapes(4, start=10).labels, [10, 11, 0, 1])
    small = render_shapes(3, resolution=32)
    assert small.images.shape == (3, 32, 32, 3) and small.masks.shape == (3, 32, 32)
    assert render_shapes(0).images.shape == (0, R, R, 3)


def test_masks_are_aligned_with_the_object(batch):
    for img, mask, label in zip(batch.images, batch.masks, batch.labels):
        assert set(np.unique(mask)) == {0, label + 1}  # background plus exactly this class
        obj = mask > 0
        assert 0.02 < obj.mean() < 0.6  # object covers ~40-75% of the side, minus its holes/corners
        luma = (img / 255.0) @ LUMA
        # object colours sit >= 0.3 away from the background's luminance, so a mask shifted off the
        # object, or one of the wrong shape, would mix the two populations and shrink this gap
        assert abs(luma[obj].mean() - luma[~obj].mean()) > 0.2
        # and nearly every object pixel is on the object's side of the background mean
        side = np.sign(luma[obj].mean() - luma[~obj].mean())
        assert ((luma[obj] - luma[~obj].mean()) * side > 0.1).mean() > 0.9


# --- geometry ---------------------------------------------------------------------------------

def test_coverage_is_antialiased():
    cov = shape_coverage(ShapeParams(0, (31.3, 30.7), 15.0, 10.0), R)
    assert cov.shape == (R, R) and cov.dtype == np.float32
    assert cov.min() == 0.0 and cov.max() == 1.0
    assert ((cov > 0) & (cov < 1)).sum() > 20  # partial pixels along the edge
    # the area matches the analytic disc area (radius 0.85 * size) far better than 1 px per edge px
    assert abs(cov.sum() - np.pi * (0.85 * 15.0) ** 2) < 10
    exact = shape_coverage(ShapeParams(0, (31.3, 30.7), 15.0, 10.0), R, supersample=8)
    assert np.abs(cov - exact).max() <= 0.5


@pytest.mark.parametrize("label", range(K))
def test_horizontal_flip_keeps_the_shape(label):
    """hflip is label-preserving: the mirrored object is the same class at mirrored params."""
    rng = np.random.default_rng(label)
    for _ in range(4):
        p = random_params(rng, label)
        flipped = np.fliplr(shape_coverage(p, R)) >= 0.5
        mirrored = shape_coverage(p.mirrored(R), R) >= 0.5
        assert iou(flipped, mirrored) > 0.97
        twice = p.mirrored(R).mirrored(R)
        assert twice.label == p.label and twice.size == p.size and twice.rotation == p.rotation
        assert twice.center == pytest.approx(p.center)


def test_mirrored_is_not_the_identity():
    # guard for the test above: a rotated object's flip is a genuinely different mask, so the
    # agreement comes from the mirror symmetry of the shape, not from nothing having moved
    p = ShapeParams(SHAPE_CLASSES.index("triangle"), (24.0, 30.0), 18.0, 20.0)
    assert iou(shape_coverage(p, R) >= 0.5, np.fliplr(shape_coverage(p, R)) >= 0.5) < 0.8


@pytest.mark.parametrize("label", range(len(OBJECT_CLASSES)))
def test_objects_face_either_way_and_a_flip_turns_them(label):
    """The "objects" have no mirror symmetry: facing the other way is a different mask (so a flip is
    a new image), and the flip of an image is exactly the object turned, the label kept."""
    rng = np.random.default_rng(label)
    for _ in range(4):
        p = replace(random_params(rng, label), classes="objects")
        flipped = np.fliplr(shape_coverage(p, R)) >= 0.5
        assert iou(flipped, shape_coverage(p.mirrored(R), R) >= 0.5) > 0.97
        assert p.mirrored(R).facing == -p.facing and p.mirrored(R).mirrored(R).facing == p.facing
    upright = ShapeParams(label, (32.0, 32.0), 20.0, 0.0, "objects")
    turned = replace(upright, facing=-1)
    assert iou(shape_coverage(upright, R) >= 0.5, shape_coverage(turned, R) >= 0.5) < 0.8, OBJECT_CLASSES[label]


def test_objects_are_distinguishable_facing_either_way():
    """No object turned either way looks like another one (a flip must not make a class of another)."""
    masks = {(c, f): shape_coverage(ShapeParams(c, (32.0, 32.0), 20.0, 0.0, "objects", f), R) >= 0.5
             for c in range(len(OBJECT_CLASSES)) for f in (1, -1)}
    for (a, fa), ma in masks.items():
        for (b, fb), mb in masks.items():
            if a < b:
                assert iou(ma, mb) < 0.8, (OBJECT_CLASSES[a], fa, OBJECT_CLASSES[b], fb)


def test_flat_objects_are_one_colour_in_the_photo_scene():
    photo, flat = render_shapes(48, style="photo"), render_shapes(48, style="flat")
    np.testing.assert_array_equal(photo.masks, flat.masks)  # the same objects, where they were

    def spread_inside(shapes: Shapes) -> float:  # the colour's spread inside the object, 2 pixels off its edge
        return float(np.median([shapes.images[i][binary_erosion(m > 0, iterations=2)].std(axis=0).mean()
                                for i, m in enumerate(shapes.masks)]))

    assert spread_inside(flat) < 4 < 8 < spread_inside(photo)  # flat: the sensor grain (0.012 x 255) only


def test_the_objects_set_renders_both_facings_and_leaves_the_shapes_as_they_were():
    objects = render_shapes(48, classes="objects")
    assert objects.images.shape == (48, R, R, 3) and set(objects.labels) == set(range(len(OBJECT_CLASSES)))
    assert not np.array_equal(objects.images, render_shapes(48).images)
    with pytest.raises(ValueError, match="unknown class set"):
        render_shapes(2, classes="animals")


def test_classes_are_distinguishable_by_shape():
    rng = np.random.default_rng(0)
    for _ in range(3):
        base = random_params(rng, 0)
        masks = [shape_coverage(ShapeParams(c, base.center, base.size, base.rotation), R) >= 0.5
                 for c in range(K)]
        for a in range(K):
            for b in range(a + 1, K):
                assert iou(masks[a], masks[b]) < 0.9, (SHAPE_CLASSES[a], SHAPE_CLASSES[b])


def test_colour_does_not_define_the_class(batch):
    obj_colour = np.array([(img[m > 0] / 255.0).mean(axis=0)
                           for img, m in zip(batch.images, batch.masks)])  # (N, 3)
    for c in range(K):
        cols = obj_colour[batch.labels == c]
        assert (cols.std(axis=0) > 0.15).all(), SHAPE_CLASSES[c]
        luma = cols @ LUMA
        assert luma.max() - luma.min() > 0.5, SHAPE_CLASSES[c]  # both dark and light objects
    # class-mean colours are close compared with the spread inside a class
    means = np.stack([obj_colour[batch.labels == c].mean(axis=0) for c in range(K)])
    assert means.std(axis=0).max() < 0.5 * obj_colour.std(axis=0).min()


# --- dataset and arguments --------------------------------------------------------------------

def test_dataset():
    ds = ShapesDataset(13, resolution=32, seed=1, split="val")
    assert len(ds) == 13 and ds.classes == SHAPE_CLASSES
    x, y = ds[12]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and y == 0
    assert 0.0 <= x.min() and x.max() <= 1.0
    torch.testing.assert_close(x, images_to_tensor(render_shapes(1, 32, 1, "val", start=12).images[0]))
    xb, yb = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert xb.shape == (4, 3, 32, 32) and yb.tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("kwargs", [
    dict(num_images=2, split="holdout"),
    dict(num_images=2, resolution=8),
    dict(num_images=-1),
    dict(num_images=2, start=-1),
])
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        render_shapes(**kwargs)


def test_bad_arguments_raise_elsewhere():
    with pytest.raises(ValueError, match="split"):
        ShapesDataset(4, split="training")
    with pytest.raises(ValueError, match="supersample"):
        shape_coverage(ShapeParams(0, (32.0, 32.0), 16.0, 0.0), R, supersample=0)


def _dilate(mask: np.ndarray, r: int) -> np.ndarray:
    """Binary dilation by a (2r + 1) square: a max filter."""
    t = torch.from_numpy(mask.astype(np.float32))[None, None]
    return torch.nn.functional.max_pool2d(t, 2 * r + 1, 1, r)[0, 0].numpy() > 0


def _erode(mask: np.ndarray, r: int) -> np.ndarray:
    return ~_dilate(~mask, r)


def test_sketch_draws_the_same_objects_as_outlines_on_plain_paper():
    photo = render_shapes(24, split="test")
    sketch = render_shapes(24, split="test", style="sketch")
    assert np.array_equal(photo.labels, sketch.labels)
    assert np.array_equal(photo.masks, sketch.masks)  # same geometry, image by image
    luma = sketch.images.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    for i in range(len(luma)):
        inside = photo.masks[i] > 0
        edge = _dilate(inside, 1) & ~_erode(inside, 1)  # a band along the boundary
        far = ~_dilate(inside, 3)
        assert luma[i][far].std() < 6  # paper: no clutter, no texture, only grain
        assert np.percentile(luma[i][edge], 25) < luma[i][far].mean() - 60  # dark ink along it
        deep = _erode(inside, 4)
        if deep.any():  # the object's inside is paper, not fill
            assert abs(np.median(luma[i][deep]) - np.median(luma[i][far])) < 10
    with pytest.raises(ValueError, match="unknown style"):
        render_shapes(2, style="cartoon")
