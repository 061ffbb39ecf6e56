"""The repository keeps its promises: CI runs the README's test command; dependencies have one source."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command():
    command = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert "pytest" in command and command in (ROOT / "README.md").read_text()


def test_every_readme_command_parses():
    """Each ``annkit …`` line of the README's bash blocks is accepted by annkit's own CLI parser, and the ablation
    lines name known variants — a renamed flag or variant breaks this test, not a reader's copy-paste."""
    import re
    import shlex

    from annkit.cli import build_parser
    from annkit.engine.ablation import VARIANTS

    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    lines = [line for block in blocks for line in block.splitlines() if line.startswith("annkit ")]
    assert len(lines) >= 20, "the README's command blocks were not found"
    parser = build_parser()
    for line in lines:
        try:
            args = parser.parse_args(shlex.split(line, comments=True)[1:])
        except SystemExit:
            pytest.fail(f"README command does not parse: {line}")
        assert set(getattr(args, "variants", None) or ()) <= set(VARIANTS), line


def test_environment_yml_installs_from_pyproject():
    environment = (ROOT / "environment.yml").read_text()
    assert "-e .[notebooks,dev]" in environment
    for package in ("torch", "matplotlib", "numpy"):  # listed once, in pyproject.toml
        assert f"- {package}" not in environment


def test_every_data_file_is_ignored_but_the_readme():
    """Asked of git itself, not read off .gitignore: what git would leave out of a commit."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout of the repository")

    def ignored(path: str) -> bool:
        return subprocess.run(["git", "-C", str(ROOT), "check-ignore", "-q", "--no-index", path]).returncode == 0

    assert ignored("data/VOCdevkit/VOC2012/JPEGImages/a.jpg") and ignored("data/synthetic/synthetic.json")
    assert not ignored("data/README.md") and not ignored("annkit/data/voc.py")


def _package_imports() -> dict[str, set[str]]:
    """The import graph between annkit's top-level packages and modules, read from the source (AST)."""
    import ast

    graph: dict[str, set[str]] = {}
    for path in (ROOT / "annkit").rglob("*.py"):
        parts = path.relative_to(ROOT / "annkit").with_suffix("").parts
        unit = {"__main__": "cli", "__init__": None}.get(parts[0], parts[0])
        if unit is None:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module == "annkit":  # from annkit import models
                names = [f"annkit.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("annkit."):
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names if alias.name.startswith("annkit.")]
            for name in names:
                target = name.split(".")[1]
                if target != unit:
                    graph.setdefault(unit, set()).add(target)
    return graph


def test_the_architecture_page_states_the_import_graph_and_every_command():
    """ARCHITECTURE.md's package table names exactly what each package imports, and its command table every
    command group of ``annkit --help`` — so the page cannot drift from the code unnoticed."""
    import argparse

    from annkit.cli import build_parser

    page = (ROOT / "ARCHITECTURE.md").read_text()
    stated: dict[str, set[str]] = {}
    for line in page.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`annkit."):
            imports = {name.strip("` ") for name in cells[2].split(",")} - {"—", "all", ""}
            for unit in cells[0].replace("`", "").split(", "):
                stated[unit.removeprefix("annkit.")] = imports
    actual = _package_imports()
    for unit in set(actual) | set(stated):
        if unit == "cli":  # stated as "all"
            continue
        assert stated.get(unit) == actual.get(unit, set()), f"ARCHITECTURE.md row for annkit.{unit}"
    groups = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    listed = page[page.index("## Commands") : page.index("## How a sample flows")]
    assert all(f"annkit {name}" in listed or f"`{name}`" in listed for name in groups), sorted(groups)
