"""Vision transformers on token grids and on pixels, created by name.

A token ViT reads a grid of VQ token ids (or a distribution over codes per cell, as Mixup makes)
and classifies it; a pixel ViT reads the image. Both share one body (timm's `Block`), so a
difference in accuracy comes from the input, not from the network:

    tokens  ids (B, H, W) --stem--> (B, L, D) --+cls, +pos--> blocks --> norm --> pool --> head (B, classes)
    pixels  (B, 3, 8H/2, 8W/2) --PatchEmbed(8)--> (B, L, D) --> the same

Two token stems, which differ in where the code vectors come from:

- "seitpp" (SeiT++): a learned table `nn.Embedding(K, C)` + LayerNorm(C) + dropout.
- "seit" (SeiT): the tokenizer's frozen code vectors (K, C).

Both then apply one patch convolution Conv2d(C, D, kernel k, stride 2, padding (k - 2) / 2): one
patch per 2 x 2 tokens whatever k is. The default k = 4 gives overlapping 4 x 4 windows, so a patch
sees the tokens on its borders. The release gives SeiT k = 4 and SeiT++ k = 2 (each patch sees its
own 2 x 2 tokens only); `patch_kernel=2` keeps that stem, so the sweep can compare the stems on
equal terms and the release's as a row of its own (chapter 6). On small grids a shape's edges fall
across patch borders, and a patch that cannot see its neighbours' tokens loses them.

Either way a 14 x 14 training crop gives 7 x 7 = 49 patches, and a 56 x 56 image with patch 8
gives the same 49: same body, same sequence length. The position embedding is learned for the
configured grid and resampled (bicubic, as timm does) for any other even grid, so a model trained
on 14 x 14 crops can also read whole 16 x 16 grids.

Models are registered by name, timm style: `create_model("tvit_small", num_classes=12)`. Every
model has `no_weight_decay()` and `group_matcher()`, so timm's optimiser factory builds layer-wise
lr decay groups: `timm.optim.create_optimizer_v2(model, "adamw", lr, weight_decay=0.1, layer_decay=0.65)`.

Parameter counts with 1000 classes (4 x 4 patch kernel): tvit_micro 0.31 M, tvit_tiny 5.65 M,
tvit_small 21.91 M, tvit_base 86.27 M. A pixel ViT-S/16 on 224 px has 22.05 M: the token stem
(210 k) replaces its 295 k patch embedding, and 50 positions replace 197.

Letters: B batch, H W token grid, K codebook size, C code dimension, L patches, D width.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, fields, replace
from typing import Callable

import torch
import torch.nn as nn
from timm.layers import PatchEmbed, resample_abs_pos_embed, trunc_normal_
from timm.models.vision_transformer import Block

STEMS = ("seitpp", "seit")
POOLS = ("avg", "token")


@dataclass(frozen=True)
class ViTConfig:
    """The body shared by token and pixel ViTs."""
    embed_dim: int = 384  # D
    depth: int = 12
    num_heads: int = 6
    mlp_ratio: float = 4.0
    num_classes: int = 1000  # 0: no head, forward returns the pooled features
    drop_path_rate: float = 0.0  # stochastic depth, rising linearly to this at the last block
    global_pool: str = "avg"  # "avg" over patch tokens (the paper's fine-tuning) or the cls "token"

    def __post_init__(self):
        if self.global_pool not in POOLS:
            raise ValueError(f"global_pool must be one of {POOLS}, got {self.global_pool!r}")
        if self.embed_dim % self.num_heads:
            raise ValueError(f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}")


@dataclass(frozen=True)
class TokenViTConfig(ViTConfig):
    codebook_size: int = 391  # K
    code_dim: int = 32  # C
    grid_size: int = 14  # H = W of a training crop; the position embedding is learned for H/2 x W/2
    stem: str = "seitpp"  # "seitpp": learned table + LayerNorm; "seit": the tokenizer's frozen codes
    patch_kernel: int = 4  # side k of the patch convolution (stride 2): 4 overlaps neighbours, 2 is SeiT++'s release
    embed_drop: float = 0.0  # dropout on the (B, H, W, C) embeddings, SeiT++ stem only

    def __post_init__(self):
        super().__post_init__()
        if self.stem not in STEMS:
            raise ValueError(f"stem must be one of {STEMS}, got {self.stem!r}")
        if self.grid_size % 2:
            raise ValueError(f"grid_size must be even (one patch per 2 x 2 tokens), got {self.grid_size}")
        if self.patch_kernel < 2 or self.patch_kernel % 2:
            raise ValueError(f"patch_kernel must be even and >= 2 (stride 2, one patch per 2 x 2 tokens), "
                             f"got {self.patch_kernel}")


@dataclass(frozen=True)
class PixelViTConfig(ViTConfig):
    img_size: int = 56  # 8 x 7: the pixel analogue of a 14 x 14 token crop
    patch_size: int = 8
    in_chans: int = 3


# ----------------------------------------------------------------------------------------------
# Stems: input -> patch tokens (B, L, D) and the patch grid (h, w)


class TokenStem(nn.Module):
    """Token ids (B, H, W), or a distribution over codes (B, K, H, W), -> patches (B, H/2 * W/2, D).

    A distribution enters as `distribution @ table`, which for a one-hot is the table row itself,
    so ids and their one-hots give identical outputs, and a Mixup of one-hots mixes the embeddings
    exactly (the LayerNorm after the SeiT++ table is not linear, so the mix is exact before it).
    """

    def __init__(self, config: TokenViTConfig, codes: torch.Tensor | None = None):
        super().__init__()
        K, C, D = config.codebook_size, config.code_dim, config.embed_dim
        self.codebook_size = K
        if config.stem == "seitpp":
            self.codes = nn.Embedding(K, C)
            if codes is not None:  # start from the tokenizer's codes, then learn
                self.codes.weight.data.copy_(_checked_codes(codes, K, C, config.stem))
            else:
                # Rows of about unit length, like the tokenizer's codes. The LayerNorm after the table
                # makes the stem blind to its scale, but MTM scores its predictions against the table:
                # BERT's std 0.02 there starts every logit near 0, and MTM learned slower: 40 steps of
                # mtm_micro on 16 grids lowered the loss by 0.4 nats, against 1.3 from this scale.
                nn.init.normal_(self.codes.weight, std=C ** -0.5)
            self.norm = nn.LayerNorm(C)
            self.drop = nn.Dropout(config.embed_drop)
        else:
            if codes is None:
                raise ValueError("stem 'seit' needs the tokenizer's code vectors: "
                                 "pass codes=tokenizer.codebook.vectors() (a (K, C) tensor)")
            self.register_buffer("codes", _checked_codes(codes, K, C, config.stem))  # (K, C), frozen
            self.norm = nn.Identity()
            self.drop = nn.Identity()
        k = config.patch_kernel
        self.proj = nn.Conv2d(C, D, kernel_size=k, stride=2, padding=(k - 2) // 2)  # (H, W) -> (H/2, W/2)
        w = self.proj.weight.data  # initialise as a linear layer, as MAE does for its patch embedding
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.proj.bias)

    def table(self) -> torch.Tensor:
        """The (K, C) code vectors the stem looks ids up in."""
        return self.codes.weight if isinstance(self.codes, nn.Embedding) else self.codes

    def lookup(self, x: torch.Tensor) -> torch.Tensor:
        """ids (B, H, W) or distribution (B, K, H, W) -> embeddings (B, H, W, C), normalised for SeiT++."""
        K = self.codebook_size
        if x.is_floating_point():
            if x.ndim != 4 or x.shape[1] != K:
                raise ValueError(f"a distribution over codes must be (B, {K}, H, W), got {tuple(x.shape)}")
            z = torch.einsum("bkhw,kc->bhwc", x, self.table().to(x.dtype))
        else:
            if x.ndim != 3:
                raise ValueError(f"token ids must be (B, H, W), got {tuple(x.shape)}")
            # On CUDA an id out of range already stops with a device-side assert, and checking here
            # would make every step wait for the GPU; on the CPU the check is one cheap reduction.
            if x.device.type == "cpu" and x.numel() and (x.min() < 0 or x.max() >= K):
                raise ValueError(f"token ids must lie in [0, {K}), got ids from {int(x.min())} to {int(x.max())}: "
                                 "is the model's codebook_size that of the tokenizer?")
            z = self.table()[x.long()]  # long: a uint8 index would be read as a boolean mask
        return self.drop(self.norm(z))

    def patches(self, z: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """Embeddings (B, H, W, C) -> patches (B, L, D) and their grid (h, w) = (H/2, W/2).

        MTM calls this between `lookup` and the body, to hide masked tokens before the convolution.
        """
        H, W = z.shape[1:3]
        if H % 2 or W % 2:
            raise ValueError(f"the token grid must have even sides (one patch per 2 x 2 tokens), got {H} x {W}")
        z = self.proj(z.permute(0, 3, 1, 2))  # (B, D, H/2, W/2)
        return z.flatten(2).transpose(1, 2), (z.shape[2], z.shape[3])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """ids (B, H, W) or a distribution (B, K, H, W) -> patches (B, L, D) and their grid (h, w)."""
        return self.patches(self.lookup(x))


def _checked_codes(codes: torch.Tensor, K: int, C: int, stem: str) -> torch.Tensor:
    """A float copy of the (K, C) code vectors, or a ValueError that says what they are instead."""
    if not isinstance(codes, torch.Tensor) or codes.shape != (K, C) or not codes.is_floating_point():
        got = f"{tuple(codes.shape)} {codes.dtype}" if isinstance(codes, torch.Tensor) else type(codes).__name__
        raise ValueError(f"stem {stem!r} needs float code vectors of shape ({K}, {C}), got {got}")
    return codes.detach().float().clone()


class PixelStem(nn.Module):
    """Images (B, 3, H, W) -> patches (B, H/p * W/p, D) through timm's PatchEmbed."""

    def __init__(self, config: PixelViTConfig):
        super().__init__()
        self.patch = PatchEmbed(config.img_size, config.patch_size, config.in_chans, config.embed_dim,
                                strict_img_size=False, output_fmt="NHWC")  # any multiple of the patch size
        w = self.patch.proj.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        if x.ndim != 4 or not x.is_floating_point():
            raise ValueError(f"images must be float (B, C, H, W), got {x.dtype} {tuple(x.shape)}")
        z = self.patch(x)  # (B, h, w, D)
        return z.flatten(1, 2), (z.shape[1], z.shape[2])


