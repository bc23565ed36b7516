"""The notebooks and the book: Jupytext pairs in sync, no committed outputs, and the whole book
built in fast mode with warnings as errors, which executes every notebook."""
import json
from pathlib import Path

import jupytext
import pytest
from jupytext.compare import compare_notebooks

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))
NAMES = [p.stem for p in NOTEBOOKS]


def test_there_are_notebooks():
    assert NAMES, "no notebooks/*.py found"


@pytest.mark.parametrize("name", NAMES)
def test_pair_is_in_sync(name):
    py = jupytext.read(ROOT / "notebooks" / f"{name}.py")
    ipynb_path = ROOT / "notebooks" / f"{name}.ipynb"
    assert ipynb_path.exists(), f"{ipynb_path} is missing: run jupytext --sync notebooks/{name}.py"
    ipynb = jupytext.read(ipynb_path)
    compare_notebooks(ipynb, py, fmt="py:percent")  # raises with a diff when the pair differs


@pytest.mark.parametrize("name", NAMES)
def test_ipynb_is_committed_without_outputs(name):
    nb = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, f"{name}.ipynb has outputs"


@pytest.mark.parametrize("name", [n for n in NAMES if n < "90"])  # the numbered chapters
def test_a_chapter_opens_with_what_it_teaches(name):
    first = next(c for c in jupytext.read(ROOT / "notebooks" / f"{name}.py").cells if c.cell_type == "markdown")
    title, *rest = first.source.splitlines()
    assert title.startswith("# ") and rest[1] == ":::{admonition} What you will learn" and rest[2].startswith("- ")


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_in_the_toc(name):
    assert f"notebooks/{name}" in (ROOT / "_toc.yml").read_text()


@pytest.mark.slow
def test_book_builds(built_book):
    assert (built_book / "index.html").exists()
    assert "SeiT++" in (built_book / "book" / "intro.html").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_executes_in_fast_mode(built_book, name):
    page = built_book / "notebooks" / f"{name}.html"
    assert page.exists(), f"{page} was not built"
    html = page.read_text()
    assert "Traceback" not in html, f"{name}: a cell raised"
    assert html.count("<img") >= 1, f"{name} shows no figure"
    executed = built_book.parent / "jupyter_execute" / "notebooks" / f"{name}.ipynb"
    nb = json.loads(executed.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c["execution_count"] is not None for c in code), f"{name}: not every cell ran"
