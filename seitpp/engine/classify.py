"""The token tasks of classification: MTM pre-training, fine-tuning on token ids and the pixel ViT baseline.

Each is a `seitpp.engine.task.Task`: its model, its batch transform (`seitpp.augment.policies`,
built here from the config), its loss and its evaluation on centre crops.
Letters: B batch, H W token grid, S crop side, K codebook size.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from seitpp.augment.policies import CropPolicy, PixelPolicy, TokenPolicy, centre_crop, pixels_to_input
from seitpp.augment.registry import create_policy
from seitpp.augment.tokenadapt import TokenAdapt
from seitpp.engine.config import TrainConfig
from seitpp.engine.distributed import rank_world, sum_over_ranks
from seitpp.engine.losses import soft_cross_entropy
from seitpp.engine.task import Task, autocast
from seitpp.errors import TrainSetupError
from seitpp.models.cnn import reads_pixels
from seitpp.models.vit import PixelViTConfig, TokenViTConfig, create_model
from seitpp.schedule import EVAL_STREAM, stream_seed
from seitpp.tokens.split import Split

# ----------------------------------------------------------------------------------------------
# Batch transforms from a config


def token_policy(config: TrainConfig, num_classes: int, codes: torch.Tensor | None = None,
                 tokenadapt: TokenAdapt | None = None) -> TokenPolicy:
    """The fine-tuning batch transform of `config.augment.policy` (`seitpp.augment.registry`) on crops of
    `config.model.crop`. codes: the tokenizer's (K, C) code vectors; tokenadapt: for a geometric policy with
    `config.augment.token_adapt`."""
    return create_policy(config.augment.policy).classification(config.augment, config.model.crop, num_classes, codes,
                                                               tokenadapt)


def pixel_crop(config: TrainConfig) -> int:
    """Pixel side with the token model's patch grid: a patch is 2 x 2 tokens or patch_size pixels."""
    return config.model.crop * PixelViTConfig().patch_size // 2


# ----------------------------------------------------------------------------------------------
# Evaluation on centre crops, shared by the classification tasks


@torch.no_grad()
def evaluate_centre_crops(model: nn.Module, split: Split, config: TrainConfig, device: torch.device,
                          batch_size: int, inputs: Callable[[torch.Tensor], torch.Tensor],
                          classify: bool = True) -> dict[str, float]:
    """The model's inputs of the samples, `inputs(x)` (a task's `eval_inputs`: centre crops) -> {"val_loss",
    "val_top1"} for a classifier, {"val_loss"} for a masked model (`classify` False; its masks come from a fixed seed, so evaluations along a run
    are comparable). Under DDP each rank evaluates every world-th sample and the sums are combined."""
    device = torch.device(device)
    rank, world = rank_world()
    idx = torch.arange(rank, len(split), world)
    was_training = model.training
    model.eval()
    g = torch.Generator().manual_seed(stream_seed(config.run.seed, EVAL_STREAM, rank))
    loss_sum = correct = 0.0
    for chunk in idx.split(batch_size):
        x = inputs(split.x[chunk].to(device))
        y = split.targets[chunk].to(device)
        with autocast(config, device):
            if not classify:
                loss_sum += float(model(x, generator=g)[0]) * len(chunk)
                continue
            logits = model(x).float()
        loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
        correct += float((logits.argmax(1) == y).sum())
    loss_sum, correct, count = sum_over_ranks([loss_sum, correct, float(len(idx))], device)
    model.train(was_training)
    metrics = {"val_loss": loss_sum / max(count, 1)}
    if classify:
        metrics["val_top1"] = correct / max(count, 1)
    return metrics


PROBE_IMAGES = 2_000  # the label probe reads at most this many validation images
PROBE_K, PROBE_T = 20, 0.07  # neighbours and the temperature of their votes, as DINO's kNN evaluation


@torch.no_grad()
def knn_top1(features: torch.Tensor, labels: torch.Tensor, k: int = PROBE_K, temperature: float = PROBE_T,
             chunk: int = 1024) -> float:
    """Leave-one-out weighted kNN top-1 of features (N, D) with labels (N,): each sample is classified by
    the votes of its k most cosine-similar others, weighted exp(similarity / temperature).

    A label probe that needs no training and no second split: it asks whether samples of one class
    lie near each other in the feature space, which is what a classifier built on it can use.
    """
    f = F.normalize(features.float(), dim=1)
    labels = labels.long()
    classes = int(labels.max()) + 1
    k = min(k, len(f) - 1)
    correct = 0
    for start in range(0, len(f), chunk):
        sim = f[start:start + chunk] @ f.T  # (n, N)
        sim[torch.arange(len(sim)), torch.arange(start, start + len(sim))] = -math.inf  # not itself
        top, idx = sim.topk(k, dim=1)  # (n, k)
        votes = torch.zeros(len(sim), classes, device=f.device).scatter_add_(1, labels[idx], (top / temperature).exp())
        correct += int((votes.argmax(1) == labels[start:start + len(sim)]).sum())
    return correct / len(f)


@torch.no_grad()
def probe_top1(encoder: nn.Module, split: Split, size: int, device: torch.device, batch_size: int) -> float:
    """`knn_top1` of a token encoder's average patch features on centre size x size crops of `split`
    (its first PROBE_IMAGES samples, the same on every rank)."""
    was_training = encoder.training
    encoder.eval()
    n = min(len(split), PROBE_IMAGES)
    feats = torch.cat([encoder.forward_features(centre_crop(split.x[i:i + batch_size].to(device).long(), size))[:, 1:]
                       .mean(1).float() for i in range(0, n, batch_size)])  # (n, D)
    encoder.train(was_training)
    return knn_top1(feats, split.targets[:n].to(device))


