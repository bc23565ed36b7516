"""Chapter 4's figures of colour in token space (`seitpp.augment.coloradapt`, `seitpp.augment.embnoise`):
how close token-space candidates come to the tokens of each pixel colour change, and what
Emb-Noise does at growing scales. Plain matplotlib; every function returns its figure."""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import PercentFormatter


def vs_pixels_figure(results: Mapping[str, Mapping[str, Mapping[str, float]]], methods: Sequence[str]) -> plt.Figure:
    """Colour-statistic distance (left) and PSNR (right) against the tokens of each pixel colour
    change, one bar per method; a method missing for a change leaves a gap.

    results: pixel change -> method -> metrics (keys "colour distance" in grey levels, "PSNR" in dB);
    methods: the bars' order, side by side around each change (0.27 wide each).
    """
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    positions = np.arange(len(results))
    for k, m in enumerate(methods):
        for ax, key in zip(axes, ["colour distance", "PSNR"]):
            values = [results[name].get(m, {}).get(key, np.nan) for name in results]
            ax.bar(positions + (k - (len(methods) - 1) / 2) * 0.27, values, width=0.27, label=m)
    for ax, ylabel, title in [(axes[0], "colour-statistic distance (grey levels)", "lower is closer"),
                              (axes[1], "PSNR vs decoded T(P(x)) (dB)", "higher is closer")]:
        ax.set_xticks(positions, list(results), rotation=30, ha="right", fontsize=8)
        ax.set(xlabel="pixel colour change P", ylabel=ylabel, title=title)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def embnoise_curves(noise_scales: Sequence[float], share_changed: Mapping[str, Sequence[float]],
                    pixel_change: Sequence[float]) -> plt.Figure:
    """Emb-Noise at growing scales: the share of ids changed after snapping to the codebook, one
    line per variant of the noise (left), and the mean absolute change of the decoded image in
    grey levels at scale = std (right); one value per scale in each."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    for name, shares in share_changed.items():
        axes[0].plot(noise_scales, shares, "o-", label=name)
    axes[0].set(xlabel="noise scale", ylabel="ids changed", title="Emb-Noise, snapped to the codebook")
    axes[0].yaxis.set_major_formatter(PercentFormatter(1.0))
    axes[0].legend(fontsize=8)
    axes[1].plot(noise_scales, pixel_change, "o-")
    axes[1].set(xlabel="noise scale (scale = std)", ylabel="mean |change| vs T(x) decoded (grey levels)",
                title="how far the decoded image moves")
    fig.tight_layout()
    return fig
