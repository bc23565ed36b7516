"""Shapes: the book's built-in image classification dataset, drawn procedurally in numpy.

Every chapter needs images to tokenize and classify, and none should need a download. Shapes
draws them from a seed in seconds: one textured object on a cluttered background per image,
its class given by the object's *shape or layout* only. Two rules follow from later chapters:

- colour augmentation is applied to the images, so colour never tells the class: object and
  background colours are random, and only a luminance gap keeps the object visible;
- horizontal flips are applied too, so every class keeps its label under a flip: each shape is
  mirror-symmetric about its vertical axis in its canonical pose. With a rotation jitter of
  theta, the mirror image is the same shape at -theta (see ShapeParams.mirrored).

A second class set, "objects", is made the other way, as real objects are: twelve shapes with no
mirror symmetry (a fish, a chair, a pennant, ...), each drawn facing left or right at random. A
flip keeps the class but gives an image that is not in the data already, as a flipped photo of a
dog is; with the symmetric "shapes" a flip is hardly a new view.

Shapes are implicit functions: a pixel grid is mapped into the object's canonical frame by the
inverse similarity transform and tested against half-planes and discs there. Rendering at
`supersample` x the resolution and averaging down gives anti-aliased edges, and the same coverage
gives the per-pixel segmentation masks (0 = background, c + 1 = object of class c).

Image i of a split is drawn from np.random.default_rng([seed, split_id, i]) alone, so any image
renders on its own, N images are a prefix of M > N, and train/val/test never share an image.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
import torch

from seitpp.data.images import images_to_tensor

SHAPE_CLASSES: tuple[str, ...] = (
    "circle", "square", "triangle", "plus", "ring", "star",
    "heart", "arrow", "crescent", "pair", "stack", "bars",
)
OBJECT_CLASSES: tuple[str, ...] = (
    "fish", "pennant", "axe", "bolt", "pacman", "ell",
    "slant", "wedge", "steps", "moon", "drop", "chair",
)
CLASS_SETS = {"shapes": SHAPE_CLASSES, "objects": OBJECT_CLASSES}
SPLITS = {"train": 0, "val": 1, "test": 2}
STYLES = ("photo", "flat", "sketch")

# Object geometry jitter. size is the radius-like scale: the object spans about 2 * size pixels.
SIZE_RANGE = (0.20, 0.375)  # x resolution, so the object covers ~40-75% of the image side
MAX_ROTATION = 25.0         # degrees; small enough that no class turns into another
MIN_LUMA_GAP = 0.3          # object colours vs mean background luminance (0-1 scale)
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


# ----------------------------------------------------------------------------------------------
# Geometry: canonical shapes and their placement

@dataclass(frozen=True)
class ShapeParams:
    """The geometry of one object, in pixels and degrees.

    The canonical shape lives in a frame (u right, v up) where it fits in about the unit disc;
    it is scaled by `size`, rotated by `rotation` (counter-clockwise on screen) and moved to
    `center` = (x, y) in pixel coordinates (x right, y down, pixel j covers [j, j + 1)).
    """
    label: int
    center: tuple[float, float]
    size: float
    rotation: float
    classes: str = "shapes"  # the class set `label` indexes (CLASS_SETS)
    facing: int = 1  # +1: the canonical shape, -1: its mirror image (u -> -u)

    def mirrored(self, resolution: int) -> ShapeParams:
        """The params of this object after a horizontal flip of a (resolution x resolution) image.

        x -> resolution - x moves the center, reverses the rotation and turns the object to face
        the other way; the label is unchanged (a symmetric shape's two facings are the same).
        """
        x, y = self.center
        return ShapeParams(self.label, (resolution - x, y), self.size, -self.rotation, self.classes, -self.facing)


def _disc(u, v, cu, cv, r):
    return (u - cu) ** 2 + (v - cv) ** 2 <= r * r


def _star(u, v, points=5, inner=0.45):
    # Fold the angle from "up" into one half-spike [0, pi/points], then test against the edge from
    # the tip (1, 0) to the inner vertex, written in that folded polar frame.
    wedge = np.pi / points
    a = np.abs(np.mod(np.arctan2(u, v) + wedge, 2 * wedge) - wedge)
    r = np.hypot(u, v)
    qx, qy = r * np.cos(a), r * np.sin(a)
    ex, ey = inner * np.cos(wedge) - 1.0, inner * np.sin(wedge)  # edge direction tip -> inner
    # inside <=> on the origin's side of the edge line: cross((q - tip), e) has the origin's sign
    return (qx - 1.0) * ey - qy * ex <= 0.0


def _heart(u, v):
    # The classic sextic heart (x^2 + y^2 - 1)^3 <= x^2 y^3, lobes up, point down, rescaled and
    # shifted so it is centred in the unit disc.
    x, y = 1.2 * u, 1.2 * v + 0.15
    q = x * x + y * y - 1.0
    return q * q * q <= x * x * y * y * y


# Each takes canonical coordinates (u right, v up) and returns a boolean membership array.
# All are even in u, i.e. mirror-symmetric about the vertical axis.
_SHAPES = {
    "circle": lambda u, v: u * u + v * v <= 0.85**2,
    "square": lambda u, v: (np.abs(u) <= 0.72) & (np.abs(v) <= 0.72),
    # equilateral, apex up, circumradius 1 around its centroid, so the edges are at distance 0.5
    "triangle": lambda u, v: (v >= -0.5) & (0.866 * np.abs(u) + 0.5 * v <= 0.5),
    "plus": lambda u, v: ((np.abs(u) <= 0.28) & (np.abs(v) <= 0.9))
    | ((np.abs(v) <= 0.28) & (np.abs(u) <= 0.9)),
    "ring": lambda u, v: (u * u + v * v <= 0.9**2) & (u * u + v * v >= 0.52**2),
    "star": _star,
    "heart": _heart,
    # head: triangle from v = 0.05 (half-width 0.8) up to the tip at v = 1; shaft below it
    "arrow": lambda u, v: ((v >= 0.05) & (np.abs(u) / 0.8 + (v - 0.05) / 0.95 <= 1.0))
    | ((np.abs(u) <= 0.27) & (v >= -1.0) & (v < 0.05)),
    # a disc minus a disc shifted up: a bowl with horns pointing up
    "crescent": lambda u, v: _disc(u, v, 0.0, -0.05, 0.9) & ~_disc(u, v, 0.0, 0.45, 0.72),
    "pair": lambda u, v: _disc(np.abs(u), v, 0.5, 0.0, 0.42),
    "stack": lambda u, v: _disc(u, np.abs(v), 0.0, 0.5, 0.42),
    "bars": lambda u, v: (np.abs(u) <= 0.85)
    & ((np.abs(v) <= 0.16) | (np.abs(np.abs(v) - 0.6) <= 0.16)),
}
assert tuple(_SHAPES) == SHAPE_CLASSES


def _box(u, v, u0, u1, v0, v1):
    return (u >= u0) & (u <= u1) & (v >= v0) & (v <= v1)


# The "objects": none is mirror-symmetric, and each faces right (+u) in its canonical pose.
_OBJECTS = {
    # an elliptic body, head right, and a triangular tail on the left
    "fish": lambda u, v: (((u - 0.15) / 0.65) ** 2 + (v / 0.4) ** 2 <= 1)
    | ((u <= -0.45) & (u >= -0.95) & (np.abs(v) <= 0.8 * (-0.45 - u))),
    # a pole on the left and a triangular flag flying right from its top
    "pennant": lambda u, v: _box(u, v, -0.65, -0.5, -0.95, 0.9)
    | ((u >= -0.5) & (u <= 0.75) & (np.abs(v - 0.52) <= 0.38 * (0.75 - u) / 1.25)),
    # a handle and a half-disc blade on its right
    "axe": lambda u, v: _box(u, v, -0.08, 0.08, -0.95, 0.85) | ((u >= 0.0) & _disc(u, v, 0.0, 0.4, 0.55)),
    # a lightning bolt: two slanted strokes, the lower one stepped to the right
    "bolt": lambda u, v: ((v >= -0.05) & (v <= 0.95) & (np.abs(u - 0.35 * v + 0.1) <= 0.2))
    | ((v >= -0.95) & (v <= 0.05) & (np.abs(u - 0.35 * v - 0.3) <= 0.2)),
    # a disc with a mouth opening right
    "pacman": lambda u, v: _disc(u, v, 0.0, 0.0, 0.85) & (np.abs(np.arctan2(v, u)) >= np.radians(35)),
    # an upright bar and a foot to the right
    "ell": lambda u, v: _box(u, v, -0.6, -0.18, -0.85, 0.85) | _box(u, v, -0.6, 0.6, -0.85, -0.43),
    # a parallelogram leaning right
    "slant": lambda u, v: (np.abs(v) <= 0.5) & (np.abs(u - 0.6 * v) <= 0.5),
    # a right triangle, its right angle at the bottom left
    "wedge": lambda u, v: (u >= -0.7) & (v >= -0.7) & (u + 0.55 * v <= 0.45),
    # three steps rising to the right
    "steps": lambda u, v: (v >= -0.8) & (u >= -0.85) & (u <= 0.85)
    & (v <= np.where(u < -0.28, -0.25, np.where(u < 0.28, 0.25, 0.8))),
    # a crescent bulging right, its horns to the left
    "moon": lambda u, v: _disc(u, v, 0.0, 0.0, 0.88) & ~_disc(u, v, -0.45, 0.0, 0.72),
    # a drop, round on the left, pointed on the right
    "drop": lambda u, v: _disc(u, v, -0.3, 0.0, 0.55)
    | ((u >= -0.3) & (u <= 0.9) & (np.abs(v) <= 0.55 * (0.9 - u) / 1.2)),
    # a seat, its back on the left, two legs
    "chair": lambda u, v: _box(u, v, -0.6, 0.6, -0.15, 0.1) | _box(u, v, -0.6, -0.4, 0.1, 0.95)
    | _box(u, v, -0.6, -0.4, -0.9, -0.15) | _box(u, v, 0.4, 0.6, -0.9, -0.15),
}
assert tuple(_OBJECTS) == OBJECT_CLASSES
_CLASS_SHAPES = {"shapes": _SHAPES, "objects": _OBJECTS}


@lru_cache(maxsize=8)
def _samples(n: int, supersample: int) -> np.ndarray:
    """Sample positions (n * supersample,) along one axis: the centres of the sub-pixels."""
    return ((np.arange(n * supersample) + 0.5) / supersample).astype(np.float32)


def shape_coverage(params: ShapeParams, resolution: int, supersample: int = 2) -> np.ndarray:
    """Anti-aliased coverage of the object: float32 (H, W) in [0, 1], with H = W = resolution.

    Evaluates the canonical shape at supersample^2 points per pixel and averages them.
    """
    if supersample < 1:
        raise ValueError(f"supersample must be >= 1, got {supersample}")
    s = _samples(resolution, supersample)
    dx, dy = s - params.center[0], s - params.center[1]
    # python floats (not np.float64 scalars) keep the grids float32
    t = math.radians(params.rotation)
    c, sn = math.cos(t) / params.size, math.sin(t) / params.size
    # inverse similarity: rotate the pixel offset back by -rotation, flip y to point up, unscale.
    # Done on the 1D axes first so the full grids cost one addition each.
    u = (dx[None, :] * c + (dy * sn)[:, None]) * params.facing
    v = dx[None, :] * sn - (dy * c)[:, None]
    inside = _CLASS_SHAPES[params.classes][CLASS_SETS[params.classes][params.label]](u, v).astype(np.float32)
    n, k = resolution, supersample
    return inside.reshape(n * k, n, k).sum(-1).reshape(n, k, n).sum(1) * (1.0 / (k * k))


def _sample_params(rng: np.random.Generator, label: int, resolution: int, classes: str = "shapes",
                   size_range: tuple[float, float] = SIZE_RANGE, max_rotation: float = MAX_ROTATION) -> ShapeParams:
    size = rng.uniform(*size_range) * resolution
    # keep the whole object (which fits in about radius 1.05 * size) inside the image
    margin = min(1.05 * size + 1.0, resolution / 2)
    cx, cy = rng.uniform(margin, resolution - margin, size=2)
    rotation = rng.uniform(-max_rotation, max_rotation)
    # only the asymmetric set draws a facing, so the symmetric set's images stay what they were
    facing = (1 if rng.random() < 0.5 else -1) if classes == "objects" else 1
    return ShapeParams(int(label), (float(cx), float(cy)), float(size), float(rotation), classes, facing)


# ----------------------------------------------------------------------------------------------
# Appearance: colours, textures, backgrounds, clutter

@lru_cache(maxsize=16)
def _upsampler(n: int, g: int) -> np.ndarray:
    """(n, g) matrix that smoothly interpolates g grid values to n pixels (smoothstep weights).

    Low-frequency noise is then M @ G @ M.T for a random (g, g) grid G: two small matmuls.
    """
    pos = (np.arange(n) + 0.5) / n * (g - 1)
    i0 = np.clip(np.floor(pos).astype(int), 0, g - 2)
    f = pos - i0
    f = f * f * (3 - 2 * f)
    m = np.zeros((n, g), dtype=np.float32)
    m[np.arange(n), i0] = 1 - f
    m[np.arange(n), i0 + 1] = f
    return m


def _smooth_noise(rng: np.random.Generator, n: int, g: int) -> np.ndarray:
    """Smooth random field (n, n), roughly zero-mean with values mostly in [-1, 1]."""
    m = _upsampler(n, g)
    return m @ rng.standard_normal((g, g), dtype=np.float32) @ m.T


def _color(rng: np.random.Generator, luma: float) -> np.ndarray:
    """A random RGB colour (3,) in [0, 1] with luminance `luma` (clipped to [0, 1]).

    A random hue/saturation is scaled towards black or mixed towards white to hit the target,
    which keeps the hue; so colours vary freely while the luminance contrast is controlled.
    """
    c = rng.uniform(0, 1, 3).astype(np.float32)
    c = c ** rng.uniform(0.5, 2.0)  # vary saturation a little
    cur = float(c @ LUMA)
    luma = min(max(float(luma), 0.0), 1.0)
    if cur > luma:
        c = c * (luma / max(cur, 1e-6))
    else:
        c = 1 - (1 - c) * ((1 - luma) / max(1 - cur, 1e-6))
    return c.astype(np.float32)


def _coords(n: int) -> tuple[np.ndarray, np.ndarray]:
    s = _samples(n, 1)
    return s[None, :], s[:, None]  # x (1, W), y (H, 1): broadcast to (H, W)


def _background(rng: np.random.Generator, n: int) -> tuple[float, np.ndarray]:
    """A gradient between two random colours of similar luminance plus low-frequency noise.

    Returns its mean luminance and the float32 image (H, W, 3).
    """
    luma = rng.uniform(0.15, 0.85)
    c0 = _color(rng, luma + rng.uniform(-0.06, 0.06))
    c1 = _color(rng, luma + rng.uniform(-0.06, 0.06))
    x, y = _coords(n)
    a = rng.uniform(0, 2 * math.pi)
    t = (math.cos(a) * (x - n / 2) + math.sin(a) * (y - n / 2)) / n + 0.5  # (H, W), ~[0, 1]
    t = np.clip(t, 0, 1)[..., None]
    img = c0 * (1 - t) + c1 * t
    noise = _smooth_noise(rng, n, int(rng.integers(3, 7)))
    tint = _color(rng, 0.5) - 0.5  # the noise shifts colour a bit, not only brightness
    img += noise[..., None] * (0.05 + 0.05 * tint)
    return luma, img


def _draw_clutter(rng: np.random.Generator, img: np.ndarray, luma: float) -> None:
    """Draw 3-6 distractors (strokes and small blobs) in place, half-transparent, of modest contrast.

    They are far smaller or thinner than any object, anti-aliased from their distance field, and
    each is computed only inside its bounding box (a full-image field per stroke was the hot spot).
    """
    n = img.shape[0]
    for _ in range(int(rng.integers(3, 7))):
        col = _color(rng, luma + rng.uniform(-0.25, 0.25))
        alpha = rng.uniform(0.45, 0.9)
        x0, y0 = rng.uniform(0, n, 2)
        if rng.random() < 0.6:  # stroke: a capsule of radius r around the segment (x0, y0) + t (bx, by)
            a, length = rng.uniform(0, 2 * np.pi), rng.uniform(0.1, 0.3) * n
            bx, by = length * np.cos(a), length * np.sin(a)
            r = rng.uniform(0.5, 1.3) * n / 64
        else:  # blob: a small disc of radius r
            bx, by = 0.0, 0.0
            r = rng.uniform(1.5, 3.5) * n / 64
        # bounding box of the distractor, in whole pixels, clipped to the image
        xa, xb = max(int(min(x0, x0 + bx) - r - 1), 0), min(int(max(x0, x0 + bx) + r + 2), n)
        ya, yb = max(int(min(y0, y0 + by) - r - 1), 0), min(int(max(y0, y0 + by) + r + 2), n)
        if xb <= xa or yb <= ya:
            continue  # entirely outside the image
        px = (np.arange(xa, xb) + 0.5 - x0)[None, :]  # pixel offsets from the start point, (1, w)
        py = (np.arange(ya, yb) + 0.5 - y0)[:, None]  # (h, 1)
        t = np.clip((px * bx + py * by) / max(bx * bx + by * by, 1e-6), 0, 1)  # closest point
        d = np.hypot(px - bx * t, py - by * t)
        cov = (np.clip(r - d + 0.5, 0, 1) * alpha)[..., None].astype(np.float32)
        win = img[ya:yb, xa:xb]
        win += cov * (col - win)


def _object_fill(rng: np.random.Generator, n: int, luma_bg: float, textured: bool = True) -> np.ndarray:
    """The object's surface (H, W, 3): two colours mixed by a texture (solid, stripes, checker,
    dots or smooth noise), both colours at least MIN_LUMA_GAP away from the background's luminance.
    Untextured: the first colour alone.
    """
    lo, hi = luma_bg - MIN_LUMA_GAP, luma_bg + MIN_LUMA_GAP
    # pick the darker or the lighter side, in proportion to how much room each leaves
    room_dark, room_light = max(lo - 0.02, 0.0), max(0.98 - hi, 0.0)
    if rng.uniform(0, room_dark + room_light) < room_dark:
        lumas = rng.uniform(0.02, lo, 2)
    else:
        lumas = rng.uniform(hi, 0.98, 2)
    c0, c1 = _color(rng, lumas[0]), _color(rng, lumas[1])

    x, y = _coords(n)
    a = rng.uniform(0, math.pi)
    xr = math.cos(a) * x + math.sin(a) * y  # texture coordinates, rotated by a random angle
    yr = -math.sin(a) * x + math.cos(a) * y
    period = rng.uniform(4, 9) * n / 64
    kind = rng.integers(5)
    if kind == 0 or not textured:  # solid
        m = np.zeros((1, 1), dtype=np.float32)
    elif kind == 1:  # stripes
        m = np.clip(0.5 + 1.5 * np.sin(2 * np.pi * xr / period + rng.uniform(0, 2 * np.pi)), 0, 1)
    elif kind == 2:  # checker
        m = np.clip(0.5 + 2.0 * np.sin(np.pi * xr / period) * np.sin(np.pi * yr / period), 0, 1)
    elif kind == 3:  # dots on a rotated grid
        dx, dy = np.mod(xr, period) - period / 2, np.mod(yr, period) - period / 2
        m = np.clip(0.3 * period - np.hypot(dx, dy) + 0.5, 0, 1)
    else:  # smooth noise
        m = np.clip(0.5 + 2.0 * _smooth_noise(rng, n, int(rng.integers(4, 9))), 0, 1)
    m = m[..., None]
    return (c0 * (1 - m) + c1 * m).astype(np.float32)


def _outline(params: ShapeParams, n: int, width: float) -> np.ndarray:
    """Coverage (H, W) of a band about `width` pixels wide along the object's boundary.

    Where the shape scaled up by width/2 and the shape scaled down by width/2 disagree: every
    boundary gets its line (a ring's inner one too), anti-aliased like the filled shape. Scaling
    is not an exact dilation, so parts far from the centre get a slightly uneven line: a sketch.
    """
    half = 0.5 * width
    grown = replace(params, size=params.size + half)
    shrunk = replace(params, size=max(params.size - half, 1e-3))
    return np.abs(shape_coverage(grown, n) - shape_coverage(shrunk, n))


def _render_one(rng: np.random.Generator, label: int, n: int, style: str = "photo", classes: str = "shapes",
                pose: tuple[tuple[float, float], float] = (SIZE_RANGE, MAX_ROTATION)) -> tuple[np.ndarray, np.ndarray]:
    """One image uint8 (H, W, 3) and its mask uint8 (H, W). Draw order is fixed for determinism.

    The object's geometry is drawn first, so a "sketch" shows the same object as the "photo" of
    the same index: an ink outline on plain paper, no texture, no clutter (a shifted domain, as
    ImageNet-Sketch is for ImageNet).
    """
    params = _sample_params(rng, label, n, classes, *pose)
    cov = shape_coverage(params, n)
    if style == "sketch":
        paper, ink = _color(rng, rng.uniform(0.85, 0.95)), _color(rng, rng.uniform(0.03, 0.2))
        line = _outline(params, n, width=rng.uniform(1.5, 2.5) * n / 64)[..., None]
        img = paper + line * (ink - paper)
    else:
        luma, img = _background(rng, n)
        _draw_clutter(rng, img, luma)
        fill = _object_fill(rng, n, luma, textured=style == "photo")
        img += cov[..., None] * (fill - img)  # the object in front of everything
    img += rng.standard_normal(img.shape, dtype=np.float32) * 0.012  # a little sensor grain
    image = np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)
    mask = np.where(cov >= 0.5, label + 1, 0).astype(np.uint8)
    return image, mask


# ----------------------------------------------------------------------------------------------
# Datasets

@dataclass
class Shapes:
    """A rendered batch: images uint8 (N, H, W, 3), labels int64 (N,), masks uint8 (N, H, W)."""
    images: np.ndarray
    labels: np.ndarray
    masks: np.ndarray


def render_shapes(
    num_images: int,
    resolution: int = 64,
    seed: int = 0,
    split: str = "train",
    start: int = 0,
    progress: bool = False,
    style: str = "photo",
    classes: str = "shapes",
    size_range: tuple[float, float] = SIZE_RANGE,
    max_rotation: float = MAX_ROTATION,
) -> Shapes:
    """Render images start .. start + num_images - 1 of a split.

    Image i uses np.random.default_rng([seed, split_id, i]) only and has label i % num_classes,
    so classes are balanced and any slice renders the same pixels as the whole split.
    `style` is "photo" (textured object, cluttered background), "flat" (the same with objects in
    one colour) or "sketch" (the same objects, outlined in ink on plain paper); `classes` the class
    set, "shapes" (mirror-symmetric) or "objects" (asymmetric, facing either way). `size_range` (x resolution) and `max_rotation`
    (degrees) set the pose distribution: other values than the defaults make a geometric shift
    of the same images' objects (the same draws, scaled).
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}, expected one of {tuple(SPLITS)}")
    if num_images < 0:
        raise ValueError(f"num_images must be >= 0, got {num_images}")
    if start < 0:
        raise ValueError(f"start must be >= 0, got {start}")
    if resolution < 16:
        raise ValueError(f"resolution must be >= 16, got {resolution}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")  # default_rng rejects negative seeds
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}, expected one of {STYLES}")
    if classes not in CLASS_SETS:
        raise ValueError(f"unknown class set {classes!r}, expected one of {tuple(CLASS_SETS)}")
    if not 0 < size_range[0] <= size_range[1] <= 0.5 or not 0 <= max_rotation <= 180:
        raise ValueError(f"need 0 < size_range[0] <= size_range[1] <= 0.5 and max_rotation in [0, 180], "
                         f"got {size_range}, {max_rotation}")

    n, k = int(resolution), len(CLASS_SETS[classes])
    images = np.empty((num_images, n, n, 3), dtype=np.uint8)
    masks = np.empty((num_images, n, n), dtype=np.uint8)
    labels = (np.arange(start, start + num_images) % k).astype(np.int64)
    indices = range(num_images)
    if progress:
        from tqdm.auto import tqdm
        indices = tqdm(indices, desc=f"shapes/{split}", unit="img")
    for j in indices:
        rng = np.random.default_rng([seed, SPLITS[split], start + j])
        images[j], masks[j] = _render_one(rng, int(labels[j]), n, style, classes, (size_range, max_rotation))
    return Shapes(images, labels, masks)


class ShapesDataset(torch.utils.data.Dataset):
    """Shapes as a torch Dataset: item i is (image float (3, H, W) in [0, 1], label).

    Renders everything eagerly (64x64: about 2 ms per image) and keeps the arrays as
    .images uint8 (N, H, W, 3), .labels int64 (N,), .masks uint8 (N, H, W), plus .classes.
    """

    def __init__(self, num_images: int, resolution: int = 64, seed: int = 0, split: str = "train"):
        data = render_shapes(num_images, resolution, seed, split)
        self.images, self.labels, self.masks = data.images, data.labels, data.masks
        self.classes = SHAPE_CLASSES

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return images_to_tensor(self.images[i]), int(self.labels[i])
