"""Batch transforms: what a training step does to a batch before the model sees it, on the device.

A batch transform is a callable `(x, targets, generator) -> (inputs, targets)`; every random draw
comes from `generator`, so a step is repeatable. They take explicit arguments (crop side, crop
scale, Mixup / CutMix alphas, appearance ops, a geometry distribution, TokenAdapt); the engine's
tasks build them from a run's config.

`TokenPolicy` is the release's fine-tuning policy on ids:

    ids (B, H, W) -> appearance ops on a random half (embed, op, nearest code: tokens keep their places)
        -> split in two halves:
             geometric half: per-sample theta (flip, affine, resized crop) -> TokenAdapt.augment -> Mixup | CutMix
             plain half:     random-resized crop (tokens move, none invented) -> CutMix
        -> ids (B, S, S), or one-hot mixtures (B, K, S, S) when Mixup was drawn; soft labels (B, classes)

The release mixes the TokenAdapt half inside TokenAdapt's f-space, where its half-batch shares
one flip and one affine. With a theta per sample, two partners carry two different geometries,
so we mix after TokenAdapt instead: CutMix on ids, Mixup on one-hot distributions, which the
token ViT's stem turns into exactly the mixture of the two embeddings.

Letters: B batch, H W token grid, S crop side, C code dimension, K codebook size.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from seitpp.augment.geometry import GeometryDistribution
from seitpp.augment.embeddings import ColorAdapt, EmbNoise
from seitpp.augment.grid import CodeSwap, HFlip, RandomResizedCrop, SynonymReplace, warp
from seitpp.augment.mixing import CutMix, Mixup
from seitpp.augment.ops import RandomChoice, TokenAugmentation, synonyms_from_codebook
from seitpp.augment.tokenadapt import TokenAdapt

# ----------------------------------------------------------------------------------------------
# Helpers


def centre_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """The central size x size window of ids (B, H, W), images (B, C, H, W) or levels (B, 192, h, w)
    (the first row and column of the two middle ones when H - size is odd)."""
    H, W = x.shape[-2:]
    top, left = (H - size) // 2, (W - size) // 2
    return x[..., top:top + size, left:left + size]


def centre_crop_theta(B: int, grid: tuple[int, int], size: int) -> torch.Tensor:
    """(B, 2, 3) theta of the central size x size window of an H x W grid (exact with nearest when H - size is even)."""
    H, W = grid
    theta = torch.zeros(B, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1] = size / W, size / H
    return theta


def pixels_to_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (B, H, W, 3) -> float (B, 3, H, W), scaled from [0, 255] to [-2, 2] (mean 0.5, std 0.25)."""
    return (images.permute(0, 3, 1, 2).float() / 255 - 0.5) / 0.25


