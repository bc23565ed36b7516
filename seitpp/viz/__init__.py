"""Figures the book draws, plain matplotlib, by chapter: `gallery` (image grids, every chapter),
`tokenization` (images as tokens, chapter 1; its storage bars serve chapter 8 too), `compare`
(side-by-side comparisons of an augmentation, chapters 2 to 4), `naive` (naive token augmentation,
chapter 2), `tokenadapt` (chapter 3), `coloradapt` (ColorAdapt and Emb-Noise, chapter 4), `mtm`
(masked token modeling, chapter 5), `finetune` (the fine-tuning sweep, chapter 6), `findings` (the
sweeps against the paper: chapter 7 and the scorecard), `beyond` (chapter 8's masks and tables) and
`cuda` (what runs cost on a machine: chapters 9 and 90). It sits at the top of the package, beside
the CLI: no other layer imports it, the notebooks do."""

from seitpp.viz.beyond import color_masks, dct_table, findings_table, inputs_table, segment_table, transfer_table
from seitpp.viz.coloradapt import embnoise_curves, vs_pixels_figure
from seitpp.viz.compare import (
    ComparisonWidget,
    Panel,
    Render,
    comparison_figure,
    comparison_grid,
    comparison_player,
    token_panels,
)
from seitpp.viz.cuda import chapter_times_figure, gpu_curves_figure, launched_runs_figure, loader_figure
from seitpp.viz.findings import (
    VERDICT_COLOURS,
    budget_figure,
    drops_figure,
    scorecard_figure,
    storage_frontier_figure,
)
from seitpp.viz.finetune import ablation_figure, budget_lines_figure, finetune_curves_figure, mtm_logs_figure
from seitpp.viz.gallery import as_uint8, hwc, image_grid, token_patches
from seitpp.viz.mtm import (
    loss_figure,
    masking_figure,
    neighbours_figure,
    paper_gain_figure,
    prediction_figure,
    ratio_histogram,
    scores_figure,
)
from seitpp.viz.naive import FLOOR_BAR, agreement_panels, disagreement_figure, flip_zoom_figure, floor_bars
from seitpp.viz.tokenadapt import live_run_figure, reference_log_figure, strength_figure
from seitpp.viz.tokenization import (
    classifier_figure,
    code_use_figure,
    codebook_size_figure,
    storage_bars,
    tokenizer_training_figure,
)

__all__ = [
    # gallery
    "as_uint8", "hwc", "image_grid", "token_patches",
    # tokenization
    "tokenizer_training_figure", "code_use_figure", "codebook_size_figure", "storage_bars", "classifier_figure",
    # compare
    "Panel", "Render", "comparison_figure", "comparison_grid", "comparison_player", "ComparisonWidget", "token_panels",
    # naive
    "FLOOR_BAR", "floor_bars", "agreement_panels", "disagreement_figure", "flip_zoom_figure",
    # tokenadapt
    "live_run_figure", "reference_log_figure", "strength_figure",
    # coloradapt
    "vs_pixels_figure", "embnoise_curves",
    # mtm
    "paper_gain_figure", "masking_figure", "ratio_histogram", "prediction_figure", "loss_figure", "scores_figure",
    "neighbours_figure",
    # finetune
    "mtm_logs_figure", "finetune_curves_figure", "ablation_figure", "budget_lines_figure",
    # findings
    "budget_figure", "storage_frontier_figure", "drops_figure", "VERDICT_COLOURS", "scorecard_figure",
    # beyond
    "color_masks", "segment_table", "transfer_table", "inputs_table", "dct_table", "findings_table",
    # cuda
    "launched_runs_figure", "loader_figure", "gpu_curves_figure", "chapter_times_figure",
]
