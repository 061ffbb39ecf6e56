"""annkit quickstart: the whole pipeline (data → two trainings → evaluation → report) on a tiny synthetic set."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import SMALL

from annkit.cli import main as cli
from annkit.data import write_synthetic
from annkit.engine import TrainingError
from annkit.engine.launch import train_runs

TINY = replace(SMALL, num_train=16)  # the tests' tiny set (helpers.SMALL) with 16 training images


def test_quickstart_writes_the_report(tmp_path):
    write_synthetic(tmp_path / "data" / "synthetic", TINY)
    out = tmp_path / "quick"
    assert (
        cli(
            [
                "quickstart",
                "--out",
                str(out),
                "--data-root",
                str(tmp_path / "data"),
                "--iterations",
                "2",
                "--no-progress",
                "--threads",
                "1",
            ]
        )
        == 0
    )
    for name in ("report.md", "learning_curves.png", "samples.png", "attention.png", "results.json"):
        assert (out / name).stat().st_size > 0, name
    results = json.loads((out / "results.json").read_text())
    assert set(results["models"]) == {"ANN (AFNB + APNB)", "local baseline (FCN)"}
    report = (out / "report.md").read_text()
    for label, entry in results["models"].items():  # the report states what the evaluation measured
        present = [iou for iou in entry["iou"].values() if iou == iou]  # classes absent from 3 images are NaN
        assert entry["miou"] == pytest.approx(sum(present) / len(present))
        assert f"| {label} (`{entry['preset']}`) | **{entry['miou']:.3f}** |" in report
    meta = json.loads((tmp_path / "data" / "synthetic" / "synthetic.json").read_text())
    assert results["local_ceiling"] == meta["val_local_ceiling"] and f"{meta['val_local_ceiling']:.3f}" in report


def test_train_runs_reports_a_failed_run_with_its_log(tmp_path, monkeypatch):
    """A training that fails: the launcher raises with its exit code and the end of its log. The training is a
    stand-in interpreter that prints the command it was given and exits 2 as ``annkit train`` does on a misspelt
    key (that error itself: ``test_engine``), so no torch is imported to see the launcher report it."""
    interpreter = tmp_path / "python"
    interpreter.write_text('#!/bin/sh\necho "annkit: error: unknown config key in: $*" >&2\nexit 2\n')
    interpreter.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(interpreter))
    runs = {tmp_path / "misspelt": ("tiny_ann", {"train.iteratons": 1})}
    log = r"(.|\n)*annkit: error: unknown config key in: -m annkit train --preset tiny_ann .*train.iteratons=1"
    with pytest.raises(TrainingError, match=r"misspelt failed \(exit code 2\)" + log):
        train_runs(runs, 1, workers=1, progress=False)
    with pytest.raises(ValueError, match="workers must be at least 1, got 0"):
        train_runs(runs, 1, workers=0, progress=False)


def _trainings(pid: int) -> list[int]:
    """The child processes of ``pid`` that run ``annkit train`` (exec'd, so the launcher has started them)."""
    trainings = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            if b"train" in Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0"):
                trainings.append(int(child))
        except FileNotFoundError:  # ended meanwhile
            pass
    return trainings


def _running(pid: int) -> bool:
    """The process exists and is not a zombie (an orphan's zombie waits for a reaper that may never come)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
    except FileNotFoundError:
        return False
    return not any(line.startswith("State:") and "Z" in line.split()[1] for line in status)


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads child processes from Linux's /proc")
@pytest.mark.parametrize("stop", ["SIGTERM", "SIGHUP", "SIGKILL"])
def test_a_stopped_quickstart_stops_its_trainings(tmp_path, stop):
    """A real quickstart, a real signal: both training processes end with it (before: they ran on as orphans).
    SIGTERM and SIGHUP are caught and the trainings stopped; after SIGKILL the kernel stops them (PDEATHSIG).
    The signal comes as soon as both trainings run (exec'd): what stops them does not depend on how far they got,
    so the test does not wait the ~10 s until they log their first metrics."""
    write_synthetic(tmp_path / "data" / "synthetic", TINY)
    quickstart = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "annkit",
            "quickstart",
            "--out",
            str(tmp_path / "quick"),
            "--data-root",
            str(tmp_path / "data"),
            "--iterations",
            "100000",
            "--no-progress",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    children = []
    while len(children) < 2 and quickstart.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
        children = _trainings(quickstart.pid)
    assert quickstart.poll() is None and len(children) == 2, "the trainings did not start"
    number = getattr(signal, stop)
    quickstart.send_signal(number)
    assert quickstart.wait(60) == (-number if stop == "SIGKILL" else 128 + number)
    deadline = time.monotonic() + 30
    while any(map(_running, children)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(map(_running, children)), "a training process outlived the quickstart"
