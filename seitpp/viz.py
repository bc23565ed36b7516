"""Figures the chapters share: grids of images and token maps, and one side-by-side comparison
("original, ground truth, token-space result") shown three ways. Plain matplotlib.

The comparison is generic over a render function `render(image_index, augmentation, strength)`
that returns a list of `Panel`s. From it:

- `ComparisonWidget`: ipywidgets controls (image, augmentation, strength) above the figure,
  redrawn on every change; needs a live kernel.
- `comparison_player`: the same figure precomputed at every strength, as an HTML frame player
  (`FuncAnimation.to_jshtml`) that works in a static page with no kernel and no network.
- `comparison_grid`: the same figures as one static grid, a row per strength.

`token_panels` builds the usual panels for token augmentations from a tokenizer. For the naive
augmentations of chapter 2: `agreement_panels` (one panel per augmentation family, the floor's bar
first in each), `disagreement_figure` (where two id grids differ) and `flip_zoom_figure` (one
patch under a flip). `budget_figure` and `storage_frontier_figure` draw the reproduction sweep's
results (`seitpp.experiments.reproduce`), `scorecard_figure` every finding of the scorecard
(`seitpp.experiments.scorecard`).
ipywidgets and IPython are the book's dependencies, not the package's: they are imported where used.
"""
from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING, Callable, Mapping, NamedTuple, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.animation import FuncAnimation
from matplotlib.ticker import NullFormatter, PercentFormatter

from seitpp.augment.naive import FlipZoom
from seitpp.data.images import tensor_to_images
from seitpp.tokenizers.vq import VQTokenizer, psnr

if TYPE_CHECKING:
    from IPython.display import HTML


def as_uint8(images: torch.Tensor | np.ndarray) -> np.ndarray:
    """Float tensor (B, 3, H, W) in [0, 1] or uint8 array (B, H, W, 3) -> uint8 (B, H, W, 3)."""
    return tensor_to_images(images) if isinstance(images, torch.Tensor) else np.asarray(images)


def image_grid(
    rows: Sequence[torch.Tensor | np.ndarray],
    row_labels: Sequence[str] = (),
    col_labels: Sequence[str] = (),
    size: float = 1.3,
) -> plt.Figure:
    """One row of images per entry of `rows` (each (B, 3, H, W) float or (B, H, W, 3) uint8)."""
    rows = [as_uint8(r) for r in rows]
    ncols = max(len(r) for r in rows)
    fig, axes = plt.subplots(len(rows), ncols, figsize=(size * ncols, size * len(rows)), squeeze=False)
    for i, row in enumerate(rows):
        for j, ax in enumerate(axes[i]):
            ax.set_xticks([])
            ax.set_yticks([])
            if j < len(row):
                ax.imshow(row[j], interpolation="nearest")
            else:
                ax.axis("off")
            if j == 0 and i < len(row_labels):
                ax.set_ylabel(row_labels[i], fontsize=9)
            if i == 0 and j < len(col_labels):
                ax.set_title(col_labels[j], fontsize=9)
    fig.tight_layout()
    return fig


def token_patches(images: np.ndarray, ids: torch.Tensor, code: int, downsample: int, context: int = 1, limit: int = 8) -> np.ndarray:
    """Image windows around the first `limit` places where token `code` appears.

    images: uint8 (N, H, W, 3); ids: (N, h, w) tokens of those images. Each window is the token's
    d x d patch plus `context` tokens of surroundings on every side -> uint8 (M, s, s, 3).
    """
    d, pad = downsample, context * downsample
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")
    where = (ids == code).nonzero().tolist()[:limit]
    s = d + 2 * pad
    return np.stack([padded[n, r * d:r * d + s, c * d:c * d + s] for n, r, c in where]) if where else np.zeros((0, s, s, 3), np.uint8)


# ----------------------------------------------------------------------------------------------
# Side-by-side comparisons of an augmentation


