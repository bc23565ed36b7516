"""The naive token augmentation of chapter 2, measured: apply an image transform A to the grid of
ids, A(T(x)), and compare it with the tokens of the transformed image, T(A(x)).

- `compare_naive`: one augmentation over a set of images -> the share of ids that agree (overall,
  per image, and per grid position: where they disagree), the cosine distance of their code
  vectors, and the PSNR of both grids decoded against A(x).
- The floor, `noise_floor` with `pixel_noise`: a change nobody can see (Gaussian noise of
  `FLOOR_SIGMA`, about 42 dB PSNR) still pushes some encoder outputs across a boundary between two
  codes. `compare_naive` with A = that noise and no token operation counts the ids that change for
  no visible reason: the part of any agreement below 100% that is the tokenizer's own
  instability, not the augmentation's fault.
- `flip_zoom`: one token position under a horizontal flip, patch by patch. The naive flip moves
  the id of the patch at (r, c) to (r, W - 1 - c), but the id still stands for the unmirrored
  patch, while the tokenizer, given the flipped image, sees the mirrored one. How the decoder
  draws the moved id also depends on its new neighbours; `decoded_orientation` counts, over many
  images, which way such decoded patches end up facing.

Letters: N images, H W token grid, d pixels per token side (the tokenizer's downsample), S image side.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

import torch

from seitpp.data.shifts import pixel_noise
from seitpp.tokenizers.vq import VQTokenizer, psnr

FLOOR_SIGMA = 2 / 255  # std of the floor's pixel noise: two grey levels of 255, ~42 dB PSNR

ImageFn = Callable[[torch.Tensor], torch.Tensor]  # images (N, 3, S, S) -> (N, 3, S', S')
GridFn = Callable[[torch.Tensor], torch.Tensor]  # ids (N, H, W) -> ids (N, H', W')


def disagreement_map(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """ids a, b (N, H, W) -> (H, W) float: the share of the N images whose ids differ at each position."""
    if a.shape != b.shape:
        raise ValueError(f"id grids differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    return (a != b).float().mean(0)


@dataclass(frozen=True)
class NaiveComparison:
    """A(T(x)) against T(A(x)) over N images."""

    agreement: float  # share of all ids of A(T(x)) equal to T(A(x))
    per_image: torch.Tensor  # (N,) the same share for each image
    disagreement: torch.Tensor  # (H, W) share of images whose ids differ at each position
    code_distance: float  # mean 1 - cosine similarity of the two ids' code vectors
    psnr_naive: float  # dB, A(T(x)) decoded against A(x)
    psnr_truth: float  # dB, T(A(x)) decoded against A(x): the round trip, the best a token grid can do

    @property
    def psnr_lost(self) -> float:
        """dB the naive result falls below the tokens of A(x)."""
        return self.psnr_truth - self.psnr_naive


def _decode_many(tokenizer: VQTokenizer, ids: torch.Tensor, batch_size: int | None) -> torch.Tensor:
    return torch.cat([tokenizer.decode(b).cpu() for b in ids.split(batch_size or tokenizer.inference_batch)])


@torch.no_grad()
def compare_naive(tokenizer: VQTokenizer, x: torch.Tensor, pixel_fn: ImageFn, grid_fn: GridFn,
                  ids: torch.Tensor | None = None, batch_size: int | None = None) -> NaiveComparison:
    """Compare the naive grid_fn(T(x)) with T(pixel_fn(x)) on images x (N, 3, S, S) in [0, 1].

    pixel_fn is A on pixels; grid_fn is what the naive approach does to the ids (the same warp on
    the grid; the identity for a colour change or for the floor). ids: T(x) if already computed.
    """
    x = x.cpu()
    augmented = pixel_fn(x).clamp(0, 1)  # A(x)
    truth = tokenizer.tokenize_many(augmented, batch_size)  # T(A(x))
    ids = tokenizer.tokenize_many(x, batch_size) if ids is None else ids.cpu()
    naive = grid_fn(ids)  # A(T(x))
    if naive.shape != truth.shape:
        raise ValueError(f"grid_fn gave {tuple(naive.shape)}, the tokens of A(x) are {tuple(truth.shape)}")
    codes = tokenizer.codebook.vectors().detach().cpu()  # (K, C) unit vectors
    cosine = (codes[naive] * codes[truth]).sum(-1)  # (N, H, W)
    same = (naive == truth).float()
    return NaiveComparison(
        agreement=float(same.mean()),
        per_image=same.flatten(1).mean(1),
        disagreement=disagreement_map(naive, truth),
        code_distance=float((1 - cosine).mean()),
        psnr_naive=float(psnr(_decode_many(tokenizer, naive, batch_size), augmented).mean()),
        psnr_truth=float(psnr(_decode_many(tokenizer, truth, batch_size), augmented).mean()),
    )


def noise_floor(tokenizer: VQTokenizer, x: torch.Tensor, ids: torch.Tensor | None = None, sigma: float = FLOOR_SIGMA,
          seed: int = 0, batch_size: int | None = None) -> NaiveComparison:
    """The floor: `compare_naive` with A = `pixel_noise(sigma)` and the ids left as they are."""
    return compare_naive(tokenizer, x, lambda imgs: pixel_noise(imgs, sigma, seed), lambda grid: grid, ids, batch_size)


# ----------------------------------------------------------------------------------------------
# One token position under a horizontal flip


class FlipZoom(NamedTuple):
    """One token position of one image under a horizontal flip.

    images: name -> (3, S, S), the five images below; patches: name -> (3, d, d), each image's
    patch at `source` (the first two) or at `target` (the three flipped ones):

    - "x", "T(x) decoded": the image and its tokens decoded, at the source position;
    - "flip(x)": the flipped image at the target, i.e. the source patch mirrored: what the
      tokenizer sees there after a flip of the pixels;
    - "T(flip(x)) decoded": the ids the tokenizer gives the flipped image, decoded: the truth;
    - "flip(T(x)) decoded": the naive flip of the id grid, decoded: `source_id` moved to the target.
    """

    source: tuple[int, int]  # (row, column) of the token in x
    target: tuple[int, int]  # where a horizontal flip takes it: (row, W - 1 - column)
    source_id: int  # T(x) at source, which the naive flip puts at target
    truth_id: int  # T(flip(x)) at target
    images: dict[str, torch.Tensor]
    patches: dict[str, torch.Tensor]
    downsample: int  # d


def most_asymmetric_token(image: torch.Tensor, d: int, where: torch.Tensor | None = None) -> tuple[int, int]:
    """(row, column) of the d x d patch of image (3, S, S) that differs most from its own mirror
    image (mean absolute difference), among the positions where `where` (H, W) bool is True."""
    patches = image.unfold(1, d, d).unfold(2, d, d)  # (3, H, W, d, d)
    asymmetry = (patches - patches.flip(-1)).abs().mean((0, 3, 4))  # (H, W)
    if where is not None and where.any():
        asymmetry = asymmetry.masked_fill(~where, -1.0)
    r, c = divmod(int(asymmetry.argmax()), asymmetry.shape[1])
    return r, c


@torch.no_grad()
def flip_zoom(tokenizer: VQTokenizer, image: torch.Tensor, position: tuple[int, int] | None = None) -> FlipZoom:
    """The patches of one token position of image (3, S, S) under a horizontal flip.

    position: (row, column) in the token grid of the image; by default the most left-right
    asymmetric patch (`most_asymmetric_token`) among those where the naive flip's id differs
    from the tokens of the flipped image.
    """
    d = tokenizer.config.downsample
    x = image.cpu()[None]  # (1, 3, S, S)
    ids = tokenizer.tokenize(x).cpu()  # T(x), (1, H, W)
    flipped = x.flip(-1)  # flip(x): exact, a permutation of the pixels
    truth = tokenizer.tokenize(flipped).cpu()  # T(flip(x))
    naive = ids.flip(-1)  # flip(T(x))
    if position is None:
        position = most_asymmetric_token(x[0], d, (naive != truth)[0].flip(-1))  # (naive != truth) at the target, seen from x
    r, c = position
    W = ids.shape[-1]
    target = (r, W - 1 - c)
    images = {"x": x[0], "T(x) decoded": tokenizer.decode(ids).cpu()[0], "flip(x)": flipped[0],
              "T(flip(x)) decoded": tokenizer.decode(truth).cpu()[0],
              "flip(T(x)) decoded": tokenizer.decode(naive).cpu()[0]}
    patches = {}
    for name, im in images.items():
        row, col = position if name in ("x", "T(x) decoded") else target
        patches[name] = im[:, row * d:(row + 1) * d, col * d:(col + 1) * d]
    return FlipZoom(position, target, int(ids[0, r, c]), int(truth[0, target[0], target[1]]), images, patches, d)


@torch.no_grad()
def decoded_orientation(tokenizer: VQTokenizer, x: torch.Tensor, ids: torch.Tensor | None = None,
                        min_asymmetry: float = 0.3, batch_size: int | None = None) -> dict[str, float]:
    """Which way the decoded patches face after a horizontal flip, over images x (N, 3, S, S).

    Looks at every token position whose patch in x differs from its own mirror image by at least
    `min_asymmetry` (mean absolute difference, pixel values in [0, 1]), and compares two decoded
    patches at its flipped position with the decoded source patch P (T(x) decoded) and with P
    mirrored: the naive flip's (flip(T(x)) decoded) and the truth's (T(flip(x)) decoded).
    Returns "positions" (how many), "naive unmirrored" (share where the naive patch is closer to
    P than to P mirrored) and "truth mirrored" (share where the truth's is closer to P mirrored).
    """
    d = tokenizer.config.downsample
    x = x.cpu()
    ids = tokenizer.tokenize_many(x, batch_size) if ids is None else ids.cpu()

    def patches(images: torch.Tensor) -> torch.Tensor:  # (N, 3, S, S) -> (N, 3, H, W, d, d)
        return images.unfold(2, d, d).unfold(3, d, d)

    def at_source(flipped_images: torch.Tensor) -> torch.Tensor:
        """Patches of a flipped-side image, each moved back to its source position, unmirrored."""
        return patches(flipped_images.flip(-1)).flip(-1)

    source = patches(_decode_many(tokenizer, ids, batch_size))
    naive = at_source(_decode_many(tokenizer, ids.flip(-1), batch_size))
    truth = at_source(_decode_many(tokenizer, tokenizer.tokenize_many(x.flip(-1), batch_size), batch_size))
    pixels = patches(x)
    asymmetric = (pixels - pixels.flip(-1)).abs().mean((1, 4, 5)) >= min_asymmetry  # (N, H, W)

    def dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a - b).abs().mean((1, 4, 5))  # (N, H, W)

    naive_unmirrored = dist(naive, source) < dist(naive, source.flip(-1))
    truth_mirrored = dist(truth, source.flip(-1)) < dist(truth, source)
    n = int(asymmetric.sum())
    return {"positions": n,
            "naive unmirrored": float(naive_unmirrored[asymmetric].float().mean()) if n else float("nan"),
            "truth mirrored": float(truth_mirrored[asymmetric].float().mean()) if n else float("nan")}
