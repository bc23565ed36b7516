"""The engine's batch transforms, from a config."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from seitpp.augment.geometry import GeometryDistribution
from seitpp.augment.ops import (
    CodeSwap,
    ColorAdapt,
    CutMix,
    EmbNoise,
    HFlip,
    Mixup,
    RandomChoice,
    RandomResizedCrop,
    SynonymReplace,
    TokenAugmentation,
    synonyms_from_codebook,
    warp,
)
from seitpp.augment.tokenadapt import TokenAdapt
from seitpp.engine.config import TrainConfig
from seitpp.errors import TrainSetupError

# ----------------------------------------------------------------------------------------------
# Augmentation policies: batch transforms on the device


def center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """The central size x size window of ids (B, H, W) or images (B, C, H, W)."""
    H, W = x.shape[-2:]
    top, left = (H - size) // 2, (W - size) // 2
    return x[..., top:top + size, left:left + size]


def _one_hot(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    return F.one_hot(labels.long(), num_classes).float()


class TokenPolicy:
    """The training batch transform on ids: `(ids (B, H, W), labels (B,), generator)` -> `(x, soft labels
    (B, classes))`, x ids (B, S, S) int64, or a distribution (B, K, S, S) when Mixup was drawn. S = config.crop.

    policy "none": random-resized crops + CutMix. "seit": Token-EDA (synonym replacement 0.25 /
    code swap 0.25 / nothing 0.5, per batch) + crops + CutMix. "seitpp": the release's policy (module
    docstring); `color_adapt=False` puts the identity in ColorAdapt's place, `token_adapt=False`
    gives the whole batch plain crops. With `token_adapt` but no TokenAdapt weights, the geometric
    half is warped directly on the grid (the naive augmentation of chapter 2).

    Args:
        config: the run's config (policy, crop, min_scale, noise, mixup, cutmix).
        num_classes: for the soft labels.
        codebook: (K, C) code vectors of the tokenizer, for the embedding ops and synonyms.
        tokenadapt: a trained `TokenAdapt` (frozen here), or None.
    """

    def __init__(self, config: TrainConfig, num_classes: int, codebook: torch.Tensor | None = None,
                 tokenadapt: TokenAdapt | None = None):
        self.config, self.num_classes, self.size = config, num_classes, config.crop
        self.crop = RandomResizedCrop(config.crop, scale=(config.min_scale, 1.0), mode="nearest")
        self.cutmix = CutMix(config.cutmix) if config.cutmix > 0 else None
        self.mixup = Mixup(config.mixup) if config.mixup > 0 else None
        self.eda = self.emb = self.geometry = self.tokenadapt = None
        if config.policy != "none" and codebook is None:
            raise TrainSetupError(f"policy {config.policy!r} needs the tokenizer's codebook")
        self.codebook_size = None if codebook is None else len(codebook)
        if config.policy == "seit":
            self.eda = RandomChoice([(SynonymReplace(synonyms_from_codebook(codebook, 5), p=0.25), 0.25),
                                     (CodeSwap(p=1.0, max_fraction=0.25), 0.25), (None, 0.5)])
        if config.policy == "seitpp":
            self.emb = embedding_ops(config, codebook)
            if config.token_adapt:
                self.geometry = geometry_of(config)
                self.tokenadapt = tokenadapt

    def __call__(self, ids: torch.Tensor, labels: torch.Tensor,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        ids = ids.long()
        if self.eda is not None:
            ids = self.eda(ids, generator)
        if self.emb is not None:
            ids = self.emb(ids, generator)
        B = len(ids)
        if self.geometry is None or B < 2:
            return self._cutmix(self.crop(ids, generator), labels, generator)
        perm = torch.randperm(B, generator=generator, device=_device_of(generator)).to(ids.device)
        a, b = perm[: B // 2], perm[B // 2:]
        x_a, y_a = self._geometric(ids[a], labels[a], generator)
        x_b, y_b = self._cutmix(self.crop(ids[b], generator), labels[b], generator)
        if x_a.is_floating_point():  # Mixup was drawn: the plain half joins as one-hot distributions
            x_b = self._one_hot_codes(x_b)
        return torch.cat([x_a, x_b]), torch.cat([y_a, y_b])

    def _one_hot_codes(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (B, S, S) -> one-hot distributions over codes (B, K, S, S)."""
        return F.one_hot(ids, self.codebook_size).permute(0, 3, 1, 2).float()

    def _cutmix(self, ids: torch.Tensor, labels: torch.Tensor, generator) -> tuple[torch.Tensor, torch.Tensor]:
        if self.cutmix is None:
            return ids, _one_hot(labels, self.num_classes)
        return self.cutmix(ids, labels, self.num_classes, generator)

    @torch.no_grad()
    def _geometric(self, ids: torch.Tensor, labels: torch.Tensor, generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-sample flip / affine / resized crop (TokenAdapt, or naive), then Mixup or CutMix (one per batch)."""
        S = self.size
        theta = self.geometry.sample(len(ids), generator, _device_of(generator)).to(ids.device)  # (b, 2, 3)
        if self.tokenadapt is not None:
            ids = self.tokenadapt.augment(ids, theta, (S, S))
        else:  # naive: move tokens on the grid
            ids = warp(ids[:, None], theta, (S, S))[:, 0]
        if self.mixup is not None and (self.cutmix is None or _coin(generator)):
            return self.mixup(self._one_hot_codes(ids), labels, self.num_classes, generator)
        return self._cutmix(ids, labels, generator)


def embedding_ops(config: TrainConfig, codebook: torch.Tensor) -> RandomChoice:
    """The seitpp policy's appearance half: on a random half of the batch, Emb-Noise (3 batches in 4)
    or ColorAdapt (1 in 4; the identity when `config.color_adapt` is off). Tokens keep their places."""
    color = ColorAdapt(fraction=1.0, codebook=codebook) if config.color_adapt else None
    return RandomChoice([(EmbNoise(config.noise, config.noise, codebook=codebook), 0.75), (color, 0.25)], fraction=0.5)


def geometry_of(config: TrainConfig) -> GeometryDistribution:
    """Per-sample flip, affine chain (share `affine_p`) and resized crop (area from `min_scale`)."""
    return GeometryDistribution(affine_p=config.affine_p, crop_scale=(config.min_scale, 1.0))


def _device_of(generator: torch.Generator | None) -> torch.device:
    return generator.device if generator is not None else torch.device("cpu")


def _coin(generator: torch.Generator | None) -> bool:
    """True with probability 1/2 (timm's switch between Mixup and CutMix)."""
    return bool(torch.rand((), generator=generator, device=_device_of(generator)) < 0.5)


def pixels_to_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (B, H, W, 3) -> float (B, 3, H, W), scaled from [0, 255] to [-2, 2] (mean 0.5, std 0.25)."""
    return (images.permute(0, 3, 1, 2).float() / 255 - 0.5) / 0.25


class PixelPolicy:
    """The pixel ViT's batch transform: `(uint8 (B, H, W, 3), labels, generator)` ->
    `(float (B, 3, S, S), soft labels)`.

    A random-resized crop and a horizontal flip per sample (torchvision's v2 transforms draw one
    crop per call, so a batch would share it), then Mixup or CutMix (one of the two per batch).
    """

    def __init__(self, config: TrainConfig, num_classes: int, size: int):
        self.num_classes, self.size = num_classes, size
        self.crop = RandomResizedCrop(size, scale=(config.min_scale, 1.0), mode="bilinear")
        self.flip = HFlip(0.5)
        self.cutmix = CutMix(config.cutmix) if config.cutmix > 0 else None
        self.mixup = Mixup(config.mixup) if config.mixup > 0 else None

    def __call__(self, images: torch.Tensor, labels: torch.Tensor,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.flip(self.crop(pixels_to_input(images), generator), generator)
        if self.mixup is not None and (self.cutmix is None or _coin(generator)):
            return self.mixup(x, labels, self.num_classes, generator)
        if self.cutmix is not None:
            return self.cutmix(x, labels, self.num_classes, generator)
        return x, _one_hot(labels, self.num_classes)


class CropPolicy:
    """MTM pre-training: random-resized crops of the ids only (no labels are used)."""

    def __init__(self, config: TrainConfig):
        self.crop = RandomResizedCrop(config.crop, scale=(config.min_scale, 1.0), mode="nearest")

    def __call__(self, ids: torch.Tensor, labels: torch.Tensor, generator=None) -> tuple[torch.Tensor, torch.Tensor]:
        return self.crop(ids.long(), generator), labels


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
