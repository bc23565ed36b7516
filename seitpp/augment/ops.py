"""Batched augmentations for images stored as discrete tokens: one interface for ids and embeddings.

Every `TokenAugmentation` takes either a batch of token ids (B, H, W) (any integer dtype) or a
batch of embeddings (B, C, H, W) (float), on any device, and returns the same kind, dtype and
device. Randomness comes from an optional `torch.Generator` (CPU or on x's device), so a seeded
generator gives the same output every time. Per-sample parameters are drawn as (B,) tensors and
applied with indexing, `torch.gather`, masks or `F.grid_sample` over per-sample affine grids:
there is no Python loop over images, so they run as a DataLoader collate or a GPU batch transform.

Two families, by where an augmentation is defined:

- Grid ops (`HFlip`, `RandomResizedCrop(mode="nearest")`, `RandomAffine(mode="nearest")`,
  `CodeSwap`) only move tokens around. The same index map is applied to ids or to every channel of
  an embedding grid, so they need no codebook and never invent a token.
- Embedding ops (`ColorAdapt`, `EmbNoise`, bilinear resampling) are defined on embeddings. Given
  ids they need a codebook: ids -> code vectors -> op -> nearest code by cosine -> ids. Code
  vectors are unit length, i.e. per-element RMS 1/sqrt(C); they are scaled by sqrt(C) first so
  that an element is of order 1, as in SeiT++'s LayerNorm'd token embedding, and noise strengths
  mean the same on both kinds of input (cosine quantisation ignores the scale).
- `SynonymReplace` is defined on ids (SeiT's Token-EDA). Given embeddings, it quantises them to
  find each position's code and replaces the chosen positions by the synonym's code vector
  (scaled to the vector it replaces); the other positions are untouched.

`CutMix` and `Mixup` also mix labels: `(x, labels, num_classes, generator) -> (x, soft labels)`.
`Compose` chains augmentations; `RandomChoice` picks one per batch and applies it to all of the
batch or to a random part of it (SeiT++ applies one of {EmbNoise 0.75, ColorAdapt 0.25} to half).

The "naive" ops (flip, crop, affine applied directly to the token grid) are what one first tries;
chapter 2 measures how far their output is from the tokens of the augmented image.

Letters used in shapes: B batch, H W token grid, C embedding channels, K codebook size.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from seitpp.tokenizers.vq import Codebook

CodebookLike = Codebook | torch.Tensor  # a Codebook or its (K, C) code vectors


# ----------------------------------------------------------------------------------------------
# Helpers: random numbers from a generator on any device, codebook lookups


def _gen_device(generator: torch.Generator | None, device: torch.device) -> torch.device:
    return generator.device if generator is not None else device


def _rand(shape: Sequence[int], generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """Uniform [0, 1) float32 of `shape` on `device`, drawn on the generator's device."""
    return torch.rand(tuple(shape), generator=generator, device=_gen_device(generator, device)).to(device)


def _randn(shape: Sequence[int], generator: torch.Generator | None, device: torch.device,
           dtype: torch.dtype = torch.float32) -> torch.Tensor:
    gen_device = _gen_device(generator, device)
    return torch.randn(tuple(shape), generator=generator, device=gen_device, dtype=dtype).to(device)


