"""The experiments behind the book's findings: one sweep runner and the `Experiment` it runs
(`sweep`), the recipes both sweeps train with (`recipe`), two experiments (`reproduce`, chapters 6, 7
and 9; `beyond`, chapter 8, with its presets in `beyond_presets`), the tables and verdicts they share (`tables`), and the scorecard of
every finding they judge (`scorecard`)."""

from seitpp.experiments import beyond, recipe, reproduce, scorecard, sweep, tables
from seitpp.experiments.beyond import Beyond
from seitpp.experiments.reproduce import Reproduce
from seitpp.experiments.sweep import RESULTS_FILE, SUMMARY_FILE, Cell, Experiment, run
from seitpp.experiments.tables import (
    Table,
    difference,
    format_table,
    gain_by_budget,
    judged,
    mean_over_seeds,
    mean_std,
    read_results,
    select,
    top1_and_loss,
    verdict,
)

__all__ = ["sweep", "recipe", "reproduce", "beyond", "tables", "scorecard", "Experiment", "Cell", "Reproduce", "Beyond", "run", "RESULTS_FILE", "SUMMARY_FILE",
           "read_results", "mean_over_seeds", "select", "mean_std", "top1_and_loss", "format_table", "Table", "difference", "gain_by_budget", "verdict", "judged"]
