"""A token ViT encoder with a light decoder for semantic segmentation."""
from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn as nn
import torch.nn.functional as F

from seitpp.models.vit import create_model, register_model

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
        patch_kernel: side of the encoder stem's patch convolution (`seitpp.models.vit`).
        codes: the tokenizer's (K, C) code vectors to start the encoder's learned table from (None: random rows).
    """

    def __init__(self, num_classes: int, codebook_size: int = 391, encoder: str = "tvit_micro", grid_size: int = 14,
                 decoder_dim: int = 64, drop_path_rate: float = 0.0, patch_kernel: int = 4,
                 codes: torch.Tensor | None = None):
        super().__init__()
        # no head and the cls-token pool: every encoder weight is used, and an MTM encoder fits it key for key
        self.encoder = create_model(encoder, num_classes=0, global_pool="token", codebook_size=codebook_size,
                                    grid_size=grid_size, drop_path_rate=drop_path_rate, patch_kernel=patch_kernel,
                                    codes=codes)
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


    def no_weight_decay(self) -> set[str]:
        return {f"encoder.{name}" for name in self.encoder.no_weight_decay()}

    def group_matcher(self, coarse: bool = False) -> dict:
        """The encoder's layer groups for timm's layer-wise lr decay; the decoder, unmatched, comes last."""
        return dict(
            stem=r"^encoder\.(?:cls_token|pos_embed|patch_embed)",
            blocks=r"^encoder\.blocks\.(\d+)" if coarse else [(r"^encoder\.blocks\.(\d+)", None),
                                                              (r"^encoder\.norm", (99999,))],
        )


@register_model
def segmenter(**kwargs) -> TokenSegmenter:
    """`create_model("segmenter", num_classes=..., encoder="tvit_micro", ...)`: a `TokenSegmenter`."""
    return TokenSegmenter(**kwargs)
