"""Finished models out of finished runs: a checkpoint is for resuming, a model for using
(`seitpp.checkpoint`). `export_mtm` turns an MTM pre-training run into the encoder that chapter 5
and fine-tuning load, with its provenance."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from seitpp.checkpoint import checkpoint_path, read_checkpoint
from seitpp.engine.config import config_from_dict
from seitpp.engine.loop import CHECKPOINT_KIND, load_model
from seitpp.files import atomic_path


def export_mtm(run_dir: str | Path, out: str | Path, **provenance) -> Path:
    """A finished MTM run's checkpoint (in `run_dir`) -> a finished model in `out`, which
    `MaskedTokenModel.load(out)` reads: `mtm.safetensors` (the weights only, no optimiser) and
    `config.json` (the model's config and the run's: training config, data, steps), and
    `provenance.json`: the checkpoint, its date, the steps, the first and last evaluation of its log,
    this function, and `provenance` (the sweep, the stage, a command, a machine: what the caller knows).
    A run that has not finished is refused."""
    source = checkpoint_path(run_dir)
    ckpt = read_checkpoint(source, CHECKPOINT_KIND)
    config = config_from_dict(ckpt["config"])
    if ckpt["task"] != "pretrain":
        raise ValueError(f"{source}: a {ckpt['task']} run, not MTM pre-training")
    epochs = config.run.epochs
    if ckpt["epoch"] < epochs:
        raise ValueError(f"{source}: unfinished ({ckpt['step']} steps, epoch {ckpt['epoch']:g} of {epochs})")
    model, _ = load_model(source)
    model.save(out, training={"steps": ckpt["step"], "config": ckpt["config"], "data": ckpt["data"]})
    evals = [row for row in ckpt["history"] if row.get("val_loss") is not None]
    record = provenance | {
        "checkpoint": str(source),
        "checkpoint_written": datetime.fromtimestamp(source.stat().st_mtime, timezone.utc).isoformat(timespec="seconds"),
        "steps": ckpt["step"],
        "evaluations": {"first": evals[0], "last": evals[-1]} if evals else {},
        "exported_by": f"{__name__}.export_mtm",
        "exported": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    with atomic_path(Path(out) / "provenance.json") as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n")
    return Path(out)
