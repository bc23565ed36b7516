"""Augmentation policies by name, as timm creates models by name.

A `Policy` owns the token ops of a training run's batch transform and says what they need (the
tokenizer's code vectors, TokenAdapt); `create_policy(name)` returns a registered one and
`register_policy` adds one; `OPS` lists every token op by name. The engine builds every task's batch transform through a `Policy` and
never compares a policy's name, so a new augmentation is one op (in `seitpp.augment.grid`,
`embeddings` or `mixing`) and one entry here:

    register_policy(Policy("mine", "my op on ids", on_ids=lambda codes, augment: MyOp()))

A policy's parts, in the order `TokenPolicy` runs them:
- `on_ids`: an op on the whole batch of ids that may move tokens (SeiT's Token-EDA swaps codes);
  a policy with one cannot segment, as its tokens would move without their mask;
- `appearance`: an op that keeps every token in place (SeiT++'s Emb-Noise / ColorAdapt half);
- `geometric`: a geometric half with per-sample flips, affine maps and resized crops, through
  TokenAdapt when the run has one (`augment.token_adapt`).
Each op is built by a function of (code vectors (K, C), augment) -> op, so it takes its settings
from the run: `augment` is the run's augmentation part (`seitpp.engine.config.AugmentConfig`:
min_scale, mixup, cutmix, noise, color_adapt, token_adapt, affine_p); the crop side comes with it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from seitpp.augment.embeddings import ColorAdapt, EmbNoise
from seitpp.augment.geometry import GeometryDistribution
from seitpp.augment.grid import CodeSwap, HFlip, RandomAffine, RandomResizedCrop, SynonymReplace
from seitpp.augment.ops import Compose, RandomChoice, TokenAugmentation, synonyms_from_codebook
from seitpp.augment.policies import SegmentationPolicy, TokenPolicy, appearance_ops, token_eda
from seitpp.augment.tokenadapt import TokenAdapt
from seitpp.errors import TrainSetupError

OpFactory = Callable[[torch.Tensor, Any], TokenAugmentation]  # (codes (K, C), augment) -> op


def geometry_of(augment) -> GeometryDistribution:
    """Per-sample flip, affine chain (share `augment.affine_p`) and resized crop (area from `augment.min_scale`)."""
    return GeometryDistribution(affine_p=augment.affine_p, crop_scale=(augment.min_scale, 1.0))


@dataclass(frozen=True)
class Policy:
    """A named token augmentation policy: its ops, what they need, and the batch transform of each task."""

    name: str
    summary: str  # one line for help texts and tables
    on_ids: OpFactory | None = None
    appearance: OpFactory | None = None
    geometric: bool = False

    @property
    def needs_codes(self) -> bool:
        """Whether its ops read the tokenizer's code vectors."""
        return self.on_ids is not None or self.appearance is not None

    @property
    def plain(self) -> bool:
        """Crops (and CutMix) only: no token op at all, as MTM pre-training takes."""
        return not (self.needs_codes or self.geometric)

    @property
    def segments(self) -> bool:
        """Whether it keeps tokens and masks aligned: no op moves tokens on its own."""
        return self.on_ids is None

    def uses_tokenadapt(self, augment) -> bool:
        """Whether a run with the settings `augment` warps its geometric half through TokenAdapt."""
        return self.geometric and augment.token_adapt

    def _ops(self, augment, codes: torch.Tensor | None) -> tuple[TokenAugmentation | None, TokenAugmentation | None]:
        if self.needs_codes and codes is None:
            raise TrainSetupError(f"policy {self.name!r} needs the tokenizer's codebook")
        return (self.on_ids(codes, augment) if self.on_ids else None,
                self.appearance(codes, augment) if self.appearance else None)

    def classification(self, augment, crop: int, num_classes: int, codes: torch.Tensor | None = None,
                       tokenadapt: TokenAdapt | None = None) -> TokenPolicy:
        """The fine-tuning batch transform: `(ids (B, H, W), labels, generator)` -> `(x, soft labels)`, crops
        of side `crop`. codes: the tokenizer's (K, C) code vectors; tokenadapt: used when `uses_tokenadapt(augment)`."""
        on_ids, appearance = self._ops(augment, codes)
        geometric = self.uses_tokenadapt(augment)
        return TokenPolicy(num_classes, crop, None if codes is None else len(codes), min_scale=augment.min_scale,
                           mixup=augment.mixup, cutmix=augment.cutmix, eda=on_ids, appearance=appearance,
                           geometry=geometry_of(augment) if geometric else None,
                           tokenadapt=tokenadapt if geometric else None)

    def segmentation(self, augment, crop: int, codes: torch.Tensor | None = None,
                     tokenadapt: TokenAdapt | None = None) -> SegmentationPolicy:
        """The segmentation batch transform: crop side `crop`, `geometry_of(augment)` per sample,
        the tokens through `tokenadapt` (when given and the policy is geometric), its appearance op first."""
        if not self.segments:
            raise TrainSetupError(f"policy {self.name!r} moves tokens without their mask; it cannot segment")
        _, appearance = self._ops(augment, codes)
        return SegmentationPolicy(crop, geometry_of(augment), tokenadapt if self.geometric else None, appearance)