def _randn_on_device(shape: Sequence[int], generator: torch.Generator | None, device: torch.device,
                     dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Standard normals of `shape` drawn where the data are, from a seed the generator gives.

    For element-wise noise: a CPU draw of B x C x H x W normals and its copy to a GPU take longer
    than the training step they feed (the engine's generators live on the CPU). The seed keeps
    the draw a function of the generator's state, so runs still repeat and resume exactly.
    """
    if generator is None or generator.device == device:
        return _randn(shape, generator, device, dtype)
    seed = int(torch.randint(2**62, (1,), generator=generator, device=generator.device))
    local = torch.Generator(device=device).manual_seed(seed)
    return torch.randn(tuple(shape), generator=local, device=device, dtype=dtype)


def _randperm(n: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    return torch.randperm(n, generator=generator, device=_gen_device(generator, device)).to(device)


def _randint(high: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Per-element uniform integers in [0, high) for an integer tensor `high` (>= 1)."""
    u = _rand(high.shape, generator, high.device)
    return torch.minimum((u * high).long(), high - 1)


def _beta(alpha: float, n: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """(n,) float32 Beta(alpha, alpha) samples. torch's Beta takes no generator: seed numpy from it."""
    seed = int(torch.randint(2**62, (1,), generator=generator, device=_gen_device(generator, device)))
    return torch.from_numpy(np.random.default_rng(seed).beta(alpha, alpha, size=n)).float().to(device)


def _vectors(codebook: CodebookLike, device: torch.device) -> torch.Tensor:
    """(K, C) unit code vectors on `device`, detached."""
    v = codebook.vectors() if isinstance(codebook, Codebook) else F.normalize(codebook, dim=1)
    return v.detach().to(device)


def embed_ids(ids: torch.Tensor, codebook: CodebookLike, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """ids (B, H, W) -> code vectors scaled to per-element RMS 1, (B, C, H, W)."""
    v = _vectors(codebook, ids.device)
    return (v[ids.long()] * math.sqrt(v.shape[1])).permute(0, 3, 1, 2).to(dtype)


def nearest_ids(z: torch.Tensor, codebook: CodebookLike) -> torch.Tensor:
    """Embeddings (B, C, H, W) -> ids (B, H, W) of the code with the highest cosine similarity."""
    v = _vectors(codebook, z.device).to(z.dtype)
    B, C, H, W = z.shape
    flat = F.normalize(z, dim=1).permute(0, 2, 3, 1).reshape(-1, C)
    # in chunks of positions: the (positions, K) similarity matrix of a whole batch can be gigabytes
    step = max(1, 2**24 // v.shape[0])
    ids = torch.cat([(chunk @ v.T).argmax(dim=1) for chunk in flat.split(step)])
    return ids.view(B, H, W)


def synonyms_from_codebook(codebook: CodebookLike, k: int = 5) -> torch.Tensor:
    """(K, k) long: for each code, the ids of the k most similar OTHER codes by cosine, best first."""
    v = _vectors(codebook, torch.device("cpu"))
    if not 1 <= k < v.shape[0]:
        raise ValueError(f"k must be in [1, K) = [1, {v.shape[0]}), got {k}")
    sim = v @ v.T
    sim.fill_diagonal_(-math.inf)
    return sim.topk(k, dim=1).indices


def synonyms_from_json(mapping: dict[str, list[int]], k: int = 5) -> torch.Tensor:
    """SeiT's `synonyms.json` content `{"<id>": [ids, ...]}` -> (K, k) long, first k of each list."""
    K = max(int(key) for key in mapping) + 1
    table = torch.arange(K)[:, None].repeat(1, k)  # a code missing from the file maps to itself
    for key, ids in mapping.items():
        table[int(key)] = torch.tensor(list(ids)[:k])
    return table


def _is_ids(x: torch.Tensor) -> bool:
    if x.is_floating_point():
        if x.ndim != 4:
            raise ValueError(f"embeddings must be (B, C, H, W), got shape {tuple(x.shape)}")
        return False
    if x.ndim != 3:
        raise ValueError(f"token ids must be (B, H, W), got shape {tuple(x.shape)}")
    return True


def _gather_grid(x: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """Pick x[b, :, ys[b, i, j], xs[b, i, j]]: x (B, C, H, W), ys xs (B, h, w) long -> (B, C, h, w)."""
    B, C, H, W = x.shape
    idx = (ys * W + xs).flatten(1)  # (B, h*w)
    out = x.flatten(2).gather(2, idx[:, None].expand(B, C, idx.shape[1]))
    return out.view(B, C, *ys.shape[1:])


def warp(z: torch.Tensor, theta: torch.Tensor, size: tuple[int, int] | None = None, mode: str = "bilinear") -> torch.Tensor:
    """Resample z (B, C, H, W) at F.affine_grid(theta (B, 2, 3)) -> (B, C, *size), border padding.

    theta maps output coordinates to input coordinates, both in [-1, 1] (align_corners=False), so
    the same theta is the same geometric transform of a 64 x 64 image and of its 16 x 16 token grid.
    Integer z (ids as a one-channel grid) is sampled with mode "nearest", exactly.
    """
    B, C = z.shape[:2]
    size = tuple(z.shape[2:]) if size is None else size
    grid = F.affine_grid(theta.to(torch.float32), [B, C, *size], align_corners=False)
    if z.is_floating_point():
        return F.grid_sample(z, grid.to(z.dtype), mode=mode, padding_mode="border", align_corners=False)
    # nearest on ids: exact for ids below 2**24
    out = F.grid_sample(z.float(), grid, mode="nearest", padding_mode="border", align_corners=False)
    return out.round().to(z.dtype)


def affine_theta(B: int, degrees: float = 0.0, scale: float = 1.0, hflip: bool = False,
                 translate: tuple[float, float] = (0.0, 0.0)) -> torch.Tensor:
    """(B, 2, 3) theta of one explicit transform for `warp`, the same for every sample.

    The output shows the input mirrored left-right (if `hflip`), then rotated by `degrees`
    (counter-clockwise on screen), zoomed in by 1/scale (scale < 1 is a centre crop of side
    `scale` resized to full size) and shifted by `translate` (fractions of the side; the content
    moves right/down).
    """
    t = math.radians(degrees)
    cos, sin = math.cos(t), math.sin(t)
    flip = -1.0 if hflip else 1.0
    # output coords -> input coords: undo the shift, then scale, rotate back, mirror
    lin = torch.tensor([[flip * scale * cos, -flip * scale * sin], [scale * sin, scale * cos]])
    shift = -lin @ torch.tensor([2 * translate[0], 2 * translate[1]])
    return torch.cat([lin, shift[:, None]], 1).expand(B, 2, 3).clone()


# ----------------------------------------------------------------------------------------------
# Base classes


class TokenAugmentation:
    """Base class. `__call__(x, generator)`: ids (B, H, W) or embeddings (B, C, H, W) -> same kind.

    Subclasses implement `apply(z, generator)` on a float or integer (B, C, H, W) tensor.
    `on_embeddings = True` marks ops defined only on embeddings: ids are embedded with the codebook
    (see `embed_ids`) and re-quantised to the nearest code (cosine) afterwards. Otherwise ids are
    viewed as a one-channel grid (B, 1, H, W) and `apply` must only move values around.
    """

    on_embeddings: bool = False
    codebook: CodebookLike | None = None

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if not _is_ids(x):
            return self.apply(x, generator)
        if not self.on_embeddings:
            return self.apply(x[:, None], generator)[:, 0]
        if self.codebook is None:
            raise ValueError(f"{type(self).__name__} acts on embeddings: pass codebook= to apply it to token ids")
        z = self.apply(embed_ids(x, self.codebook), generator)
        return nearest_ids(z, self.codebook).to(x.dtype)

    def apply(self, z: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items()
                           if k not in ("codebook", "on_embeddings") and not isinstance(v, torch.Tensor))
        return f"{type(self).__name__}({fields})"


class Identity(TokenAugmentation):
    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return x


# ----------------------------------------------------------------------------------------------
# Geometry on the token grid


class HFlip(TokenAugmentation):
    """Mirror the grid left-right, each sample with probability p."""

    def __init__(self, p: float = 0.5):
        self.p = p

    def apply(self, z: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        flip = _rand((z.shape[0],), generator, z.device) < self.p
        return torch.where(flip[:, None, None, None], z.flip(-1), z)


class _Resample(TokenAugmentation):
    """Resampling on the grid: "nearest" moves tokens (ids or embeddings), "bilinear" interpolates
    embeddings (ids go through the codebook: embed -> bilinear -> nearest code)."""

    def __init__(self, mode: str, codebook: CodebookLike | None):
        if mode not in ("nearest", "bilinear"):
            raise ValueError(f"mode must be 'nearest' or 'bilinear', got {mode!r}")
        self.mode = mode
        self.codebook = codebook
        self.on_embeddings = mode == "bilinear"

    def _grid_sample(self, z: torch.Tensor, theta: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return warp(z, theta, size, self.mode)


class RandomResizedCrop(_Resample):
    """Per-sample random box (area fraction in `scale`, aspect ratio in `ratio`) resized to size x size.

    Boxes follow torchvision: 10 tries per sample, the first that fits wins; a sample with no fit
    uses the whole grid. "nearest" picks the token nearest to each output cell's centre (exact
    identity when the box is the whole grid and size == H == W). Output (B, size, size) or
    (B, C, size, size).
    """

    def __init__(self, size: int, scale: tuple[float, float] = (0.08, 1.0), ratio: tuple[float, float] = (3 / 4, 4 / 3),
                 mode: str = "nearest", codebook: CodebookLike | None = None, tries: int = 10):
        super().__init__(mode, codebook)
        self.size, self.scale, self.ratio, self.tries = size, scale, ratio, tries

    def boxes(self, B: int, H: int, W: int, generator: torch.Generator | None,
              device: torch.device) -> tuple[torch.Tensor, ...]:
        """(top, left, height, width), each (B,) long."""
        u = _rand((3, B, self.tries), generator, device)
        area = H * W * (self.scale[0] + (self.scale[1] - self.scale[0]) * u[0])
        log_r = math.log(self.ratio[0]) + (math.log(self.ratio[1]) - math.log(self.ratio[0])) * u[1]
        r = torch.exp(log_r)
        w = torch.sqrt(area * r).round().long()
        h = torch.sqrt(area / r).round().long()
        ok = (w > 0) & (w <= W) & (h > 0) & (h <= H)
        first = torch.where(ok.any(1), ok.long().argmax(1), 0)  # index of the first try that fits
        pick = lambda t: t.gather(1, first[:, None])[:, 0]  # noqa: E731
        fits = ok.any(1)
        h = torch.where(fits, pick(h), H)
        w = torch.where(fits, pick(w), W)
        top = _randint(H - h + 1, generator)
        left = _randint(W - w + 1, generator)
        return top, left, h, w

    def apply(self, z: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        B, _, H, W = z.shape
        top, left, h, w = self.boxes(B, H, W, generator, z.device)
        S = self.size
        if self.mode == "nearest":
            o = torch.arange(S, device=z.device) + 0.5  # output cell centres
            ys = top[:, None] + torch.minimum((o * h[:, None] / S).long(), h[:, None] - 1)  # (B, S)
            xs = left[:, None] + torch.minimum((o * w[:, None] / S).long(), w[:, None] - 1)
            return _gather_grid(z, ys[:, :, None].expand(B, S, S), xs[:, None, :].expand(B, S, S))
        theta = torch.zeros(B, 2, 3, device=z.device)
        theta[:, 0, 0] = w / W
        theta[:, 1, 1] = h / H
        theta[:, 0, 2] = (2 * left + w) / W - 1  # box centre in [-1, 1] coordinates
        theta[:, 1, 2] = (2 * top + h) / H - 1
        return self._grid_sample(z, theta, (S, S))


class RandomAffine(_Resample):
    """Per-sample rotation (+-degrees), translation (+-translate x grid size) and x-shear
    (+-shear degrees) about the grid centre, each applied to a sample with probability p;
    border padding. "nearest" moves tokens, "bilinear" interpolates embeddings."""

    def __init__(self, degrees: float = 0.0, translate: float = 0.0, shear: float = 0.0, p: float = 1.0,
                 mode: str = "nearest", codebook: CodebookLike | None = None):
        super().__init__(mode, codebook)
        self.degrees, self.translate, self.shear, self.p = degrees, translate, shear, p

    def thetas(self, B: int, H: int, W: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
        """(B, 2, 3) affine_grid matrices: output [-1, 1] coordinates -> input coordinates."""
        u = 2 * _rand((5, B), generator, device) - 1  # in [-1, 1)
        on = _rand((3, B), generator, device) < self.p
        angle = torch.deg2rad(self.degrees * u[0]) * on[0]
        shear = torch.deg2rad(self.shear * u[1]) * on[1]
        tx = self.translate * W * u[2] * on[2]  # in grid cells
        ty = self.translate * H * u[3] * on[2]
        cos, sin = torch.cos(angle), torch.sin(angle)
        # forward map in cell units about the centre: rotation @ shear, then translation
        m = torch.stack([torch.stack([cos, cos * torch.tan(shear) - sin], -1),
                         torch.stack([sin, sin * torch.tan(shear) + cos], -1)], -2)  # (B, 2, 2)
        m_inv = torch.linalg.inv(m)
        t = torch.stack([tx, ty], -1)[..., None]  # (B, 2, 1)
        to_cells = torch.diag(torch.tensor([W / 2, H / 2], device=device))
        from_cells = torch.diag(torch.tensor([2 / W, 2 / H], device=device))
        lin = from_cells @ m_inv @ to_cells  # output [-1, 1] -> input [-1, 1]
        shift = -(from_cells @ m_inv @ t)
        return torch.cat([lin, shift], -1)

    def apply(self, z: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        B, _, H, W = z.shape
        return self._grid_sample(z, self.thetas(B, H, W, generator, z.device), (H, W))


# ----------------------------------------------------------------------------------------------
# Token-EDA (SeiT): synonym replacement and patch swap


class SynonymReplace(TokenAugmentation):
    """Replace each token with probability p by one of its synonyms, uniformly (SeiT's Token-EDA).

    synonyms: (K, k) long from `synonyms_from_codebook` or `synonyms_from_json`. On embeddings
    (needs codebook) positions are quantised to find their code; replaced positions get the
    synonym's code vector scaled to the norm of the vector it replaces, the rest stay as they were.
    """

    def __init__(self, synonyms: torch.Tensor, p: float = 0.25, codebook: CodebookLike | None = None):
        self.synonyms, self.p, self.codebook = synonyms.long(), p, codebook

    def _draw(self, ids: torch.Tensor, generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        """ids (B, H, W) long -> (replace mask, synonym ids), both (B, H, W)."""
        syn = self.synonyms.to(ids.device)
        u = _rand((2, *ids.shape), generator, ids.device)
        choice = torch.minimum((u[1] * syn.shape[1]).long(), torch.tensor(syn.shape[1] - 1, device=ids.device))
        return u[0] < self.p, syn[ids, choice]

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if _is_ids(x):
            mask, new = self._draw(x.long(), generator)
            return torch.where(mask, new.to(x.dtype), x)
        if self.codebook is None:
            raise ValueError("SynonymReplace on embeddings needs codebook= to find each position's code")
        mask, new = self._draw(nearest_ids(x, self.codebook), generator)
        new_z = embed_ids(new, self.codebook, x.dtype)
        new_z = new_z * (x.norm(dim=1, keepdim=True) / new_z.norm(dim=1, keepdim=True))
        return torch.where(mask[:, None], new_z, x)


class CodeSwap(TokenAugmentation):
    """Per sample with probability p, exchange two non-overlapping square patches of a random side
    in [1, max_fraction x min(H, W)] (SeiT's swap). Positions are drawn with `tries` rejection
    rounds; a sample whose tries all overlap (rare for max_fraction <= 1/4) is left unchanged."""

    def __init__(self, p: float = 1.0, max_fraction: float = 0.25, tries: int = 16):
        self.p, self.max_fraction, self.tries = p, max_fraction, tries

    def apply(self, z: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        B, _, H, W = z.shape
        dev = z.device
        max_side = max(1, int(self.max_fraction * min(H, W)))
        s = 1 + _randint(torch.full((B,), max_side, device=dev), generator)  # (B,) side
        span = (torch.stack([H - s + 1, W - s + 1]))[:, :, None].expand(2, B, 2 * self.tries)
        pos = _randint(span.contiguous(), generator)  # (2, B, 2 * tries): y and x of both corners
        y1, y2 = pos[0, :, : self.tries], pos[0, :, self.tries:]
        x1, x2 = pos[1, :, : self.tries], pos[1, :, self.tries:]
        ok = ((y1 - y2).abs() >= s[:, None]) | ((x1 - x2).abs() >= s[:, None])  # (B, tries)
        first = ok.long().argmax(1, keepdim=True)
        y1, y2, x1, x2 = (t.gather(1, first)[:, 0] for t in (y1, y2, x1, x2))
        on = ok.any(1) & (_rand((B,), generator, dev) < self.p)
        yy = torch.arange(H, device=dev)[None, :, None]  # (1, H, 1)
        xx = torch.arange(W, device=dev)[None, None, :]  # (1, 1, W)
        col = lambda t: t[:, None, None]  # noqa: E731  (B,) -> (B, 1, 1)

        def inside(y0: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:  # (B, H, W) mask of a patch
            rows = (yy >= col(y0)) & (yy < col(y0 + s)) & col(on)
            return rows & (xx >= col(x0)) & (xx < col(x0 + s))

        in1, in2 = inside(y1, x1), inside(y2, x2)
        sign = in1.to(torch.int64) - in2.to(torch.int64)  # +1 in patch 1, -1 in patch 2, 0 elsewhere
        ys = yy + sign * col(y2 - y1)
        xs = xx + sign * col(x2 - x1)
        return _gather_grid(z, ys, xs)


# ----------------------------------------------------------------------------------------------
# Embedding-space ops (SeiT++)


class ColorAdapt(TokenAugmentation):
    """AdaIN across the batch: for a random `fraction` of the samples, each channel's spatial
    mean/std is replaced by those of a partner sample; the others are unchanged.

    pairing "random": partners follow a random cycle through the batch (a derangement, so no
    sample is its own partner when B > 1); "reverse": sample i takes i's mirror B-1-i, as the
    release does. Statistics are population (biased) ones of the input batch.
    """

    on_embeddings = True

    def __init__(self, fraction: float = 0.5, pairing: str = "random", eps: float = 1e-5,
                 codebook: CodebookLike | None = None):
        if pairing not in ("random", "reverse"):
            raise ValueError(f"pairing must be 'random' or 'reverse', got {pairing!r}")
        self.fraction, self.pairing, self.eps, self.codebook = fraction, pairing, eps, codebook

    def partners(self, B: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
        """(B,) long: the partner of each sample."""
        if self.pairing == "reverse":
            return torch.arange(B - 1, -1, -1, device=device)
        cycle = _randperm(B, generator, device)
        partner = torch.empty_like(cycle)
        partner[cycle] = cycle.roll(-1)  # each sample takes the next one along the cycle
        return partner

    def apply(self, z: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        B = z.shape[0]
        partner = self.partners(B, generator, z.device)
        chosen = torch.zeros(B, dtype=torch.bool, device=z.device)
        chosen[_randperm(B, generator, z.device)[: round(self.fraction * B)]] = True
        var, mean = torch.var_mean(z, dim=(2, 3), keepdim=True, correction=0)  # (B, C, 1, 1)
        std = (var + self.eps).sqrt()
        adapted = (z - mean) / std * std[partner] + mean[partner]
        return torch.where(chosen[:, None, None, None], adapted, z)


class EmbNoise(TokenAugmentation):
    """z + N(0, 1) * scale per (sample, channel) + N(0, 1) * std per element (SeiT++'s Emb-Noise).

    Ids are embedded at per-element RMS 1 (see module docstring), noised, and re-quantised, so
    scale = std = 1 (the release's values) replaces most tokens; use smaller values on ids.
    """

    on_embeddings = True

    def __init__(self, scale: float = 1.0, std: float = 1.0, codebook: CodebookLike | None = None):
        self.scale, self.std, self.codebook = scale, std, codebook

    def apply(self, z: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        B, C = z.shape[:2]
        offset = _randn((B, C, 1, 1), generator, z.device, z.dtype) * self.scale
        return z + offset + _randn_on_device(z.shape, generator, z.device, z.dtype) * self.std


# ----------------------------------------------------------------------------------------------
# Label-mixing ops


def _soft_labels(labels: torch.Tensor, num_classes: int, dtype: torch.dtype) -> torch.Tensor:
    """(B,) int or (B, num_classes) soft labels -> (B, num_classes) float."""
    if labels.ndim == 1 and not labels.is_floating_point():
        return F.one_hot(labels.long(), num_classes).to(dtype)
    if labels.ndim != 2 or labels.shape[1] != num_classes:
        raise ValueError(f"labels must be (B,) int or (B, {num_classes}) soft, got {tuple(labels.shape)}")
    return labels.to(dtype)


class CutMix:
    """Paste a per-sample random box from a partner (a random permutation of the batch).

    `(x, labels, num_classes, generator) -> (x_mixed, soft labels (B, num_classes))`. Box area
    follows timm: lam ~ Beta(alpha, alpha), side ratio sqrt(1 - lam), random centre, clipped to
    the grid; the partner's label weight is the exact fraction of positions taken from it.
    Works on ids (B, H, W) and embeddings (B, C, H, W).
    """

    def __init__(self, alpha: float = 1.0):
        self.alpha = alpha

    def __call__(self, x: torch.Tensor, labels: torch.Tensor, num_classes: int,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        ids = _is_ids(x)
        B, H, W = x.shape[0], x.shape[-2], x.shape[-1]
        dev = x.device
        lam = _beta(self.alpha, B, generator, dev)
        cut = torch.sqrt(1 - lam)
        ch, cw = (H * cut).round().long(), (W * cut).round().long()
        cy = _randint(torch.full((B,), H, device=dev), generator)
        cx = _randint(torch.full((B,), W, device=dev), generator)
        y0, y1 = (cy - ch // 2).clamp(0, H), (cy + ch // 2).clamp(0, H)
        x0, x1 = (cx - cw // 2).clamp(0, W), (cx + cw // 2).clamp(0, W)
        partner = _randperm(B, generator, dev)
        yy = torch.arange(H, device=dev)[None, :, None]
        xx = torch.arange(W, device=dev)[None, None, :]
        box = ((yy >= y0[:, None, None]) & (yy < y1[:, None, None])
               & (xx >= x0[:, None, None]) & (xx < x1[:, None, None]))  # (B, H, W)
        mixed = torch.where(box if ids else box[:, None], x[partner], x)
        taken = ((y1 - y0) * (x1 - x0)).float() / (H * W)  # exact fraction from the partner
        y = _soft_labels(labels.to(dev), num_classes, torch.float32)
        soft = (1 - taken)[:, None] * y + taken[:, None] * y[partner]
        return mixed, soft


class Mixup:
    """Per-sample convex combination with a partner: lam ~ Beta(alpha, alpha),
    x lam + x[partner] (1 - lam), labels likewise. Embeddings only: ids cannot be averaged."""

    def __init__(self, alpha: float = 0.8):
        self.alpha = alpha

    def __call__(self, x: torch.Tensor, labels: torch.Tensor, num_classes: int,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if _is_ids(x):
            raise ValueError("Mixup needs embeddings (B, C, H, W): token ids cannot be averaged; embed them first")
        B, dev = x.shape[0], x.device
        lam = _beta(self.alpha, B, generator, dev)
        partner = _randperm(B, generator, dev)
        mixed = lam.to(x.dtype)[:, None, None, None] * x + (1 - lam.to(x.dtype))[:, None, None, None] * x[partner]
        y = _soft_labels(labels.to(dev), num_classes, torch.float32)
        return mixed, lam[:, None] * y + (1 - lam)[:, None] * y[partner]


# ----------------------------------------------------------------------------------------------
# Combinators


class Compose(TokenAugmentation):
    """Apply augmentations in order, sharing the generator."""

    def __init__(self, augmentations: Sequence[TokenAugmentation]):
        self.augmentations = list(augmentations)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        for aug in self.augmentations:
            x = aug(x, generator)
        return x


class RandomChoice(TokenAugmentation):
    """Pick one augmentation per batch with the given weights (None = identity) and apply it to a
    random `fraction` of the batch (all of it by default); the rest pass through unchanged.

    SeiT++ fine-tuning: `RandomChoice([(EmbNoise(), 0.75), (ColorAdapt(), 0.25)], fraction=0.5)`.
    With fraction < 1 the augmentations must keep the grid size (no resizing crop).
    """

    def __init__(self, choices: Sequence[tuple[TokenAugmentation | None, float]], fraction: float = 1.0):
        self.augmentations = [aug if aug is not None else Identity() for aug, _ in choices]
        self.weights = torch.tensor([w for _, w in choices], dtype=torch.float64)
        self.fraction = fraction

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        gen_device = _gen_device(generator, x.device)
        pick = int(torch.multinomial(self.weights.to(gen_device), 1, generator=generator))
        aug = self.augmentations[pick]
        if self.fraction >= 1:
            return aug(x, generator)
        subset = _randperm(x.shape[0], generator, x.device)[: round(self.fraction * x.shape[0])]
        out = x.clone()
        out[subset] = aug(x[subset], generator)
        return out
