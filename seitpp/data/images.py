"""Image data: conversions between arrays and tensors, and a loader for real ImageFolder trees.

Images travel through the project in two forms:
- uint8 arrays (N, H, W, 3), as images are stored and shown;
- float tensors (B, 3, H, W) in [0, 1], as the tokenizer and the models take them.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFile, ImageOps
from tqdm.auto import tqdm

from seitpp.files import FileProblem


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 images (N, H, W, 3) or (H, W, 3) -> float tensor (N, 3, H, W) or (3, H, W) in [0, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(images))
    return x.movedim(-1, -3).float().div_(255.0)


def tensor_to_images(x: torch.Tensor) -> np.ndarray:
    """Float tensor (B, 3, H, W) or (3, H, W) in [0, 1] -> uint8 array (B, H, W, 3) or (H, W, 3)."""
    x = x.detach().clamp(0, 1).mul(255).round().to(torch.uint8)
    return x.movedim(-3, -1).cpu().numpy()


def check_image_batch(images: torch.Tensor, channels: int, multiple: int, value_range: tuple[float, float]) -> None:
    """A ValueError unless `images` is a float batch (B, channels, H, W), H and W multiples of
    `multiple`, with values about in `value_range`.

    A tokenizer given uint8 images, floats in 0-255 or in [-1, 1] for [0, 1] would return ids without
    complaint, nearly all wrong; values further than a tenth of the range outside it are taken for such a
    mistake (resampling may overshoot a little, never that far).
    """
    if images.ndim != 4 or images.shape[1] != channels:
        raise ValueError(f"expected images of shape (B, {channels}, H, W), got {tuple(images.shape)}")
    if images.shape[2] % multiple or images.shape[3] % multiple:
        raise ValueError(f"image size {tuple(images.shape[2:])} is not a multiple of the downsample factor {multiple}")
    lo, hi = value_range
    if not images.is_floating_point():
        raise ValueError(f"expected float images with values in [{lo:g}, {hi:g}], got {images.dtype}; "
                         f"seitpp.data.images_to_tensor converts uint8 (N, H, W, 3) images")
    if images.numel() and images.device.type != "meta":  # a meta tensor (FLOP counting) has no values
        low, high = (float(v) for v in images.aminmax())
        slack = 0.1 * (hi - lo)
        if low < lo - slack or high > hi + slack:
            raise ValueError(f"image values span [{low:g}, {high:g}], expected [{lo:g}, {hi:g}]"
                             + ("; images in 0-255 need dividing by 255 (seitpp.data.images_to_tensor does it)"
                                if high > 2 * hi + 1 else ""))


# ---------------------------------------------------------------------------
# Loading a real ImageFolder tree: root/<class_name>/<image files>
# ---------------------------------------------------------------------------

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
"""File extensions taken as images (compared case-insensitively)."""

_WHITE = (255, 255, 255)


class UnreadableImageError(FileProblem):
    """An image file Pillow cannot decode (not an image, truncated, corrupt). Carries `.path` and `.reason`."""

    kind = "cannot read image"

    @property
    def reason(self) -> str:
        return self.problem


class ImageFolderError(ValueError):
    """The folder does not have the root/<class_name>/<images> structure (missing, empty, no classes, empty class)."""


def _is_image_file(name: str) -> bool:
    return not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)


def _to_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow mode -> "RGB"."""
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # 16-bit grayscale: Pillow's own convert clips values above 255 to white, so rescale 0..65535 -> 0..255.
        a = np.asarray(im, dtype=np.float64) / 257.0
        im = Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8))  # 2-D uint8 -> "L"
    if im.mode == "P":
        # A palette image may mark one palette entry as transparent; go through RGBA so it is handled below.
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        # Composite onto white: dropping alpha would expose whatever colour hides under transparent pixels
        # (often black or garbage), which is not what the image looks like.
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, _WHITE + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im if im.mode == "RGB" else im.convert("RGB")


