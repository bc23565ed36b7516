"""The package's shape: layered subpackages that import downwards only, no import inside a function,
no import cycle, modules a reader can finish, public names listed by every subpackage. One documented
exception: `seitpp.cli` builds the parser from itself and the package root, and imports the
commands (`seitpp.commands`, all of torch behind them) only once the arguments are read."""
import ast
import importlib
from dataclasses import fields, is_dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "seitpp"

# Lowest first. A module may import its own subpackage and any lower layer, nothing beside or above.
LAYERS = [
    {"seitpp", "seitpp.errors", "seitpp.files", "seitpp.schedule", "seitpp.checkpoint", "seitpp.device"},  # the foundation every layer uses
    {"seitpp.data"},
    {"seitpp.tokenizers"},
    {"seitpp.tokens"},
    {"seitpp.augment", "seitpp.models"},
    {"seitpp.engine"},
    {"seitpp.experiments"},
    {"seitpp.viz", "seitpp.commands"},
    {"seitpp.cli"},  # imports seitpp.commands at run time only (below)
    {"seitpp.__main__"},
]
SUBPACKAGES = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())
MAX_LINES = 600


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def unit(module: str) -> str:
    """The layer unit a module belongs to: its subpackage, or the module itself at the top level."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def layer(module: str) -> int:
    for i, units in enumerate(LAYERS):
        if unit(module) in units:
            return i
    raise AssertionError(f"{module} is in no layer of tests/test_architecture.py")


def seitpp_imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported seitpp module, line, at module level) for every import of the package in a file."""
    tree = ast.parse(path.read_text())
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "seitpp":
            targets = [node.module]
            if node.module == "seitpp":  # from seitpp import fast_mode / from seitpp import engine
                targets = [f"seitpp.{a.name}" if f"seitpp.{a.name}" in MODULES else "seitpp" for a in node.names]
            found += [(t, node.lineno, id(node) in top) for t in targets]
        elif isinstance(node, ast.Import):
            found += [(a.name, node.lineno, id(node) in top) for a in node.names if a.name.split(".")[0] == "seitpp"]
    return found


def test_every_module_is_in_a_layer_and_there_are_at_least_four_subpackages():
    assert len(SUBPACKAGES) >= 4, SUBPACKAGES
    for name in MODULES:
        layer(name)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_go_down_only_and_sit_at_the_top_of_the_module(name):
    for target, line, at_top in seitpp_imports(MODULES[name]):
        where = f"{MODULES[name].relative_to(PACKAGE.parent)}:{line} imports {target}"
        assert at_top, f"{where} inside a function or class: an import belongs at the top of the module"
        if unit(target) == unit(name) or layer(target) == layer(name) == 0:
            continue  # a module uses its own subpackage; the foundation's modules use each other (no cycle, below)
        assert layer(target) < layer(name), f"{where}, which is not below it ({LAYERS})"


def test_there_is_no_import_cycle():
    graph = {name: {t for t, _, _ in seitpp_imports(path) if t in MODULES and t != name}
             for name, path in MODULES.items()}
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycle = trail[trail.index(nxt):] + [nxt] if nxt in trail else [node, nxt]
                pytest.fail(f"import cycle: {' -> '.join(cycle)}")
            if nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_stay_short_enough_to_read(name):
    """The augmentations and the experiments are where a reader adds a piece: shorter still there;
    the figures are one module per chapter or topic, shorter again."""
    shorter = {"seitpp.augment.": 450, "seitpp.experiments.": 450, "seitpp.viz.": 300}
    most = next((n for prefix, n in shorter.items() if name.startswith(prefix)), MAX_LINES)
    count = len(MODULES[name].read_text().splitlines())
    assert count <= most, f"{MODULES[name].relative_to(PACKAGE.parent)} has {count} lines (at most {most})"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_imports_another_modules_private_name(name):
    """A name another module needs is part of its interface: public, without the underscore."""
    tree = ast.parse(MODULES[name].read_text())
    private = [(node.lineno, a.name) for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
               and (node.module or "").startswith("seitpp") for a in node.names if a.name.startswith("_")]
    assert not private, f"{MODULES[name].relative_to(PACKAGE.parent)} imports private names {private}"


