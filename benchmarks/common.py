"""Shared by the benchmark scripts: timing and writing a dated section of BENCHMARKS.md."""
from __future__ import annotations

import os
import platform
import re
from datetime import date
from pathlib import Path

import torch

from seitpp.engine import per_second  # noqa: F401  (the benchmarks time with it)

BENCHMARKS_MD = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"


def machine() -> str:
    """The CPU model, core count and torch version (and the GPU, if there is one)."""
    cpu = platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")]
        cpu = names[0] if names else cpu
    gpu = f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return f"{cpu}, {os.cpu_count()} cores{gpu}, torch {torch.__version__}"


def write_section(name: str, body: str) -> None:
    """Replace (or add) the section `## name` of BENCHMARKS.md with `body`, stamped with date and machine."""
    text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else "# Benchmarks\n\nEach section is written by the script it names.\n"
    section = f"## {name}\n\n_{date.today().isoformat()}, {machine()}_\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(name)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(lambda _: section + "\n", text) if pattern.search(text) else text.rstrip() + "\n\n" + section
    BENCHMARKS_MD.write_text(text)


def report(name: str, body: str, write: bool) -> None:
    """Print a benchmark's results and, with `write`, put them into BENCHMARKS.md as section `name`."""
    print(body)
    if write:
        write_section(name, body)
