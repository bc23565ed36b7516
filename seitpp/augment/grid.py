"""Token ops that move tokens on the grid: warps, flips, resized crops, affine maps, and SeiT's Token-EDA.

Grid ops (`HFlip`, `RandomResizedCrop(mode="nearest")`, `RandomAffine(mode="nearest")`, `CodeSwap`)
only move tokens around: the same index map is applied to ids or to every channel of an embedding
grid, so they need no codebook and never invent a token. Bilinear resampling is defined on
embeddings and, given ids, needs a codebook (`seitpp.augment.ops`). `SynonymReplace` replaces ids
by synonyms, codes near them in the codebook.

Letters used in shapes: B batch, H W token grid, C embedding channels, K codebook size.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from seitpp.augment.ops import (
    CodebookLike,
    TokenAugmentation,
    is_ids,
    uniform,
    randint_below,
    embed_ids,
    nearest_ids,
)


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
# Geometry on the token grid


class HFlip(TokenAugmentation):
    """Mirror the grid left-right, each sample with probability p."""

    def __init__(self, p: float = 0.5):
        self.p = p

    def apply(self, z: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        flip = uniform((z.shape[0],), generator, z.device) < self.p
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
        u = uniform((3, B, self.tries), generator, device)
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
        top = randint_below(H - h + 1, generator)
        left = randint_below(W - w + 1, generator)
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
        u = 2 * uniform((5, B), generator, device) - 1  # in [-1, 1)
        on = uniform((3, B), generator, device) < self.p
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
        u = uniform((2, *ids.shape), generator, ids.device)
        choice = torch.minimum((u[1] * syn.shape[1]).long(), torch.tensor(syn.shape[1] - 1, device=ids.device))
        return u[0] < self.p, syn[ids, choice]

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if is_ids(x):
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
        s = 1 + randint_below(torch.full((B,), max_side, device=dev), generator)  # (B,) side
        span = (torch.stack([H - s + 1, W - s + 1]))[:, :, None].expand(2, B, 2 * self.tries)
        pos = randint_below(span.contiguous(), generator)  # (2, B, 2 * tries): y and x of both corners
        y1, y2 = pos[0, :, : self.tries], pos[0, :, self.tries:]
        x1, x2 = pos[1, :, : self.tries], pos[1, :, self.tries:]
        ok = ((y1 - y2).abs() >= s[:, None]) | ((x1 - x2).abs() >= s[:, None])  # (B, tries)
        first = ok.long().argmax(1, keepdim=True)
        y1, y2, x1, x2 = (t.gather(1, first)[:, 0] for t in (y1, y2, x1, x2))
        on = ok.any(1) & (uniform((B,), generator, dev) < self.p)
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
