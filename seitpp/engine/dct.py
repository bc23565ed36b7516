"""DCT levels as tasks of the engine: classification with a DCT ViT and masked block modeling.

A DCT run is `seitpp.engine.train(config, split)` with a `Split` of kind "dct" (levels int
(N, 192, h, w) from `seitpp.data.dct.encode`), config.task "finetune" or "pretrain" and a model
named `dct_<size>` (a `seitpp.models.SIZES` body). `config.model.crop` counts 8 x 8 blocks;
`config.dct.quality` is the JPEG quality of the levels. Every step takes a random crop of blocks and
a mirror with p 0.5 per sample (both exact on levels); classification gives a `config.dct.color_swap`
share of each batch a partner's colour statistics (`seitpp.augment.dct.DCTPolicy`).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from seitpp.augment.dct import DCTPolicy
from seitpp.data.dct import BLOCK
from seitpp.engine.classify import evaluate_centre_crops
from seitpp.engine.task import Task
from seitpp.errors import TrainSetupError
from seitpp.models.dct import DCTViTConfig, MaskedDCTModel, coefficient_rms
from seitpp.models.vit import SIZES, create_model
from seitpp.tokens.split import Split

PREFIX = "dct_"  # DCT model names: dct_micro, dct_tiny, dct_small, dct_base


class DCTFinetune(Task):
    """Classification on DCT levels: a `DCTViT`, `DCTPolicy`, cross-entropy, top-1 on centre crops."""

    name = "dct-finetune"
    kind = "dct"

    @property
    def size(self) -> str:
        return self.config.model.name.removeprefix(PREFIX)

    def check_setup(self, data: Split, val: Split | None) -> None:
        if not self.config.model.name.startswith(PREFIX) or self.size not in SIZES:
            raise TrainSetupError(f"{data.source}: DCT levels train a model named {PREFIX}<size>, size one of "
                                  f"{sorted(SIZES)}; got {self.config.model.name!r}")
        super().check_setup(data, val)

    def check_crop(self) -> None:
        pass  # a patch is one block

    def check_grid(self, d: Split) -> None:
        crop = self.config.model.crop
        if min(d.grid) < crop:
            raise TrainSetupError(f"{d.source}: {d.grid[0]} x {d.grid[1]} blocks are smaller than the "
                                  f"{crop} x {crop} crop")

    def model_args(self, data: Split) -> dict:
        m = self.config.model
        return dict(num_classes=data.num_classes, quality=self.config.dct.quality, img_size=m.crop * BLOCK,
                    drop_path_rate=m.drop_path)

    def create_model(self, args: dict, codes: torch.Tensor | None = None,
                     scale: torch.Tensor | None = None) -> nn.Module:
        return create_model(self.config.model.name, scale=scale, **args)

    def build_model(self, data: Split, codes: torch.Tensor | None = None) -> tuple[nn.Module, dict]:
        """The stem's per-coefficient scale is the training levels' RMS (a buffer: checkpoints keep it)."""
        args = self.model_args(data)
        return self.create_model(args, scale=coefficient_rms(data.x, self.config.dct.quality)), args

    def batch_transform(self, data, codes, tokenadapt) -> DCTPolicy:
        return DCTPolicy(self.config.model.crop, self.config.dct.color_swap)

    def loss(self, model, inputs, targets, generator) -> torch.Tensor:
        return F.cross_entropy(model(inputs), targets, label_smoothing=self.config.augment.label_smoothing)

    def evaluate(self, model, split, device, batch_size=256) -> dict[str, float]:
        return evaluate_centre_crops(model, split, self.config, device, batch_size, self.eval_inputs)


class DCTPretrain(DCTFinetune):
    """Masked block modeling (`MaskedDCTModel`): a `config.dct.mask_ratio` share of the blocks hidden, the
    lowest `config.dct.dct_frequencies` coefficients of each channel predicted; labels are unused."""

    name = "dct-pretrain"
    targets_used = False

    def model_args(self, data: Split) -> dict:
        D, depth, heads = SIZES[self.size]
        return dict(embed_dim=D, depth=depth, num_heads=heads, quality=self.config.dct.quality,
                    img_size=self.config.model.crop * BLOCK)

    def create_model(self, args: dict, codes: torch.Tensor | None = None,
                     scale: torch.Tensor | None = None) -> nn.Module:
        dct = self.config.dct
        return MaskedDCTModel(DCTViTConfig(**args), scale, ratio=dct.mask_ratio, frequencies=dct.dct_frequencies)

    def batch_transform(self, data, codes, tokenadapt) -> DCTPolicy:
        return DCTPolicy(self.config.model.crop)

    def loss(self, model, inputs, targets, generator) -> torch.Tensor:
        return model(inputs, generator)[0]

    def encoder_state(self, model: nn.Module) -> dict:
        return model.encoder.state_dict()

    def evaluate(self, model, split, device, batch_size=256) -> dict[str, float]:
        return evaluate_centre_crops(model, split, self.config, device, batch_size, self.eval_inputs,
                                     classify=False)
