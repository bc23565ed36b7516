"""Semantic segmentation from tokens: data, a token ViT with a light decoder, aligned augmentation,
mIoU, and a small training loop built from the classification engine's pieces.

The paper reports +4.2 mIoU on ADE20k from SeiT++. Here the same ideas at small scale:

    ids (B, H, W) --token ViT encoder--> (B, 1 + L, D) --patches as a map--> (B, D, H/2, W/2)
        --decoder--> logits (B, classes, H, W) --bilinear--> (B, classes, Hm, Wm), scored against masks (B, Hm, Wm)

A mask holds one class per pixel: 0 is background, c + 1 is object class c (Shapes' convention,
and ADE20k's, whose 0 is "other"). A data set may name one more value, `ignore_index` (255 for
the usual "unlabelled"), for pixels that count in neither the loss nor the metrics. Masks keep
their pixel resolution; the model predicts one logit map per token (a patch is 2 x 2 tokens) and
upsamples it to the mask.

Augmentation has to move tokens and masks together. `SegmentationAugment` draws one affine theta
per sample (flip, affine chain, resized crop: `seitpp.tokenadapt.GeometryDistribution`) and
applies it to the mask with `seitpp.augment.warp` (nearest neighbour) and to the tokens either
through TokenAdapt (f -> warp -> g, given the same theta) or directly on the grid (the naive warp).
Because theta is in [-1, 1] coordinates, one theta is the same geometry on a 16 x 16 grid and on
its 64 x 64 mask. ColorAdapt changes what tokens say, not where they are: it acts on tokens only.

`train_segmentation` reuses the engine's schedule (`lr_at`), timm's AdamW factory with layer-wise
decay, its seeding scheme (every random draw of step s from seeds (seed, stream, s)) and atomic
checkpoints, so a run resumed from its checkpoint computes bitwise what an uninterrupted run does.

Letters: B batch, H W token grid, Hm Wm mask size, S crop side in tokens, K codebook size,
L patches, D encoder width, Dd decoder width.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from timm.optim import create_optimizer_v2
from tqdm.auto import tqdm

from seitpp.augment import ColorAdapt, TokenAugmentation, warp
from seitpp.data import IMAGE_EXTENSIONS, UnreadableImageError
from seitpp.files import FileProblem, atomic_path, write_csv
from seitpp.models import create_model
from seitpp.recipes import TABLE_INITS, TrainSetupError
from seitpp.tokenadapt import GeometryDistribution, TokenAdapt
from seitpp.tokenizer import VQTokenizer
from seitpp.train import TrainingDiverged, _seed, load_pretrained_encoder, lr_at

CHECKPOINT_FILE = "segment.pt"
HISTORY_FILE = "history.csv"
CHECKPOINT_FORMAT = "seitpp-segment-1"
COLUMNS = ("step", "epoch", "lr", "loss", "val_loss", "miou", "pixel_acc")
_ORDER, _STEP = 1, 2  # random streams: the epoch's sample order, everything drawn in a step


class SegmentationFileError(FileProblem):
    """An image/mask folder that cannot be read as segmentation data; names the file and the problem."""

    kind = "segmentation data"


# ----------------------------------------------------------------------------------------------
# Data: token grids and their masks, in memory


@dataclass
class SegmentationData:
    """Token ids (N, H, W) and masks uint8 (N, Hm, Wm): 0 background, c + 1 object class c.

    `num_classes` counts the background; ids lie in [0, codebook_size). `ignore_index`, when set,
    is a mask value outside the classes (ADE20k's 255) whose pixels are not scored. `source`
    names where the data came from in messages.
    """

    ids: torch.Tensor
    masks: torch.Tensor
    num_classes: int
    codebook_size: int
    source: str = "tensors"
    tokenizer_hash: str | None = None  # fingerprint of the tokenizer that made the ids, if known
    ignore_index: int | None = None  # unlabelled pixels: in neither loss nor metrics
    _fingerprint: str | None = field(default=None, init=False, repr=False)

    def __post_init__(self):
        ids, masks = torch.as_tensor(self.ids), torch.as_tensor(self.masks)
        if ids.ndim != 3 or ids.is_floating_point():
            raise TrainSetupError(f"{self.source}: token ids must be an integer (N, H, W) tensor, got "
                                  f"{ids.dtype} {tuple(ids.shape)}")
        if masks.ndim != 3 or masks.dtype != torch.uint8:
            raise TrainSetupError(f"{self.source}: masks must be uint8 (N, Hm, Wm), got {masks.dtype} "
                                  f"{tuple(masks.shape)}")
        if len(ids) != len(masks):
            raise TrainSetupError(f"{self.source}: {len(ids)} token grids but {len(masks)} masks")
        if not 2 <= self.num_classes <= 256:
            raise TrainSetupError(f"{self.source}: num_classes (background included) must be in [2, 256] for "
                                  f"uint8 masks, got {self.num_classes}")
        if ids.numel() and (ids.min() < 0 or ids.max() >= self.codebook_size):
            raise TrainSetupError(f"{self.source}: ids from {int(ids.min())} to {int(ids.max())} do not fit a "
                                  f"codebook of {self.codebook_size}")
        if self.ignore_index is not None and not self.num_classes <= self.ignore_index <= 255:
            raise TrainSetupError(f"{self.source}: ignore_index must be a uint8 value that is not a class, in "
                                  f"[{self.num_classes}, 255], got {self.ignore_index}")
        labelled = masks if self.ignore_index is None else masks[masks != self.ignore_index]
        if labelled.numel() and labelled.max() >= self.num_classes:
            raise TrainSetupError(f"{self.source}: mask values up to {int(labelled.max())} do not fit "
                                  f"{self.num_classes} classes (background included)"
                                  + ("" if self.ignore_index is None else f" nor ignore_index {self.ignore_index}"))
        self.ids = ids.to(torch.int16 if self.codebook_size <= 2**15 else torch.int32)
        self.masks = masks

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def grid(self) -> tuple[int, int]:
        """(H, W) of the token grids."""
        return tuple(self.ids.shape[1:])

    @property
    def mask_size(self) -> tuple[int, int]:
        """(Hm, Wm) of the masks."""
        return tuple(self.masks.shape[1:])

    def fingerprint(self) -> str:
        """A short hash of ids and masks (computed once): a resumed run must see the same data."""
        if self._fingerprint is None:
            h = hashlib.sha256(str((tuple(self.ids.shape), tuple(self.masks.shape), self.ignore_index)).encode())
            h.update(self.ids.numpy().tobytes())
            h.update(self.masks.numpy().tobytes())
            self._fingerprint = h.hexdigest()[:16]
        return self._fingerprint

    @classmethod
    def shapes(cls, num_images: int, split: str = "train", tokenizer: VQTokenizer | None = None) -> "SegmentationData":
        """The embedded Shapes dataset: tokens of `tokenizer` (default: the reference one) and the
        64 x 64 masks, 12 object classes + background."""
        from seitpp.shapes import SHAPE_CLASSES, render_shapes

        rendered = render_shapes(num_images, split=split)
        tokenizer = tokenizer or VQTokenizer.load()
        return cls(tokenizer.tokenize_many(rendered.images), torch.from_numpy(rendered.masks),
                   len(SHAPE_CLASSES) + 1, tokenizer.config.codebook_size, f"shapes:{num_images} ({split})",
                   tokenizer.fingerprint())

    @classmethod
    def from_folder(cls, root: str | Path, tokenizer: VQTokenizer, num_classes: int, resolution: int = 64,
                    split: str | None = None, ignore_index: int | None = None,
                    progress: bool = True) -> "SegmentationData":
        """Image/mask pairs in ADE20k's layout, tokenized by `tokenizer`.

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
                   tokenizer.config.codebook_size, str(root), tokenizer.fingerprint(), ignore_index)


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