def load_image(path: str | Path, resolution: int) -> np.ndarray:
    """Decode one image file to uint8 (resolution, resolution, 3) RGB.

    The shorter side is resized to `resolution` (bicubic, antialiased) and the centre square is kept.
    EXIF orientation is applied, so photos come out the way viewers show them.
    Raises UnreadableImageError (naming the path and Pillow's reason) if the file cannot be fully decoded.
    """
    path = Path(path)
    # Pillow silently returns a partly grey image for a truncated file when this global is True
    # (some libraries set it); force it off while we decode so truncation is an error, then restore it.
    truncated_ok = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with Image.open(path) as im:
            # For large JPEGs, let the decoder downscale by 2/4/8 in the DCT domain (much faster) while keeping
            # at least twice the target size, so the bicubic pass below still does the antialiasing.
            w, h = im.size
            scale = 2 * resolution / min(w, h)
            im.draft(None, (max(1, int(w * scale)), max(1, int(h * scale))))
            im.load()  # decode everything now: lazy loading would hide truncation until later
            im = ImageOps.exif_transpose(im)
            im = _to_rgb(im)
            # Resizing the centre square box directly == resizing the shorter side then centre-cropping,
            # without rounding the intermediate size.
            w, h = im.size
            side = min(w, h)
            left, top = (w - side) / 2, (h - side) / 2
            im = im.resize(
                (resolution, resolution), Image.Resampling.BICUBIC, box=(left, top, left + side, top + side)
            )
            return np.asarray(im, dtype=np.uint8).copy()
    except Exception as e:  # Pillow plugins raise OSError, SyntaxError, ValueError, EOFError, zlib/struct errors...
        raise UnreadableImageError(path, f"{type(e).__name__}: {e}") from e
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = truncated_ok


def _names(paths: list[Path], limit: int = 5) -> str:
    shown = ", ".join(p.name for p in paths[:limit])
    return shown + (f", ... ({len(paths) - limit} more)" if len(paths) > limit else "")


def list_images(folder: Path) -> list[Path]:
    """Image files anywhere under `folder` (hidden files and folders skipped), sorted."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]  # don't descend into .git, .ipynb_checkpoints...
        found += [Path(dirpath) / f for f in filenames if _is_image_file(f)]
    return sorted(found)


def image_files(paths: list[str | Path]) -> list[Path]:
    """Files and folders -> the image files they name, in order (a folder: every image under it, sorted).
    A path that does not exist, or a folder without images, is an error that names it."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            images = list_images(path)
            if not images:
                raise ImageFolderError(f"{path}: no image files ({', '.join(IMAGE_EXTENSIONS)}) in this folder")
            found += images
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    return found


