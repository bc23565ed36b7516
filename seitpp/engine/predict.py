"""What a fine-tuned classifier says about new images.

A run of `finetune` (tokens) or `baseline` (pixels) keeps in its checkpoint what it needs to read an
image: the task, the model, the description of its training data (kind, grid, class names, the
fingerprint of the tokenizer that made the tokens). `Predictor` decodes image files as `tokenize`
did (`seitpp.data.load_image`), tokenizes them with that tokenizer, takes the centre crop the run
was evaluated on and returns the top classes by name:

    Predictor.load("runs/finetune").predict(["cat.jpg", "dog.png"], k=3)
    # [[("cat", 0.91), ("dog", 0.05), ("fox", 0.02)], ...]
    predict("runs/finetune", ["photos/"])   # the same in one call, folders searched for images
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from seitpp.data.images import image_files, images_to_tensor, load_image
from seitpp.engine.loop import load_run
from seitpp.engine.task import Task
from seitpp.errors import TrainSetupError
from seitpp.tokenizers.vq import REFERENCE_DIR, VQTokenizer


@dataclass
class Predictor:
    """A classifier with what it reads: `tokenizer` (None for a pixel model), the image side, class names."""

    model: nn.Module
    task: Task
    tokenizer: VQTokenizer | None
    resolution: int  # images are decoded to resolution x resolution pixels, as the training data were
    classes: tuple[str, ...]
    batch_size: int = 64

    @classmethod
    def load(cls, run: str | Path, tokenizer: str | Path | None = None, device: str | torch.device = "cpu"
             ) -> Predictor:
        """The model of a finetune or baseline run (directory or checkpoint). A token model needs the tokenizer
        that made its training tokens: `tokenizer` (default: the reference), checked against the run's record."""
        model, task, data = load_run(run, device)
        if task.name not in ("finetune", "finetune-pixels"):
            raise TrainSetupError(f"{run}: a {task.name} run; predict takes a classifier (a finetune or baseline run)")
        names = data.get("classes")  # runs before class names were recorded have none: number them
        classes = tuple(names) if names else tuple(f"class {i}" for i in range(data["num_classes"]))
        if data["kind"] == "pixels":
            return cls(model, task, None, data["grid"][0], classes)
        vq = VQTokenizer.load(tokenizer or REFERENCE_DIR, device=device)
        made_by = data.get("tokenizer_hash")
        if made_by and vq.fingerprint() != made_by:
            raise TrainSetupError(f"{run}: trained on tokens of tokenizer {made_by}, but {tokenizer or REFERENCE_DIR} "
                                  f"is {vq.fingerprint()}; pass the tokenizer that made the training store with "
                                  f"--tokenizer")
        grid = vq.config.grid_size
        if [grid, grid] != list(data["grid"]):
            raise TrainSetupError(f"{run}: trained on {data['grid'][0]} x {data['grid'][1]} token grids, the "
                                  f"tokenizer makes {grid} x {grid}")
        return cls(model, task, vq, vq.config.resolution, classes)

    @torch.no_grad()
    def probabilities(self, images: np.ndarray) -> torch.Tensor:
        """uint8 images (N, R, R, 3), R = `resolution` -> class probabilities (N, classes), on the CPU."""
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (self.resolution, self.resolution, 3):
            raise ValueError(f"expected uint8 images (N, {self.resolution}, {self.resolution}, 3), got "
                             f"{images.dtype} {images.shape}; seitpp.data.load_image decodes a file so")
        device = next(self.model.parameters()).device
        probs = []
        for start in range(0, len(images), self.batch_size):
            batch = images[start:start + self.batch_size]
            x = self.tokenizer.tokenize(images_to_tensor(batch)) if self.tokenizer is not None \
                else torch.from_numpy(batch)  # ids (B, h, w), or the images (B, R, R, 3) of a pixel model
            probs.append(self.model(self.task.eval_inputs(x.to(device))).float().softmax(1).cpu())
        return torch.cat(probs)

    def predict(self, paths: list[str | Path], k: int = 3) -> list[list[tuple[str, float]]]:
        """Image files (or folders of them) -> for each image, its top `k` (class name, probability)."""
        files = image_files(paths)
        probs = self.probabilities(np.stack([load_image(f, self.resolution) for f in files]))
        top = probs.topk(min(k, probs.shape[1]), dim=1)
        return [[(self.classes[i], float(p)) for p, i in zip(ps.tolist(), ix.tolist())]
                for ps, ix in zip(top.values, top.indices)]


def predict(run: str | Path, paths: list[str | Path], k: int = 3, tokenizer: str | Path | None = None
            ) -> list[list[tuple[str, float]]]:
    """`Predictor.load(run, tokenizer).predict(paths, k)`: the top `k` classes of each image, by name."""
    return Predictor.load(run, tokenizer).predict(paths, k)
