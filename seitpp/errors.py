"""Errors every layer raises: a setup that cannot train, a run that diverged; and the one lookup of
a preset by name, whose unknown name is such a setup."""
from __future__ import annotations


class TrainSetupError(ValueError):
    """A config, data set or file that cannot train: raised before the first step, naming the value."""


class TrainingDiverged(FloatingPointError):
    """The loss or the gradient stopped being finite; the last checkpoint on disk is the last good one."""


def choose_preset(presets: dict, name: str, what: str):
    """`presets[name]`, or a TrainSetupError naming `name` and listing the `what` presets there are."""
    if name not in presets:
        raise TrainSetupError(f"unknown {what} preset {name!r}; choose from {sorted(presets)}")
    return presets[name]
