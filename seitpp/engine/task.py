"""What a training task is: the few things the engine's loop asks of it, and the checks every task shares.

The loop (`seitpp.engine.loop`) runs steps; a task says what a step computes, as MAE's engine
leaves the model, data and loss to its caller:

    check_setup(data, val)                   raise TrainSetupError for data that cannot train with the config
    uses_codes()                             whether the batch transform or the stem needs the (K, C) codebook
    build_model(data, codes)                 -> (model, model_args); `create_model(model_args, codes)` rebuilds it
    batch_transform(data, codes, tokenadapt) -> callable (x, targets, generator) -> (inputs, targets)
    loss(model, inputs, targets, generator)  -> scalar
    evaluate(model, split, device, ...)      -> {"val_loss", "val_top1" | "val_miou", "val_pixel_acc"}
    eval_inputs(x)                           samples -> what the model reads at evaluation (centre crops)
    encoder(model)                           the module a pre-trained encoder (--init) initialises
    encoder_state(model)                     a pre-training task's encoder weights

A task is built for one run's config (`seitpp.engine.registry.task_for`), so its methods read the
config they need. Letters: B batch, H W grid, S crop side, K codebook size.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

from seitpp.augment.policies import centre_crop
from seitpp.augment.tokenadapt import TokenAdapt
from seitpp.engine.config import TrainConfig
from seitpp.errors import TrainSetupError
from seitpp.models.vit import TokenStem
from seitpp.tokens.split import Split

BatchTransform = Callable[[torch.Tensor, torch.Tensor, torch.Generator], tuple[torch.Tensor, torch.Tensor]]


def autocast(config: TrainConfig, device: torch.device):
    """bf16 autocast on CUDA when `config.run.amp`; nothing on the CPU."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.run.amp and device.type == "cuda")


class Task:
    """One kind of training run. Subclasses set `name` (stored in checkpoints), `targets` ("labels" or
    "masks") and `kind` (the Split kind it reads), and implement the methods of the module docstring."""

    name: str = ""  # the registry's name, stored in checkpoints
    targets: str = "labels"  # the Split targets_kind it trains on
    kind: str = "tokens"  # the Split kind it reads
    targets_used: bool = True  # whether the model learns the targets (masked modeling ignores the labels)
    evaluate_at_start: bool = False  # also evaluate before the first step (a history row at step 0)

    def __init__(self, config: TrainConfig):
        self.config = config

    # -- before the first step

    def check_setup(self, data: Split, val: Split | None) -> None:
        """The checks every task makes: codebook, classes, kinds and sizes that fit the config and each other."""
        m = self.config.model
        self.check_crop()
        splits = [data] + ([val] if val is not None else [])
        for d in splits:
            if m.codebook_size is not None and d.codebook_size is not None and d.codebook_size != m.codebook_size:
                raise TrainSetupError(f"{d.source}: tokens from a codebook of {d.codebook_size} codes, but the model "
                                      f"expects codebook_size {m.codebook_size}")
            if m.num_classes is not None and self.targets_used and d.num_classes != m.num_classes:
                raise TrainSetupError(f"{d.source}: {d.num_classes} classes, but the config sets num_classes "
                                      f"{m.num_classes}")
            self.check_grid(d)
        if val is not None:
            for name in ("kind", "codebook_size", "num_classes"):
                if getattr(val, name) != getattr(data, name):
                    raise TrainSetupError(f"{val.source}: {name} {getattr(val, name)} differs from the training "
                                          f"data's ({data.source}: {getattr(data, name)})")
        batch_size = self.config.optim.batch_size
        if len(data) < batch_size:
            raise TrainSetupError(f"{data.source}: {len(data)} samples, fewer than one batch of {batch_size}")

    def check_crop(self) -> None:
        """A crop of whole patches: 2 x 2 tokens (or the pixels under them)."""
        crop = self.config.model.crop
        if crop % 2:
            raise TrainSetupError(f"config: crop must be even (one patch per 2 x 2 tokens), got {crop}")

    def check_grid(self, d: Split) -> None:
        """The data's grid must hold the training crop."""
        crop = self.config.model.crop
        if min(d.grid) < crop:
            raise TrainSetupError(f"{d.source}: {d.grid[0]} x {d.grid[1]} token grids are smaller than the "
                                  f"{crop} x {crop} crop")

    def uses_codes(self) -> bool:
        return False

    def eval_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """Samples of the split, ids (B, H, W) or DCT levels (B, C, H, W) -> what the model reads at evaluation
        (and `seitpp.engine.predict`): their central crop x crop window, ids as int64."""
        x = centre_crop(x, self.config.model.crop)
        return x.long() if self.kind == "tokens" else x

    # -- the model

    def model_args(self, data: Split) -> dict:
        raise NotImplementedError

    def create_model(self, args: dict, codes: torch.Tensor | None = None) -> nn.Module:
        raise NotImplementedError

    def build_model(self, data: Split, codes: torch.Tensor | None = None) -> tuple[nn.Module, dict]:
        """The run's model -> (model, the keyword arguments it was created with, for checkpoints).

        With `config.model.freeze_table` the learned token table keeps its start: it gets no gradient.
        """
        m = self.config.model
        args = self.model_args(data)
        model = self.create_model(args, codes)
        if m.freeze_table or m.table_warmup:
            if not self.token_tables(model):
                raise TrainSetupError(f"config: freeze_table or table_warmup, but model {m.name} has no "
                                      f"learned token table")
        if m.freeze_table:
            for table in self.token_tables(model):
                table.requires_grad_(False)
        return model, args

    @staticmethod
    def token_tables(model: nn.Module) -> list[nn.Parameter]:
        """The learned token tables of a model's stems (K, C) (none with the tokenizer's frozen codes)."""
        return [m.codes.weight for m in model.modules() if isinstance(m, TokenStem) and isinstance(m.codes, nn.Embedding)]

    def encoder(self, model: nn.Module) -> nn.Module:
        """The part of this task's model that a pre-trained encoder (--init) initialises."""
        return model

    def encoder_state(self, model: nn.Module) -> dict:
        """A pre-training task's encoder weights, for `seitpp.models.load_encoder`."""
        raise TrainSetupError(f"task {self.name!r} does not pre-train an encoder")

    # -- a step

    def batch_transform(self, data: Split, codes: torch.Tensor | None,
                        tokenadapt: TokenAdapt | None) -> BatchTransform:
        raise NotImplementedError

    def loss(self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
             generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    # -- evaluation

    def evaluate(self, model: nn.Module, split: Split, device: torch.device,
                 batch_size: int = 256) -> dict[str, float]:
        raise NotImplementedError
