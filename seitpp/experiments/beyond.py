"""Beyond classification (chapter 8): segmentation from tokens, a second tokenizer, and DCT inputs,
as one resumable sweep (`python -m seitpp beyond --preset cpu --out DIR`).

Chapter 6's sweep (`seitpp.experiments.reproduce`) measures what SeiT++ adds to classification on the
reference tokens. This one asks whether it carries over, in three experiments on the same images
as that sweep's full budget (its class set and style; the first `train_images` of the train split,
the first `test_images` of the test split):

    segment   SeiT-style / SeiT++ segmenters (`seitpp.engine.segment`) on the reference tokens and the
              Shapes masks: mIoU and pixel accuracy on the test split
    transfer  chapter 6's classification recipe on the tokens of a second tokenizer of another
              kind, trained here: 8 x 8 tokens of 8 x 8 pixels from 1,024 codes, where the
              reference has 16 x 16 tokens of 4 x 4 pixels from 391: SeiT / SeiT++ without MTM /
              SeiT++, top-1
    dct       a DCT ViT (`seitpp.models.dct`) on JPEG's quantised 8 x 8 DCT levels instead of tokens:
              from scratch / from masked block pre-training / with the colour-statistics swap, top-1

A cell is one training run with one seed, then its evaluation. Some cells need a stage first, a
run made once (seed 0) and shared by every seed:

    mtm-reference   MTM on the reference tokens of the training images     -> segment SeiT++
                    (one per segmentation budget: mtm-reference-0.2143 on its first 429)
    tokenizer-f8    the second tokenizer, then its tokens of every image    -> every transfer cell
    mtm-f8          MTM on the second tokenizer's tokens (after tokenizer-f8) -> transfer SeiT++
    masked-dct      masked block modeling on the training levels            -> dct masked pre-training

Where SeiT++'s pieces need something that exists only for the reference tokenizer, it says so:
TokenAdapt is trained for the reference tokens only (chapter 3), so SeiT++ on the second
tokenizer's tokens warps its geometric half directly on the grid (the naive warp of chapter 2).

Storage. Every row carries `bytes_per_image`, what its input costs per training image: tokens as
a `.tokens` store (`seitpp.tokens.store`, file size / images), DCT levels as `seitpp.data.dct.to_bytes`
files. A segmentation set also stores its masks, whatever the input: `storage.csv` lists their PNG
size beside every input's and the pixels' own PNG size.

This module is the sweep's specification; `seitpp.experiments.sweep` runs it (resumable, stages
first, as chapter 6's). Beside `results.csv` and `summary.csv`: `storage.csv`, the bytes per image
of every input; `examples.npz`, the predicted masks of a few test images (seed 0, each segmentation
method) for the chapter's pictures; `tokenizer-f8/`, the second tokenizer, so the chapter can decode
its tokens. Stages resume from their checkpoints (masked block modeling, two minutes, restarts).
A stage trained again has other weights, so the runner refuses to retrain one that finished cells
read (`seitpp.experiments.sweep.check_stages_kept`): keep the work folder until a run is complete.

Cost of the `cpu` preset on a 2-core CPU, two workers of one thread each, measured beside other
jobs (so an idle machine is faster): the five stages about 25 minutes of wall; cells segmentation
190 to 230 s (SeiT-style) and 400 to 670 s (SeiT++, TokenAdapt on every batch), transfer 130 to
215 s, DCT 290 to 360 s, 7,000 s of cell time in all. About two hours of wall.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from seitpp.augment.tokenadapt import TokenAdapt
from seitpp.data.dct import bytes_per_image, encode
from seitpp.data.shapes import SHAPE_CLASSES, render_shapes
from seitpp.engine.config import TrainConfig, with_overrides
from seitpp.engine.loop import evaluate, train
from seitpp.engine.segment import (
    confusion_matrix,
    mean_iou,
    pixel_accuracy,
    predict_masks,
)
from seitpp.experiments.beyond_presets import EXPERIMENTS, PRESETS, BeyondPreset, beyond_preset
from seitpp.experiments.recipe import epochs_for
from seitpp.experiments.reproduce import Reproduce, sweep_preset
from seitpp.experiments.second_tokenizer import (
    SECOND_TOKENIZER_DIR,
    keep_second_tokenizer,
    second_tokens,
    train_second_tokenizer,
)
from seitpp.experiments.sweep import Cell, Experiment, read_arrays, write_arrays
from seitpp.experiments.tables import judge_pairs, select
from seitpp.files import ARTEFACTS, atomic_path, write_csv
from seitpp.tokenizers.vq import VQTokenizer
from seitpp.tokens.footprint import encoded_bytes
from seitpp.tokens.split import Split
from seitpp.tokens.store import write_store

EXAMPLES_FILE, STORAGE_FILE = "examples.npz", "storage.csv"
# The committed run of the cpu preset: python -m seitpp beyond --preset cpu --out seitpp/artefacts/beyond-cpu
REFERENCE_RESULTS = ARTEFACTS / "beyond-cpu"
METRICS = ("miou", "pixel_acc", "top1")  # fractions in [0, 1]; blank where an experiment has no such metric
RESULT_COLUMNS = ("experiment", "method", "budget", "seed", "train_images", "bytes_per_image", "train_bytes", *METRICS,
                  "train_loss", "steps", "seconds")
SUMMARY_COLUMNS = ("experiment", "method", "budget", "train_images", "bytes_per_image", "train_bytes", "seeds",
                   *(f"{m}_{stat}" for m in (*METRICS, "train_loss") for stat in ("mean", "std")))
NUM_CLASSES = len(SHAPE_CLASSES)
PAPER_SEGMENTATION_GAIN = 4.2  # mIoU points, SeiT++ over SeiT on ADE20k (the paper)

# -- the methods: what differs between them is only their own part --------------------------------

# Segmentation, trained by the engine (`seitpp.engine.train`, task "segment"). The SeiT analogue
# trains the encoder from scratch on tokens and masks moved together by flips and resized crops
# on the grid (what SeiT's crops do to tokens; policy "none"); SeiT++ starts from the MTM encoder,
# moves tokens through TokenAdapt with the release's whole geometry (affine chain included), and
# gives half of each batch the fine-tuning policy's appearance ops, Emb-Noise or ColorAdapt
# (policy "seitpp"). Both start their token table from the tokenizer's codes.
SEGMENT_METHODS: dict[str, dict] = {
    "SeiT-style": dict(config=dict(policy="none", affine_p=0.0)),
    "SeiT++": dict(config=dict(policy="seitpp"), tokenadapt=True, stage="mtm-reference"),
}
# The second tokenizer's tokens through chapter 6's recipe (`seitpp.experiments.reproduce`'s overrides per
# method); SeiT++ without MTM (a minute of the sweep) separates MTM from the augmentation.
TRANSFER_METHODS: dict[str, dict] = {
    "SeiT": dict(overrides=dict(policy="seit", stem="seit"), stage="tokenizer-f8"),
    "SeiT++ without MTM (naive warp)": dict(overrides=dict(policy="seitpp", stem="seitpp"), stage="tokenizer-f8"),
    "SeiT++ (naive warp)": dict(overrides=dict(policy="seitpp", stem="seitpp"), stage="mtm-f8", mtm=True),
}
# DCT inputs: the DCT ViT with SeiT++'s two ideas carried over, one at a time.
DCT_METHODS: dict[str, dict] = {
    "from scratch": dict(),
    "masked pre-training": dict(stage="masked-dct"),
    # the share ColorAdapt gets in SeiT++'s policy (half the batch, one batch in four)
    "colour swap": dict(color_swap=0.125),
}
METHODS = {"segment": SEGMENT_METHODS, "transfer": TRANSFER_METHODS, "dct": DCT_METHODS}
# The questions the findings ask: (question, experiment, method a, method b, metric, the paper's b - a);
# a segmentation question is asked at each of the preset's segmentation budgets
COMPARISONS = [
    ("segmentation", "segment", "SeiT-style", "SeiT++", "miou", PAPER_SEGMENTATION_GAIN),
    ("segmentation", "segment", "SeiT-style", "SeiT++", "pixel_acc", None),
    ("another tokenizer", "transfer", "SeiT", "SeiT++ (naive warp)", "top1", None),
    ("another tokenizer", "transfer", "SeiT++ without MTM (naive warp)", "SeiT++ (naive warp)", "top1", None),
    ("DCT inputs", "dct", "from scratch", "masked pre-training", "top1", None),
    ("DCT inputs", "dct", "from scratch", "colour swap", "top1", None),
]
STAGE_NEEDS = {"mtm-f8": "tokenizer-f8"}


def mtm_reference(budget: float) -> str:
    """The MTM stage on the reference tokens of a segmentation budget's training images."""
    return "mtm-reference" if budget == 1.0 else f"mtm-reference-{budget:.4f}"