class Panel(NamedTuple):
    """One image of a comparison, with a title above it and an optional caption below it."""

    title: str
    image: torch.Tensor | np.ndarray  # (3, H, W) float in [0, 1] or (H, W, 3) uint8
    caption: str = ""  # e.g. "ids agree 51%"


Render = Callable[[int, str, float], Sequence[Panel]]
"""render(image_index, augmentation, strength) -> the panels of one comparison."""


def _hwc(image: torch.Tensor | np.ndarray) -> np.ndarray:
    return as_uint8(image[None])[0]  # (H, W, 3) uint8


def _draw_row(axes: Sequence[plt.Axes], panels: Sequence[Panel], titles: bool = True) -> None:
    for ax, panel in zip(axes, panels, strict=True):
        ax.imshow(_hwc(panel.image), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        if titles:
            ax.set_title(panel.title, fontsize=8)
        ax.set_xlabel(panel.caption, fontsize=7)


def comparison_figure(panels: Sequence[Panel], size: float = 1.5) -> plt.Figure:
    """One row of panels: titles above, captions below."""
    fig, axes = plt.subplots(1, len(panels), figsize=(size * len(panels), size + 0.6), squeeze=False)
    _draw_row(axes[0], panels)
    fig.tight_layout()
    return fig


def _render_all(render: Render, image_index: int, augmentation: str,
                strengths: Sequence[float]) -> list[list[Panel]]:
    """The panels at every strength; every strength must give the same number of panels."""
    rows = [list(render(image_index, augmentation, s)) for s in strengths]
    if not rows:
        raise ValueError("need at least one strength")
    if len({len(r) for r in rows}) != 1:
        raise ValueError(f"{augmentation!r}: render gave different numbers of panels across strengths "
                         f"{[len(r) for r in rows]}")
    return rows


def comparison_grid(render: Render, image_index: int, augmentation: str, strengths: Sequence[float],
                    size: float = 1.3) -> plt.Figure:
    """Static grid: one row per strength (labelled on the left), one column per panel, the
    augmentation's name on top."""
    rows = _render_all(render, image_index, augmentation, strengths)
    fig, axes = plt.subplots(len(rows), len(rows[0]), figsize=(size * len(rows[0]), (size + 0.1) * len(rows) + 0.5),
                             squeeze=False)
    for i, (strength, panels) in enumerate(zip(strengths, rows)):
        _draw_row(axes[i], panels, titles=i == 0)
        axes[i, 0].set_ylabel(f"strength {strength:g}", fontsize=8)
    fig.suptitle(augmentation, fontsize=9)
    fig.tight_layout()
    return fig


def comparison_player(render: Render, image_index: int, augmentation: str, strengths: Sequence[float],
                      size: float = 1.5, dpi: int = 72, interval_ms: int = 800) -> HTML:
    """Kernel-free version: the comparison at each strength as a frame of an HTML player
    (slider, step, play), every frame embedded as a PNG. Works offline in the rendered book."""
    from IPython.display import HTML
    rows = _render_all(render, image_index, augmentation, strengths)
    fig, axes = plt.subplots(1, len(rows[0]), figsize=(size * len(rows[0]), size + 0.9), dpi=dpi, squeeze=False)
    _draw_row(axes[0], rows[0])
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    heading = fig.suptitle("", fontsize=9)

    def show(frame: int) -> None:
        heading.set_text(f"{augmentation}, strength {strengths[frame]:g}")
        for ax, panel in zip(axes[0], rows[frame]):
            ax.images[0].set_data(_hwc(panel.image))
            ax.set_title(panel.title, fontsize=8)
            ax.set_xlabel(panel.caption, fontsize=7)

    animation = FuncAnimation(fig, show, frames=len(rows), interval=interval_ms, cache_frame_data=False)
    html = animation.to_jshtml(default_mode="once")
    plt.close(fig)  # otherwise the inline backend also shows the last frame as a static figure
    return HTML(html)


def _png_base64(fig: plt.Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


class ComparisonWidget:
    """Image, augmentation and strength controls above the comparison figure (needs a kernel).

    augmentations: name -> the strengths the slider offers for it (the slider starts at the last).
    `update()` redraws the current choice; a change of any control calls it. Render errors
    propagate, and are also printed in the figure's place so a reader sees them. Displaying the
    object shows `box`, the ipywidgets VBox of controls and output.
    """

    def __init__(self, render: Render, image_labels: Sequence[str], augmentations: Mapping[str, Sequence[float]],
                 size: float = 1.5):
        import ipywidgets as widgets

        self.render, self.size = render, size
        self.augmentations = {name: [float(s) for s in strengths] for name, strengths in augmentations.items()}
        if not self.augmentations or not all(self.augmentations.values()):
            raise ValueError("need at least one augmentation, each with at least one strength")
        first = next(iter(self.augmentations))
        self.image = widgets.Dropdown(options=[(label, i) for i, label in enumerate(image_labels)], description="image")
        self.augmentation = widgets.Dropdown(options=list(self.augmentations), value=first, description="augmentation")
        self.strength = widgets.SelectionSlider(options=self._options(first), value=self.augmentations[first][-1],
                                                description="strength")
        self.output = widgets.Output()
        self.box = widgets.VBox([widgets.HBox([self.image, self.augmentation, self.strength]), self.output])
        self._busy = False  # set while one change is being handled, so it redraws once
        for control in (self.image, self.augmentation, self.strength):
            control.observe(self._changed, "value")
        self.update()

    def _repr_mimebundle_(self, **kwargs) -> dict:
        return self.box._repr_mimebundle_(**kwargs)

    def _options(self, augmentation: str) -> list[tuple[str, float]]:
        return [(f"{s:g}", s) for s in self.augmentations[augmentation]]

    def _changed(self, change: dict) -> None:
        if self._busy:
            return
        self._busy = True
        try:
            if change["owner"] is self.augmentation:  # its own strengths, starting at the strongest
                self.strength.options = self._options(change["new"])
                self.strength.value = self.augmentations[change["new"]][-1]
            self.update()
        except Exception as err:
            self.output.outputs = ({"output_type": "stream", "name": "stderr", "text": f"{type(err).__name__}: {err}\n"},)
            raise
        finally:
            self._busy = False

    def update(self) -> None:
        """Render the current choice and show it in the output area."""
        fig = comparison_figure(self.render(self.image.value, self.augmentation.value, self.strength.value), self.size)
        png = _png_base64(fig)
        plt.close(fig)
        self.output.outputs = ({"output_type": "display_data", "metadata": {},
                                "data": {"image/png": png, "text/plain": "<comparison figure>"}},)


@torch.no_grad()
def token_panels(tokenizer: VQTokenizer, x: torch.Tensor, augmented: torch.Tensor | None,
                 results: Mapping[str, torch.Tensor], floor: float | None = None) -> list[Panel]:
    """Panels comparing token-space augmentations with the tokens of the augmented image.

    x, augmented: (3, H, W) in [0, 1], the image and A(x) done on pixels; `augmented=None` means
    there is no pixel version (e.g. noise on embeddings), and results are compared with T(x).
    results: name -> ids (h, w) that a token-space augmentation produced from T(x).
    floor: the agreement an invisible change of the image keeps (`seitpp.augment.noise_floor`),
    shown beside every result's agreement.
    Returns x, A(x), T(A(x)) decoded and every result decoded. Captions: "ids agree" is the share of
    a result's ids equal to T(A(x)); PSNR is against A(x) (for T(A(x)) itself: the tokenizer's round
    trip, the best a token-space result can reach).
    """
    target = x if augmented is None else augmented
    truth = tokenizer.tokenize(target[None]).cpu()  # (1, h, w)
    decoded_truth = tokenizer.decode(truth).cpu()
    name = "T(x)" if augmented is None else "T(A(x))"
    panels = [Panel("x", x)] + ([] if augmented is None else [Panel("A(x)", augmented)])
    panels.append(Panel(f"{name} decoded", decoded_truth[0], f"PSNR {float(psnr(decoded_truth, target[None])):.1f} dB"))
    for title, ids in results.items():
        decoded = tokenizer.decode(ids[None]).cpu()
        agree = float((ids.cpu() == truth[0]).float().mean())
        beside = "" if floor is None else f" (floor {floor:.0%})"
        panels.append(Panel(f"{title} decoded", decoded[0],
                            f"ids agree {agree:.0%}{beside}\nPSNR {float(psnr(decoded, target[None])):.1f} dB"))
    return panels


# ----------------------------------------------------------------------------------------------
# Naive token augmentation (`seitpp.augment.naive`): agreement beside its floor, where ids
# disagree, and one patch under a flip


FLOOR_BAR = {"color": "0.8", "hatch": "//", "edgecolor": "0.35"}  # how every floor bar is drawn


def floor_bars(ax: plt.Axes, labels: Sequence[str], values: Sequence[float], floor: float,
               floor_label: str = "floor", percent: bool = True, slots: int | None = None) -> None:
    """Bars of `values` (one per label) after a first, hatched grey bar for the floor, each bar
    with its value written above it. `slots`: room for that many bars, so that panels with
    different numbers of bars draw them equally wide."""
    names, heights = [floor_label, *labels], [floor, *values]
    colours = [FLOOR_BAR["color"]] + ["C0"] * len(labels)
    bars = ax.bar(range(len(heights)), heights, width=0.7, color=colours, edgecolor="0.35")
    bars[0].set_hatch(FLOOR_BAR["hatch"])
    ax.axhline(floor, color="0.35", ls="--", lw=0.8)  # the floor's level, carried across to every bar
    ax.set_xlim(-0.6, max(slots or 0, len(heights)) - 0.4)
    ax.bar_label(bars, labels=[f"{v:.0%}" if percent else f"{v:.1f}" for v in heights], fontsize=7, padding=1)
    ax.set_xticks(range(len(heights)), names, fontsize=8)
    if percent:
        ax.set_ylim(0, 1.12)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    else:
        ax.margins(y=0.15)


def agreement_panels(results: Mapping[str, Sequence[tuple[float, float]]], floor: float,
                     strength_units: Mapping[str, str], ylabel: str = "ids equal to T(A(x))",
                     floor_label: str = "floor", percent: bool = True, ncols: int = 3) -> plt.Figure:
    """One panel per augmentation family: a bar per strength, the floor's bar first.

    results: family -> [(strength, value), ...]; strength_units: family -> what its strengths
    are (the panel's x label), so no axis mixes the units of two families. Every panel shares the
    y axis (`ylabel`; `percent` for shares of ids, otherwise e.g. dB).
    """
    nrows = -(-len(results) // ncols)
    slots = 1 + max(len(runs) for runs in results.values())
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 2.7 * nrows), sharey=True, squeeze=False)
    for ax, (family, runs) in zip(axes.flat, results.items()):
        floor_bars(ax, [f"{s:g}" for s, _ in runs], [v for _, v in runs], floor, floor_label, percent, slots)
        ax.set_title(family, fontsize=9)
        ax.set_xlabel(strength_units.get(family, "strength"), fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    for ax in axes.flat[len(results):]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel(ylabel, fontsize=8)
    fig.tight_layout()
    return fig


def _token_overlay(ax: plt.Axes, image: torch.Tensor | np.ndarray, cells: torch.Tensor) -> None:
    """image (3, S, S) washed out, with the token cells where `cells` (H, W) > 0 in red."""
    shown = _hwc(image).astype(np.float32) / 255
    ax.imshow(0.45 * shown + 0.55, interpolation="nearest")  # washed out so the red reads
    S, (H, W) = shown.shape[0], cells.shape
    red = np.zeros((H, W, 4), np.float32)
    red[..., 0] = 0.85
    red[..., 3] = 0.75 * (cells.cpu().numpy() > 0)
    ax.imshow(red, extent=(-0.5, S - 0.5, S - 0.5, -0.5), interpolation="nearest")
    for k in range(1, H):  # the token grid, faintly
        ax.axhline(k * S / H - 0.5, color="k", lw=0.3, alpha=0.25)
        ax.axvline(k * S / W - 0.5, color="k", lw=0.3, alpha=0.25)
    ax.set_xticks([])
    ax.set_yticks([])


def disagreement_figure(image: torch.Tensor | np.ndarray, image_title: str, maps: Mapping[str, torch.Tensor],
                        shares: Mapping[str, torch.Tensor], agreements: Mapping[str, float], floor: float,
                        floor_label: str = "floor", num_images: int | None = None) -> plt.Figure:
    """Where two grids of ids disagree: on one image, over many, and the agreement beside its floor.

    Top row: `image` (3, S, S), then for each comparison the token cells (maps: title -> (H, W),
    nonzero where the ids differ) over the image. Bottom row: the agreements (name -> share) after
    the floor's bar, then for each comparison the share of `num_images` images whose ids differ at
    each cell (shares: title -> (H, W) in [0, 1], one per map, in the same order).
    """
    if len(maps) != len(shares):
        raise ValueError(f"need one share map per map, got {len(maps)} maps and {len(shares)} share maps")
    n = len(maps)
    fig, axes = plt.subplots(2, n + 1, figsize=(2.9 * (n + 1), 5.8), squeeze=False, layout="constrained")
    axes[0, 0].imshow(_hwc(image), interpolation="nearest")
    axes[0, 0].set(xticks=[], yticks=[])
    axes[0, 0].set_title(image_title, fontsize=9)
    for ax, (title, cells) in zip(axes[0, 1:], maps.items()):
        _token_overlay(ax, image, cells)
        ax.set_title(title, fontsize=8)
        ax.set_xlabel(f"this image: ids agree {1 - float((cells > 0).float().mean()):.0%}", fontsize=8)
    floor_bars(axes[1, 0], list(agreements), list(agreements.values()), floor, floor_label)
    axes[1, 0].set_ylabel("ids that agree", fontsize=8)
    axes[1, 0].set_title("over all images" if num_images is None else f"over {num_images} images", fontsize=9)
    axes[1, 0].tick_params(axis="x", labelsize=7)
    for ax, (title, share) in zip(axes[1, 1:], shares.items()):
        shown = ax.imshow(share.cpu().numpy(), cmap="Reds", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(title, fontsize=8)
        ax.set_xlabel(f"token column; ids agree {1 - float(share.mean()):.0%}", fontsize=8)
        ax.set_ylabel("token row", fontsize=8)
        ax.tick_params(labelsize=6)
    fig.colorbar(shown, ax=list(axes[1, 1:]), shrink=0.9).set_label("share of images whose ids differ", fontsize=8)
    return fig


def flip_zoom_figure(zoom: FlipZoom, size: float = 1.8) -> plt.Figure:
    """One token position under a horizontal flip (`seitpp.augment.flip_zoom`).

    Top row: the five whole images, the token outlined (at its source in x and T(x) decoded, at
    its mirrored place in the three flipped images). Bottom row: that d x d patch of each,
    enlarged with nearest-neighbour interpolation, captioned with its id.
    """
    (r, c), (_, c2) = zoom.source, zoom.target
    titles = {"x": "x", "T(x) decoded": "T(x) decoded", "flip(x)": "flip(x):\nwhat T sees",
              "T(flip(x)) decoded": "T(flip(x)) decoded:\nthe truth", "flip(T(x)) decoded": "flip(T(x)) decoded:\nthe naive flip"}
    captions = {"x": f"pixels at ({r}, {c})", "T(x) decoded": f"id {zoom.source_id} at ({r}, {c})",
                "flip(x)": f"pixels at ({r}, {c2}):\nx's patch mirrored", "T(flip(x)) decoded": f"id {zoom.truth_id} at ({r}, {c2})",
                "flip(T(x)) decoded": f"id {zoom.source_id}, moved\nfrom ({r}, {c}) to ({r}, {c2})"}
    d = zoom.downsample
    fig, axes = plt.subplots(2, len(zoom.images), figsize=(size * len(zoom.images), 2 * size + 1.0), squeeze=False)
    for j, name in enumerate(zoom.images):
        row, col = zoom.source if name in ("x", "T(x) decoded") else zoom.target
        top, bottom = axes[0, j], axes[1, j]
        top.imshow(_hwc(zoom.images[name]), interpolation="nearest")
        top.add_patch(plt.Rectangle((col * d - 0.5, row * d - 0.5), d, d, fill=False, edgecolor="red", lw=1.5))
        top.set_title(titles.get(name, name), fontsize=8)
        bottom.imshow(_hwc(zoom.patches[name]), interpolation="nearest")
        bottom.set_xlabel(captions.get(name, ""), fontsize=8)
        for ax in (top, bottom):
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_ylabel("whole image", fontsize=8)
    axes[1, 0].set_ylabel(f"the {d} x {d} patch,\nenlarged", fontsize=8)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------------
# The reproduction sweep's results (rows of `seitpp.experiments.reproduce.summarize`)


def _errorbar(ax: plt.Axes, rows: Sequence[dict], x: Sequence[float], label: str, **style) -> None:
    y = [100 * r["acc_clean_mean"] for r in rows]
    err = [100 * r["acc_clean_std"] for r in rows]
    ax.errorbar(x, y, yerr=err, capsize=3, label=label, **({"marker": "o"} | style))


def budget_figure(summary: Sequence[dict], paper: Mapping[str, Sequence[float]], paper_gb: Sequence[float],
                  chance: float) -> plt.Figure:
    """Top-1 against the training set's storage, per method: this book's sweep (mean and spread
    over seeds) beside the paper's ImageNet numbers."""
    fig, (ours, theirs) = plt.subplots(1, 2, figsize=(11, 4))
    methods = list(dict.fromkeys(r["method"] for r in summary if r["experiment"] == "budgets"))
    for method in methods:
        rows = sorted((r for r in summary if r["experiment"] == "budgets" and r["method"] == method),
                      key=lambda r: r["train_bytes"])
        _errorbar(ours, rows, [r["train_bytes"] / 1e3 for r in rows], method)
        if method in paper:
            theirs.plot(paper_gb, paper[method], marker="o", label=method)
    ours.axhline(100 * chance, color="grey", ls=":", lw=1, label="chance")
    ours.set(xlabel="training set stored as tokens (kB)", ylabel="top-1 on held-out images (%)",
             title="this book: Shapes, ViT-micro, CPU")
    theirs.set(xlabel="training set stored as tokens (GB)", ylabel="ImageNet-1k top-1 (%)",
               title="the paper: ImageNet-1k, ViT-B/16")
    for ax in (ours, theirs):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def storage_frontier_figure(summary: Sequence[dict], chance: float) -> plt.Figure:
    """Top-1 against bytes: every method and format of the sweep, and the frontier they trace.

    Left: against the storage of the whole training set (token methods at every budget, pixel
    formats at the full set), with the upper envelope of all points. Right: against the bytes of
    one stored image, at the full set.
    """
    fig, (total, per_image) = plt.subplots(1, 2, figsize=(11, 4.2))
    points = []
    token_rows = [r for r in summary if r["experiment"] == "budgets"]
    full = max(r["train_images"] for r in token_rows)
    for method in dict.fromkeys(r["method"] for r in token_rows):
        rows = sorted((r for r in token_rows if r["method"] == method), key=lambda r: r["train_bytes"])
        _errorbar(total, rows, [r["train_bytes"] for r in rows], method)
        points += [(r["train_bytes"], 100 * r["acc_clean_mean"]) for r in rows]
        top = [r for r in rows if r["train_images"] == full]
        _errorbar(per_image, top, [r["bytes_per_image"] for r in top], method, ls="none")
    for r in (r for r in summary if r["experiment"] == "pixels"):
        for ax, x in ((total, r["train_bytes"]), (per_image, r["bytes_per_image"])):
            _errorbar(ax, [r], [x], f"pixel ViT: {r['method']}", marker="s", ls="none")
        points.append((r["train_bytes"], 100 * r["acc_clean_mean"]))
    frontier, best = [], -1.0
    for x, y in sorted(points):  # the best accuracy reachable with at most x bytes
        if y > best:
            frontier.append((x, y))
            best = y
    fx, fy = zip(*frontier)
    total.step(fx, fy, where="post", color="black", lw=1, ls="--", label="frontier")
    total.set(xscale="log", xlabel="training set storage (bytes, log scale)", ylabel="top-1 on held-out images (%)",
              title="accuracy per byte of training data")
    per_image.set(xscale="log", xlabel="bytes per stored image (log scale)", ylabel="top-1 on held-out images (%)",
                  title=f"at the full training set ({full} images)")
    for ax in (total, per_image):
        ax.axhline(100 * chance, color="grey", ls=":", lw=1)
        ax.xaxis.set_minor_formatter(NullFormatter())  # log axes label minor ticks, which collide
        ax.grid(alpha=0.3)
    per_image.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.tight_layout()
    return fig


VERDICT_COLOURS = {"holds": "tab:green", "opposite": "tab:red", "unclear": "tab:grey"}


def scorecard_figure(rows: Sequence[dict]) -> plt.Figure:
    """Every scorecard row as our difference ± its spread (coloured by verdict) beside the paper's
    difference, one panel per source; right of zero is the paper's direction."""
    sources = list(dict.fromkeys(r["source"] for r in rows))
    sizes = [sum(r["source"] == s for r in rows) for s in sources]
    fig, axes = plt.subplots(len(sources), 1, figsize=(9, 1.2 + 0.24 * len(rows)), squeeze=False,
                             gridspec_kw={"height_ratios": sizes})
    for ax, source in zip(axes[:, 0], sources):
        mine = [r for r in rows if r["source"] == source]
        y = np.arange(len(mine))[::-1]
        for yi, r in zip(y, mine):
            spread = 0.0 if np.isnan(r["spread"]) else r["spread"]
            ax.errorbar(r["difference"], yi, xerr=spread, marker="o", capsize=3, color=VERDICT_COLOURS[r["verdict"]])
            if r["paper"] is not None:
                ax.plot(r["paper"], yi, marker="x", color="tab:orange", ls="none")
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(y, [r["comparison"] for r in mine], fontsize=7)
        ax.set_ylim(-0.7, len(mine) - 0.3)
        ax.set_title(source, fontsize=9, loc="left")
        ax.grid(axis="x", alpha=0.3)
    handles = [plt.Line2D([], [], marker="o", color=c, ls="none", label=f"ours: {v}") for v, c in VERDICT_COLOURS.items()]
    handles.append(plt.Line2D([], [], marker="x", color="tab:orange", ls="none", label="the paper"))
    axes[-1, 0].set_xlabel("difference the paper says is positive (points; bar: spread over seeds)")
    top = 1 - 0.35 / fig.get_figheight()  # room for the legend above the panels
    fig.legend(handles=handles, fontsize=7, loc="upper center", ncol=len(handles), bbox_to_anchor=(0.5, 1.0))
    fig.tight_layout(rect=(0, 0, 1, top))
    return fig