# ----------------------------------------------------------------------------------------------
# Model: the token ViT as encoder, a light decoder


class TokenSegmenter(nn.Module):
    """Token ViT encoder + light decoder. `forward(ids, out_size)`: ids (B, H, W) -> logits (B, classes, *out_size).

    The decoder gives each patch's features to its 2 x 2 tokens (a transposed convolution), adds
    each token's own embedding from the encoder's stem (a patch mixes four tokens; this tells them
    apart, and doubled the training-set mIoU of 120 steps on 64 Shapes grids, 0.14 -> 0.28), and a 3 x 3
    convolution turns that into per-token logits, upsampled bilinearly to the mask.

    Args:
        num_classes: classes per pixel, background included.
        codebook_size: K of the tokens.
        encoder: a `seitpp.models` token ViT name.
        grid_size: the crop side the encoder's positions are learned for; an MTM encoder's crop.
            Other even grids are read through resampled positions.
        decoder_dim: Dd.
        drop_path_rate: stochastic depth of the encoder.
        codes: the tokenizer's (K, C) code vectors to start the encoder's learned table from (None: random rows).
    """

    def __init__(self, num_classes: int, codebook_size: int = 391, encoder: str = "tvit_micro", grid_size: int = 14,
                 decoder_dim: int = 64, drop_path_rate: float = 0.0, codes: torch.Tensor | None = None):
        super().__init__()
        # no head and the cls-token pool: every encoder weight is used, and an MTM encoder fits it key for key
        self.encoder = create_model(encoder, num_classes=0, global_pool="token", codebook_size=codebook_size,
                                    grid_size=grid_size, drop_path_rate=drop_path_rate, codes=codes)
        D, C = self.encoder.num_features, self.encoder.config.code_dim
        self.up = nn.ConvTranspose2d(D, decoder_dim, kernel_size=2, stride=2)  # a patch -> its 2 x 2 tokens
        self.skip = nn.Conv2d(C, decoder_dim, kernel_size=1)  # each token's own embedding
        self.head = nn.Conv2d(decoder_dim, num_classes, kernel_size=3, padding=1)

    def forward_features(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (B, H, W) -> patch features as a map (B, D, H/2, W/2)."""
        B, H, W = ids.shape
        x = self.encoder.forward_features(ids)[:, 1:]  # (B, L, D), the cls token dropped
        return x.transpose(1, 2).reshape(B, -1, H // 2, W // 2)

    def forward_decoder(self, patches: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Patch features (B, D, H/2, W/2) and ids (B, H, W) -> per-token logits (B, classes, H, W)."""
        tokens = self.encoder.patch_embed.lookup(ids).permute(0, 3, 1, 2)  # (B, C, H, W)
        return self.head(F.gelu(self.up(patches) + self.skip(tokens)))

    def forward(self, ids: torch.Tensor, out_size: tuple[int, int] | None = None) -> torch.Tensor:
        """ids (B, H, W) -> logits (B, classes, *out_size), by default one map cell per token (H, W)."""
        logits = self.forward_decoder(self.forward_features(ids), ids)  # (B, classes, H, W)
        if out_size is None or tuple(out_size) == tuple(logits.shape[-2:]):
            return logits
        return F.interpolate(logits, size=tuple(out_size), mode="bilinear", align_corners=False)

    def load_pretrained(self, path: str | Path) -> list[str]:
        """Start the encoder from an MTM pre-training checkpoint (file or run directory) -> encoder keys not loaded."""
        return load_pretrained_encoder(self.encoder, path)

    def no_weight_decay(self) -> set[str]:
        return {f"encoder.{name}" for name in self.encoder.no_weight_decay()}

    def group_matcher(self, coarse: bool = False) -> dict:
        """The encoder's layer groups for timm's layer-wise lr decay; the decoder, unmatched, comes last."""
        return dict(
            stem=r"^encoder\.(?:cls_token|pos_embed|patch_embed)",
            blocks=r"^encoder\.blocks\.(\d+)" if coarse else [(r"^encoder\.blocks\.(\d+)", None),
                                                              (r"^encoder\.norm", (99999,))],
        )


# ----------------------------------------------------------------------------------------------
# Augmentation: one geometry for tokens and masks


def centre_crop_theta(B: int, grid: tuple[int, int], size: int) -> torch.Tensor:
    """(B, 2, 3) theta of the central size x size window of an H x W grid (exact with nearest when H - size is even)."""
    H, W = grid
    theta = torch.zeros(B, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1] = size / W, size / H
    return theta


class SegmentationAugment:
    """Batch transform keeping tokens and masks aligned:
    `(ids (B, H, W), masks (B, Hm, Wm), generator)` -> `(ids (B, S, S), masks (B, S * Hm / H, S * Wm / W))`.

    One theta per sample from `geometry` (or the centre crop when it is None) moves the mask
    (nearest) and the tokens: through `tokenadapt` when given (f -> warp -> g), else on the grid
    (nearest). `appearance` (e.g. ColorAdapt) runs on the tokens first and must not move them.

    Args:
        size: S, the output side in tokens.
        geometry: per-sample flips / affine / resized crops, or None for a centre crop.
        tokenadapt: a trained TokenAdapt for the tokens' warp, or None for the naive one.
        appearance: a `TokenAugmentation` of token ids that keeps every token in place, or None.
    """

    def __init__(self, size: int, geometry: GeometryDistribution | None = None, tokenadapt: TokenAdapt | None = None,
                 appearance: TokenAugmentation | None = None):
        self.size, self.geometry, self.tokenadapt, self.appearance = size, geometry, tokenadapt, appearance

    def __call__(self, ids: torch.Tensor, masks: torch.Tensor,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        B = len(ids)
        if self.geometry is None:
            theta = centre_crop_theta(B, tuple(ids.shape[1:]), self.size)
        else:
            theta = self.geometry.sample(B, generator, generator.device if generator is not None else "cpu")
        if self.appearance is not None:
            ids = self.appearance(ids, generator)
        return self.apply(ids, masks, theta.to(ids.device))

    @torch.no_grad()
    def apply(self, ids: torch.Tensor, masks: torch.Tensor, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The geometric part for a given theta (B, 2, 3): ids (B, H, W) -> (B, S, S), masks (B, Hm, Wm) ->
        (B, S * Hm / H, S * Wm / W)."""
        (H, W), (Hm, Wm), S = ids.shape[1:], masks.shape[1:], self.size
        if self.tokenadapt is not None:
            ids = self.tokenadapt.augment(ids.long(), theta, (S, S))
        else:
            ids = warp(ids[:, None], theta, (S, S))[:, 0]
        masks = warp(masks[:, None], theta, (round(S * Hm / H), round(S * Wm / W)))[:, 0]
        return ids, masks


# ----------------------------------------------------------------------------------------------
# Metrics from a confusion matrix


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int,
                     ignore_index: int | None = None) -> torch.Tensor:
    """Class maps pred and target (any equal shape) -> counts (classes, classes) int64: row truth, column
    prediction. Pixels whose target is `ignore_index` are not counted."""
    pred, target = pred.flatten().long(), target.flatten().long()
    if ignore_index is not None:
        keep = target != ignore_index
        pred, target = pred[keep], target[keep]
    idx = target * num_classes + pred
    return torch.bincount(idx, minlength=num_classes ** 2).view(num_classes, num_classes).cpu()


def pixel_loss(logits: torch.Tensor, masks: torch.Tensor, ignore_index: int | None = None,
               reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of logits (B, classes, Hm, Wm) against masks (B, Hm, Wm), over the labelled pixels.

    "mean" divides by the labelled pixels (at least one), so a batch of unlabelled pixels gives 0, not NaN.
    """
    masks = masks.long()
    total = F.cross_entropy(logits, masks, reduction="sum", ignore_index=-100 if ignore_index is None else ignore_index)
    if reduction == "sum":
        return total
    labelled = masks.numel() if ignore_index is None else int((masks != ignore_index).sum())
    return total / max(1, labelled)


def iou_per_class(confusion: torch.Tensor) -> torch.Tensor:
    """(classes,) float64 intersection over union; NaN for a class neither predicted nor present."""
    c = confusion.double()
    hits = c.diagonal()
    union = c.sum(0) + c.sum(1) - hits
    return torch.where(union > 0, hits / union.clamp(min=1), torch.nan)


def mean_iou(confusion: torch.Tensor) -> float:
    """Mean IoU over the classes present in the prediction or the ground truth."""
    return float(iou_per_class(confusion).nanmean())


def pixel_accuracy(confusion: torch.Tensor) -> float:
    """Share of pixels whose predicted class is the true one."""
    return float(confusion.diagonal().sum() / confusion.sum().clamp(min=1))


@torch.no_grad()
def evaluate_segmentation(model: TokenSegmenter, data: SegmentationData, device: str | torch.device = "cpu",
                          batch_size: int = 64) -> dict[str, float]:
    """Whole token grids -> {"val_loss" (per labelled pixel), "miou", "pixel_acc"} at the masks' resolution."""
    was_training = model.training
    model.eval()
    confusion = torch.zeros(data.num_classes, data.num_classes, dtype=torch.int64)
    loss_sum = 0.0
    for ids, masks in zip(data.ids.split(batch_size), data.masks.split(batch_size)):
        ids, masks = ids.to(device).long(), masks.to(device).long()
        logits = model(ids, data.mask_size)  # (B, classes, Hm, Wm)
        loss_sum += float(pixel_loss(logits, masks, data.ignore_index, reduction="sum"))
        confusion += confusion_matrix(logits.argmax(1), masks, data.num_classes, data.ignore_index)
    model.train(was_training)
    return {"val_loss": loss_sum / max(1, int(confusion.sum())), "miou": mean_iou(confusion),
            "pixel_acc": pixel_accuracy(confusion)}


@torch.no_grad()
def predict_masks(model: TokenSegmenter, ids: torch.Tensor, mask_size: tuple[int, int],
                  batch_size: int = 64) -> torch.Tensor:
    """Whole token grids (N, H, W) -> predicted class maps uint8 (N, *mask_size), on the CPU."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = [model(chunk.to(device).long(), mask_size).argmax(1).to(torch.uint8).cpu() for chunk in ids.split(batch_size)]
    model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, *mask_size, dtype=torch.uint8)


# ----------------------------------------------------------------------------------------------
# Training


@dataclass(frozen=True)
class SegmentConfig:
    """Everything that decides what a segmentation run computes; the defaults are a CPU-sized run."""

    model: str = "tvit_micro"  # the encoder, a seitpp.models token ViT
    crop: int = 14  # training crop side S in tokens; also the grid the encoder's positions are learned for,
    #                 so it must equal an MTM encoder's pre-training crop
    decoder_dim: int = 64  # Dd
    geometric: bool = True  # per-sample flip / affine / resized crop (through TokenAdapt when given); off: centre crop
    min_scale: float = 0.35  # smallest crop area fraction of the geometric transform
    affine_p: float = 0.5  # share of samples whose transform adds the affine chain (rotation, shear,
    #                        translation); 0: flips and resized crops only
    color_adapt: float = 0.0  # share of each batch whose tokens get ColorAdapt (SeiT++ fine-tuning: 0.5 x 0.25)
    epochs: int = 20
    warmup_epochs: float = 1.0
    batch_size: int = 32
    lr: float = 2e-3  # peak lr, after warmup; cosine down to min_lr
    min_lr: float = 1e-5
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.05
    layer_decay: float | None = None  # lr x layer_decay ** (depth - layer) in the encoder; None: off
    drop_path: float = 0.0
    table_init: str = "random"  # where the encoder's learned table starts: "random" rows, or "codes", a
    #                             trainable copy of the tokenizer's code vectors (as TrainConfig.table_init)
    clip_grad: float | None = 1.0
    seed: int = 0
    eval_every: int = 1  # epochs between evaluations (and always after the last)
    checkpoint_every: int = 0  # steps between checkpoints; 0: at the end of every epoch only

    def __post_init__(self):
        checks = [
            (self.crop >= 2 and self.crop % 2 == 0, f"crop must be even (one patch per 2 x 2 tokens), got {self.crop}"),
            (0 < self.min_scale <= 1, f"min_scale must be in (0, 1], got {self.min_scale}"),
            (0 <= self.affine_p <= 1, f"affine_p must be a probability in [0, 1], got {self.affine_p}"),
            (self.table_init in TABLE_INITS, f"table_init must be one of {TABLE_INITS}, got {self.table_init!r}"),
            (0 <= self.color_adapt <= 1, f"color_adapt must be a share in [0, 1], got {self.color_adapt}"),
            (self.epochs >= 1 and self.batch_size >= 1, "epochs and batch_size must be >= 1"),
            (0 <= self.warmup_epochs <= self.epochs, f"warmup_epochs must be in [0, epochs], got {self.warmup_epochs}"),
            (self.eval_every >= 1 and self.checkpoint_every >= 0, "eval_every must be >= 1, checkpoint_every >= 0"),
        ]
        for ok, problem in checks:
            if not ok:
                raise TrainSetupError(f"segment config: {problem}")


@dataclass
class SegmentResult:
    model: TokenSegmenter  # after the last step, in eval mode
    config: SegmentConfig
    history: list[dict]  # one row per epoch (COLUMNS)
    metrics: dict[str, float]  # the last evaluation: val_loss, miou, pixel_acc (empty without val)
    out_dir: Path | None


def train_segmentation(
    config: SegmentConfig,
    data: SegmentationData,
    val: SegmentationData | None = None,
    out_dir: str | Path | None = None,
    *,
    tokenizer: VQTokenizer | None = None,
    tokenadapt: TokenAdapt | None = None,
    init: str | Path | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> SegmentResult:
    """Train a `TokenSegmenter` on `data` with per-pixel cross-entropy; mIoU and pixel accuracy on `val`.

    Args:
        config: the run's settings.
        data, val: training and validation `SegmentationData`.
        out_dir: where `segment.pt` and `history.csv` go; a run finds its checkpoint there and
            resumes exactly. None: nothing is written.
        tokenizer: the tokenizer that made the ids (default: the reference one), for ColorAdapt's codebook
            and table_init "codes".
        tokenadapt: trained TokenAdapt weights for the geometric transform of the tokens (None: naive warp).
        init: an MTM pre-training checkpoint (file or run directory) to start the encoder from.
        device: default CUDA if there is one.
        progress: a tqdm bar.
    """
    cfg = config
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    _check_setup(cfg, data, val, tokenadapt)
    ckpt_path = Path(out_dir) / CHECKPOINT_FILE if out_dir is not None else None
    ckpt = _read_checkpoint(ckpt_path, cfg, data) if ckpt_path is not None and ckpt_path.exists() else None

    codes = _codes(data, tokenizer) if cfg.color_adapt > 0 or cfg.table_init == "codes" else None

    torch.manual_seed(cfg.seed)
    model = TokenSegmenter(data.num_classes, data.codebook_size, cfg.model, cfg.crop, cfg.decoder_dim, cfg.drop_path,
                           codes if cfg.table_init == "codes" else None)
    if init is not None and ckpt is None:
        model.load_pretrained(init)
    model.to(device)
    geometry = GeometryDistribution(affine_p=cfg.affine_p, crop_scale=(cfg.min_scale, 1.0)) if cfg.geometric else None
    augment = SegmentationAugment(
        cfg.crop, geometry, tokenadapt.to(device).eval().requires_grad_(False) if tokenadapt is not None else None,
        ColorAdapt(cfg.color_adapt, codebook=codes.to(device)) if cfg.color_adapt > 0 else None)
    optimizer = create_optimizer_v2(model, "adamw", lr=cfg.lr, weight_decay=cfg.weight_decay, betas=cfg.betas,
                                    layer_decay=cfg.layer_decay)
    steps_per_epoch = len(data) // cfg.batch_size
    total_steps, warmup_steps = cfg.epochs * steps_per_epoch, round(cfg.warmup_epochs * steps_per_epoch)
    start, history, window = 0, [], {"loss": 0.0, "steps": 0}  # window: this epoch's training loss so far
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        start, history, window = ckpt["step"], ckpt["history"], ckpt["window"]

    def save(step: int) -> None:
        if ckpt_path is None:
            return
        state = {"format": CHECKPOINT_FORMAT, "config": asdict(cfg), "model": model.state_dict(),
                 "optimizer": optimizer.state_dict(), "step": step, "history": history, "window": window,
                 "data": {"source": data.source, "fingerprint": data.fingerprint()},
                 "init": None if init is None else str(init)}
        with atomic_path(ckpt_path) as tmp:
            torch.save(state, tmp)
        write_csv(history, ckpt_path.parent / HISTORY_FILE, COLUMNS)

    ids, masks = data.ids.to(device), data.masks.to(device)
    model.train()
    order = None
    with tqdm(total=total_steps, initial=start, desc="segment", disable=not progress) as bar:
        for step in range(start, total_steps):
            epoch, i = divmod(step, steps_per_epoch)
            if order is None or i == 0:
                g = torch.Generator().manual_seed(_seed(cfg.seed, _ORDER, epoch))
                order = torch.randperm(len(data), generator=g)
            lr = lr_at(step, total_steps, warmup_steps, cfg.lr, cfg.min_lr)
            for group in optimizer.param_groups:
                group["lr"] = lr * group.get("lr_scale", 1.0)  # layer-wise decay factors from timm
            seed = _seed(cfg.seed, _STEP, step)
            g = torch.Generator().manual_seed(seed)  # augmentation
            torch.manual_seed(seed)  # drop path
            idx = order[i * cfg.batch_size:(i + 1) * cfg.batch_size].to(device)
            x, y = augment(ids[idx].long(), masks[idx], g)
            loss = pixel_loss(model(x, y.shape[-2:]), y, data.ignore_index)
            loss_value = loss.item()
            if not math.isfinite(loss_value):
                raise TrainingDiverged(f"loss is {loss_value} at step {step} (lr {lr:.3g}); the last checkpoint "
                                       f"written is the last good one")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad or math.inf)
            optimizer.step()
            window = {"loss": window["loss"] + loss_value, "steps": window["steps"] + 1}
            bar.update(1)
            bar.set_postfix(loss=f"{loss_value:.4f}")
            done = step + 1
            if i + 1 == steps_per_epoch:
                row = {"step": done, "epoch": epoch + 1, "lr": lr, "loss": window["loss"] / window["steps"]}
                if val is not None and ((epoch + 1) % cfg.eval_every == 0 or done == total_steps):
                    row |= evaluate_segmentation(model, val, device, batch_size=max(cfg.batch_size, 64))
                history.append(row)
                window = {"loss": 0.0, "steps": 0}
                save(done)
            elif cfg.checkpoint_every and done % cfg.checkpoint_every == 0:
                save(done)
    model.eval()
    evals = [row for row in history if "miou" in row]
    metrics = {k: evals[-1][k] for k in ("val_loss", "miou", "pixel_acc")} if evals else {}
    return SegmentResult(model, cfg, history, metrics, Path(out_dir) if out_dir is not None else None)


def _check_setup(cfg: SegmentConfig, data: SegmentationData, val: SegmentationData | None,
                 tokenadapt: TokenAdapt | None) -> None:
    """Raise TrainSetupError for data, config and TokenAdapt that cannot train together, naming the value."""
    for d in [data] + ([val] if val is not None else []):
        if min(d.grid) < cfg.crop or d.grid[0] % 2 or d.grid[1] % 2:
            raise TrainSetupError(f"{d.source}: {d.grid[0]} x {d.grid[1]} token grids must be even and at least "
                                  f"the {cfg.crop} x {cfg.crop} crop")
    if val is not None:
        for name in ("codebook_size", "num_classes", "ignore_index"):
            if getattr(val, name) != getattr(data, name):
                raise TrainSetupError(f"{val.source}: {name} {getattr(val, name)} differs from the training data's "
                                      f"({data.source}: {getattr(data, name)})")
    if len(data) < cfg.batch_size:
        raise TrainSetupError(f"{data.source}: {len(data)} samples, fewer than one batch of {cfg.batch_size}")
    if tokenadapt is not None:
        if not cfg.geometric:
            raise TrainSetupError("TokenAdapt given, but the config's geometric augmentation is off")
        if tokenadapt.config.codebook_size != data.codebook_size:
            raise TrainSetupError(f"TokenAdapt has {tokenadapt.config.codebook_size} codes, {data.source} has "
                                  f"{data.codebook_size}")
        if tokenadapt.tokenizer_hash and data.tokenizer_hash and tokenadapt.tokenizer_hash != data.tokenizer_hash:
            raise TrainSetupError(f"TokenAdapt was trained on tokens of tokenizer {tokenadapt.tokenizer_hash}, "
                                  f"{data.source} was made by {data.tokenizer_hash}")


def _codes(data: SegmentationData, tokenizer: VQTokenizer | None) -> torch.Tensor:
    """The (K, C) code vectors of the tokenizer that made the data (default: the reference one), checked."""
    tokenizer = tokenizer or VQTokenizer.load()
    if data.tokenizer_hash is not None and data.tokenizer_hash != tokenizer.fingerprint():
        raise TrainSetupError(f"{data.source} was made by tokenizer {data.tokenizer_hash}, not by the one given "
                              f"({tokenizer.fingerprint()}): pass the tokenizer that made the tokens")
    if tokenizer.config.codebook_size != data.codebook_size:
        raise TrainSetupError(f"{data.source}: {data.codebook_size} codes, the tokenizer has "
                              f"{tokenizer.config.codebook_size}")
    return tokenizer.codebook.vectors().detach()


def _read_checkpoint(path: Path, cfg: SegmentConfig, data: SegmentationData) -> dict:
    """A segmentation checkpoint of this very run (same config, same data), or TrainSetupError."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many kinds here; all mean "not a checkpoint we can read"
        raise TrainSetupError(f"{path}: not a readable checkpoint ({type(err).__name__}: {err})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise TrainSetupError(f"{path}: not a seitpp segmentation checkpoint")
    if ckpt["config"] != asdict(cfg):
        changed = sorted(k for k in ckpt["config"] if ckpt["config"][k] != asdict(cfg).get(k))
        raise TrainSetupError(f"{path}: made with another config (fields {changed} differ); remove it or use "
                              f"another out_dir")
    if ckpt["data"]["fingerprint"] != data.fingerprint():
        raise TrainSetupError(f"{path}: made on other data ({ckpt['data']['source']}) than {data.source}")
    return ckpt
