"""A VQGAN-style convolutional image tokenizer: encoder -> l2-normalised codebook -> decoder.

An image (B, 3, H, W) in [0, 1] becomes a grid of token ids (B, h, w) with h = H / downsample,
each id naming one of K code vectors of dimension C. The decoder turns the code vectors back into
pixels. The design follows VQGAN's convolutional encoder and decoder (residual blocks, GroupNorm,
stride-2 steps; no attention, so it can train on crops and run on images of any size) with the
ViT-VQGAN codebook that SeiT uses: codes and encoder outputs are
l2-normalised and compared by cosine similarity, which keeps every code in play.

Letters used in shapes: B batch, H W image size, h w token grid, C code dimension, K codebook size.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from seitpp.data.images import check_image_batch, images_to_tensor
from seitpp.files import ARTEFACTS, read_model, save_model

WEIGHTS_FILE = "tokenizer.safetensors"
REFERENCE_DIR = ARTEFACTS / "tokenizer"


@dataclass(frozen=True)
class TokenizerConfig:
    resolution: int = 64  # training image size; the conv net accepts any multiple of `downsample`
    channels: tuple[int, ...] = (64, 128, 128)  # width per level; one stride-2 step between levels
    num_res_blocks: int = 1  # residual blocks per level
    code_dim: int = 32  # C, as SeiT's 32-d codes
    codebook_size: int = 1024  # K
    commitment: float = 0.25  # beta in the VQ-VAE loss
    input_range: tuple[float, float] = (0.0, 1.0)  # what tokenize() takes and decode() returns

    @property
    def downsample(self) -> int:
        return 2 ** (len(self.channels) - 1)

    @property
    def grid_size(self) -> int:
        return self.resolution // self.downsample

    @property
    def bits_per_token(self) -> float:
        """Bits of a fixed-width code: log2(K)."""
        return math.log2(self.codebook_size)

    def to_json(self) -> str:
        return json.dumps(asdict(self) | {"grid_size": self.grid_size}, indent=2)

    @classmethod
    def from_json(cls, text: str) -> "TokenizerConfig":
        fields = json.loads(text)
        fields.pop("grid_size", None)  # derived, written for readers of the file
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})


# ----------------------------------------------------------------------------------------------
# Building blocks


def _norm(channels: int) -> nn.GroupNorm:
    # GroupNorm, not BatchNorm: an image's tokens must not depend on the other images in its batch.
    return nn.GroupNorm(num_groups=min(32, channels // 4), num_channels=channels, eps=1e-6)


class ResBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.block = nn.Sequential(
            _norm(in_ch), nn.SiLU(), nn.Conv2d(in_ch, out_ch, 3, padding=1),
            _norm(out_ch), nn.SiLU(), nn.Conv2d(out_ch, out_ch, 3, padding=1),
        )
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.block(x)


class Encoder(nn.Module):
    """(B, 3, H, W) in [-1, 1] -> (B, C, h, w) unnormalised code vectors."""

    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        ch = cfg.channels
        layers: list[nn.Module] = [nn.Conv2d(3, ch[0], 3, padding=1)]
        for level, width in enumerate(ch):
            in_ch = ch[max(level - 1, 0)]
            layers += [ResBlock(in_ch if i == 0 else width, width) for i in range(cfg.num_res_blocks)]
            if level < len(ch) - 1:
                layers.append(nn.Conv2d(width, width, 4, stride=2, padding=1))  # halve H and W
        layers.append(ResBlock(ch[-1], ch[-1]))  # one more block at the token grid
        layers += [_norm(ch[-1]), nn.SiLU(), nn.Conv2d(ch[-1], cfg.code_dim, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Decoder(nn.Module):
    """(B, C, h, w) code vectors -> (B, 3, H, W) in about [-1, 1]; the encoder mirrored."""

    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        ch = cfg.channels[::-1]
        layers: list[nn.Module] = [nn.Conv2d(cfg.code_dim, ch[0], 3, padding=1)]
        layers.append(ResBlock(ch[0], ch[0]))
        for level, width in enumerate(ch):
            in_ch = ch[max(level - 1, 0)]
            # one block more than the encoder, as in VQGAN: decoding is the harder direction
            layers += [ResBlock(in_ch if i == 0 else width, width) for i in range(cfg.num_res_blocks + 1)]
            if level < len(ch) - 1:
                layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(width, width, 3, padding=1)]
        layers += [_norm(ch[-1]), nn.SiLU(), nn.Conv2d(ch[-1], 3, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


# ----------------------------------------------------------------------------------------------
# Codebook


class Codebook(nn.Module):
    """K code vectors of dimension C, compared by cosine similarity (both sides l2-normalised).

    Trained with the straight-through estimator and the VQ-VAE codebook + commitment loss. In
    training mode each code counts how often it is picked, so that codes nobody picked since the
    last check ("dead" codes) can be restarted on encoder outputs of the current batch.
    """

    def __init__(self, codebook_size: int, code_dim: int, commitment: float = 0.25):
        super().__init__()
        self.weight = nn.Parameter(F.normalize(torch.randn(codebook_size, code_dim), dim=1))
        self.commitment = commitment
        # persistent, so that a resumed run restarts exactly the codes an uninterrupted run would
        self.register_buffer("picks", torch.zeros(codebook_size, dtype=torch.long))

    @property
    def size(self) -> int:
        return self.weight.shape[0]

    def vectors(self) -> torch.Tensor:
        """(K, C) unit-length code vectors."""
        return F.normalize(self.weight, dim=1)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (B, h, w) -> code vectors (B, C, h, w)."""
        return self.vectors()[ids].permute(0, 3, 1, 2)

    def similarities(self, z: torch.Tensor) -> torch.Tensor:
        """Vectors (B, C, h, w) -> cosine similarity of each to every code (B, K, h, w)."""
        return torch.einsum("bchw,kc->bkhw", F.normalize(z, dim=1), self.vectors())

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """Vectors (B, C, h, w) -> ids (B, h, w) of the code with the highest cosine similarity."""
        return self.similarities(z).argmax(dim=1)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Quantise z (B, C, h, w) -> (straight-through code vectors (B, C, h, w), ids (B, h, w), VQ loss)."""
        z = F.normalize(z, dim=1)
        ids = self.nearest(z)
        zq = self.embed(ids)
        loss = F.mse_loss(zq, z.detach()) + self.commitment * F.mse_loss(z, zq.detach())
        if self.training:
            self.picks += torch.bincount(ids.flatten(), minlength=self.size)
        return z + (zq - z).detach(), ids, loss

    @torch.no_grad()
    def restart_dead_codes(self, z: torch.Tensor) -> int:
        """Move every code not picked since the last call onto a random encoder output of z.

        z: (B, C, h, w) encoder outputs of the current batch. Returns how many codes moved.
        """
        dead = (self.picks == 0).nonzero().flatten()
        self.picks.zero_()
        if len(dead) == 0:
            return 0
        candidates = F.normalize(z, dim=1).permute(0, 2, 3, 1).reshape(-1, z.shape[1])  # (B*h*w, C)
        pick = torch.randint(len(candidates), (len(dead),), device=z.device)
        self.weight[dead] = candidates[pick] + 0.01 * torch.randn_like(candidates[pick])
        return len(dead)

    @classmethod
    def from_seit(cls, path: str | Path, code_dim: int = 32) -> "Codebook":
        """Load SeiT's released `codebook.ckpt`: `torch.save` of a bare float tensor (K, 32)."""
        path = Path(path)
        try:
            weight = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # torch raises many kinds here; all mean "not a readable checkpoint"
            raise ValueError(f"{path}: not a readable torch checkpoint ({err})") from err
        if not isinstance(weight, torch.Tensor) or weight.ndim != 2 or not weight.is_floating_point():
            got = f"tensor {tuple(weight.shape)} {weight.dtype}" if isinstance(weight, torch.Tensor) else type(weight).__name__
            raise ValueError(f"{path}: expected a bare float tensor of shape (K, {code_dim}), got {got}")
        if weight.shape[1] != code_dim:
            raise ValueError(f"{path}: codes have dimension {weight.shape[1]}, expected {code_dim}")
        if not torch.isfinite(weight).all():
            raise ValueError(f"{path}: codebook holds NaN or inf values")
        book = cls(weight.shape[0], code_dim)
        book.weight.data.copy_(weight.float())
        return book


