"""Results tables as the book shows them: `format_table` gives a `Table`, plain text when printed and an
HTML table in a scrolling box in a notebook; the book serves the CSS that styles it; the chapters that
show results display their tables (never print them) and give every figure a numbered caption."""
import json
import re
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest
import yaml
from IPython.core.formatters import DisplayFormatter
from IPython.lib.pretty import pretty

from seitpp.experiments import Table, format_table

ROOT = Path(__file__).resolve().parents[1]
# The chapters whose results tables and figures follow the book's conventions (captions, displayed tables).
CHAPTERS = ("06_finetune_ablation", "07_budgets_robustness", "08_beyond_classification", "09_cuda_training",
            "90_reproduce_at_home", "95_scorecard")
FIGURE_PREFIXES = {"06": "fig-finetune-", "07": "fig-budgets-", "08": "fig-beyond-", "09": "fig-cuda-",
                   "90": "fig-home-", "95": "fig-score-"}

HEADER = ["method", "top-1 (%)", "points", "verdict"]
ROWS = [["SeiT <frozen> & co", "73.1 ± 1.2", "+4.0", "holds"], ["SeiT++", "-", "-1.5", "unclear"]]


def test_a_table_is_the_text_it_prints():
    table = format_table(HEADER, ROWS)
    assert isinstance(table, Table) and isinstance(table, str)
    assert table.splitlines()[0].startswith("method") and set(table.splitlines()[1]) == {"-"}
    assert "73.1 ± 1.2" in table and table.header == tuple(HEADER) and table.rows[1] == ("SeiT++", "-", "-1.5", "unclear")
    captioned = format_table(HEADER, ROWS, caption="the paper")
    assert captioned.splitlines()[0] == "the paper:" and captioned.splitlines()[1:] == table.splitlines()
    assert table.captioned("the paper") == captioned and captioned.caption == "the paper"


def test_html_is_one_table_in_a_scrolling_box():
    html = format_table(HEADER, ROWS, caption="a <caption>")._repr_html_()
    assert html.startswith('<div class="seitpp-table" style="overflow-x:auto">') and html.endswith("</div>")
    assert html.count("<table>") == 1 and html.count("<tr>") == 1 + len(ROWS)
    assert len(re.findall(r"<th[ >]", html)) == len(HEADER) and len(re.findall(r"<td[ >]", html)) == len(HEADER) * len(ROWS)
    assert "<caption>a &lt;caption&gt;</caption>" in html
    assert "SeiT &lt;frozen&gt; &amp; co" in html and "<frozen>" not in html  # cells are escaped


def test_html_right_aligns_number_columns_and_shades_verdicts():
    html = format_table(HEADER, ROWS)._repr_html_()
    cells = re.findall(r"<td( class=\"([^\"]*)\")?>([^<]*)</td>", html)
    classes = {text: cls for _, cls, text in cells}
    assert classes["SeiT &lt;frozen&gt; &amp; co"] == ""  # the first column holds labels, whatever they say
    assert classes["73.1 ± 1.2"] == "num" and classes["-"] == "num" and classes["-1.5"] == "num"
    assert classes["holds"] == "verdict-holds" and classes["unclear"] == "verdict-unclear"
    long_text = format_table(["a", "comparison"], [["x", "SeiT++ without MTM - SeiT, learned table"]])
    assert '<td class="long">' in long_text._repr_html_()


def test_ipython_shows_html_and_plain_text_shows_the_table():
    table = format_table(HEADER, ROWS)
    data, _ = DisplayFormatter().format(table)
    assert data["text/html"] == table._repr_html_()
    assert data["text/plain"] == str(table) == pretty(table)  # not a quoted string with \n in it


def test_display_outside_ipython_prints_the_text():
    code = ("from IPython.display import display; from seitpp.experiments import format_table; "
            "display(format_table(['a', 'bb'], [['x', 1]], caption='c'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["c:", "a  bb", "-----", "x   1"]


def test_the_book_serves_the_table_style():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["config"]
    assert ".ci/vendor" in config["html_static_path"]  # the widget manager stays served
    css = [name for name in config["html_css_files"]]
    assert css and all(any((ROOT / d / name).is_file() for d in config["html_static_path"] if d != ".ci/vendor")
                       for name in css)
    style = (ROOT / "book" / "_static" / "tables.css").read_text()
    assert "div.seitpp-table" in style and "overflow-x: auto" in style


def _cells(chapter: str) -> list[dict]:
    return [c for c in jupytext.read(ROOT / "notebooks" / f"{chapter}.py").cells if c.cell_type == "code"]


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_results_tables_are_displayed_not_printed(chapter):
    source = "\n".join(c.source for c in _cells(chapter))
    printed = re.findall(r"print\(\s*(?:format_table|\w+_table)\(", source)
    assert not printed, f"{chapter}: print a table and the page shows it as cut-off text; display() it"


FIGURE = re.compile(r"plt\.subplots\(|plt\.figure\(|_figure\(|image_grid\(")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_figure_cell_has_a_numbered_caption(chapter):
    prefix = FIGURE_PREFIXES[chapter[:2]]
    for cell in _cells(chapter):
        if not FIGURE.search(cell.source):
            continue
        assert len(FIGURE.findall(cell.source)) == 1, f"{chapter}: one figure per captioned cell\n{cell.source}"
        figure = cell.metadata.get("mystnb", {}).get("figure", {})
        assert figure.get("caption") and figure.get("name", "").startswith(prefix), \
            f"{chapter}: a figure cell without a caption named {prefix}...\n{cell.source[:200]}"


def test_figure_names_are_unique_and_referenced_ones_exist():
    names = [c.metadata["mystnb"]["figure"]["name"] for chapter in CHAPTERS for c in _cells(chapter)
             if "figure" in c.metadata.get("mystnb", {})]
    assert len(names) == len(set(names)), "two figures share a name"
    text = "\n".join((ROOT / "notebooks" / f"{chapter}.py").read_text() for chapter in CHAPTERS)
    for name in re.findall(r"\{numref\}`([^`<]+)`", text):
        assert name in names, f"{{numref}} to {name}, which no figure is named"


def test_the_ipynb_keeps_the_caption_metadata():
    for chapter in CHAPTERS:
        nb = json.loads((ROOT / "notebooks" / f"{chapter}.ipynb").read_text())
        in_ipynb = [c["metadata"]["mystnb"]["figure"]["name"] for c in nb["cells"]
                    if "figure" in c.get("metadata", {}).get("mystnb", {})]
        in_py = [c.metadata["mystnb"]["figure"]["name"] for c in _cells(chapter)
                 if "figure" in c.metadata.get("mystnb", {})]
        assert in_ipynb == in_py, f"{chapter}: run jupytext --sync"
