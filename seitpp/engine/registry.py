"""The registry of tasks: which `Task` trains a config's task on a split of a given kind.

    config.task   split kind   task
    "pretrain"    "tokens"     Pretrain        MTM pre-training
    "finetune"    "tokens"     Finetune        classification on token ids
    "finetune"    "pixels"     FinetunePixels  the pixel ViT baseline
    "segment"     "tokens"     Segment         segmentation (masks)
    "finetune"    "dct"        DCTFinetune     classification on DCT levels
    "pretrain"    "dct"        DCTPretrain     masked block modeling

This is the one place where the engine looks at a task's name or a split's kind; the loop takes
the task it returns.
"""
from __future__ import annotations

from seitpp.engine.classify import Finetune, FinetunePixels, Pretrain
from seitpp.engine.config import TrainConfig
from seitpp.engine.dct import DCTFinetune, DCTPretrain
from seitpp.engine.segment import Segment
from seitpp.engine.task import Task
from seitpp.errors import TrainSetupError

REGISTRY: dict[tuple[str, str], type[Task]] = {
    ("pretrain", "tokens"): Pretrain,
    ("finetune", "tokens"): Finetune,
    ("finetune", "pixels"): FinetunePixels,
    ("segment", "tokens"): Segment,
    ("finetune", "dct"): DCTFinetune,
    ("pretrain", "dct"): DCTPretrain,
}
BY_NAME: dict[str, type[Task]] = {cls.name: cls for cls in REGISTRY.values()}


def task_for(config: TrainConfig, kind: str = "tokens", targets_kind: str = "labels",
             ignore_index: int | None = None, source: str = "the data") -> Task:
    """The task that trains `config` on a split of `kind` with `targets_kind` ("labels" or "masks")."""
    cls = REGISTRY.get((config.task, kind))
    if cls is None:
        what = {"pixels": "images", "dct": "DCT levels"}.get(kind, kind)
        raise TrainSetupError(f"{source}: task {config.task!r} does not train on {what}"
                              + (" (MTM pre-training needs token ids)" if config.task == "pretrain" else ""))
    if targets_kind != cls.targets:
        raise TrainSetupError(f"{source}: {'masks' if targets_kind == 'masks' else 'image labels'} "
                              f"cannot train task {config.task!r}")
    return cls(config, ignore_index) if cls is Segment else cls(config)


def task_of(config: TrainConfig, split) -> Task:
    """`task_for` the kind, targets and ignore_index of `split` (a `seitpp.tokens.Split`)."""
    return task_for(config, split.kind, split.targets_kind, split.ignore_index, split.source)


def task_named(config: TrainConfig, name: str, ignore_index: int | None = None) -> Task:
    """The task of a checkpoint's `task` entry (`Task.name`)."""
    cls = BY_NAME[name]
    return cls(config, ignore_index) if cls is Segment else cls(config)