# ----------------------------------------------------------------------------------------------
# The tokenizer


class VQTokenizer(nn.Module):
    """Images <-> token ids. `forward` is for training; `tokenize` and `decode` for everything else."""

    def __init__(self, config: TokenizerConfig = TokenizerConfig()):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.codebook = Codebook(config.codebook_size, config.code_dim, config.commitment)
        self.decoder = Decoder(config)

    @property
    def device(self) -> torch.device:
        return self.codebook.weight.device

    @property
    def inference_batch(self) -> int:
        """Images per batch in `tokenize_many` and `evaluate_tokenizer`: 32 on the CPU, where larger
        batches overflow its caches (1.5x slower at 256, BENCHMARKS.md, benchmarks/tokenizer_throughput.py);
        256 on an accelerator."""
        return 32 if self.device.type == "cpu" else 256

    def _to_model_range(self, images: torch.Tensor) -> torch.Tensor:
        lo, hi = self.config.input_range
        return (images.to(self.device, torch.float32) - lo) / (hi - lo) * 2 - 1

    def _from_model_range(self, x: torch.Tensor) -> torch.Tensor:
        lo, hi = self.config.input_range
        return ((x.clamp(-1, 1) + 1) / 2) * (hi - lo) + lo

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """images (B, 3, H, W) -> (reconstruction (B, 3, H, W), ids (B, h, w), VQ loss, encoder output (B, C, h, w))."""
        z = self.encoder(self._to_model_range(images))
        zq, ids, vq_loss = self.codebook(z)
        return self._from_model_range(self.decoder(zq)), ids, vq_loss, z

    @torch.no_grad()
    def tokenize(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, H, W) in `config.input_range` -> ids (B, H/d, W/d), int64, on the model's device."""
        return self.code_similarities(images).argmax(dim=1)

    @torch.no_grad()
    def code_similarities(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, H, W) -> each token's cosine similarity to every code (B, K, H/d, W/d).

        `tokenize` is its argmax over K; how far the best code leads the second says how close a
        token is to a tie, which a float kernel of another CPU could break the other way.
        """
        check_image_batch(images, 3, self.config.downsample, self.config.input_range)
        return self.codebook.similarities(self.encoder(self._to_model_range(images)))

    @torch.no_grad()
    def tokenize_many(self, images: torch.Tensor | np.ndarray, batch_size: int | None = None) -> torch.Tensor:
        """`tokenize` over a large set, a batch at a time -> ids (N, h, w) on the CPU.

        images: float (N, 3, H, W) in `config.input_range`, or uint8 (N, H, W, 3) converted per batch
        (so a large uint8 set is never held as floats all at once). batch_size: `inference_batch`
        if not given.
        """
        batch_size = batch_size or self.inference_batch
        batches = (images[i:i + batch_size] for i in range(0, len(images), batch_size))
        return torch.cat([self.tokenize(images_to_tensor(b) if isinstance(b, np.ndarray) else b).cpu() for b in batches])

    @torch.no_grad()
    def decode(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (B, h, w) -> images (B, 3, h*d, w*d) in `config.input_range`."""
        ids = ids.to(self.device, torch.long)
        if ids.numel() and (ids.min() < 0 or ids.max() >= self.codebook.size):
            raise ValueError(f"token ids must lie in [0, {self.codebook.size}), got [{ids.min()}, {ids.max()}]")
        return self._from_model_range(self.decoder(self.codebook.embed(ids)))

    @torch.no_grad()
    def decode_many(self, ids: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
        """`decode` over a large set, a batch at a time -> images (N, 3, h*d, w*d) on the CPU.

        batch_size: `inference_batch` if not given.
        """
        return torch.cat([self.decode(b).cpu() for b in ids.split(batch_size or self.inference_batch)])

    @torch.no_grad()
    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        """decode(tokenize(images)), in batches the caller chooses."""
        return self.decode(self.tokenize(images))

    # -- storage ---------------------------------------------------------------------------------

    def save(self, directory: str | Path) -> Path:
        """Write `config.json` and `tokenizer.safetensors` into `directory`, each atomically."""
        return save_model(directory, self, WEIGHTS_FILE, self.config.to_json())

    @classmethod
    def load(cls, directory: str | Path = REFERENCE_DIR, device: str | torch.device = "cpu") -> "VQTokenizer":
        """Load a tokenizer saved by `save` (by default the book's reference tokenizer), in eval mode."""
        config, state = read_model(directory, WEIGHTS_FILE, "tokenizer")
        model = cls(TokenizerConfig.from_json(config))
        model.load_state_dict(state)
        return model.to(device).eval()

    def fingerprint(self) -> str:
        """A short hash of the config and every weight: token files record which tokenizer made them."""
        h = hashlib.sha256(self.config.to_json().encode())
        for name, tensor in sorted(self.state_dict().items()):
            if name != "codebook.picks":  # a training statistic, not part of what the tokenizer computes
                h.update(name.encode())
                h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()[:16]

    def with_codebook(self, codebook: Codebook) -> "VQTokenizer":
        """A copy of this tokenizer that quantises with `codebook` (same code dimension)."""
        if codebook.weight.shape[1] != self.config.code_dim:
            raise ValueError(f"codebook has {codebook.weight.shape[1]}-d codes, tokenizer uses {self.config.code_dim}-d")
        model = VQTokenizer(replace(self.config, codebook_size=codebook.size))
        state = {k: v for k, v in self.state_dict().items() if not k.startswith("codebook.")}
        model.load_state_dict(state | {f"codebook.{k}": v for k, v in codebook.state_dict().items()})
        return model.to(self.device).eval()


# ----------------------------------------------------------------------------------------------
# Measuring a tokenizer, and shrinking its codebook


@dataclass
class TokenizerReport:
    psnr: float  # dB, mean over images, pixels in [0, 1]
    codes_used: int  # distinct ids seen on the evaluation images
    codebook_size: int
    perplexity: float  # exp(entropy) of the id histogram: the "effective" number of codes
    counts: torch.Tensor = field(repr=False)  # (K,) how often each id appears

    @property
    def usage(self) -> float:
        return self.codes_used / self.codebook_size

    @property
    def bits_per_token(self) -> float:
        return math.log2(self.codebook_size)

    @property
    def entropy_bits(self) -> float:
        """Empirical entropy of the ids in bits: what an ideal order-0 entropy coder would need."""
        return math.log2(self.perplexity)


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of images (B, 3, H, W) in [0, 1] -> (B,)."""
    mse = (a - b).pow(2).flatten(1).mean(1).clamp_min(1e-10)
    return -10 * torch.log10(mse)


def code_counts(ids: torch.Tensor, codebook_size: int) -> torch.Tensor:
    """How often each of the K ids appears in `ids` (any shape) -> (K,) int64."""
    return torch.bincount(ids.flatten().cpu(), minlength=codebook_size)


def perplexity(counts: torch.Tensor) -> float:
    """exp of the entropy of the histogram `counts` (K,): K for uniform use, 1 for a single code."""
    p = counts.double() / counts.sum()
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


@torch.no_grad()
def evaluate_tokenizer(model: VQTokenizer, images: torch.Tensor, batch_size: int | None = None) -> TokenizerReport:
    """Reconstruction PSNR and codebook use on images (N, 3, H, W) in [0, 1], `model.inference_batch`
    images at a time unless batch_size is given."""
    model.eval()
    psnrs, all_ids = [], []
    for batch in images.split(batch_size or model.inference_batch):
        ids = model.tokenize(batch)
        psnrs.append(psnr(model.decode(ids).cpu(), batch.float()))
        all_ids.append(ids.cpu())
    counts = code_counts(torch.cat(all_ids), model.codebook.size)
    return TokenizerReport(
        psnr=float(torch.cat(psnrs).mean()),
        codes_used=int((counts > 0).sum()),
        codebook_size=model.codebook.size,
        perplexity=perplexity(counts),
        counts=counts,
    )


def most_used_codes(counts: torch.Tensor, k: int) -> torch.Tensor:
    """Ids of the k most frequent codes, most frequent first -> (k,) int64."""
    if not 0 < k <= len(counts):
        raise ValueError(f"k must lie in [1, {len(counts)}], got {k}")
    return counts.argsort(descending=True, stable=True)[:k]


def kmeans_codes(vectors: torch.Tensor, k: int, counts: torch.Tensor | None = None, iters: int = 50, seed: int = 0) -> torch.Tensor:
    """Spherical k-means of code vectors (K, C) into k unit centroids (k, C), optionally weighted by use."""
    x = F.normalize(vectors.float(), dim=1)
    w = torch.ones(len(x)) if counts is None else counts.float() + 1e-3
    g = torch.Generator().manual_seed(seed)
    centroids = x[torch.multinomial(w, k, replacement=False, generator=g)]
    for _ in range(iters):
        assign = (x @ centroids.T).argmax(1)
        sums = torch.zeros_like(centroids).index_add_(0, assign, x * w[:, None])
        empty = sums.norm(dim=1) == 0
        centroids = torch.where(empty[:, None], centroids, F.normalize(sums, dim=1))
    return centroids


def reduce_codebook(model: VQTokenizer, counts: torch.Tensor, k: int, method: str = "kmeans") -> VQTokenizer:
    """Shrink the codebook to k codes, as SeiT shrank ViT-VQGAN's 8192 codes to 391.

    Every image is then re-quantised to the nearest kept code (cosine); the encoder and decoder
    stay as they are. counts (K,): how often each code is used. method "kmeans" replaces the
    codebook by k spherical k-means centroids of the use-weighted codes (much better at every k in
    chapter 1's measurements), "most_used" keeps the k most frequent codes.
    """
    if method == "most_used":
        kept = model.codebook.vectors()[most_used_codes(counts, k).to(model.device)]
    elif method == "kmeans":
        kept = kmeans_codes(model.codebook.vectors().cpu(), k, counts).to(model.device)
    else:
        raise ValueError(f"unknown reduction method {method!r}; use 'most_used' or 'kmeans'")
    book = Codebook(k, model.config.code_dim, model.config.commitment)
    book.weight.data.copy_(kept)
    return model.with_codebook(book)
