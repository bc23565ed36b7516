"""Chapter 3's figures of TokenAdapt (`seitpp.augment.tokenadapt`): the live run step by step
against the naive warp on the same batches, the reference model's training log, and the share of
ids equal to T(A(x)) by the strength of a zoom or rotation. Plain matplotlib; every function
returns its figure."""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import PercentFormatter

_ROUTES = [("tokenadapt", "TokenAdapt"), ("naive", "naive warp"), ("pixels", "via pixels")]  # key -> label


def _routes(ax: plt.Axes, x: Sequence[float], rows: Sequence[Mapping], prefix: str = "") -> None:
    """One line per route of `_ROUTES` through rows[i][prefix + key] at x[i], legend included."""
    for key, label in _ROUTES:
        ax.plot(x, [float(r[prefix + key]) for r in rows], "o-", label=label)
    ax.legend()


def live_run_figure(steps: np.ndarray, live: np.ndarray, naive: np.ndarray, gap: np.ndarray) -> plt.Figure:
    """The live run's share of ids equal to T(A(x)) on each step's own batch for TokenAdapt and the
    naive warp (left), and their paired difference (right).

    steps, live, naive, gap: (steps,), the shares in [0, 1], gap = 100 * (live - naive) in points.
    """
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
    axes[0].plot(steps, live, "o-", ms=3, label="TokenAdapt (live, cpu-tiny)")
    axes[0].plot(steps, naive, "s-", ms=3, label="naive warp, same batch")
    axes[0].set(xlabel="step", ylabel="ids equal to T(A(x)) on the step's batch", title="each step, its own batch")
    axes[0].yaxis.set_major_formatter(PercentFormatter(1.0))
    axes[0].legend()
    axes[1].axhline(0, color="grey", lw=0.8)
    axes[1].plot(steps, gap, "o-", ms=3)
    axes[1].set(xlabel="step", ylabel="TokenAdapt - naive warp (points)", title="the paired difference")
    fig.tight_layout()
    return fig


def reference_log_figure(loss: np.ndarray, live_history: Sequence[dict], evals: Sequence[Mapping],
                         window: int) -> plt.Figure:
    """The reference TokenAdapt's training loss (a `window`-step running mean) beside the live
    run's (left), and its held-out agreement at each logged evaluation for every route (right).

    loss: (steps,) the reference's loss per step; live_history: the live run's rows (step, loss);
    evals: the reference's history.csv rows that hold an evaluation (step, eval_tokenadapt,
    eval_naive, eval_pixels; numbers or their text).
    """
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
    axes[0].plot(np.arange(window, len(loss) + 1), np.convolve(loss, np.ones(window) / window, mode="valid"),
                 label=f"reference (cpu-ref), {window}-step mean")
    axes[0].plot([row["step"] for row in live_history], [row["loss"] for row in live_history], label="live (cpu-tiny)")
    axes[0].set(xlabel="step", ylabel="cross-entropy (nats)", title="training loss")
    axes[0].legend()
    _routes(axes[1], [int(row["step"]) for row in evals], evals, prefix="eval_")
    axes[1].set(xlabel="step", ylabel="ids equal to T(A(x))", title="held-out agreement, training distribution")
    axes[1].yaxis.set_major_formatter(PercentFormatter(1.0))
    fig.tight_layout()
    return fig


def strength_figure(sweeps: Mapping[str, Sequence[float]],
                    runs: Mapping[str, Sequence[Mapping[str, float]]]) -> plt.Figure:
    """Share of ids equal to T(A(x)) against the strength, a panel per transform.

    sweeps: transform name (the x label) -> its strengths; runs: the same names -> one
    `seitpp.augment.agreement` result per strength (keys tokenadapt, naive, pixels).
    """
    fig, axes = plt.subplots(1, len(sweeps), figsize=(11, 3.4), squeeze=False)
    for ax, (name, values) in zip(axes[0], sweeps.items()):
        _routes(ax, values, runs[name])
        ax.set(xlabel=name, ylabel="ids equal to T(A(x))", title=name)
    fig.tight_layout()
    return fig
