"""Geometry drawn per sample: one affine theta (B, 2, 3) for flips, affine chains and resized
crops, the same transform for pixels, TokenAdapt's f-space and token grids."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from seitpp.augment.grid import RandomAffine

# ----------------------------------------------------------------------------------------------
# The augmentations TokenAdapt learns, as per-sample affine matrices


def _homogeneous(theta: torch.Tensor) -> torch.Tensor:
    """(B, 2, 3) -> (B, 3, 3) with a last row [0, 0, 1], so transforms compose by matrix product."""
    bottom = torch.tensor([0.0, 0.0, 1.0], device=theta.device).expand(len(theta), 1, 3)
    return torch.cat([theta, bottom], 1)


@dataclass(frozen=True)
class GeometryDistribution:
    """Random flips, affine transforms and resized crops, drawn per sample as one theta each.

    The release's set: horizontal flip (p 0.5); with p 0.5 an affine chain (rotation +-30 deg,
    translation 0.2, shear 15 deg, each with p 0.5); a random-resized crop. torchvision's v2
    transforms draw one set of parameters per call; a theta per sample lets every image of a batch
    get its own, and the same theta moves pixels, the f-space map and the id grid alike.
    """

    flip_p: float = 0.5
    affine_p: float = 0.5
    degrees: float = 30.0
    translate: float = 0.2
    shear: float = 15.0
    crop_scale: tuple[float, float] = (0.35, 1.0)  # area fraction of the crop box
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)

    def sample(self, B: int, generator: torch.Generator | None = None, device: str | torch.device = "cpu") -> torch.Tensor:
        """theta (B, 2, 3) for `seitpp.augment.warp`: output coordinates -> input coordinates.

        Read right to left: crop the output box out of the affine-transformed, mirrored input.
        """
        u = torch.rand(6, B, generator=generator, device=device)
        # crop box: a share of the area and an aspect ratio, centred anywhere it fits
        area = self.crop_scale[0] + (self.crop_scale[1] - self.crop_scale[0]) * u[0]
        lo, hi = torch.log(torch.tensor(self.crop_ratio, device=device))
        ratio = torch.exp(lo + (hi - lo) * u[1])
        w, h = (area * ratio).sqrt().clamp(max=1), (area / ratio).sqrt().clamp(max=1)
        crop = torch.zeros(B, 2, 3, device=device)
        crop[:, 0, 0], crop[:, 1, 1] = w, h
        crop[:, 0, 2], crop[:, 1, 2] = (1 - w) * (2 * u[2] - 1), (1 - h) * (2 * u[3] - 1)
        # the affine chain, on a square frame (any H = W gives the same matrix in [-1, 1] units)
        affine = RandomAffine(self.degrees, self.translate, self.shear, p=0.5).thetas(B, 2, 2, generator, device)
        identity = torch.eye(2, 3, device=device).expand(B, 2, 3)
        affine = torch.where((u[4] < self.affine_p)[:, None, None], affine, identity)
        flip = identity.clone()
        flip[:, 0, 0] = torch.where(u[5] < self.flip_p, -1.0, 1.0)
        theta = _homogeneous(flip) @ _homogeneous(affine) @ _homogeneous(crop)
        return theta[:, :2]