class ImageFolderDataset(torch.utils.data.Dataset):
    """Images in `root/<class_name>/**/<image>` as (float tensor (3, R, R) in [0, 1], label) pairs, R = resolution.

    Class folders sorted by name get labels 0..C-1. Files are found recursively with the extensions in
    IMAGE_EXTENSIONS (any case); hidden files and folders are ignored, and so are files directly in root.
    Every class folder must hold at least one image: an empty one is an error, because a silently missing
    class would shift the labels of all classes after it.

    By default an unreadable image raises UnreadableImageError when that item is loaded. With
    skip_unreadable=True every image is decoded once here, unreadable ones are dropped and listed in
    `.skipped` as (path, reason), and one warning says so; after that no item can fail.
    """

    def __init__(self, root: str | Path, resolution: int = 64, skip_unreadable: bool = False):
        if not isinstance(resolution, (int, np.integer)) or resolution < 1:
            raise ValueError(f"resolution must be a positive int, got {resolution!r}")
        self.root = Path(root).expanduser()
        self.resolution = int(resolution)
        self.classes: list[str] = []
        self.samples: list[tuple[Path, int]] = []
        self.skipped: list[tuple[Path, str]] = []

        root = self.root
        if not root.exists():
            raise ImageFolderError(f"image folder {root} does not exist")
        if not root.is_dir():
            raise ImageFolderError(f"image folder {root} is not a directory")

        entries = sorted(p for p in root.iterdir() if not p.name.startswith("."))
        class_dirs = [p for p in entries if p.is_dir()]
        if not class_dirs:
            images = [p for p in entries if _is_image_file(p.name)]
            others = [p for p in entries if not _is_image_file(p.name)]
            if images:
                found = f"found {len(images)} image(s) directly in root ({_names(images)}), no class subfolders"
            elif others:
                found = f"found no images, only {len(others)} other file(s) ({_names(others)})"
            else:
                found = "the folder is empty"
            raise ImageFolderError(
                f"image folder {root} has no class subfolders (expected {root}/<class_name>/<images>): {found}"
            )

        per_class = {d: list_images(d) for d in class_dirs}
        empty = [d for d, files in per_class.items() if not files]
        if len(empty) == len(class_dirs):
            raise ImageFolderError(
                f"image folder {root}: none of its {len(class_dirs)} class subfolder(s) ({_names(class_dirs)}) "
                f"contains images with extensions {', '.join(IMAGE_EXTENSIONS)}"
            )
        if empty:
            raise ImageFolderError(
                f"image folder {root}: {len(empty)} class folder(s) contain no images: "
                f"{', '.join(str(d) for d in empty)}. Add images or remove the folder(s); "
                "a missing class would shift the labels of the classes after it."
            )

        self.classes = [d.name for d in class_dirs]
        self.samples = [(f, label) for label, d in enumerate(class_dirs) for f in per_class[d]]

        if skip_unreadable:
            self._drop_unreadable()

    def _drop_unreadable(self) -> None:
        kept = []
        for path, label in tqdm(self.samples, desc=f"checking images in {self.root.name}", unit="img"):
            try:
                load_image(path, self.resolution)
                kept.append((path, label))
            except UnreadableImageError as e:
                self.skipped.append((path, e.reason))
        if not kept:
            raise ImageFolderError(f"image folder {self.root}: all {len(self.samples)} images are unreadable, "
                                   f"e.g. {self.skipped[0][0]}: {self.skipped[0][1]}")
        if self.skipped:
            # Labels stay as they are (classes keep their index), but say if a class lost all its images.
            lost = sorted(set(self.classes) - {self.classes[label] for _, label in kept})
            lost_note = f"; classes left with no images: {', '.join(lost)}" if lost else ""
            first_path, first_reason = self.skipped[0]
            warnings.warn(
                f"skipped {len(self.skipped)} unreadable image(s) of {len(self.samples)} in {self.root}, "
                f"first: {first_path} ({first_reason}){lost_note}. The list is in .skipped.",
                stacklevel=3,
            )
        self.samples = kept

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        """(float tensor (3, R, R) in [0, 1], label)."""
        path, label = self.samples[i]
        return images_to_tensor(load_image(path, self.resolution)), label


# ---------------------------------------------------------------------------
# Real photographs that ship with scikit-image: no download
# ---------------------------------------------------------------------------

SAMPLE_PHOTOS: tuple[str, ...] = (
    "astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "camera", "coins", "grass", "gravel",
    "brick", "clock",
)
"""scikit-image sample images that are stored inside the package (grayscale ones are repeated to RGB)."""


def photo_crops(num_images: int, resolution: int = 64, seed: int = 0) -> np.ndarray:
    """Random square crops of scikit-image's sample photos, resized -> uint8 (N, R, R, 3).

    Crop i comes from photo i % len(SAMPLE_PHOTOS), with a side drawn log-uniformly between
    `resolution` and the photo's shorter side, at a random place, from np.random.default_rng([seed, i]).
    Real-photo statistics (texture, noise, no flat synthetic backgrounds) where a measurement must not
    be flattered by the Shapes dataset, e.g. the size of entropy-coded tokens.
    """
    from skimage import (
        data as skdata,  # imported here: only this function needs scikit-image
    )

    photos = []
    for name in SAMPLE_PHOTOS:
        photo = getattr(skdata, name)()
        photos.append(Image.fromarray(np.repeat(photo[..., None], 3, -1) if photo.ndim == 2 else photo[..., :3]))
    out = np.empty((num_images, resolution, resolution, 3), np.uint8)
    for i in range(num_images):
        rng = np.random.default_rng([seed, i])
        photo = photos[i % len(photos)]
        w, h = photo.size
        side = int(np.exp(rng.uniform(np.log(resolution), np.log(min(w, h)))))
        left, top = rng.integers(0, w - side + 1), rng.integers(0, h - side + 1)
        crop = photo.resize((resolution, resolution), Image.Resampling.BICUBIC, box=(left, top, left + side, top + side))
        out[i] = np.asarray(crop)
    return out