# ----------------------------------------------------------------------------------------------
# The experiment


class Beyond(Experiment):
    """Chapter 8's three experiments as one sweep over `preset` (a `BeyondPreset`)."""

    tables = EXPERIMENTS
    group_by = ("experiment", "method", "budget")
    metrics = (*METRICS, "train_loss")
    result_columns, summary_columns = RESULT_COLUMNS, SUMMARY_COLUMNS
    stage_needs = STAGE_NEEDS

    def __init__(self, preset: BeyondPreset):
        super().__init__(preset)
        self.examples: dict[str, np.ndarray] = {}  # seed 0's predicted masks by method, for examples.npz

    @property
    def chapter6(self) -> Reproduce:
        """Chapter 6's sweep, whose images, recipe and MTM the transfer and segmentation cells share."""
        return Reproduce(sweep_preset(self.preset.recipe))

    @property
    def stages(self) -> tuple[str, ...]:
        """Every stage, longest first, each after the one it needs: one MTM run per segmentation budget."""
        return ("tokenizer-f8", *(mtm_reference(b) for b in sorted(self.preset.segment_budgets, reverse=True)),
                "masked-dct", "mtm-f8")

    def cells(self) -> list[Cell]:
        """Every cell, seed by seed: an interrupted sweep holds whole seeds of every table first."""
        cells = []
        for seed in self.preset.seeds:
            for experiment in self.preset.experiments:
                budgets = self.preset.segment_budgets if experiment == "segment" else (1.0,)
                for budget in budgets:
                    for method, spec in METHODS[experiment].items():
                        stage = spec.get("stage")
                        if stage == "mtm-reference":
                            stage = mtm_reference(budget)
                        cells.append(Cell(experiment, method, seed, budget, stage))
        return cells

    def learned_table(self, stem: str) -> dict:
        """Chapter 6's rule for a learned token table (stem "seitpp") in fine-tuning, e.g. frozen at the codes."""
        return dict(self.chapter6.preset.learned_table) if stem == "seitpp" else {}

    def segment_config(self, cell: Cell) -> TrainConfig:
        """The segmenters' run for this method, at the steps chapter 6's rule gives the cell's budget (the same
        steps at every budget: a small one sees its images more often), warming up for the same share of them."""
        base, sweep = self.preset.segment, self.chapter6.preset
        n, batch = self.preset.budget_images(cell.budget), base.optim.batch_size
        full_steps = base.run.epochs * (self.preset.train_images // batch)
        epochs = epochs_for(sweep.steps_at(full_steps, n), n, batch)
        method = METHODS["segment"][cell.method].get("config", {})
        return with_overrides(base, {**self.learned_table(base.model.stem), **method, "seed": cell.seed,
                                     "epochs": epochs, "warmup_epochs": base.run.warmup_epochs * epochs / base.run.epochs})

    def transfer_config(self, cell: Cell, grid: int) -> TrainConfig:
        """Chapter 6's fine-tuning recipe for this method (its table rule too), its crop the whole grid of the
        second tokenizer."""
        method = METHODS["transfer"][cell.method]["overrides"]
        overrides = {**self.learned_table(method["stem"]), **method, "crop": grid}
        return self.chapter6.finetune_config(overrides, cell.seed, self.preset.train_images)

    def dct_config(self, cell: Cell) -> TrainConfig:
        return with_overrides(self.preset.dct, dict(color_swap=METHODS["dct"][cell.method].get("color_swap", 0.0),
                                                    seed=cell.seed))

    # -- data: rendered, tokenized and encoded once, cached in the sweep's work folder
    def prepare(self, work: Path, progress: bool = True) -> dict:
        """Images, masks, labels, reference tokens and DCT levels of both splits -> `work/data.npz`.

        Byte table (`data["bytes"]`): "tokens" (the reference store), "dct" (levels as `to_bytes`),
        "masks" and "png" (one PNG file per mask, per image).
        """
        path, preset = work / "data.npz", self.preset
        if path.exists():
            return read_arrays(path)
        tokenizer = VQTokenizer.load()
        data, sizes = {"codebook_size": np.array(tokenizer.config.codebook_size)}, {}
        # "test_*" arrays hold the scored split: the test split, or the validation split for pilots
        for key, split, n in (("train", "train", preset.train_images), ("test", preset.score_split, preset.test_images)):
            rendered = render_shapes(n, split=split, progress=progress, **self.chapter6.preset.look)
            data[f"{key}_images"], data[f"{key}_masks"], data[f"{key}_labels"] = (
                rendered.images, rendered.masks, rendered.labels)
            data[f"{key}_tokens"] = tokenizer.tokenize_many(rendered.images).numpy().astype(np.int16)
            data[f"{key}_dct"] = encode(rendered.images, preset.dct.dct.quality).numpy()
        store = work / "reference.tokens"
        write_store(store, data["train_tokens"], data["train_labels"], codebook_size=tokenizer.config.codebook_size,
                    num_classes=NUM_CLASSES, tokenizer_hash=tokenizer.fingerprint())
        sizes["tokens"] = store.stat().st_size / preset.train_images
        sizes["dct"] = bytes_per_image(torch.from_numpy(data["train_dct"]))
        sizes["masks"] = float(np.mean([encoded_bytes(m, "PNG") for m in data["train_masks"]]))
        sizes["png"] = float(np.mean([encoded_bytes(im, "PNG") for im in data["train_images"]]))
        return write_arrays(path, data, sizes)

    # -- stages and cells (each in a worker process)
    def run_stage(self, stage: str, work: Path) -> None:
        """Run (or resume, or find done) one stage, into `work/<stage>`."""
        data = self.prepare(work, progress=False)
        n = self.preset.train_images
        if stage.startswith("mtm-reference"):
            budget = next(b for b in self.preset.segment_budgets if mtm_reference(b) == stage)
            m = self.preset.budget_images(budget)
            train(self.chapter6.pretrain_config(m), _token_data(data["train_tokens"][:m], data["train_labels"][:m],
                                                              int(data["codebook_size"]), "reference tokens"),
                  out_dir=work / stage, progress=False)
        elif stage == "tokenizer-f8":
            train_second_tokenizer(self.preset.tokenizer, work, data, NUM_CLASSES)
        elif stage == "mtm-f8":
            second = second_tokens(work)
            cfg = with_overrides(self.chapter6.pretrain_config(n), dict(crop=second["train_tokens"].shape[-1]))
            train(cfg, _token_data(second["train_tokens"], data["train_labels"], int(second["codebook_size"]),
                                   "f8 tokens"),
                  out_dir=work / stage, tokenizer=VQTokenizer.load(work / SECOND_TOKENIZER_DIR), progress=False)
        elif stage == "masked-dct":
            train(self.preset.dct_pretrain, _dct_data(data, "train"), out_dir=work / stage, progress=False)  # resumes
        else:
            super().run_stage(stage, work)

    def run_cell(self, cell: Cell, work: Path) -> dict:
        """Train one cell and evaluate it on the test split -> its results row (and, for a segmenter of
        seed 0, its predicted masks of the first `examples` test images under "masks")."""
        data = self.prepare(work, progress=False)
        started = time.perf_counter()
        row = {"experiment": cell.experiment, "method": cell.method, "budget": cell.budget, "seed": cell.seed,
               "train_images": self.preset.budget_images(cell.budget)}
        row |= {"segment": self._segment_cell, "transfer": self._transfer_cell, "dct": self._dct_cell}[
            cell.experiment](cell, work, data)
        row["train_bytes"] = round(row["bytes_per_image"] * row["train_images"])
        row["seconds"] = round(time.perf_counter() - started, 1)
        return row

    def _segment_cell(self, cell: Cell, work: Path, data: dict) -> dict:
        cfg = self.segment_config(cell)
        train_set = _segmentation(data, "train", self.preset.budget_images(cell.budget))
        uses_tokenadapt = METHODS["segment"][cell.method].get("tokenadapt")
        result = train(cfg, train_set, tokenadapt=TokenAdapt.load() if uses_tokenadapt else None,
                       init=work / cell.stage if cell.stage else None, progress=False)
        masks = torch.from_numpy(data["test_masks"])
        predicted = predict_masks(result.model, torch.from_numpy(data["test_tokens"]), tuple(masks.shape[1:]))
        confusion = confusion_matrix(predicted, masks, train_set.num_classes)
        row = {"miou": round(mean_iou(confusion), 4), "pixel_acc": round(pixel_accuracy(confusion), 4),
               "bytes_per_image": round(data["bytes"]["tokens"], 1),
               "train_loss": round(result.history[-1]["loss"], 4), "steps": result.steps}
        if cell.seed == self.preset.seeds[0] and cell.budget == 1.0:
            row["masks"] = predicted[:self.preset.examples].numpy()
        return row

    def _transfer_cell(self, cell: Cell, work: Path, data: dict) -> dict:
        second = second_tokens(work)
        K, grid = int(second["codebook_size"]), second["train_tokens"].shape[-1]
        cfg = self.transfer_config(cell, grid)
        result = train(cfg, _token_data(second["train_tokens"], data["train_labels"], K, "f8 train"),
                       tokenizer=VQTokenizer.load(work / SECOND_TOKENIZER_DIR), init=work / cell.stage
                       if cell.stage == "mtm-f8" else None, progress=False)
        test = _token_data(second["test_tokens"], data["test_labels"], K, "f8 test")
        return {"top1": round(evaluate(result.model, test, cfg)["val_top1"], 4),
                "bytes_per_image": round(second["bytes"]["tokens"], 1),
                "train_loss": round(result.history[-1]["loss"], 4), "steps": result.steps}

    def _dct_cell(self, cell: Cell, work: Path, data: dict) -> dict:
        cfg = self.dct_config(cell)
        result = train(cfg, _dct_data(data, "train"), init=work / cell.stage if cell.stage else None, progress=False)
        top1 = evaluate(result.model, _dct_data(data, "test"), cfg)["val_top1"]
        return {"top1": round(top1, 4), "bytes_per_image": round(data["bytes"]["dct"], 1),
                "train_loss": round(result.history[-1]["loss"], 4), "steps": result.steps}

    # -- in this process: the examples, the second tokenizer and the storage table
    def run(self, out: str | Path, workers: int | None = None, progress: bool = True,
            on_progress: Callable[[list[dict], int], None] | None = None) -> list[dict]:
        """Run every cell not yet in `out/results.csv` -> all rows; writes results, summary, storage and examples."""
        self.examples = _read_examples(Path(out))
        return super().run(out, workers, progress, on_progress)

    def keep(self, row: dict) -> dict:
        """Seed 0's predicted masks go from its segmentation rows into `examples` (by method)."""
        if "masks" in row:
            self.examples[row["method"]] = row.pop("masks")
        return row

    def stage_done(self, stage: str, out: Path) -> None:
        if stage == "tokenizer-f8":
            keep_second_tokenizer(out / "work", out)

    def write_more(self, rows: list[dict], out: Path) -> None:
        """`storage.csv`, and `examples.npz` once a segmentation cell has given its masks."""
        data = self.prepare(out / "work", progress=False)
        write_csv(storage_rows(data, self.preset, out / "work"), out / STORAGE_FILE)
        if self.examples:
            n = self.preset.examples
            arrays = {"ids": data["test_tokens"][:n], "masks": data["test_masks"][:n], "labels": data["test_labels"][:n]}
            arrays |= {f"pred:{method}": masks for method, masks in self.examples.items()}
            with atomic_path(out / EXAMPLES_FILE) as tmp, open(tmp, "wb") as f:
                np.savez_compressed(f, **arrays)

    def findings(self, summary: list[dict]) -> list[dict]:
        """Does SeiT++'s gain carry over? Each difference the paper's claim says is positive, in points,
        against the spread over seeds (`seitpp.experiments.tables.verdict`). Missing cells are skipped."""
        pairs = []
        for name, experiment, a, b, metric, paper in COMPARISONS:
            budgets = budgets_of(summary, experiment)
            for budget in budgets:
                rows = by_method(summary, experiment, budget)
                at = f", {rows[a]['train_images']} images" if len(budgets) > 1 and a in rows else ""
                pairs.append((name, f"{b} - {a} ({metric}{at})", rows.get(a), rows.get(b), metric, paper))
        return judge_pairs(pairs)


def _segmentation(data: dict, split: str, n: int | None = None) -> Split:
    """The first n images of a split (all of them by default) as a segmentation set."""
    return Split(torch.from_numpy(data[f"{split}_tokens"][:n]), torch.from_numpy(data[f"{split}_masks"][:n]),
                 NUM_CLASSES + 1, int(data["codebook_size"]), f"beyond {split} (segmentation)", targets_kind="masks")


def _token_data(ids: np.ndarray, labels: np.ndarray, codebook_size: int, source: str) -> Split:
    return Split(torch.from_numpy(ids), torch.from_numpy(labels), NUM_CLASSES, codebook_size, source)


def _dct_data(data: dict, split: str) -> Split:
    return Split(torch.from_numpy(data[f"{split}_dct"]), torch.from_numpy(data[f"{split}_labels"]), NUM_CLASSES,
                 source=f"beyond {split} (DCT levels)", kind="dct")


def all_background(masks: np.ndarray | torch.Tensor, num_classes: int = NUM_CLASSES + 1) -> dict[str, float]:
    """The scores of predicting background (0) everywhere on masks (N, Hm, Wm): the floor a segmenter must beat."""
    masks = torch.as_tensor(masks)
    confusion = confusion_matrix(torch.zeros_like(masks), masks, num_classes)
    return {"miou": mean_iou(confusion), "pixel_acc": pixel_accuracy(confusion)}


def _read_examples(out: Path) -> dict[str, np.ndarray]:
    """Predicted masks by method from `examples.npz` (empty when there is none yet)."""
    if not (out / EXAMPLES_FILE).exists():
        return {}
    return {k.removeprefix("pred:"): v for k, v in read_examples(out).items() if k.startswith("pred:")}


def storage_rows(data: dict, preset: BeyondPreset, work: Path) -> list[dict]:
    """Bytes per training image of every input the sweep stores (the second tokenizer's once it exists)."""
    sizes = data["bytes"]
    rows = [{"input": "pixels (PNG)", "bytes_per_image": sizes["png"]},
            {"input": f"DCT levels (JPEG quality {preset.dct.dct.quality})", "bytes_per_image": sizes["dct"]},
            {"input": f"reference tokens ({'x'.join(map(str, data['train_tokens'].shape[1:]))}, "
                      f"K {int(data['codebook_size'])})", "bytes_per_image": sizes["tokens"]}]
    if (work / "tokens-f8.npz").exists():
        second = second_tokens(work)
        rows.append({"input": f"f8 tokens ({'x'.join(map(str, second['train_tokens'].shape[1:]))}, "
                              f"K {int(second['codebook_size'])})", "bytes_per_image": second["bytes"]["tokens"]})
    rows.append({"input": "segmentation masks (PNG)", "bytes_per_image": sizes["masks"]})
    return [r | {"bytes_per_image": round(float(r["bytes_per_image"]), 1)} for r in rows]


def budgets_of(summary: list[dict], experiment: str) -> list[float]:
    """The budgets an experiment's summary rows hold, largest first (1.0 for a summary without budgets)."""
    return sorted({float(r.get("budget", 1.0)) for r in select(summary, experiment)}, reverse=True)


def by_method(summary: list[dict], experiment: str, budget: float = 1.0) -> dict[str, dict]:
    """Method -> summary row of one experiment at one budget (the full one by default), in the order of its METHODS."""
    rows = {r["method"]: r for r in select(summary, experiment) if abs(float(r.get("budget", 1.0)) - budget) < 1e-3}
    return {m: rows[m] for m in METHODS[experiment] if m in rows}


def read_examples(out: str | Path) -> dict[str, np.ndarray]:
    """`examples.npz` of a run: ids (N, H, W), masks (N, Hm, Wm), labels (N,), and predicted masks by method."""
    path = Path(out) / EXAMPLES_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such examples file (the sweep writes it after a segmentation cell)")
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}