def _model_reads(name: str) -> str:
    return "pixels" if reads_pixels(name) else "tokens"


# ----------------------------------------------------------------------------------------------
# The tasks


class Pretrain(Task):
    """MTM pre-training on token ids: random-resized crops, the masked-token loss; labels are unused
    for training. Evaluation reports the masked-token loss and, where the validation split has labels,
    `val_probe_top1`, a kNN label probe on the encoder's features (`probe_top1`), from step 0 on: the
    random encoder's probe is the floor a pre-training run must rise above."""

    name = "pretrain"
    targets_used = False
    evaluate_at_start = True

    def uses_codes(self) -> bool:
        return self.config.model.table_init == "codes"

    def model_args(self, data: Split) -> dict:
        m = self.config.model
        return dict(codebook_size=data.codebook_size, grid_size=m.crop, drop_path_rate=m.drop_path,
                    patch_kernel=m.patch_kernel)

    def create_model(self, args: dict, codes: torch.Tensor | None = None) -> nn.Module:
        m = self.config.model
        return create_model(m.name, codes=codes if m.table_init == "codes" else None, **args)

    def encoder_state(self, model: nn.Module) -> dict:
        return model.encoder_state_dict()

    def batch_transform(self, data, codes, tokenadapt) -> CropPolicy:
        return CropPolicy(self.config.model.crop, self.config.augment.min_scale)

    def loss(self, model, inputs, targets, generator) -> torch.Tensor:
        return model(inputs, generator=generator)[0]

    def evaluate(self, model, split, device, batch_size=256) -> dict[str, float]:
        metrics = evaluate_centre_crops(model, split, self.config, device, batch_size, self.eval_inputs,
                                        classify=False)
        if split.targets_kind == "labels" and split.num_classes > 1:
            metrics["val_probe_top1"] = probe_top1(model.encoder, split, self.config.model.crop, device, batch_size)
        return metrics


class Finetune(Task):
    """Classification on token ids: a token ViT, `token_policy`, soft cross-entropy, top-1 on centre crops."""

    name = "finetune"

    def check_setup(self, data: Split, val: Split | None) -> None:
        super().check_setup(data, val)
        reads = _model_reads(self.config.model.name)
        if reads != self.kind:
            raise TrainSetupError(f"{data.source}: model {self.config.model.name} reads "
                                  f"{'images' if reads == 'pixels' else 'token ids'}, the data are {data.kind}")

    def uses_codes(self) -> bool:
        m = self.config.model
        return m.table_init == "codes" or create_policy(self.config.augment.policy).needs_codes or m.stem == "seit"

    def model_args(self, data: Split) -> dict:
        m = self.config.model
        return dict(num_classes=data.num_classes, drop_path_rate=m.drop_path, global_pool=m.global_pool,
                    codebook_size=data.codebook_size, grid_size=m.crop, stem=m.stem, patch_kernel=m.patch_kernel)

    def create_model(self, args: dict, codes: torch.Tensor | None = None) -> nn.Module:
        m = self.config.model
        if m.stem == "seit":  # frozen codes: a zero table is overwritten by a checkpoint's
            codes = codes if codes is not None else torch.zeros(args["codebook_size"], TokenViTConfig().code_dim)
            return create_model(m.name, codes=codes, **args)
        return create_model(m.name, codes=codes if m.table_init == "codes" else None, **args)

    def batch_transform(self, data, codes, tokenadapt) -> TokenPolicy:
        return token_policy(self.config, data.num_classes, codes, tokenadapt)

    def loss(self, model, inputs, targets, generator) -> torch.Tensor:
        return soft_cross_entropy(model(inputs), targets, self.config.augment.label_smoothing)

    def evaluate(self, model, split, device, batch_size=256) -> dict[str, float]:
        return evaluate_centre_crops(model, split, self.config, device, batch_size, self.eval_inputs)


class FinetunePixels(Finetune):
    """The pixel baselines (pvit_*, cnn_*): uint8 images, `PixelPolicy` crops of `pixel_crop(config)` pixels (the token
    model's patch grid), flips and the same label mixing."""

    name = "finetune-pixels"
    kind = "pixels"

    def check_grid(self, d: Split) -> None:
        if min(d.grid) < pixel_crop(self.config):
            raise TrainSetupError(f"{d.source}: {d.grid[0]} x {d.grid[1]} images are smaller than the "
                                  f"{pixel_crop(self.config)} pixel crop")

    def uses_codes(self) -> bool:
        return False

    def model_args(self, data: Split) -> dict:
        m = self.config.model
        return dict(num_classes=data.num_classes, drop_path_rate=m.drop_path, global_pool=m.global_pool,
                    img_size=pixel_crop(self.config))

    def create_model(self, args: dict, codes: torch.Tensor | None = None) -> nn.Module:
        return create_model(self.config.model.name, **args)

    def batch_transform(self, data, codes, tokenadapt) -> PixelPolicy:
        aug = self.config.augment
        return PixelPolicy(data.num_classes, pixel_crop(self.config), min_scale=aug.min_scale, mixup=aug.mixup,
                           cutmix=aug.cutmix)

    def eval_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 images (B, H, W, 3) -> the model's input: centre crops (B, 3, P, P), P = `pixel_crop`."""
        return centre_crop(pixels_to_input(x), pixel_crop(self.config))
