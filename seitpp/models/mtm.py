"""Masked token modeling (MTM): MAGE-style pre-training of the token ViT's encoder.

Hide part of a token grid and predict the hidden tokens from the rest. SeiT++ pre-trains its
encoder this way before classification; the paper credits it with most of its gain at small
storage budgets. Following the release's pre-training setup:

- Each step draws ONE masking ratio r from a normal (mean 0.45, std 0.25) truncated to [0.4, 1.0],
  and masks ceil(r * L) of the L patches of every sample (each sample its own random patches).
- Masking happens at the token level, before the stem's patch convolution: every token of a masked
  patch has its embedding replaced by one learned mask vector (C). The stem's 4 x 4 convolution
  overlaps neighbouring patches, so masking its output instead would leak a hidden token's
  embedding into the visible patches next to it, and the task would be to copy it.
- ceil(0.4 * L) of the masked patches (the minimum ratio) are dropped from the encoder input, as in
  MAE: the encoder is cheaper and every sample keeps the same length. The other masked patches
  stay in, made of mask vectors, as BERT's masked words: the encoder learns to work on inputs
  with holes, which is what makes it useful when nothing is masked at fine-tuning.
- The decoder (512-d, 4 blocks, 16 heads, dropout 0.1, learned positions) sees the encoder's
  outputs at the kept patches and its own mask token at every masked patch (dropped or not, as
  MAGE does).
- Each patch covers 2 x 2 tokens, so the decoder predicts 4 tokens per patch: logits are the dot
  product of a per-token query with the (detached) token table of the encoder's stem, plus a bias.
- The loss is the cross-entropy on the masked patches only.

    ids (B, H, W) --table--> (B, H, W, C) --mask vector--> --conv--> (B, L, D) --+pos, drop--> (B, 1 + L - n_drop, D)
      --encoder-->
      --decoder_embed, pad with mask tokens--> (B, 1 + L, Dd) --decoder--> logits (B, L, 4, K)

Mask values, as MAE says them: in `mask` (B, L), 0 is keep and 1 is masked (predicted, and removed
from or hidden in the encoder input); in `drop` (B, L), 1 is removed from the encoder input.

The encoder is the stem and body of `seitpp.models.TokenViT` itself, so its parameter names are the
classifier's: `encoder_state_dict()` loads into `create_model("tvit_micro")` with
`seitpp.models.load_encoder`. A finished model is saved and loaded as weights and config only
(`save`, `load`); `masked_token_scores` scores its predictions of the masked tokens against
predictors that need no training (a uniform guess, the code frequencies, the most frequent token,
each grid's most frequent visible token), on the same masks.

Letters: B batch, H W token grid, K codebook size, C code dimension, L patches, D Dd widths of the
encoder and the decoder.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import trunc_normal_
from timm.models.vision_transformer import Block

from seitpp.files import read_model, save_model
from seitpp.models.vit import (
    TokenViT,
    TokenViTConfig,
    init_linear,
    register_sizes,
    sized_config,
)

TOKENS_PER_PATCH = 4  # 2 x 2 tokens per patch of the SeiT++ stem
WEIGHTS_FILE = "mtm.safetensors"  # beside config.json in a saved model's directory


@dataclass(frozen=True)
class MTMConfig:
    # encoder: the SeiT++ token ViT
    codebook_size: int = 391  # K
    code_dim: int = 32  # C
    grid_size: int = 14  # H = W of a training crop
    patch_kernel: int = 4  # the stem's patch convolution (seitpp.models.vit)
    embed_dim: int = 384  # D
    depth: int = 12
    num_heads: int = 6
    mlp_ratio: float = 4.0
    drop_path_rate: float = 0.0
    embed_drop: float = 0.1  # dropout after the token table's LayerNorm, as BERT and MAGE
    # decoder
    decoder_dim: int = 512  # Dd
    decoder_depth: int = 4
    decoder_heads: int = 16
    decoder_drop: float = 0.1  # dropout inside the decoder blocks (attention and projections)
    # masking: one ratio per step from N(mean, std) truncated to [min, max]
    mask_ratio_mean: float = 0.45
    mask_ratio_std: float = 0.25
    mask_ratio_min: float = 0.4  # also the fraction of patches dropped from the encoder input
    mask_ratio_max: float = 1.0
    label_smoothing: float = 0.1  # MAGE's value; the release's is not stated

    def __post_init__(self):
        if not 0 < self.mask_ratio_min <= self.mask_ratio_max <= 1:
            raise ValueError(f"need 0 < mask_ratio_min <= mask_ratio_max <= 1, got {self.mask_ratio_min}, {self.mask_ratio_max}")
        if self.grid_size % 2:
            raise ValueError(f"grid_size must be even (one patch per 2 x 2 tokens), got {self.grid_size}")

    @property
    def num_patches(self) -> int:
        return (self.grid_size // 2) ** 2

    def encoder_config(self) -> TokenViTConfig:
        """The classifier config whose encoder this is (no head; the pooling is unused here)."""
        return TokenViTConfig(
            embed_dim=self.embed_dim, depth=self.depth, num_heads=self.num_heads, mlp_ratio=self.mlp_ratio,
            num_classes=0, drop_path_rate=self.drop_path_rate, global_pool="token",
            codebook_size=self.codebook_size, code_dim=self.code_dim, grid_size=self.grid_size,
            stem="seitpp", patch_kernel=self.patch_kernel, embed_drop=self.embed_drop,
        )


# ----------------------------------------------------------------------------------------------
# Patches of 2 x 2 tokens


def patchify(ids: torch.Tensor) -> torch.Tensor:
    """ids (B, H, W) -> (B, L, 4): the 2 x 2 tokens of each patch, patches row-major, tokens row-major."""
    B, H, W = ids.shape
    x = ids.reshape(B, H // 2, 2, W // 2, 2).permute(0, 1, 3, 2, 4)  # (B, H/2, W/2, 2, 2)
    return x.reshape(B, (H // 2) * (W // 2), TOKENS_PER_PATCH)


def unpatchify(x: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(B, L, 4, ...) -> (B, H, W, ...) with (H, W) = grid, the inverse of `patchify`."""
    B, rest = x.shape[0], x.shape[3:]
    H, W = grid
    x = x.reshape(B, H // 2, W // 2, 2, 2, *rest).transpose(2, 3)  # (B, H/2, 2, W/2, 2, ...)
    return x.reshape(B, H, W, *rest)


def truncated_normal(mean: float, std: float, low: float, high: float, generator: torch.Generator | None = None) -> float:
    """One draw from N(mean, std) truncated to [low, high], by the inverse CDF (exact, no rejection loop)."""
    def cdf(v: float) -> float:
        return 0.5 * (1 + math.erf((v - mean) / (std * math.sqrt(2))))
    device = generator.device if generator is not None else "cpu"
    u = cdf(low) + (cdf(high) - cdf(low)) * torch.rand((), generator=generator, device=device).item()
    r = mean + std * math.sqrt(2) * torch.special.erfinv(torch.tensor(2 * u - 1, dtype=torch.float64)).item()
    return min(max(r, low), high)  # guard against rounding at the ends


# ----------------------------------------------------------------------------------------------
# The model


class MaskedTokenModel(nn.Module):
    """MAGE-style masked token modeling on the SeiT++ token ViT. `forward(ids)` -> (loss, logits, mask)."""

    def __init__(self, config: MTMConfig = MTMConfig(), codes: torch.Tensor | None = None):
        super().__init__()
        self.config = config
        K, C, D, Dd = config.codebook_size, config.code_dim, config.embed_dim, config.decoder_dim

        # --------------------------------------------------------------------------------------
        # encoder: the classifier's stem, cls token, positions, blocks and norm, under the same names
        self.encoder = TokenViT(config.encoder_config(), codes)  # codes: the table's start (else random)
        self.mask_token = nn.Parameter(torch.zeros(C))  # the embedding of every masked token, before the conv

        # --------------------------------------------------------------------------------------
        # decoder
        self.decoder_embed = nn.Linear(D, Dd)
        self.decoder_mask_token = nn.Parameter(torch.zeros(1, 1, Dd))
        self.decoder_pos_embed = nn.Parameter(torch.zeros(1, 1 + config.num_patches, Dd))
        self.decoder_blocks = nn.Sequential(*[
            Block(Dd, config.decoder_heads, config.mlp_ratio, qkv_bias=True,
                  proj_drop=config.decoder_drop, attn_drop=config.decoder_drop)
            for _ in range(config.decoder_depth)
        ])
        self.decoder_norm = nn.LayerNorm(Dd)
        # prediction, as BERT's and MAGE's MLM layer: a query per token, scored against the table
        self.decoder_pred = nn.Linear(Dd, TOKENS_PER_PATCH * C)
        self.pred_norm = nn.LayerNorm(C)
        self.pred_bias = nn.Parameter(torch.zeros(K))

        for p in [self.mask_token, self.decoder_mask_token, self.decoder_pos_embed]:
            trunc_normal_(p, std=0.02)
        for m in [self.decoder_embed, self.decoder_blocks, self.decoder_pred]:
            m.apply(init_linear)

    @property
    def grid(self) -> tuple[int, int]:
        return (self.config.grid_size, self.config.grid_size)

    @property
    def num_dropped(self) -> int:
        """Patches dropped from the encoder input in every sample: the minimum ratio's share."""
        return math.ceil(self.config.mask_ratio_min * self.config.num_patches)

    # ------------------------------------------------------------------------------------------
    # masking

    def random_masking(self, B: int, ratio: float | None = None, generator: torch.Generator | None = None,
                       device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """Draw which patches to mask and which of those to drop -> (mask, drop), both (B, L) float, 1 = yes.

        ratio: the fraction to mask, in [mask_ratio_min, mask_ratio_max]; None draws it from the
        truncated normal (one ratio for the whole batch, so every sample keeps the same length).
        """
        cfg, L = self.config, self.config.num_patches
        if ratio is None:
            ratio = truncated_normal(cfg.mask_ratio_mean, cfg.mask_ratio_std, cfg.mask_ratio_min,
                                     cfg.mask_ratio_max, generator)
        elif not cfg.mask_ratio_min <= ratio <= cfg.mask_ratio_max:
            raise ValueError(f"ratio must lie in [{cfg.mask_ratio_min}, {cfg.mask_ratio_max}], got {ratio}")
        num_masked = math.ceil(ratio * L)  # >= num_dropped, as ratio >= the minimum
        noise = torch.rand(B, L, generator=generator, device=_gen_device(generator, device))
        rank = noise.argsort(dim=1).argsort(dim=1).to(device)  # (B, L): each patch's place in a random order
        mask = (rank < num_masked).float()
        drop = (rank < self.num_dropped).float()  # the first of the masked patches in the same order
        return mask, drop

    def kept_index(self, drop: torch.Tensor) -> torch.Tensor:
        """drop (B, L) as `random_masking` makes it -> (B, L - num_dropped) indices of the kept patches, in order.

        A gather rather than boolean indexing, so the GPU never waits to learn how many are kept.
        """
        return torch.argsort(drop, dim=1, stable=True)[:, : drop.shape[1] - self.num_dropped]

    # ------------------------------------------------------------------------------------------
    # stages

    def forward_encoder(self, ids: torch.Tensor, mask: torch.Tensor, drop: torch.Tensor) -> torch.Tensor:
        """ids (B, H, W), mask and drop (B, L) -> encoder tokens (B, 1 + L - n_drop, D), cls first."""
        enc = self.encoder
        if tuple(ids.shape[1:]) != self.grid:
            raise ValueError(f"MTM is built for {self.grid} token grids (crop them first), got {tuple(ids.shape[1:])}")
        z = enc.patch_embed.lookup(ids)  # (B, H, W, C)
        hidden = unpatchify(mask.bool().unsqueeze(-1).expand(-1, -1, TOKENS_PER_PATCH), self.grid)  # (B, H, W)
        z = torch.where(hidden.unsqueeze(-1), self.mask_token.to(z.dtype), z)
        x, _ = enc.patch_embed.patches(z)  # (B, L, D): no visible patch sees a hidden token's id
        B, L, D = x.shape
        x = x + enc.pos_embed[:, 1:]
        x = x.gather(1, self.kept_index(drop).unsqueeze(-1).expand(-1, -1, D))  # (B, L - n_drop, D)
        cls = (enc.cls_token + enc.pos_embed[:, :1]).expand(B, -1, -1)
        return enc.norm(enc.blocks(torch.cat([cls, x], dim=1)))

    def forward_decoder(self, x: torch.Tensor, mask: torch.Tensor, drop: torch.Tensor) -> torch.Tensor:
        """Encoder tokens (B, 1 + L - n_drop, D) -> logits (B, L, 4, K) for every patch."""
        x = self.decoder_embed(x)  # (B, 1 + L - n_drop, Dd)
        B, Dd = x.shape[0], x.shape[2]
        full = self.decoder_mask_token.to(x.dtype).expand(B, mask.shape[1], Dd)  # (B, L, Dd)
        keep = self.kept_index(drop).unsqueeze(-1).expand(-1, -1, Dd)
        full = full.scatter(1, keep, x[:, 1:])  # the kept patches back in their places
        full = torch.where(mask.bool().unsqueeze(-1), self.decoder_mask_token.to(x.dtype), full)
        x = torch.cat([x[:, :1], full], dim=1) + self.decoder_pos_embed
        x = self.decoder_norm(self.decoder_blocks(x))[:, 1:]  # (B, L, Dd)
        q = self.pred_norm(F.gelu(self.decoder_pred(x).unflatten(-1, (TOKENS_PER_PATCH, -1))))  # (B, L, 4, C)
        table = self.encoder.patch_embed.table().detach()  # (K, C)
        return q @ table.T + self.pred_bias  # (B, L, 4, K)

    def forward_loss(self, ids: torch.Tensor, logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of logits (B, L, 4, K) against ids (B, H, W), on masked patches (mask 1) only."""
        target = patchify(ids).long()  # (B, L, 4)
        loss = F.cross_entropy(logits.flatten(0, 2), target.flatten(), reduction="none",
                               label_smoothing=self.config.label_smoothing).view_as(target).mean(-1)  # (B, L)
        return (loss * mask).sum() / mask.sum()  # mean over masked patches; unmasked ones count 0

    def forward(self, ids: torch.Tensor, generator: torch.Generator | None = None,
                ratio: float | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """ids (B, H, W) -> (loss, logits (B, L, 4, K), mask (B, L), 1 = masked).

        Masking draws from `generator` (deterministic when it is seeded); dropout draws from torch's
        global generator, so seed that too for a repeatable step in training mode.
        """
        mask, drop = self.random_masking(len(ids), ratio, generator, ids.device)
        logits = self.forward_decoder(self.forward_encoder(ids, mask, drop), mask, drop)
        return self.forward_loss(ids, logits, mask), logits, mask

    # ------------------------------------------------------------------------------------------
    # for pictures and for fine-tuning

    @torch.no_grad()
    def predict(self, ids: torch.Tensor, ratio: float | None = None,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Mask, predict, fill in -> (ids (B, H, W) with masked tokens replaced by the argmax, mask (B, H, W) bool).

        One pass, no iterative decoding: what the model believes about every hidden token at once.
        Call `model.eval()` first for a picture without dropout.
        """
        _, logits, mask = self(ids, generator, ratio)
        pred = unpatchify(logits.argmax(-1), self.grid)  # (B, H, W)
        grid_mask = unpatchify(mask.bool().unsqueeze(-1).expand(-1, -1, TOKENS_PER_PATCH), self.grid)
        return torch.where(grid_mask, pred, ids), grid_mask

    def encoder_state_dict(self) -> dict[str, torch.Tensor]:
        """The encoder's weights under the classifier's names (`patch_embed.*`, `blocks.*`, ...)."""
        return {k: v.detach().clone() for k, v in self.encoder.state_dict().items()}

    # ------------------------------------------------------------------------------------------
    # storage: a finished model, weights only (a training checkpoint also holds the optimiser)

    def save(self, directory: str | Path, **meta) -> Path:
        """Write `config.json` ({"model": the MTMConfig fields} and `meta`) and `mtm.safetensors`, each atomically."""
        return save_model(directory, self, WEIGHTS_FILE, json.dumps({"model": asdict(self.config)} | meta, indent=2))

    @classmethod
    def load(cls, directory: str | Path, device: str | torch.device = "cpu") -> "MaskedTokenModel":
        """A model saved by `save`, in eval mode."""
        config_text, state = read_model(directory, WEIGHTS_FILE, "masked token model")
        model = cls(MTMConfig(**json.loads(config_text)["model"]))
        model.load_state_dict(state)
        return model.to(device).eval()

    def no_weight_decay(self) -> set[str]:
        return {f"encoder.{n}" for n in self.encoder.no_weight_decay()} | {
            "mask_token", "decoder_mask_token", "decoder_pos_embed"}


def _gen_device(generator: torch.Generator | None, device: torch.device | str) -> torch.device | str:
    return generator.device if generator is not None else device


# ----------------------------------------------------------------------------------------------
# Scoring the masked tokens, against predictors that need no training


def code_frequencies(ids: torch.Tensor, K: int) -> torch.Tensor:
    """ids (any shape) -> (K,) float64: each code's share among them."""
    counts = torch.bincount(ids.long().flatten(), minlength=K).double()
    return counts / counts.sum()


def frequency_prediction(freq: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """freq (K,) -> (K,): the best prediction that ignores the image, under the loss with `label_smoothing` eps.

    The smoothed loss of a prediction q is the cross-entropy of q against (1 - eps) freq + eps / K,
    so that mixture is the minimiser: for eps = 0, the code frequencies themselves.
    """
    return (1 - label_smoothing) * freq + label_smoothing / len(freq)


def frequency_loss(freq: torch.Tensor, label_smoothing: float = 0.0) -> float:
    """The expected loss (nats) of `frequency_prediction` on tokens drawn from freq (K,): the entropy of
    the prediction. A model's loss below it says the model reads the visible tokens."""
    q = frequency_prediction(freq.double(), label_smoothing)
    return float(-torch.special.xlogy(q, q).sum())


@torch.no_grad()
def masked_predictions(model: MaskedTokenModel, ids: torch.Tensor, ratio: float, seed: int = 0, top: int = 5,
                       batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mask every grid of ids (N, H, W) at `ratio` and predict, in eval mode -> on the CPU:

    - top (N, H, W, top): each token's `top` most likely ids, best first;
    - loss (N, H, W): each token's cross-entropy (nats), with the model's label smoothing;
    - grid_mask (N, H, W) bool: True where the token was masked (only there do the first two mean anything).

    The masks come from one generator seeded `seed`, so two models called alike see the same masks.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    g = torch.Generator().manual_seed(seed)
    tops, losses, masks = [], [], []
    for chunk in ids.split(batch_size):
        chunk = chunk.to(device).long()
        _, logits, mask = model(chunk, g, ratio)  # (b, L, 4, K), (b, L)
        target = patchify(chunk)  # (b, L, 4)
        loss = F.cross_entropy(logits.float().flatten(0, 2), target.flatten(), reduction="none",
                               label_smoothing=model.config.label_smoothing).view_as(target)
        tops.append(unpatchify(logits.topk(top, dim=-1).indices, model.grid).cpu())  # (b, H, W, top)
        losses.append(unpatchify(loss, model.grid).cpu())
        masks.append(unpatchify(mask.bool().unsqueeze(-1).expand(-1, -1, TOKENS_PER_PATCH), model.grid).cpu())
    model.train(was_training)
    return torch.cat(tops), torch.cat(losses), torch.cat(masks)


def most_frequent_visible(ids: torch.Tensor, grid_mask: torch.Tensor, fallback: int) -> torch.Tensor:
    """ids, grid_mask (N, H, W) -> (N,): each grid's commonest visible id (the smallest on a tie), or
    `fallback` where every token is masked."""
    K = max(int(ids.max()), fallback) + 1
    counts = torch.zeros(len(ids), K).scatter_add_(1, ids.flatten(1).long(), (~grid_mask).flatten(1).float())
    return torch.where(counts.sum(1) > 0, counts.argmax(1), fallback)  # argmax: the first of equal maxima


def visible_neighbours(grid_mask: torch.Tensor) -> torch.Tensor:
    """grid_mask (N, H, W) bool -> (N, H, W): how many of each token's 8 neighbours are visible (unmasked)."""
    visible = (~grid_mask).float().unsqueeze(1)  # (N, 1, H, W)
    ring = torch.ones(1, 1, 3, 3)
    ring[0, 0, 1, 1] = 0
    return F.conv2d(visible, ring, padding=1)[:, 0].round().long()


def masked_token_scores(model: MaskedTokenModel, ids: torch.Tensor, ratio: float, freq: torch.Tensor,
                        seed: int = 0) -> dict[str, float]:
    """Score a model's predictions of the masked tokens of ids (N, H, W) at `ratio`, and the predictors
    that need no training, on the same masks and tokens -> {

        "masked_tokens": how many were scored,
        "loss": the model's mean cross-entropy (nats, with its label smoothing),
        "loss_uniform": ln K, a uniform guess (whatever the smoothing),
        "loss_frequencies": `frequency_prediction(freq)` for every token,
        "top1", "top5": shares right, the model's first guess / any of its five,
        "top1_most_frequent": the id most frequent in freq, for every token,
        "top1_most_frequent_visible": each grid's commonest visible id (`most_frequent_visible`)}

    freq (K,): code frequencies of the training grids (`code_frequencies`), never of `ids`.
    """
    top, loss, grid_mask = masked_predictions(model, ids, ratio, seed)
    ids = ids.long().cpu()
    hidden = ids[grid_mask]  # (n,)
    eps, K = model.config.label_smoothing, len(freq)
    log_q = frequency_prediction(freq.double().cpu(), eps).log()
    mode = int(freq.argmax())
    visible_mode = most_frequent_visible(ids, grid_mask, mode)[:, None, None].expand_as(ids)
    return {
        "masked_tokens": len(hidden),
        "loss": loss[grid_mask].mean().item(),
        "loss_uniform": math.log(K),
        "loss_frequencies": (-(1 - eps) * log_q[hidden] - eps / K * log_q.sum()).mean().item(),
        "top1": (top[..., 0][grid_mask] == hidden).double().mean().item(),
        "top5": (top[grid_mask] == hidden[:, None]).any(1).double().mean().item(),
        "top1_most_frequent": (hidden == mode).double().mean().item(),
        "top1_most_frequent_visible": (visible_mode[grid_mask] == hidden).double().mean().item(),
    }


# ----------------------------------------------------------------------------------------------
# Presets: the encoder sizes of seitpp.models


_DECODERS = {  # (decoder_dim, decoder_depth, decoder_heads)
    "micro": (64, 2, 2),  # scaled down with the encoder, so a CPU can pre-train it in minutes
    "tiny": (512, 4, 16), "small": (512, 4, 16), "base": (512, 4, 16),  # the release's decoder
}
MTM_MODELS = tuple(f"mtm_{size}" for size in _DECODERS)


def _mtm(size: str, codes: torch.Tensor | None = None, **overrides) -> MaskedTokenModel:
    """The masked token model at `size` (`create_model("mtm_<size>")`); keyword arguments override
    MTMConfig fields. codes: (K, C) code vectors the token table starts from (default: random rows)."""
    Dd, dec_depth, dec_heads = _DECODERS[size]
    config = sized_config(MTMConfig, size, overrides, decoder_dim=Dd, decoder_depth=dec_depth, decoder_heads=dec_heads)
    return MaskedTokenModel(config, codes)


register_sizes("mtm", _mtm)
