"""Several trainings at once: each run is an ``annkit train`` process with one CPU thread.

Tiny models scale poorly across threads (their convolutions are small), so on a CPU, k single-thread processes
train k models about k times faster than one after the other with k threads each. The quickstart trains ANN and
the local baseline this way; notebook 06 trains its ablation variants.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tqdm import tqdm

from annkit.engine.rundir import TrainingError, read_metrics

#: signals that stop the launcher: it stops its trainings first (Ctrl-C, SIGINT, is a KeyboardInterrupt already)
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to send it SIGTERM when its parent dies, even by ``kill -9``."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1


def _launch(preset: str, out: Path, overrides: dict, overwrite: bool) -> subprocess.Popen:
    """``annkit train`` for one model in its own process, one thread, output to ``out/train.log``."""
    out.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "annkit",
        "train",
        "--preset",
        preset,
        "--out",
        str(out),
        "--threads",
        "1",
        "--no-progress",
        *(["--overwrite"] if overwrite else []),
        *(f"{key}={json.dumps(value)}" for key, value in overrides.items()),
    ]
    with (out / "train.log").open("w") as log:
        return subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )


def _last_iteration(run: Path) -> int:
    """The last logged iteration of a run being written (a half-written last line is skipped)."""
    records = read_metrics(run) if (run / "metrics.jsonl").exists() else []
    return records[-1]["iteration"] if records else 0


@contextlib.contextmanager
def _stop_on_signals():
    """SIGTERM and SIGHUP raise SystemExit(128 + signal) here, so ``finally`` blocks stop the children."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(number, frame):
        raise SystemExit(128 + number)

    previous = {number: signal.signal(number, stop) for number in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _stop(processes: list[subprocess.Popen], grace: float = 5.0) -> None:
    """SIGTERM each process, wait up to ``grace`` seconds, then SIGKILL what is left; reap them all."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(max(deadline - time.monotonic(), 0.01))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def train_runs(
    runs: dict[Path, tuple[str, dict]], iterations: int, workers: int = 2, progress: bool = True, overwrite: bool = True
) -> None:
    """Train every run ``{out_dir: (preset, dotted overrides)}``, ``workers`` processes at a time, with one
    progress bar each; a failed run stops the others and raises ``TrainingError`` with the end of its log.

    ``overwrite``: replace a run already in an ``out_dir`` (the callers, the quickstart and notebook 06, own
    their folders); a folder another training is using is refused all the same. Ctrl-C, SIGTERM and SIGHUP
    stop every training before the launcher exits, and each training also stops if the launcher dies.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    queue = list(runs)
    running: dict[Path, subprocess.Popen] = {}
    bars = {
        out: tqdm(total=iterations, desc=out.name, position=i, unit="it", disable=not progress, dynamic_ncols=True)
        for i, out in enumerate(queue)
    }
    try:
        with _stop_on_signals():
            while queue or running:
                while queue and len(running) < workers:
                    out = queue.pop(0)
                    preset, overrides = runs[out]
                    running[out] = _launch(preset, out, overrides, overwrite)
                time.sleep(0.5)
                for out, process in list(running.items()):
                    bars[out].update(_last_iteration(out) - bars[out].n)
                    if process.poll() is None:
                        continue
                    del running[out]
                    if process.returncode != 0:
                        tail = (out / "train.log").read_text()[-2000:]
                        raise TrainingError(f"training {out} failed (exit code {process.returncode}):\n{tail}")
    finally:  # an error, Ctrl-C, SIGTERM or SIGHUP stops the other trainings too
        _stop(list(running.values()))
        for bar in bars.values():
            bar.close()