# ----------------------------------------------------------------------------------------------
# The body and the two models


class ViT(nn.Module):
    """cls token + learned positions + blocks + norm + pool + head around a stem `patch_embed`.

    Parameter names follow timm's VisionTransformer (`patch_embed`, `cls_token`, `pos_embed`,
    `blocks.i`, `norm`, `fc_norm`, `head`), so timm's optimiser and checkpoint habits carry over.
    With global_pool="avg" the patch tokens are normalised by `norm`, averaged, and normalised
    again by `fc_norm`: unlike MAE, which drops `norm` for fine-tuning, every weight of a
    pre-trained encoder (which ends in `norm`) is used, and only `fc_norm` and `head` start fresh.
    """

    def __init__(self, config: ViTConfig, patch_embed: nn.Module, grid: tuple[int, int]):
        super().__init__()
        self.config = config
        D = config.embed_dim
        self.grid = grid  # (h, w) patches the position embedding is learned for
        self.patch_embed = patch_embed
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + grid[0] * grid[1], D))  # cls first, then row-major
        dpr = torch.linspace(0, config.drop_path_rate, config.depth).tolist()
        self.blocks = nn.Sequential(*[
            Block(D, config.num_heads, config.mlp_ratio, qkv_bias=True, drop_path=dpr[i])
            for i in range(config.depth)
        ])
        self.norm = nn.LayerNorm(D)
        self.fc_norm = nn.LayerNorm(D) if config.global_pool == "avg" else nn.Identity()
        self.head = nn.Linear(D, config.num_classes) if config.num_classes > 0 else nn.Identity()
        trunc_normal_(self.cls_token, std=0.02)
        trunc_normal_(self.pos_embed, std=0.02)
        for m in [self.blocks, self.head]:
            m.apply(init_linear)

    @property
    def num_features(self) -> int:
        return self.config.embed_dim

    def pos_embed_for(self, grid: tuple[int, int]) -> torch.Tensor:
        """The position embedding (1, 1 + h*w, D) for a patch grid (h, w), resampled if it is not the trained one."""
        if tuple(grid) == tuple(self.grid):
            return self.pos_embed
        return resample_abs_pos_embed(self.pos_embed, list(grid), list(self.grid), num_prefix_tokens=1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Input -> tokens (B, 1 + L, D): the cls token, then the patches, positions added."""
        patches, grid = self.patch_embed(x)  # (B, L, D)
        cls = self.cls_token.expand(len(patches), -1, -1)
        return torch.cat([cls, patches], dim=1) + self.pos_embed_for(grid)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Input -> normalised tokens (B, 1 + L, D)."""
        return self.norm(self.blocks(self.embed(x)))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Tokens (B, 1 + L, D) -> logits (B, num_classes), or the pooled features (B, D)."""
        x = self.fc_norm(x[:, 1:].mean(dim=1)) if self.config.global_pool == "avg" else x[:, 0]
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def no_weight_decay(self) -> set[str]:
        """Names timm's optimiser factory keeps out of weight decay (besides every 1-d parameter)."""
        names = {"cls_token", "pos_embed"}
        if isinstance(getattr(self.patch_embed, "codes", None), nn.Embedding):
            # The table feeds a LayerNorm, so its scale means nothing: decay would only shrink it.
            names.add("patch_embed.codes.weight")
        return names

    def group_matcher(self, coarse: bool = False) -> dict:
        """Regexes that put the stem first, block i at depth i + 1 and `norm` last (fc_norm, head: after)."""
        return dict(
            stem=r"^cls_token|^pos_embed|^patch_embed",
            blocks=r"^blocks\.(\d+)" if coarse else [(r"^blocks\.(\d+)", None), (r"^norm", (99999,))],
        )


class TokenViT(ViT):
    """A ViT on token grids. `forward(x)`: ids (B, H, W) or a distribution (B, K, H, W) -> logits (B, classes).

    Args:
        config: sizes, stem and head.
        codes: the tokenizer's (K, C) code vectors: stem "seit" needs them (frozen); stem "seitpp"
            starts its learned table from them when given, else from random rows.
    """

    def __init__(self, config: TokenViTConfig = TokenViTConfig(), codes: torch.Tensor | None = None):
        g = config.grid_size // 2
        super().__init__(config, TokenStem(config, codes), (g, g))


class PixelViT(ViT):
    """The same body on pixels. `forward(x)`: images (B, 3, H, W) -> logits (B, classes).

    Args:
        config: sizes and head; img_size / patch_size give the patch grid the positions are learned for.
    """

    def __init__(self, config: PixelViTConfig = PixelViTConfig()):
        g = config.img_size // config.patch_size
        super().__init__(config, PixelStem(config), (g, g))


def init_linear(m: nn.Module) -> None:
    """timm's and MAE's initialisation of a linear layer: truncated normal (std 0.02), zero bias."""
    if isinstance(m, nn.Linear):
        trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)


