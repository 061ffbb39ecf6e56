"""The repository keeps its promises: CI runs the README's test command; dependencies have one source."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command():
    command = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert "pytest" in command and command in (ROOT / "README.md").read_text()


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
