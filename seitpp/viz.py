"""Figures the chapters share: grids of images and token maps, and one side-by-side comparison
("original, ground truth, token-space result") shown three ways. Plain matplotlib.

The comparison is generic over a render function `render(image_index, augmentation, strength)`
that returns a list of `Panel`s. From it:

- `ComparisonWidget`: ipywidgets controls (image, augmentation, strength) above the figure,
  redrawn on every change; needs a live kernel.
- `comparison_player`: the same figure precomputed at every strength, as an HTML frame player
  (`FuncAnimation.to_jshtml`) that works in a static page with no kernel and no network.
- `comparison_grid`: the same figures as one static grid, a row per strength.

`token_panels` builds the usual panels for token augmentations from a tokenizer. `budget_figure`
and `storage_frontier_figure` draw the reproduction sweep's results (`seitpp.experiments.reproduce`),
`scorecard_figure` every finding of the scorecard (`seitpp.experiments.scorecard`).
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
from matplotlib.ticker import NullFormatter

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
                 results: Mapping[str, torch.Tensor]) -> list[Panel]:
    """Panels comparing token-space augmentations with the tokens of the augmented image.

    x, augmented: (3, H, W) in [0, 1], the image and A(x) done on pixels; `augmented=None` means
    there is no pixel version (e.g. noise on embeddings), and results are compared with T(x).
    results: name -> ids (h, w) that a token-space augmentation produced from T(x).
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
        panels.append(Panel(f"{title} decoded", decoded[0],
                            f"ids agree {agree:.0%}\nPSNR {float(psnr(decoded, target[None])):.1f} dB"))
    return panels


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