def load_encoder(model: ViT, state_dict: dict[str, torch.Tensor]) -> list[str]:
    """Load pre-trained encoder weights (e.g. `MaskedTokenModel.encoder_state_dict()`) into a classifier.

    Every key of `state_dict` must exist in the model with the same shape: a weight that cannot be
    placed is an error, not a silent skip. Returns the model's keys that were not loaded, which for
    a matching encoder are the fresh `fc_norm.*` and `head.*` only.
    """
    own = model.state_dict()
    unknown = sorted(set(state_dict) - set(own))
    if unknown:
        raise ValueError(f"{len(unknown)} encoder weight(s) have no place in the model: {unknown[:5]}")
    wrong = [f"{k}: {tuple(v.shape)} vs {tuple(own[k].shape)}" for k, v in state_dict.items() if v.shape != own[k].shape]
    if wrong:
        raise ValueError(f"encoder and model differ in shape: {wrong[:5]}")
    model.load_state_dict(state_dict, strict=False)
    return sorted(set(own) - set(state_dict))


# ----------------------------------------------------------------------------------------------
# Registry: a size is a function that fills in the config


_REGISTRY: dict[str, Callable[..., nn.Module]] = {}

# (embed_dim, depth, num_heads) per size. micro trains on a few thousand 14 x 14 grids in a
# minute or two on a 2-core CPU; the others are DeiT's Ti, S and B bodies.
SIZES = {"micro": (64, 4, 2), "tiny": (192, 12, 3), "small": (384, 12, 6), "base": (768, 12, 12)}


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Decorator: make `fn` creatable by its name through `create_model`."""
    if fn.__name__ in _REGISTRY:
        raise ValueError(f"a model named {fn.__name__!r} is already registered")
    _REGISTRY[fn.__name__] = fn
    return fn


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def create_model(name: str, **overrides) -> nn.Module:
    """A registered model by name; keyword arguments override config fields (and pass `codes=` for stem "seit")."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; registered: {', '.join(list_models())}")
    return _REGISTRY[name](**overrides)