def one_hot_labels(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """labels (B,) -> (B, classes) float."""
    return F.one_hot(labels.long(), num_classes).float()


def _device_of(generator: torch.Generator | None) -> torch.device:
    return generator.device if generator is not None else torch.device("cpu")


def _coin(generator: torch.Generator | None) -> bool:
    """True with probability 1/2 (timm's switch between Mixup and CutMix)."""
    return bool(torch.rand((), generator=generator, device=_device_of(generator)) < 0.5)


# ----------------------------------------------------------------------------------------------
# The token ops the policies are made of


def appearance_ops(codebook: torch.Tensor, noise: float, color_adapt: bool = True) -> RandomChoice:
    """SeiT++'s appearance half: on a random half of the batch, Emb-Noise of scale and std `noise`
    (3 batches in 4) or ColorAdapt (1 in 4; the identity when `color_adapt` is off). Tokens keep their places."""
    color = ColorAdapt(fraction=1.0, codebook=codebook) if color_adapt else None
    return RandomChoice([(EmbNoise(noise, noise, codebook=codebook), 0.75), (color, 0.25)], fraction=0.5)


def token_eda(codebook: torch.Tensor) -> RandomChoice:
    """SeiT's Token-EDA, per batch: synonym replacement 0.25 / code swap 0.25 / nothing 0.5."""
    return RandomChoice([(SynonymReplace(synonyms_from_codebook(codebook, 5), p=0.25), 0.25),
                         (CodeSwap(p=1.0, max_fraction=0.25), 0.25), (None, 0.5)])


# ----------------------------------------------------------------------------------------------
# Classification


class TokenPolicy:
    """The training batch transform on ids: `(ids (B, H, W), labels (B,), generator)` -> `(x, soft labels
    (B, classes))`, x ids (B, S, S) int64, or a distribution (B, K, S, S) when Mixup was drawn.

    SeiT's policy is `eda=token_eda(codes)`; SeiT++'s is `appearance=appearance_ops(...)` with a
    `geometry` (and TokenAdapt, when trained weights exist; without, the geometric half is warped
    directly on the grid, the naive augmentation of chapter 2); with neither, plain crops + CutMix.

    Args:
        num_classes: for the soft labels.
        size: S, the crop side in tokens.
        codebook_size: K, for the one-hot distributions Mixup mixes.
        min_scale: smallest crop area fraction of the random-resized crops.
        mixup, cutmix: Beta alphas, 0 = off. Mixup only on the geometric half (ids cannot be averaged).
        eda: a `TokenAugmentation` of ids run on the whole batch first (Token-EDA), or None.
        appearance: a `TokenAugmentation` that keeps tokens in place, run next, or None.
        geometry: per-sample flips / affine / resized crops for a geometric half, or None (no split).
        tokenadapt: a trained `TokenAdapt` (frozen here) for the geometric half, or None.
    """

    def __init__(self, num_classes: int, size: int, codebook_size: int, *, min_scale: float = 0.08,
                 mixup: float = 0.0, cutmix: float = 0.0, eda: TokenAugmentation | None = None,
                 appearance: TokenAugmentation | None = None, geometry: GeometryDistribution | None = None,
                 tokenadapt: TokenAdapt | None = None):
        self.num_classes, self.size, self.codebook_size = num_classes, size, codebook_size
        self.crop = RandomResizedCrop(size, scale=(min_scale, 1.0), mode="nearest")
        self.cutmix = CutMix(cutmix) if cutmix > 0 else None
        self.mixup = Mixup(mixup) if mixup > 0 else None
        self.eda, self.appearance, self.geometry, self.tokenadapt = eda, appearance, geometry, tokenadapt

    def __call__(self, ids: torch.Tensor, labels: torch.Tensor,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        ids = ids.long()
        if self.eda is not None:
            ids = self.eda(ids, generator)
        if self.appearance is not None:
            ids = self.appearance(ids, generator)
        B = len(ids)
        if self.geometry is None or B < 2:
            return self.plain(ids, labels, generator)
        perm = torch.randperm(B, generator=generator, device=_device_of(generator)).to(ids.device)
        a, b = perm[: B // 2], perm[B // 2:]
        x_a, y_a = self.geometric(ids[a], labels[a], generator)
        x_b, y_b = self.plain(ids[b], labels[b], generator)
        if x_a.is_floating_point():  # Mixup was drawn: the plain half joins as one-hot distributions
            x_b = self.one_hot_codes(x_b)
        return torch.cat([x_a, x_b]), torch.cat([y_a, y_b])

    def one_hot_codes(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (B, S, S) -> one-hot distributions over codes (B, K, S, S)."""
        return F.one_hot(ids, self.codebook_size).permute(0, 3, 1, 2).float()

    def cutmix_labels(self, ids: torch.Tensor, labels: torch.Tensor,
                      generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """CutMix (when on) of crops (B, S, S) -> (ids, soft labels (B, classes))."""
        if self.cutmix is None:
            return ids, one_hot_labels(labels, self.num_classes)
        return self.cutmix(ids, labels, self.num_classes, generator)

    def plain(self, ids: torch.Tensor, labels: torch.Tensor,
              generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The plain half: random-resized crops, then CutMix."""
        return self.cutmix_labels(self.crop(ids, generator), labels, generator)

    @torch.no_grad()
    def geometric(self, ids: torch.Tensor, labels: torch.Tensor,
                  generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The geometric half: per-sample flip / affine / resized crop (TokenAdapt, or naive), then Mixup or
        CutMix (one per batch)."""
        S = self.size
        theta = self.geometry.sample(len(ids), generator, _device_of(generator)).to(ids.device)  # (b, 2, 3)
        if self.tokenadapt is not None:
            ids = self.tokenadapt.augment(ids, theta, (S, S))
        else:  # naive: move tokens on the grid
            ids = warp(ids[:, None], theta, (S, S))[:, 0]
        if self.mixup is not None and (self.cutmix is None or _coin(generator)):
            return self.mixup(self.one_hot_codes(ids), labels, self.num_classes, generator)
        return self.cutmix_labels(ids, labels, generator)


class PixelPolicy:
    """The pixel ViT's batch transform: `(uint8 (B, H, W, 3), labels, generator)` ->
    `(float (B, 3, S, S), soft labels)`.

    A random-resized crop and a horizontal flip per sample (torchvision's v2 transforms draw one
    crop per call, so a batch would share it), then Mixup or CutMix (one of the two per batch).
    """

    def __init__(self, num_classes: int, size: int, *, min_scale: float = 0.08, mixup: float = 0.0,
                 cutmix: float = 0.0):
        self.num_classes, self.size = num_classes, size
        self.crop = RandomResizedCrop(size, scale=(min_scale, 1.0), mode="bilinear")
        self.flip = HFlip(0.5)
        self.cutmix = CutMix(cutmix) if cutmix > 0 else None
        self.mixup = Mixup(mixup) if mixup > 0 else None

    def __call__(self, images: torch.Tensor, labels: torch.Tensor,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.flip(self.crop(pixels_to_input(images), generator), generator)
        if self.mixup is not None and (self.cutmix is None or _coin(generator)):
            return self.mixup(x, labels, self.num_classes, generator)
        if self.cutmix is not None:
            return self.cutmix(x, labels, self.num_classes, generator)
        return x, one_hot_labels(labels, self.num_classes)


class CropPolicy:
    """MTM pre-training: random-resized crops of the ids only (targets pass through unused)."""

    def __init__(self, size: int, min_scale: float = 0.08):
        self.crop = RandomResizedCrop(size, scale=(min_scale, 1.0), mode="nearest")

    def __call__(self, ids: torch.Tensor, targets: torch.Tensor,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return self.crop(ids.long(), generator), targets


# ----------------------------------------------------------------------------------------------
# Segmentation: one geometry for tokens and masks


class SegmentationPolicy:
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
            theta = self.geometry.sample(B, generator, _device_of(generator))
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
