"""Augmentations in token space: ops on ids and embeddings, per-sample geometry, the naive ops
measured against the tokens of augmented images, TokenAdapt and its training, and the exact
augmentations of DCT levels."""

from seitpp.augment import dct, tokenadapt_train
from seitpp.augment.dct import DCTPolicy
from seitpp.augment.geometry import GeometryDistribution
from seitpp.augment.naive import (
    FLOOR_SIGMA,
    FlipZoom,
    NaiveComparison,
    compare_naive,
    decoded_orientation,
    disagreement_map,
    flip_zoom,
    most_asymmetric_token,
    noise_floor,
)
from seitpp.augment.embeddings import ColorAdapt, EmbNoise
from seitpp.augment.grid import CodeSwap, HFlip, RandomAffine, RandomResizedCrop, SynonymReplace, affine_theta, warp
from seitpp.augment.mixing import CutMix, Mixup
from seitpp.augment.ops import (
    Compose,
    Identity,
    RandomChoice,
    TokenAugmentation,
    embed_ids,
    nearest_ids,
    synonyms_from_codebook,
    synonyms_from_json,
)
from seitpp.augment.policies import (
    CropPolicy,
    PixelPolicy,
    SegmentationPolicy,
    TokenPolicy,
    appearance_ops,
    centre_crop,
    centre_crop_theta,
    one_hot_labels,
    pixels_to_input,
    token_eda,
)
from seitpp.augment.registry import OPS, POLICIES, Op, Policy, create_policy, geometry_of, register_policy
from seitpp.augment.tokenadapt import (
    REFERENCE_DIR,
    WEIGHTS_FILE,
    TokenAdapt,
    TokenAdaptConfig,
    agreement,
    agreement_per_image,
    probe_thetas,
    via_pixels,
)
from seitpp.augment.tokenadapt_train import TokenAdaptTrainConfig, train_tokenadapt

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
    "FLOOR_SIGMA",
    "NaiveComparison",
    "compare_naive",
    "decoded_orientation",
    "disagreement_map",
    "noise_floor",
    "FlipZoom",
    "flip_zoom",
    "most_asymmetric_token",
    "WEIGHTS_FILE",
    "REFERENCE_DIR",
    "TokenAdaptConfig",
    "TokenAdapt",
    "agreement",
    "agreement_per_image",
    "via_pixels",
    "probe_thetas",
    "tokenadapt_train",
    "TokenAdaptTrainConfig",
    "train_tokenadapt",
    "centre_crop",
    "centre_crop_theta",
    "pixels_to_input",
    "one_hot_labels",
    "appearance_ops",
    "token_eda",
    "OPS",
    "Op",
    "POLICIES",
    "Policy",
    "create_policy",
    "geometry_of",
    "register_policy",
    "TokenPolicy",
    "PixelPolicy",
    "CropPolicy",
    "SegmentationPolicy",
    "dct",
    "DCTPolicy",
]
