"""Notebook hygiene: outputs stripped (except reference cells nbval compares), one CI switch, teaching structure."""

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
    nb = nbformat.read(path, as_version=4)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    for heading in ("**Learning goals**", "## Summary", "## Exercises"):
        assert heading in markdown, f"{path.name} lacks {heading}"
    assert "$" in markdown, f"{path.name} has no math"
    assert "from annkit" in code and "assert " in code
    assert code.count('SMOKE = os.environ.get("ANNKIT_SMOKE") == "1"') == 1, "one switch, at the top"
