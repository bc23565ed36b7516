"""One split in memory, what the training engine reads: token ids, images or DCT levels with class
labels or masks, loaded from `shapes:N`, a `.tokens` store, an ImageFolder tree (images) or an
image/mask folder."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from seitpp.data.images import IMAGE_EXTENSIONS, ImageFolderDataset, UnreadableImageError, load_image
from seitpp.data.shapes import SHAPE_CLASSES, render_shapes
from seitpp.errors import TrainSetupError
from seitpp.files import FileProblem
from seitpp.tokenizers.vq import VQTokenizer
from seitpp.tokens.store import TokenStore

# ----------------------------------------------------------------------------------------------
# One split in memory

KINDS = ("tokens", "pixels", "dct")
TARGETS = ("labels", "masks")


class SegmentationFileError(FileProblem):
    """An image/mask folder that cannot be read as segmentation data; names the file and the problem."""

    kind = "segmentation data"


@dataclass
class Split:
    """Samples and their targets in memory, what the training engine reads.

    `kind` says what `x` holds:
        "tokens"  ids (N, H, W) of a codebook of `codebook_size` K, kept in the narrowest signed type that
                  holds them (int16 for K up to 32768) and widened per batch
        "pixels"  uint8 images (N, H, W, 3)
        "dct"     JPEG's quantised DCT levels, integer (N, 192, h, w) (`seitpp.data.dct.encode`)
    `targets_kind` says what `targets` holds:
        "labels"  class labels (N,) in [0, num_classes)
        "masks"   uint8 masks (N, Hm, Wm): 0 background, c + 1 object class c (`num_classes` counts the
                  background); `ignore_index`, when set, is a mask value outside the classes (ADE20k's
                  255) whose pixels are not scored
    `source` names where the data came from, in messages; `classes` the class names, when known
    (an ImageFolder's subfolders), so that a validation folder can be checked against the training one.
    """

    x: torch.Tensor
    targets: torch.Tensor
    num_classes: int
    codebook_size: int | None = None
    source: str = "tensors"
    tokenizer_hash: str | None = None  # fingerprint of the tokenizer that made the ids, if known
    ignore_index: int | None = None  # masks: unlabelled pixels, in neither loss nor metrics
    kind: str = "tokens"
    targets_kind: str = "labels"
    classes: tuple[str, ...] | None = None
    _fingerprint: str | None = field(default=None, init=False, repr=False)

    def __post_init__(self):
        if self.kind not in KINDS or self.targets_kind not in TARGETS:
            raise TrainSetupError(f"{self.source}: kind must be one of {KINDS} and targets_kind one of {TARGETS}, "
                                  f"got {self.kind!r}, {self.targets_kind!r}")
        x = torch.as_tensor(np.asarray(self.x).astype(np.int64) if isinstance(self.x, np.ndarray)
                            and self.x.dtype == np.uint16 else self.x)
        self.x = self._check_x(x)
        self.targets = self._check_targets(torch.as_tensor(self.targets))

    def _check_x(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "tokens":
            if x.ndim != 3 or x.is_floating_point():
                raise TrainSetupError(f"{self.source}: token ids must be an integer (N, H, W) tensor, got "
                                      f"{x.dtype} {tuple(x.shape)}")
            if self.codebook_size is None:
                raise TrainSetupError(f"{self.source}: token ids need their codebook_size")
            if x.numel() and (x.min() < 0 or x.max() >= self.codebook_size):
                raise TrainSetupError(f"{self.source}: ids from {int(x.min())} to {int(x.max())} do not fit a "
                                      f"codebook of {self.codebook_size}")
            return x.to(torch.int16 if self.codebook_size <= 2**15 else torch.int32)
        if self.codebook_size is not None:
            raise TrainSetupError(f"{self.source}: {self.kind} have no codebook, got codebook_size "
                                  f"{self.codebook_size}")
        if self.kind == "pixels" and (x.ndim != 4 or x.shape[-1] != 3 or x.dtype != torch.uint8):
            raise TrainSetupError(f"{self.source}: images must be uint8 (N, H, W, 3), got {x.dtype} {tuple(x.shape)}")
        if self.kind == "dct" and (x.ndim != 4 or x.shape[1] != 192 or x.is_floating_point()):
            raise TrainSetupError(f"{self.source}: DCT levels must be integer (N, 192, h, w), got {x.dtype} "
                                  f"{tuple(x.shape)}")
        return x

    def _check_targets(self, y: torch.Tensor) -> torch.Tensor:
        if self.targets_kind == "labels":
            y = y.long()
            if len(self.x) != len(y):
                raise TrainSetupError(f"{self.source}: {len(self.x)} samples but {len(y)} labels")
            if len(y) and (y.min() < 0 or y.max() >= self.num_classes):
                raise TrainSetupError(f"{self.source}: labels from {int(y.min())} to {int(y.max())} "
                                      f"do not fit {self.num_classes} classes")
            return y
        if y.ndim != 3 or y.dtype != torch.uint8:
            raise TrainSetupError(f"{self.source}: masks must be uint8 (N, Hm, Wm), got {y.dtype} {tuple(y.shape)}")
        if len(self.x) != len(y):
            raise TrainSetupError(f"{self.source}: {len(self.x)} token grids but {len(y)} masks")
        if not 2 <= self.num_classes <= 256:
            raise TrainSetupError(f"{self.source}: num_classes (background included) must be in [2, 256] for "
                                  f"uint8 masks, got {self.num_classes}")
        if self.ignore_index is not None and not self.num_classes <= self.ignore_index <= 255:
            raise TrainSetupError(f"{self.source}: ignore_index must be a uint8 value that is not a class, in "
                                  f"[{self.num_classes}, 255], got {self.ignore_index}")
        labelled = y if self.ignore_index is None else y[y != self.ignore_index]
        if labelled.numel() and labelled.max() >= self.num_classes:
            raise TrainSetupError(f"{self.source}: mask values up to {int(labelled.max())} do not fit "
                                  f"{self.num_classes} classes (background included)"
                                  + ("" if self.ignore_index is None else f" nor ignore_index {self.ignore_index}"))
        return y

    def __len__(self) -> int:
        return len(self.targets)

    @property
    def grid(self) -> tuple[int, int]:
        """(H, W): the token grid, the image size in pixels, or the DCT block grid."""
        return tuple(self.x.shape[2:4]) if self.kind == "dct" else tuple(self.x.shape[1:3])

    @property
    def mask_size(self) -> tuple[int, int]:
        """(Hm, Wm) of the masks."""
        return tuple(self.targets.shape[1:])

    def fingerprint(self) -> str:
        """A short hash of the samples and targets (computed once): a resumed run must see the same data."""
        if self._fingerprint is None:
            h = hashlib.sha256(str((self.kind, self.targets_kind, tuple(self.x.shape), tuple(self.targets.shape),
                                    self.ignore_index)).encode())
            h.update(self.x.cpu().numpy().tobytes())
            h.update(self.targets.cpu().numpy().tobytes())
            self._fingerprint = h.hexdigest()[:16]
        return self._fingerprint

    def describe(self) -> dict:
        return {"source": self.source, "kind": self.kind, "targets_kind": self.targets_kind,
                "num_samples": len(self), "grid": list(self.grid), "codebook_size": self.codebook_size,
                "num_classes": self.num_classes, "ignore_index": self.ignore_index,
                "tokenizer_hash": self.tokenizer_hash, "fingerprint": self.fingerprint(),
                "classes": None if self.classes is None else list(self.classes)}

    # -- loaders

    @classmethod
    def from_store(cls, path: str | Path) -> "Split":
        """All of a `.tokens` store, decoded once: token ids and labels."""
        path = Path(path)
        if path.is_dir():  # most likely the images themselves: say how to make the store
            raise TrainSetupError(f"{path}: a folder, not a token store; a token model trains on a .tokens file: "
                                  f"python -m seitpp tokenize --source {path} --out {path.name}.tokens")
        store = TokenStore.open(path)  # a missing file: "no such token store"
        classes = store.metadata.get("classes")  # as `tokenize` records them
        return cls(torch.from_numpy(store.read_all().astype(np.int32)), torch.from_numpy(store.labels),
                   store.num_classes, store.codebook_size, str(path), store.tokenizer_hash,
                   classes=tuple(classes) if isinstance(classes, list) and len(classes) == store.num_classes else None)

    @classmethod
    def shapes(cls, num_images: int, split: str = "train", kind: str = "tokens", targets_kind: str = "labels",
               tokenizer: VQTokenizer | None = None) -> "Split":
        """The embedded Shapes dataset: images (kind "pixels") or their tokens from `tokenizer` (default:
        the reference), with labels (12 classes) or the 64 x 64 masks (12 object classes + background)."""
        rendered = render_shapes(num_images, split=split)
        source = f"shapes:{num_images} ({split})"
        masks = targets_kind == "masks"
        targets = torch.from_numpy(rendered.masks if masks else rendered.labels)
        num_classes = len(SHAPE_CLASSES) + masks
        classes = None if masks else SHAPE_CLASSES
        if kind == "pixels":
            return cls(torch.from_numpy(rendered.images), targets, num_classes, None, source, kind=kind,
                       targets_kind=targets_kind, classes=classes)
        if kind != "tokens":
            raise TrainSetupError(f"{source}: Shapes comes as pixels or tokens, not {kind!r}")
        tokenizer = tokenizer or VQTokenizer.load()
        return cls(tokenizer.tokenize_many(rendered.images), targets, num_classes, tokenizer.config.codebook_size,
                   source, tokenizer.fingerprint(), targets_kind=targets_kind, classes=classes)

    @classmethod
    def from_image_folder(cls, root: str | Path, resolution: int = 64, skip_unreadable: bool = False,
                          progress: bool = True) -> "Split":
        """An ImageFolder tree (`root/<class>/**/<image>`, classes sorted by name) as images with labels.

        Each image is decoded as `python -m seitpp tokenize --source root` decodes it before tokenizing
        (`seitpp.data.load_image`: EXIF orientation, shorter side resized to `resolution`, bicubic, centre
        square), so a pixel model sees the very images a token model saw as tokens. An empty class
        folder or an unreadable image stops with an error that names it (`skip_unreadable` drops the
        latter, with a warning). `progress`: a tqdm bar over the images read.
        """
        dataset = ImageFolderDataset(root, resolution=resolution, skip_unreadable=skip_unreadable)
        images = np.empty((len(dataset), dataset.resolution, dataset.resolution, 3), np.uint8)
        for i, (path, _) in enumerate(tqdm(dataset.samples, desc=f"read {dataset.root.name}", unit="img",
                                           disable=not progress)):
            images[i] = load_image(path, dataset.resolution)
        labels = torch.tensor([label for _, label in dataset.samples], dtype=torch.long)
        return cls(torch.from_numpy(images), labels, len(dataset.classes), None, str(dataset.root), kind="pixels",
                   classes=tuple(dataset.classes))

    @classmethod
    def from_folder(cls, root: str | Path, tokenizer: VQTokenizer, num_classes: int, resolution: int = 64,
                    split: str | None = None, ignore_index: int | None = None, progress: bool = True) -> "Split":
        """Image/mask pairs in ADE20k's layout, tokenized by `tokenizer`: token ids and masks.

        `root/images[/split]/<stem>.<any image format>` and `root/annotations[/split]/<stem>.png`,
        a mask holding one class index per pixel (0 background) at its image's size. Both are cut
        to their centre square and resized to `resolution` (image bicubic, mask nearest). Mask
        pixels index the image's stored pixel array (EXIF orientation is not applied to either).
        Pixels equal to `ignore_index` (e.g. 255) are allowed and left unscored. ADE20k:
        num_classes=151, split="training" or "validation". `progress`: a tqdm bar over the pairs read.
        """
        root = Path(root)
        image_dir, mask_dir = (root / name / split if split else root / name for name in ("images", "annotations"))
        for folder in (image_dir, mask_dir):
            if not folder.is_dir():
                raise SegmentationFileError(folder, "no such folder (expected images/ and annotations/ under "
                                                    f"{root}, holding files with the same stems)")
        image_paths = sorted(p for p in image_dir.iterdir()
                             if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS)
        if not image_paths:
            raise SegmentationFileError(image_dir, f"no image files ({', '.join(IMAGE_EXTENSIONS)})")
        stems = [p.stem for p in image_paths]
        if len(set(stems)) < len(stems):
            twice = sorted({s for s in stems if stems.count(s) > 1})
            raise SegmentationFileError(image_dir, f"several images share a stem, so a mask cannot tell which "
                                                   f"is its image: {twice[:5]}")
        pairs = [_read_pair(p, mask_dir / f"{p.stem}.png", num_classes, resolution, ignore_index)
                 for p in tqdm(image_paths, desc=f"read {image_dir.name}", unit="pair", disable=not progress)]
        images, masks = np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
        return cls(tokenizer.tokenize_many(images), torch.from_numpy(masks), num_classes,
                   tokenizer.config.codebook_size, str(root), tokenizer.fingerprint(), ignore_index,
                   targets_kind="masks")


def load_split(spec: str | Path, split: str | None = None, kind: str = "tokens", targets_kind: str = "labels",
               tokenizer: VQTokenizer | None = None, num_classes: int | None = None,
               ignore_index: int | None = None, resolution: int = 64) -> Split:
    """`shapes:N` (N images of the embedded dataset's `split`, default "train", as pixels or as tokens
    of `tokenizer`, default the reference one), a `.tokens` file (labels), an ImageFolder directory
    (images, kind "pixels": `Split.from_image_folder` at `resolution`), or a folder in ADE20k's
    layout (masks: `Split.from_folder`, `split` its subfolder, num_classes required)."""
    text = str(spec)
    if text.startswith("shapes:"):
        try:
            n = int(text.removeprefix("shapes:"))
        except ValueError:
            raise TrainSetupError(f"{text!r}: expected shapes:N with N a number of images") from None
        return Split.shapes(n, split or "train", kind, targets_kind, tokenizer)
    if kind == "pixels":
        if Path(text).is_dir():
            return Split.from_image_folder(text, resolution)
        if not Path(text).exists():
            raise FileNotFoundError(f"{text}: no such image folder")
        raise TrainSetupError(f"{text}: a pixel model needs images: an ImageFolder directory (root/<class>/<images>) "
                              "or shapes:N, not a token store")
    if targets_kind == "labels":
        return Split.from_store(text)
    if num_classes is None:
        raise TrainSetupError(f"{text}: a folder needs its number of classes, background included (ADE20k: 151)")
    return Split.from_folder(text, tokenizer or VQTokenizer.load(), num_classes, resolution, split, ignore_index)


MASK_MODES = ("L", "P", "I", "I;16")  # one integer per pixel


def _read_pair(image_path: Path, mask_path: Path, num_classes: int, resolution: int,
               ignore_index: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """-> image uint8 (resolution, resolution, 3), mask uint8 (resolution, resolution): both centre squares."""
    if not mask_path.is_file():
        raise SegmentationFileError(image_path, f"no mask for this image (expected {mask_path})")
    try:
        with Image.open(image_path) as im:
            im.load()  # decode now, so a truncated file fails here
            image = im.convert("RGB")
    except Exception as e:  # Pillow raises many kinds; all mean "cannot decode"
        raise UnreadableImageError(image_path, f"{type(e).__name__}: {e}") from e
    try:
        with Image.open(mask_path) as im:
            im.load()
            mask = im.copy()
    except Exception as e:
        raise SegmentationFileError(mask_path, f"cannot read mask ({type(e).__name__}: {e})") from e
    if mask.mode not in MASK_MODES:
        raise SegmentationFileError(mask_path, f"a mask holds one class index per pixel (mode "
                                               f"{', '.join(MASK_MODES)}), got mode {mask.mode}")
    if mask.size != image.size:
        raise SegmentationFileError(mask_path, f"mask is {mask.size[0]} x {mask.size[1]} pixels, its image "
                                               f"{image_path.name} is {image.size[0]} x {image.size[1]}")
    values = np.asarray(mask)
    labelled = values if ignore_index is None else values[values != ignore_index]
    if labelled.size and labelled.max() >= num_classes:
        raise SegmentationFileError(mask_path, f"class index {int(labelled.max())} is beyond num_classes "
                                               f"{num_classes} (background 0 included)"
                                               + ("" if ignore_index is None else f" and is not {ignore_index}"))
    w, h = image.size
    side = min(w, h)
    box = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)
    image = image.resize((resolution, resolution), Image.Resampling.BICUBIC, box=box)
    mask = mask.resize((resolution, resolution), Image.Resampling.NEAREST, box=box)
    return np.asarray(image, dtype=np.uint8), np.asarray(mask).astype(np.uint8)
