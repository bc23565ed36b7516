"""Semantic segmentation from tokens: data, a token ViT with a light decoder, aligned augmentation
and mIoU; trained by the engine of MTM and fine-tuning (`seitpp.train.train`, task "segment").

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

Training is `seitpp.train.train(config, data, val)` with a "segment" config (`preset("cpu-tiny",
"segment")`): the engine builds a `TokenSegmenter` (`build_model`), takes its batch transform from
`segment_policy`, its loss from `pixel_loss` and its evaluation from `segmentation_counts`, and
brings the rest: schedule, layer-wise decay, seeding, checkpoints, exact resume, DDP, the CSV log.

    policy "none":   one geometry per sample (flip, affine chain, resized crop), tokens warped on the grid
    policy "seitpp": the same geometry with tokens through TokenAdapt, after the fine-tuning policy's
                     appearance half (Emb-Noise or ColorAdapt on half the batch, tokens kept in place)

Letters: B batch, H W token grid, Hm Wm mask size, S crop side in tokens, K codebook size,
L patches, D encoder width, Dd decoder width.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from tqdm.auto import tqdm

from seitpp.augment import TokenAugmentation, warp
from seitpp.data import IMAGE_EXTENSIONS, UnreadableImageError
from seitpp.files import FileProblem
from seitpp.models import create_model
from seitpp.recipes import TrainConfig, TrainSetupError
from seitpp.tokenadapt import GeometryDistribution, TokenAdapt
from seitpp.tokenizer import VQTokenizer
from seitpp.train import embedding_ops, geometry_of, load_pretrained_encoder, pixel_loss


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
    source: str = "tensors"  # where the data came from, for messages
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

    kind = "tokens"  # what the training engine asks of its data (as `TrainData.kind`)

    @property
    def x(self) -> torch.Tensor:
        """The inputs, for the training engine: the ids (N, H, W)."""
        return self.ids

    @property
    def labels(self) -> torch.Tensor:
        """The targets, for the training engine: the masks (N, Hm, Wm)."""
        return self.masks

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

    def describe(self) -> dict:
        return {"source": self.source, "kind": "segmentation", "num_samples": len(self), "grid": list(self.grid),
                "mask_size": list(self.mask_size), "codebook_size": self.codebook_size,
                "num_classes": self.num_classes, "ignore_index": self.ignore_index,
                "tokenizer_hash": self.tokenizer_hash, "fingerprint": self.fingerprint()}

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


def load_segmentation(spec: str | Path, split: str | None = None, tokenizer: VQTokenizer | None = None,
                      num_classes: int | None = None, ignore_index: int | None = None,
                      resolution: int = 64) -> SegmentationData:
    """`shapes:N` (N images of the embedded dataset's `split`, default "train") or a folder in
    ADE20k's layout (`SegmentationData.from_folder`; `split` its subfolder, num_classes required)."""
    text = str(spec)
    tokenizer = tokenizer or VQTokenizer.load()
    if text.startswith("shapes:"):
        try:
            n = int(text.removeprefix("shapes:"))
        except ValueError:
            raise TrainSetupError(f"{text!r}: expected shapes:N with N a number of images") from None
        return SegmentationData.shapes(n, split or "train", tokenizer)
    if num_classes is None:
        raise TrainSetupError(f"{text}: a folder needs its number of classes, background included (ADE20k: 151)")
    return SegmentationData.from_folder(text, tokenizer, num_classes, resolution, split, ignore_index)


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
        self.config = replace(self.encoder.config, num_classes=num_classes)  # the encoder's shape, classes per pixel
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
        ids = ids.long()
        if self.appearance is not None:
            ids = self.appearance(ids, generator)
        return self.apply(ids, masks, theta.to(ids.device))

    @torch.no_grad()
    def apply(self, ids: torch.Tensor, masks: torch.Tensor, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The geometric part for a given theta (B, 2, 3): ids (B, H, W) -> (B, S, S), masks (B, Hm, Wm) ->
        (B, S * Hm / H, S * Wm / W)."""
        (H, W), (Hm, Wm), S = ids.shape[1:], masks.shape[1:], self.size
        if self.tokenadapt is not None:
            ids = self.tokenadapt.augment(ids, theta, (S, S))
        else:
            ids = warp(ids[:, None], theta, (S, S))[:, 0]
        masks = warp(masks[:, None], theta, (round(S * Hm / H), round(S * Wm / W)))[:, 0]
        return ids, masks


def segment_policy(config: TrainConfig, codebook: torch.Tensor | None = None,
                   tokenadapt: TokenAdapt | None = None) -> SegmentationAugment:
    """The engine's batch transform for a "segment" config (module docstring): crop side `config.crop`,
    `seitpp.train.geometry_of(config)` per sample; with policy "seitpp", TokenAdapt for the tokens (when
    given) and the fine-tuning policy's appearance half (`seitpp.train.embedding_ops`, needs `codebook`)."""
    seitpp = config.policy == "seitpp"
    return SegmentationAugment(config.crop, geometry_of(config), tokenadapt if seitpp else None,
                               embedding_ops(config, codebook) if seitpp else None)


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
def segmentation_counts(model: TokenSegmenter, data: SegmentationData, device: str | torch.device = "cpu",
                        batch_size: int = 64, indices: torch.Tensor | None = None) -> tuple[torch.Tensor, float]:
    """Whole token grids (those of `indices`, default all) -> (confusion (classes, classes) int64, summed
    pixel loss), at the masks' resolution: sums, so that ranks and batches can be added up."""
    was_training = model.training
    model.eval()
    confusion = torch.zeros(data.num_classes, data.num_classes, dtype=torch.int64)
    loss_sum = 0.0
    indices = torch.arange(len(data)) if indices is None else indices
    for chunk in indices.split(batch_size):
        ids, masks = data.ids[chunk].to(device).long(), data.masks[chunk].to(device).long()
        logits = model(ids, data.mask_size).float()  # (B, classes, Hm, Wm)
        loss_sum += float(pixel_loss(logits, masks, data.ignore_index, reduction="sum"))
        confusion += confusion_matrix(logits.argmax(1), masks, data.num_classes, data.ignore_index)
    model.train(was_training)
    return confusion, loss_sum


def evaluate_segmentation(model: TokenSegmenter, data: SegmentationData, device: str | torch.device = "cpu",
                          batch_size: int = 64) -> dict[str, float]:
    """Whole token grids -> {"val_loss" (per labelled pixel), "miou", "pixel_acc"} at the masks' resolution."""
    confusion, loss_sum = segmentation_counts(model, data, device, batch_size)
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
# What the engine checks before the first step


def check_segmentation(config: TrainConfig, data: SegmentationData, val: SegmentationData | None) -> None:
    """Raise TrainSetupError for segmentation data that cannot train with `config`, naming the value
    (what the engine checks for every task, it checks itself)."""
    for d in [data] + ([val] if val is not None else []):
        if d.grid[0] % 2 or d.grid[1] % 2:
            raise TrainSetupError(f"{d.source}: {d.grid[0]} x {d.grid[1]} token grids must be even (a patch is "
                                  f"2 x 2 tokens)")
    if val is not None and val.ignore_index != data.ignore_index:
        raise TrainSetupError(f"{val.source}: ignore_index {val.ignore_index} differs from the training data's "
                              f"({data.source}: {data.ignore_index})")
