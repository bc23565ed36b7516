"""Errors every layer raises: a setup that cannot train, a run that diverged."""
from __future__ import annotations


class TrainSetupError(ValueError):
    """A config, data set or file that cannot train: raised before the first step, naming the value."""


class TrainingDiverged(FloatingPointError):
    """The loss or the gradient stopped being finite; the last checkpoint on disk is the last good one."""
