"""Every chapter's exercises come with help a reader opens when they want it: after "## Exercises",
each numbered exercise is followed, before the next one starts, by a collapsed hint and a collapsed
expected result (MyST `{dropdown}` directives, from sphinx-design, which Jupyter Book loads).

Read from the notebooks' `.py` sources, the files that are edited (the `.ipynb` pair is checked
against them by tests/test_book.py)."""
import re
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parents[1]
# Every chapter with an "## Exercises" section: each exercise has its hint and expected result
WITH_HINTS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.py") if "\n# ## Exercises\n" in p.read_text())
EXERCISE = re.compile(r"^(\d+)\. ")  # an exercise: a numbered item at the left margin
DROPDOWN = re.compile(r"^\s+:::\{dropdown\} (.+?)\s*$")  # a dropdown inside the item: indented


def exercises(name: str) -> dict[int, list[str]]:
    """The Exercises section of notebooks/<name>.py -> exercise number -> the titles of its dropdowns."""
    cells = jupytext.read(ROOT / "notebooks" / f"{name}.py").cells
    text = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    _, found, section = text.partition("\n## Exercises\n")
    assert found, f"{name}: no '## Exercises' section"
    section = re.split(r"\n#{1,2} ", section)[0]  # up to the next heading of the same or a higher level
    items: dict[int, list[str]] = {}
    for line in section.splitlines():
        if (start := EXERCISE.match(line)) is not None:
            items[int(start[1])] = []
        elif (dropdown := DROPDOWN.match(line)) is not None:
            assert items, f"{name}: a dropdown before the first exercise: {line.strip()}"
            items[max(items)].append(dropdown[1])
    return items


@pytest.mark.parametrize("name", WITH_HINTS)
def test_every_exercise_has_a_hint_and_an_expected_result(name):
    items = exercises(name)
    assert list(items) == list(range(1, len(items) + 1)), f"{name}: exercises numbered {list(items)}"
    for number, dropdowns in items.items():
        assert dropdowns.count("Hint") == 1, f"{name}, exercise {number}: dropdowns {dropdowns}, want one 'Hint'"
        assert dropdowns.count("Expected result") == 1, \
            f"{name}, exercise {number}: dropdowns {dropdowns}, want one 'Expected result'"
        assert set(dropdowns) <= {"Hint", "Expected result", "Solution"}, f"{name}, exercise {number}: {dropdowns}"
        assert dropdowns[0] == "Hint", f"{name}, exercise {number}: the hint comes first, got {dropdowns}"


@pytest.mark.parametrize("name", WITH_HINTS)
def test_a_solution_is_a_code_block_inside_its_dropdown(name):
    """A solution is read, not run: a fenced code block inside the dropdown, never an executed cell."""
    text = (ROOT / "notebooks" / f"{name}.py").read_text()
    for block in re.findall(r"^#\s+:::\{dropdown\} Solution\n(.*?)^#\s+:::$", text, re.M | re.S):
        assert re.search(r"^#\s+```python$", block, re.M), f"{name}: a Solution dropdown without a python block"


def test_the_list_names_every_numbered_chapter_but_the_back_matter():
    assert len(WITH_HINTS) >= 10 and "01_tokenization" in WITH_HINTS and "95_scorecard" in WITH_HINTS