def register_sizes(family: str, build: Callable[..., nn.Module]) -> None:
    """Register `<family>_<size>` for every size of SIZES: `build(size, **kwargs)` makes the model."""
    for size in SIZES:
        name = f"{family}_{size}"
        if name in _REGISTRY:
            raise ValueError(f"a model named {name!r} is already registered")
        _REGISTRY[name] = functools.partial(build, size)


def sized_config(cls: type, size: str, overrides: dict, **defaults):
    """`cls` (a config dataclass with embed_dim, depth, num_heads) at `size`, with `defaults`, then
    `overrides`, each named field checked to exist."""
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; known: {', '.join(SIZES)}")
    unknown = sorted(set(overrides) - {f.name for f in fields(cls)})
    if unknown:
        raise TypeError(f"{cls.__name__} has no field(s) {unknown}")
    D, depth, heads = SIZES[size]
    return replace(cls(embed_dim=D, depth=depth, num_heads=heads, **defaults), **overrides)


def _token_vit(size: str, codes: torch.Tensor | None = None, **overrides) -> TokenViT:
    """`tvit_<size>`: the token ViT; keyword arguments override TokenViTConfig fields (`codes=` for stem "seit")."""
    return TokenViT(sized_config(TokenViTConfig, size, overrides), codes)


def _pixel_vit(size: str, **overrides) -> PixelViT:
    """`pvit_<size>`: the pixel ViT baseline; keyword arguments override PixelViTConfig fields."""
    return PixelViT(sized_config(PixelViTConfig, size, overrides))


register_sizes("tvit", _token_vit)
register_sizes("pvit", _pixel_vit)