# ----------------------------------------------------------------------------------------------
# Every token op by name, with settings of the book's order of size: the table the tests check
# every op against (ids and embeddings in, the same kind out, seeded, any device) and a reader
# can try one from.


@dataclass(frozen=True)
class Op:
    """A token op by name: `build(codes (K, C) or a Codebook, S)` -> the op; `crops`: its output grid is
    S x S, not the input's."""

    build: Callable[[Any, int], TokenAugmentation]
    crops: bool = False


OPS: dict[str, Op] = {
    "hflip": Op(lambda codes, size: HFlip(p=0.5)),
    "crop_nearest": Op(lambda codes, size: RandomResizedCrop(size, scale=(0.2, 1.0)), crops=True),
    "crop_bilinear": Op(lambda codes, size: RandomResizedCrop(size, scale=(0.2, 1.0), mode="bilinear", codebook=codes),
                        crops=True),
    "affine_nearest": Op(lambda codes, size: RandomAffine(30, 0.2, 15)),
    "affine_bilinear": Op(lambda codes, size: RandomAffine(30, 0.2, 15, p=0.5, mode="bilinear", codebook=codes)),
    "synonyms": Op(lambda codes, size: SynonymReplace(synonyms_from_codebook(codes, 3), p=0.25, codebook=codes)),
    "swap": Op(lambda codes, size: CodeSwap(p=1.0, max_fraction=0.25)),
    "color": Op(lambda codes, size: ColorAdapt(0.5, codebook=codes)),
    "color_reverse": Op(lambda codes, size: ColorAdapt(0.5, pairing="reverse", codebook=codes)),
    "noise": Op(lambda codes, size: EmbNoise(0.3, 0.3, codebook=codes)),
    "compose": Op(lambda codes, size: Compose([HFlip(), CodeSwap(),
                                               SynonymReplace(synonyms_from_codebook(codes, 3), codebook=codes)])),
    "choice_half": Op(lambda codes, size: RandomChoice([(EmbNoise(codebook=codes), 0.75),
                                                        (ColorAdapt(codebook=codes), 0.25)], fraction=0.5)),
}


# ----------------------------------------------------------------------------------------------
# The policies


POLICIES: dict[str, Policy] = {}


def register_policy(policy: Policy) -> Policy:
    """Add `policy` under its name (a name taken already is refused) -> the policy."""
    if policy.name in POLICIES:
        raise ValueError(f"a policy named {policy.name!r} is registered already")
    POLICIES[policy.name] = policy
    return policy


def create_policy(name: str) -> Policy:
    """The registered policy `name`, or a TrainSetupError listing those there are."""
    if name not in POLICIES:
        raise TrainSetupError(f"policy must be one of {tuple(POLICIES)}, got {name!r}")
    return POLICIES[name]


register_policy(Policy("none", "random-resized crops and CutMix"))
register_policy(Policy("seit", "SeiT's Token-EDA (synonyms, code swaps), then crops and CutMix",
                       on_ids=lambda codes, augment: token_eda(codes)))
register_policy(Policy("seitpp", "SeiT++: Emb-Noise or ColorAdapt on half the batch; a geometric half through "
                                 "TokenAdapt with Mixup or CutMix; a plain half of crops and CutMix",
                       appearance=lambda codes, augment: appearance_ops(codes, augment.noise, augment.color_adapt),
                       geometric=True))
