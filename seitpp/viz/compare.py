"""One side-by-side comparison ("original, ground truth, token-space result") shown three ways,
for the augmentation chapters (2 to 4). Plain matplotlib.

The comparison is generic over a render function `render(image_index, augmentation, strength)`
that returns a list of `Panel`s. From it:

- `ComparisonWidget`: ipywidgets controls (image, augmentation, strength) above the figure,
  redrawn on every change; needs a live kernel.
- `comparison_player`: the same figure precomputed at every strength, as an HTML frame player
  (`FuncAnimation.to_jshtml`) that works in a static page with no kernel and no network.
- `comparison_grid`: the same figures as one static grid, a row per strength.

`token_panels` builds the usual panels for token augmentations from a tokenizer.
ipywidgets and IPython are the book's dependencies, not the package's: they are imported where used.
"""
from __future__ import annotations

import base64
import io
import re
from typing import TYPE_CHECKING, Callable, Mapping, NamedTuple, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.animation import FuncAnimation

from seitpp.tokenizers.vq import VQTokenizer, psnr
from seitpp.viz.gallery import hwc

if TYPE_CHECKING:
    from IPython.display import HTML


class Panel(NamedTuple):
    """One image of a comparison, with a title above it and an optional caption below it."""

    title: str
    image: torch.Tensor | np.ndarray  # (3, H, W) float in [0, 1] or (H, W, 3) uint8
    caption: str = ""  # e.g. "ids agree 51%"


Render = Callable[[int, str, float], Sequence[Panel]]
"""render(image_index, augmentation, strength) -> the panels of one comparison."""


def _draw_row(axes: Sequence[plt.Axes], panels: Sequence[Panel], titles: bool = True) -> None:
    for ax, panel in zip(axes, panels, strict=True):
        ax.imshow(hwc(panel.image), interpolation="nearest")
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
            ax.images[0].set_data(hwc(panel.image))
            ax.set_title(panel.title, fontsize=8)
            ax.set_xlabel(panel.caption, fontsize=7)

    animation = FuncAnimation(fig, show, frames=len(rows), interval=interval_ms, cache_frame_data=False)
    html = animation.to_jshtml(default_mode="once")
    plt.close(fig)  # otherwise the inline backend also shows the last frame as a static figure
    return HTML(_CDN_STYLESHEET.sub("", html))


# The player links Font Awesome 4.4's stylesheet from a CDN for its button icons (<i class="fa ...">).
# In the book the theme's own Font Awesome (pydata-sphinx-theme's fontawesome.js, in _static) swaps
# those for SVG icons, and a page draws the same with the link as without it, so the link only made
# each page with a player ask a CDN for a file it does not need: dropped, the book stays offline.
_CDN_STYLESHEET = re.compile(r'<link\s[^>]*href="https?://[^"]*font-awesome[^"]*"[^>]*>')


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
