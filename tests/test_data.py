"""Tests for seitpp.data: array/tensor conversions and the ImageFolder loader on tiny trees built in tmp_path."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from seitpp.data import (
    IMAGE_EXTENSIONS,
    ImageFolderDataset,
    ImageFolderError,
    UnreadableImageError,
    images_to_tensor,
    load_image,
    tensor_to_images,
)

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def solid(color, size=(12, 10), mode="RGB") -> Image.Image:
    return Image.new(mode, size, color)


def save(img: Image.Image, path: Path, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **kw)
    return path


def noise_image(size=(64, 64), seed=0) -> Image.Image:
    """Incompressible content, so that cutting the file in half cuts the pixel data."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def make_tree(root: Path, spec: dict[str, list[str]], color=GREEN) -> None:
    """spec: class name -> file names (PNG content) inside it."""
    for cls, names in spec.items():
        (root / cls).mkdir(parents=True, exist_ok=True)
        for name in names:
            save(solid(color), root / cls / name, format="PNG")


# ---------------------------------------------------------------------------
# images_to_tensor / tensor_to_images
# ---------------------------------------------------------------------------

def test_round_trip_is_exact_on_uint8():
    images = np.random.default_rng(0).integers(0, 256, (3, 5, 7, 3), dtype=np.uint8)
    images[0, 0, 0] = [0, 128, 255]
    x = images_to_tensor(images)
    assert x.shape == (3, 3, 5, 7) and x.dtype == torch.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    back = tensor_to_images(x)
    assert back.dtype == np.uint8 and back.shape == images.shape
    np.testing.assert_array_equal(back, images)
    # A single image (H, W, 3) works too.
    np.testing.assert_array_equal(tensor_to_images(images_to_tensor(images[1])), images[1])


# ---------------------------------------------------------------------------
# load_image: formats, modes, resizing
# ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    "name, kw, tol",
    [
        ("a.jpg", {"format": "JPEG", "quality": 95}, 6),
        ("a.jpeg", {"format": "JPEG", "quality": 95}, 6),
        ("a.JPG", {"format": "JPEG", "quality": 95}, 6),
        ("a.png", {"format": "PNG"}, 0),
        ("a.PNG", {"format": "PNG"}, 0),
        ("a.webp", {"format": "WEBP", "lossless": True}, 0),
        ("a.bmp", {"format": "BMP"}, 0),
    ],
)
def test_load_image_formats(tmp_path, name, kw, tol):
    path = save(solid((200, 40, 90), size=(20, 14)), tmp_path / name, **kw)
    out = load_image(path, 8)
    assert out.shape == (8, 8, 3) and out.dtype == np.uint8
    assert np.abs(out.astype(int) - [200, 40, 90]).max() <= tol


def test_grayscale_becomes_rgb(tmp_path):
    path = save(solid(77, mode="L"), tmp_path / "g.png")
    out = load_image(path, 6)
    assert out.shape == (6, 6, 3)
    assert (out == 77).all()


def test_rgba_transparent_pixels_become_white(tmp_path):
    img = Image.new("RGBA", (10, 10), (0, 0, 0, 0))  # fully transparent black: must show as white
    img.paste((255, 0, 0, 255), (0, 0, 10, 5))  # top half opaque red
    out = load_image(save(img, tmp_path / "t.png"), 10)
    assert (out[:5] == RED).all()
    assert (out[5:] == WHITE).all()


def test_half_transparent_and_la_are_composited_on_white(tmp_path):
    out = load_image(save(Image.new("RGBA", (4, 4), (0, 0, 0, 128)), tmp_path / "half.png"), 4)
    assert np.abs(out.astype(int) - 127).max() <= 1  # 50% black over white = mid grey
    out = load_image(save(Image.new("LA", (4, 4), (0, 0)), tmp_path / "la.png"), 4)
    assert (out == 255).all()


def test_palette_images(tmp_path):
    img = Image.new("P", (8, 8), 0)
    img.putpalette([0, 0, 255] + [255, 0, 0] + [0] * (3 * 254))  # index 0 blue, 1 red
    img.paste(1, (0, 0, 8, 4))
    out = load_image(save(img, tmp_path / "p.png"), 8)
    assert (out[:4] == RED).all() and (out[4:] == BLUE).all()
    # Same palette with index 0 marked transparent -> white, not blue.
    out = load_image(save(img, tmp_path / "pt.png", transparency=0), 8)
    assert (out[:4] == RED).all() and (out[4:] == WHITE).all()


