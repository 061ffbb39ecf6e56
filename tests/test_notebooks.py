"""Notebook hygiene: outputs stripped (except reference cells nbval compares), one CI switch, teaching structure."""

import ast
import importlib
import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_the_seven_notebooks_exist_in_order():
    assert [p.name[:3] for p in NOTEBOOKS] == ["01_", "02_", "03_", "04_", "05_", "06_", "07_"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_clean(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    checked = 0
    for cell in nb.cells:
        assert cell.metadata == {}, f"{path.name}: cell metadata should be empty"
        if cell.cell_type != "code":
            continue
        if "# NBVAL_CHECK_OUTPUT" in cell.source:  # a reference for nbval: outputs and a count
            checked += 1
            assert cell.outputs and cell.execution_count == checked, f"{path.name}: reference cell {checked}"
        else:
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{path.name}: strip outputs from cell {cell.source[:40]!r}"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_teaching_structure(path):
    """Goals first; math; code that imports annkit (names that exist) and checks itself with asserts; the one SMOKE
    switch set in the first code cell and never reassigned; Summary, then Exercises, after the last code cell."""
    nb = nbformat.read(path, as_version=4)
    kinds = [cell.cell_type for cell in nb.cells]
    last_code = len(kinds) - 1 - kinds[::-1].index("code")
    headings = {
        line.strip(): i
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "markdown"
        for line in cell.source.splitlines()
        if line.startswith("#")
    }
    assert "**Learning goals**" in nb.cells[0].source, f"{path.name}: the first cell states the learning goals"
    assert last_code < headings.get("## Summary", -1) <= headings.get("## Exercises", -1), (
        f"{path.name}: '## Summary' then '## Exercises' after the last code cell"
    )
    markdown = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "markdown")
    assert re.search(r"\$[^$]*(\\[a-zA-Z]+|[=^_])[^$]*\$", markdown), f"{path.name} has no math"
    trees = [ast.parse(cell.source) for cell in nb.cells if cell.cell_type == "code"]
    nodes = [node for tree in trees for node in ast.walk(tree)]
    assert any(isinstance(node, ast.Assert) for node in nodes), f"{path.name} checks nothing"
    switch = [n for n in nodes if isinstance(n, ast.Assign | ast.AugAssign | ast.AnnAssign) and "SMOKE" in _names(n)]
    first = {id(node) for node in ast.walk(trees[0])}
    assert len(switch) == 1 and id(switch[0]) in first, f"{path.name}: SMOKE is set once, in the first code cell"
    assert ast.unparse(switch[0]) == "SMOKE = os.environ.get('ANNKIT_SMOKE') == '1'"
    imported = [n for n in nodes if isinstance(n, ast.ImportFrom) and (n.module or "").split(".")[0] == "annkit"]
    assert imported, f"{path.name} does not import annkit"
    for node in imported:
        module = importlib.import_module(node.module)
        missing = [alias.name for alias in node.names if not _importable(module, alias.name)]
        assert not missing, f"{path.name}: {node.module} has no {missing}"


def _names(assignment: ast.stmt) -> set[str]:
    """The plain names an assignment binds."""
    targets = assignment.targets if isinstance(assignment, ast.Assign) else [assignment.target]
    return {node.id for target in targets for node in ast.walk(target) if isinstance(node, ast.Name)}


def _importable(module, name: str) -> bool:
    """Whether ``from module import name`` works: an attribute or a submodule."""
    if hasattr(module, name):
        return True
    try:
        importlib.import_module(f"{module.__name__}.{name}")
    except ModuleNotFoundError:
        return False
    return True
