"""seitpp: SeiT++ as a book. Train vision models on images stored as discrete VQ tokens."""
import os

__version__ = "0.1.0"
FAST_VARIABLE = "SEITPP_FAST"  # 1: the notebooks' fast mode
DEVICE_VARIABLE = "SEITPP_DEVICE"  # where work runs when no --device or device= says (seitpp.device)


def fast_mode() -> bool:
    """True when SEITPP_FAST=1: notebooks run the same code on small sizes (what CI and the book build use)."""
    return os.environ.get(FAST_VARIABLE, "0") == "1"
