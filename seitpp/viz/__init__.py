"""Figures the book draws, plain matplotlib, by chapter: `gallery` (image grids, every chapter),
`compare` (side-by-side comparisons of an augmentation, chapters 2 to 4), `naive` (naive token
augmentation, chapter 2), `mtm` (masked token modeling, chapter 5), `findings` (the sweeps
against the paper: chapter 7 and the scorecard) and `beyond` (chapter 8's masks and tables). It sits at the top of the package, beside the
CLI: no other layer imports it, the notebooks do."""

from seitpp.viz.beyond import color_masks, dct_table, findings_table, inputs_table, segment_table, transfer_table
from seitpp.viz.compare import (
    ComparisonWidget,
    Panel,
    Render,
    comparison_figure,
    comparison_grid,
    comparison_player,
    token_panels,
)
from seitpp.viz.findings import VERDICT_COLOURS, budget_figure, scorecard_figure, storage_frontier_figure
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

__all__ = [
    # gallery
    "as_uint8", "hwc", "image_grid", "token_patches",
    # compare
    "Panel", "Render", "comparison_figure", "comparison_grid", "comparison_player", "ComparisonWidget", "token_panels",
    # naive
    "FLOOR_BAR", "floor_bars", "agreement_panels", "disagreement_figure", "flip_zoom_figure",
    # mtm
    "paper_gain_figure", "masking_figure", "ratio_histogram", "prediction_figure", "loss_figure", "scores_figure",
    "neighbours_figure",
    # findings
    "budget_figure", "storage_frontier_figure", "VERDICT_COLOURS", "scorecard_figure",
    # beyond
    "color_masks", "segment_table", "transfer_table", "inputs_table", "dct_table", "findings_table",
]
