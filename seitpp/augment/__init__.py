"""Augmentations in token space: ops on ids and embeddings, per-sample geometry, TokenAdapt and its
training, and the exact augmentations of DCT levels."""

from seitpp.augment.ops import (
    embed_ids,
    nearest_ids,
    synonyms_from_codebook,
    synonyms_from_json,
    warp,
    affine_theta,
    TokenAugmentation,
    Identity,
    HFlip,
    RandomResizedCrop,
    RandomAffine,
    SynonymReplace,
    CodeSwap,
    ColorAdapt,
    EmbNoise,
    CutMix,
    Mixup,
    Compose,
    RandomChoice,
)
from seitpp.augment.geometry import GeometryDistribution
from seitpp.augment.tokenadapt import WEIGHTS_FILE, REFERENCE_DIR, TokenAdaptConfig, TokenAdapt, agreement, probe_thetas
from seitpp.augment import tokenadapt_train
from seitpp.augment.tokenadapt_train import TokenAdaptTrainConfig, train_tokenadapt
from seitpp.augment import dct

__all__ = [
    "embed_ids",
    "nearest_ids",
    "synonyms_from_codebook",
    "synonyms_from_json",
    "warp",
    "affine_theta",
    "TokenAugmentation",
    "Identity",
    "HFlip",
    "RandomResizedCrop",
    "RandomAffine",
    "SynonymReplace",
    "CodeSwap",
    "ColorAdapt",
    "EmbNoise",
    "CutMix",
    "Mixup",
    "Compose",
    "RandomChoice",
    "GeometryDistribution",
    "WEIGHTS_FILE",
    "REFERENCE_DIR",
    "TokenAdaptConfig",
    "TokenAdapt",
    "agreement",
    "probe_thetas",
    "tokenadapt_train",
    "TokenAdaptTrainConfig",
    "train_tokenadapt",
    "dct",
]
