"""annkit quickstart: the whole pipeline (data → two trainings → evaluation → report) on a tiny synthetic set."""

from __future__ import annotations

import json

import pytest

from annkit.cli import main as cli
from annkit.data import SynthConfig, write_synthetic
from annkit.engine import TrainingError
from annkit.engine.launch import train_runs

TINY = SynthConfig(size=48, cue_size=6, cue_distance=6, object_min=6, object_max=12, min_objects=1,
                   max_objects=2, num_train=16, num_val=3)


def test_quickstart_writes_the_report(tmp_path):
    write_synthetic(tmp_path / "data" / "synthetic", TINY)
    out = tmp_path / "quick"
    assert cli(["quickstart", "--out", str(out), "--data-root", str(tmp_path / "data"), "--iterations", "2",
                "--no-progress", "--threads", "1"]) == 0
    for name in ("report.md", "learning_curves.png", "samples.png", "attention.png", "results.json"):
        assert (out / name).stat().st_size > 0, name
    results = json.loads((out / "results.json").read_text())
    assert set(results["models"]) == {"ANN (AFNB + APNB)", "local baseline (FCN)"}
    assert all(0 <= entry["miou"] <= 1 for entry in results["models"].values())
    assert "local ceiling" in (out / "report.md").read_text()


def test_train_runs_reports_a_failed_run_with_its_log(tmp_path):
    runs = {tmp_path / "misspelt": ("tiny_ann", {"train.iteratons": 1})}
    with pytest.raises(TrainingError, match=r"misspelt failed \(exit code 2\)(.|\n)*did you mean train.iterations"):
        train_runs(runs, 1, workers=1, progress=False)
    with pytest.raises(ValueError, match="workers must be at least 1, got 0"):
        train_runs(runs, 1, workers=0, progress=False)
