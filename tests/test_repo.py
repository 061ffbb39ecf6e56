"""The repository keeps its promises: CI runs the README's test command; dependencies have one source."""

from pathlib import Path

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
    ignore = (ROOT / ".gitignore").read_text().splitlines()
    assert "data/*" in ignore and "!data/README.md" in ignore
