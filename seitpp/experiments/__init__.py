"""The experiments behind the book's findings: one sweep runner (`sweep`), two sweeps it runs
(`reproduce`, chapters 6, 7 and 9; `beyond`, chapter 8), the tables and verdicts both share
(`tables`), and the scorecard of every finding they judge (`scorecard`)."""

from seitpp.experiments import beyond, reproduce, scorecard, sweep, tables
from seitpp.experiments.sweep import RESULTS_FILE, SUMMARY_FILE, Sweep, run
from seitpp.experiments.tables import (
    Table,
    difference,
    format_table,
    judged,
    mean_over_seeds,
    mean_std,
    read_results,
    select,
    verdict,
)

__all__ = ["sweep", "reproduce", "beyond", "tables", "scorecard", "Sweep", "run", "RESULTS_FILE", "SUMMARY_FILE",
           "read_results", "mean_over_seeds", "select", "mean_std", "format_table", "Table", "difference", "verdict", "judged"]
