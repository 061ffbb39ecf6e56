"""Several trainings at once: each run is an ``annkit train`` process with one CPU thread.

Tiny models scale poorly across threads (their convolutions are small), so on a CPU, k single-thread processes
train k models about k times faster than one after the other with k threads each. The quickstart trains ANN and
the local baseline this way; notebook 06 trains its ablation variants.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tqdm import tqdm

from annkit.engine.trainer import TrainingError


def _launch(preset: str, out: Path, overrides: dict) -> subprocess.Popen:
    """``annkit train`` for one model in its own process, one thread, output to ``out/train.log``."""
    out.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "annkit", "train", "--preset", preset, "--out", str(out), "--threads", "1",
               "--no-progress", *(f"{key}={json.dumps(value)}" for key, value in overrides.items())]
    return subprocess.Popen(command, stdout=(out / "train.log").open("w"), stderr=subprocess.STDOUT)


def _last_iteration(run: Path) -> int:
    log = run / "metrics.jsonl"
    lines = log.read_text().splitlines() if log.exists() else []
    return json.loads(lines[-1])["iteration"] if lines else 0


def train_runs(runs: dict[Path, tuple[str, dict]], iterations: int, workers: int = 2,
               progress: bool = True) -> None:
    """Train every run ``{out_dir: (preset, dotted overrides)}``, ``workers`` processes at a time, with one
    progress bar each; a failed run stops the others and raises ``TrainingError`` with the end of its log."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    queue = list(runs)
    running: dict[Path, subprocess.Popen] = {}
    bars = {out: tqdm(total=iterations, desc=out.name, position=i, unit="it", disable=not progress,
                      dynamic_ncols=True) for i, out in enumerate(queue)}
    try:
        while queue or running:
            while queue and len(running) < workers:
                out = queue.pop(0)
                preset, overrides = runs[out]
                running[out] = _launch(preset, out, overrides)
            time.sleep(0.5)
            for out, process in list(running.items()):
                bars[out].update(_last_iteration(out) - bars[out].n)
                if process.poll() is None:
                    continue
                del running[out]
                if process.returncode != 0:
                    tail = (out / "train.log").read_text()[-2000:]
                    raise TrainingError(f"training {out} failed (exit code {process.returncode}):\n{tail}")
    finally:  # an error or Ctrl-C stops the other trainings too
        for process in running.values():
            process.kill()
        for bar in bars.values():
            bar.close()