@pytest.mark.parametrize("package", SUBPACKAGES)
def test_every_subpackage_lists_its_public_names(package):
    module = importlib.import_module(f"seitpp.{package}")
    names = getattr(module, "__all__", None)
    assert names, f"seitpp/{package}/__init__.py has no __all__"
    for name in names:
        assert not name.startswith("_"), f"seitpp.{package}.__all__ lists the private name {name}"
        assert hasattr(module, name), f"seitpp.{package}.__all__ lists {name}, which it does not define"


TASK_NAMES = {"pretrain", "finetune", "segment", "dct", "pixels", "tokens", "labels", "masks"}


def test_the_training_loop_names_no_task():
    """The loop takes a task; it never asks which one (no task or data-kind names, no `.task` / `.kind` tests)."""
    tree = ast.parse(MODULES["seitpp.engine.loop"].read_text())
    docstring = ast.get_docstring(tree, clean=False)
    named = [(node.lineno, node.value) for node in ast.walk(tree) if isinstance(node, ast.Constant)
             and isinstance(node.value, str) and node.value != docstring and node.value in TASK_NAMES]
    assert not named, f"seitpp/engine/loop.py names tasks: {named}"
    asked = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Compare)
             and any(isinstance(n, ast.Attribute) and n.attr in ("task", "kind", "targets_kind", "model")
                     for n in [node.left, *node.comparators])]
    assert not asked, f"seitpp/engine/loop.py compares a task, kind or model name on lines {asked}"
    text = MODULES["seitpp.engine.loop"].read_text()
    assert ".model.startswith(" not in text and "codebook_size is None" not in text



def _names_a_policy(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "policy") or (isinstance(node, ast.Name) and node.id == "policy")


@pytest.mark.parametrize("name", sorted(n for n in MODULES if not n.startswith("seitpp.augment")))
def test_no_policy_name_is_compared_outside_augment(name):
    """What a policy does is asked of its `seitpp.augment.registry.Policy` (needs_codes, plain,
    segments, uses_tokenadapt), so a new policy needs no branch in the engine or the experiments."""
    tree = ast.parse(MODULES[name].read_text())
    compared = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Compare)
                and any(_names_a_policy(n) for n in [node.left, *node.comparators])
                and not all(isinstance(op, (ast.In, ast.NotIn)) and isinstance(c, ast.Name) and c.id == "POLICIES"
                            for op, c in zip(node.ops, node.comparators))]  # a lookup in the registry is no branch
    assert not compared, f"{MODULES[name].relative_to(PACKAGE.parent)} compares a policy name on lines {compared}"


def test_the_policies_live_in_the_package():
    from seitpp.augment import POLICIES, create_policy
    assert {"none", "seit", "seitpp"} <= set(POLICIES) and create_policy("seitpp") is POLICIES["seitpp"]


def test_the_training_config_comes_in_small_named_parts():
    """A reader finds each setting in a named part (model, augment, optim, run, dct) of at most 15 fields."""
    from seitpp.engine import PARTS, TrainConfig
    assert {f.name for f in fields(TrainConfig)} == {"task", *PARTS}
    for name, part in PARTS.items():
        assert is_dataclass(part) and part.__dataclass_params__.frozen, f"part {name} is not a frozen dataclass"
        assert len(fields(part)) <= 15, f"part {name} ({part.__name__}) has {len(fields(part))} fields (at most 15)"


def test_the_command_line_parser_imports_nothing_heavy():
    """`python -m seitpp --help` answers at once: cli.py imports the standard library and the package root
    only, and reaches the commands through importlib in `main` (tests/test_predict.py runs it)."""
    tree = ast.parse(MODULES["seitpp.cli"].read_text())
    imported = {a.name.split(".")[0] for node in tree.body if isinstance(node, ast.Import) for a in node.names}
    imported |= {node.module for node in tree.body if isinstance(node, ast.ImportFrom)}
    assert imported <= {"__future__", "argparse", "importlib", "seitpp"}, imported
    assert 'import_module("seitpp.commands")' in MODULES["seitpp.cli"].read_text()