def test_16bit_grayscale_is_rescaled_not_clipped(tmp_path):
    a = np.zeros((4, 8), dtype=np.uint16)
    a[:, 2:4] = 257 * 128  # mid grey in 16 bits
    a[:, 4:] = 65535  # white
    path = save(Image.fromarray(a), tmp_path / "g16.png")
    with Image.open(path) as im:
        assert im.mode.startswith("I")  # really a 16-bit (or 32-bit int) image on reload
    # Each half loaded separately at native size, so no resampling mixes the columns.
    out = load_image(save(Image.fromarray(a[:, :4]), tmp_path / "left.png"), 4)
    assert (out[:, :2] == 0).all() and (out[:, 2:] == 128).all()
    out = load_image(save(Image.fromarray(a[:, 4:]), tmp_path / "right.png"), 4)
    assert (out == 255).all()


def _three_bands(width: int, height: int, horizontal: bool) -> Image.Image:
    """Red outer quarters, green middle half, along the long side."""
    a = np.zeros((height, width, 3), dtype=np.uint8)
    a[...] = RED
    if horizontal:
        a[:, width // 4: 3 * width // 4] = GREEN
    else:
        a[height // 4: 3 * height // 4] = GREEN
    return Image.fromarray(a)


@pytest.mark.parametrize("horizontal", [True, False])
def test_centre_crop_of_non_square_image(tmp_path, horizontal):
    size = (40, 20) if horizontal else (20, 40)
    path = save(_three_bands(*size, horizontal), tmp_path / "wide.png")
    out = load_image(path, 20)  # shorter side already 20: a pure centre crop
    assert (out == GREEN).all()
    # Downscaled 2.5x: the middle is pure green; only the outermost pixels may get a little antialiasing bleed
    # from just outside the crop (the same as torchvision's Resize + CenterCrop).
    out = load_image(path, 8)
    middle = out[:, 2:-2] if horizontal else out[2:-2]
    assert (middle == GREEN).all()
    assert out[..., 1].mean() > 4 * out[..., 0].mean()


def test_resize_matches_torchvision_resize_then_centre_crop(tmp_path):
    from torchvision.transforms import CenterCrop, InterpolationMode, Resize

    img = noise_image(size=(48, 32), seed=1)
    path = save(img, tmp_path / "n.png")
    ref = CenterCrop(16)(Resize(16, interpolation=InterpolationMode.BICUBIC)(img))
    out = load_image(path, 16)
    assert np.abs(out.astype(int) - np.asarray(ref, dtype=int)).max() <= 1


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (16, 16), BLUE)
    img.paste(RED, (0, 0, 16, 8))  # stored: red top half, blue bottom half
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: viewers rotate 90 degrees clockwise, so red ends up on the right
    path = save(img, tmp_path / "rot.jpg", quality=95, exif=exif)
    out = load_image(path, 16).astype(int)
    assert np.abs(out[:, 11:] - RED).max() <= 20 and np.abs(out[:, :5] - BLUE).max() <= 20


def test_upscaling_small_images(tmp_path):
    out = load_image(save(solid(BLUE, size=(5, 3)), tmp_path / "s.bmp"), 16)
    assert out.shape == (16, 16, 3) and (out == BLUE).all()


# ---------------------------------------------------------------------------
# ImageFolderDataset: structure
# ---------------------------------------------------------------------------

def test_dataset_every_format_labels_and_tensors(tmp_path):
    root = tmp_path / "data"
    save(solid(RED), root / "cat" / "1.jpg", format="JPEG")
    save(solid(RED), root / "cat" / "2.JPEG", format="JPEG")
    save(solid(GREEN), root / "dog" / "3.png")
    save(solid(GREEN), root / "dog" / "4.webp", lossless=True)
    save(solid(BLUE), root / "ant" / "5.bmp")
    save(solid(BLUE), root / "ant" / "6.Png", format="PNG")

    ds = ImageFolderDataset(root, resolution=16)
    assert ds.classes == ["ant", "cat", "dog"]
    assert len(ds) == 6
    assert [label for _, label in ds.samples] == [0, 0, 1, 1, 2, 2]
    assert ds.skipped == []
    expected = {0: BLUE, 1: RED, 2: GREEN}
    for i in range(len(ds)):
        x, label = ds[i]
        assert isinstance(label, int) and label == ds.samples[i][1]
        assert x.shape == (3, 16, 16) and x.dtype == torch.float32
        assert 0.0 <= x.min() and x.max() <= 1.0
        mean = x.mean(dim=(1, 2)) * 255
        assert torch.allclose(mean, torch.tensor(expected[label], dtype=torch.float32), atol=6)


def test_default_resolution_and_dataloader(tmp_path):
    make_tree(tmp_path, {"a": ["1.png", "2.png"], "b": ["3.png"]})
    ds = ImageFolderDataset(tmp_path)
    x, y = next(iter(torch.utils.data.DataLoader(ds, batch_size=3)))
    assert x.shape == (3, 3, 64, 64) and y.tolist() == [0, 0, 1]


def test_labels_follow_sorted_class_names(tmp_path):
    make_tree(tmp_path, {"zebra": ["z.png"], "Apple": ["a.png"], "mango": ["m.png"], "10": ["t.png"], "9": ["n.png"]})
    ds = ImageFolderDataset(tmp_path, resolution=4)
    assert ds.classes == ["10", "9", "Apple", "mango", "zebra"]  # plain string order, like torchvision
    assert {p.name: label for p, label in ds.samples} == {"t.png": 0, "n.png": 1, "a.png": 2, "m.png": 3, "z.png": 4}


def test_nested_files_found_hidden_and_non_images_ignored(tmp_path):
    make_tree(tmp_path, {"a": ["top.png", "x/deep.png", "x/y/deeper.PNG", "b.png"], "b": ["only.png"]})
    (tmp_path / "a" / "x" / "y").mkdir(parents=True, exist_ok=True)
    # Ignored: hidden files, hidden folders (at any depth and as classes), non-image files, files in root.
    make_tree(tmp_path, {".hidden_class": ["h.png"], "a/.ipynb_checkpoints": ["c.png"], "a/x/.cache": ["c.png"]})
    save(solid(RED), tmp_path / "a" / ".dotfile.png")
    save(solid(RED), tmp_path / "a" / "anim.gif")
    save(solid(RED), tmp_path / "a" / "scan.tiff")
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    (tmp_path / "a" / "png").write_text("no extension")
    save(solid(RED), tmp_path / "root_level.png")
    (tmp_path / "README.md").write_text("hello")

    ds = ImageFolderDataset(tmp_path, resolution=4)
    assert ds.classes == ["a", "b"]
    rel = [(p.relative_to(tmp_path).as_posix(), label) for p, label in ds.samples]
    assert rel == [("a/b.png", 0), ("a/top.png", 0), ("a/x/deep.png", 0), ("a/x/y/deeper.PNG", 0), ("b/only.png", 1)]
    assert set(IMAGE_EXTENSIONS) == {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


def test_root_missing(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(ImageFolderError, match="does not exist") as e:
        ImageFolderDataset(missing)
    assert str(missing) in str(e.value)


def test_root_is_a_file(tmp_path):
    f = tmp_path / "file.png"
    save(solid(RED), f)
    with pytest.raises(ImageFolderError, match="not a directory") as e:
        ImageFolderDataset(f)
    assert str(f) in str(e.value)


def test_root_empty(tmp_path):
    (tmp_path / ".DS_Store").write_text("")  # hidden files don't count
    with pytest.raises(ImageFolderError, match="no class subfolders") as e:
        ImageFolderDataset(tmp_path)
    assert str(tmp_path) in str(e.value) and "empty" in str(e.value)


def test_images_directly_in_root(tmp_path):
    save(solid(RED), tmp_path / "a.png")
    save(solid(RED), tmp_path / "b.jpg")
    with pytest.raises(ImageFolderError, match="directly in root") as e:
        ImageFolderDataset(tmp_path)
    msg = str(e.value)
    assert str(tmp_path) in msg and "2 image" in msg and "a.png" in msg


def test_only_non_image_files_in_root(tmp_path):
    (tmp_path / "labels.csv").write_text("x")
    with pytest.raises(ImageFolderError, match="labels.csv"):
        ImageFolderDataset(tmp_path)


def test_empty_class_folder_is_an_error(tmp_path):
    make_tree(tmp_path, {"a": ["1.png"], "c": ["2.png"]})
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "notes.txt").write_text("no images here")
    with pytest.raises(ImageFolderError, match="contain no images") as e:
        ImageFolderDataset(tmp_path)
    assert str(tmp_path / "b") in str(e.value)


def test_no_class_has_images(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b" / "sub").mkdir(parents=True)
    with pytest.raises(ImageFolderError, match="none of its 2 class subfolder"):
        ImageFolderDataset(tmp_path)


def test_bad_resolution(tmp_path):
    make_tree(tmp_path, {"a": ["1.png"]})
    with pytest.raises(ValueError, match="resolution"):
        ImageFolderDataset(tmp_path, resolution=0)


# ---------------------------------------------------------------------------
# Unreadable images
# ---------------------------------------------------------------------------

def write_garbage(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not an image at all" * 10)
    return path


def write_truncated(path: Path, fmt: str) -> Path:
    """A real image file cut in half."""
    save(noise_image(), path, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def test_garbage_bytes_named_jpg(tmp_path):
    path = write_garbage(tmp_path / "fake.jpg")
    with pytest.raises(UnreadableImageError) as e:
        load_image(path, 8)
    assert isinstance(e.value, ValueError)
    assert str(path) in str(e.value) and "cannot identify image file" in str(e.value)
    assert e.value.path == path


@pytest.mark.parametrize("fmt, name", [("PNG", "cut.png"), ("JPEG", "cut.jpg")])
@pytest.mark.parametrize("pillow_allows_truncated", [False, True])
def test_truncated_files_fail(tmp_path, monkeypatch, fmt, name, pillow_allows_truncated):
    # Even if something set Pillow's global to load truncated files, ours must still fail, and the global is restored.
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", pillow_allows_truncated)
    path = write_truncated(tmp_path / name, fmt)
    with Image.open(path) as im:  # the header is intact: Pillow opens it lazily without complaint
        assert im.size == (64, 64)
    with pytest.raises(UnreadableImageError) as e:
        load_image(path, 8)
    assert str(path) in str(e.value)
    assert "truncated" in str(e.value) or "broken" in str(e.value) or "EOF" in str(e.value)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is pillow_allows_truncated


def test_unreadable_error_raised_when_item_is_loaded(tmp_path):
    make_tree(tmp_path, {"a": ["good.png"]})
    bad = write_garbage(tmp_path / "a" / "zbad.jpg")
    ds = ImageFolderDataset(tmp_path, resolution=8)  # the constructor does not decode by default
    assert len(ds) == 2
    ds[0]
    with pytest.raises(UnreadableImageError, match="zbad.jpg") as e:
        ds[1]
    assert e.value.path == bad


def test_unreadable_error_pickles(tmp_path):
    err = UnreadableImageError(tmp_path / "x.jpg", "OSError: boom")
    back = pickle.loads(pickle.dumps(err))
    assert isinstance(back, UnreadableImageError) and str(back) == str(err) and back.reason == "OSError: boom"


def test_skip_unreadable(tmp_path):
    make_tree(tmp_path, {"a": ["1.png", "2.png"], "b": ["3.png"]})
    garbage = write_garbage(tmp_path / "a" / "0garbage.jpg")
    cut = write_truncated(tmp_path / "b" / "cut.png", "PNG")
    with pytest.warns(UserWarning, match=r"skipped 2 unreadable image\(s\) of 5") as record:
        ds = ImageFolderDataset(tmp_path, resolution=8, skip_unreadable=True)
    assert len(record) == 1 and "0garbage.jpg" in str(record[0].message)  # the first one is named
    assert [p for p, _ in ds.skipped] == [garbage, cut]
    assert all(reason for _, reason in ds.skipped)
    assert len(ds) == 3 and [label for _, label in ds.samples] == [0, 0, 1]
    assert ds.classes == ["a", "b"]
    for i in range(len(ds)):
        x, _ = ds[i]
        assert x.shape == (3, 8, 8)


def test_skip_unreadable_with_nothing_to_skip_is_silent(tmp_path, recwarn):
    make_tree(tmp_path, {"a": ["1.png"]})
    ds = ImageFolderDataset(tmp_path, resolution=4, skip_unreadable=True)
    assert len(ds) == 1 and ds.skipped == []
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


def test_skip_unreadable_keeps_labels_when_a_class_loses_everything(tmp_path):
    make_tree(tmp_path, {"a": ["1.png"], "c": ["2.png"]})
    write_garbage(tmp_path / "b" / "bad.jpg")
    with pytest.warns(UserWarning, match="classes left with no images: b"):
        ds = ImageFolderDataset(tmp_path, resolution=4, skip_unreadable=True)
    assert ds.classes == ["a", "b", "c"] and [label for _, label in ds.samples] == [0, 2]


def test_skip_unreadable_all_bad_is_an_error(tmp_path):
    write_garbage(tmp_path / "a" / "1.jpg")
    write_truncated(tmp_path / "b" / "2.jpg", "JPEG")
    with pytest.raises(ImageFolderError, match="all 2 images are unreadable"):
        ImageFolderDataset(tmp_path, resolution=4, skip_unreadable=True)


def test_photo_crops_are_deterministic_real_and_varied():
    from seitpp.data import SAMPLE_PHOTOS, photo_crops

    a = photo_crops(2 * len(SAMPLE_PHOTOS), resolution=32, seed=1)
    assert a.shape == (2 * len(SAMPLE_PHOTOS), 32, 32, 3) and a.dtype == np.uint8
    assert np.array_equal(a, photo_crops(2 * len(SAMPLE_PHOTOS), resolution=32, seed=1))
    assert not np.array_equal(a, photo_crops(2 * len(SAMPLE_PHOTOS), resolution=32, seed=2))
    assert len({im.tobytes() for im in a}) == len(a)  # every crop differs
    assert a.reshape(len(a), -1).std(axis=1).min() > 1  # no blank crops
