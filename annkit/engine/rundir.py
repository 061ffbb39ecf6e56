"""A run folder (``annkit train --out DIR``): claimed by one training at a time, never silently reused.

- **One training per folder.** ``RunLock`` holds an exclusive ``flock`` on ``DIR/.lock`` (which records the
  holder's pid) while a training runs; the kernel releases it when the process ends, even by ``kill -9``. A second
  training on the same folder is refused with the holder's pid.
- **No silent reuse.** ``claim`` refuses a folder that already holds a run unless the caller continues it
  (``--resume``) or replaces it (``--overwrite``: the old run's files are deleted first, so a stale ``best.pt`` can
  never pass for the new run's).
- **The metric log survives a crash.** ``metrics.jsonl`` is one JSON object a line, appended; a crash in the
  middle of a write leaves a torn last line, which ``parse_metrics`` drops (a bad line elsewhere is an error
  naming the line).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from pathlib import Path

from annkit.atomic import write_text
from annkit.errors import ConfigError, UserError, os_error

#: what a training writes into its folder (``tensorboard/`` too, when TensorBoard is installed)
RUN_FILES = ("config.yaml", "metrics.jsonl", "last.pt", "best.pt", "final.pt", "summary.json")


class TrainingError(UserError, RuntimeError):
    """Training cannot start or cannot go on: a busy or already used run folder, nothing to resume, an unwritable
    output, a diverged loss."""


class RunLock:
    """An exclusive lock on run folder ``out_dir`` for this process (see the module docstring)."""

    def __init__(self, out_dir: Path) -> None:
        self.file = open(out_dir / ".lock", "a+")
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.seek(0)
            holder = self.file.read().strip() or "unknown"
            self.file.close()
            raise TrainingError(
                f"run folder {out_dir} is in use by another training (pid {holder}); wait for it "
                "to finish, stop it, or choose another --out"
            ) from None
        self.file.seek(0)
        self.file.truncate()
        self.file.write(f"{os.getpid()}\n")
        self.file.flush()

    def release(self) -> None:
        """Unlock (also done by the kernel when the process ends)."""
        fcntl.flock(self.file, fcntl.LOCK_UN)
        self.file.close()


def claim(out_dir: Path, resume: bool, overwrite: bool) -> None:
    """Check ``out_dir`` fits the request: ``resume`` needs its ``last.pt``; a new run needs a folder without a run
    in it, or ``overwrite``, which deletes the old run's files (only those, never anything else)."""
    if resume and overwrite:
        raise ConfigError("--resume continues the run in --out and --overwrite replaces it; pass one of them")
    existing = [name for name in RUN_FILES if (out_dir / name).exists()]
    if resume:
        if not (out_dir / "last.pt").is_file():
            raise TrainingError(f"nothing to resume in {out_dir}: it has no last.pt (start a new run without --resume)")
        return
    if existing and not overwrite:
        raise TrainingError(
            f"{out_dir} already holds a run ({', '.join(existing)}); continue it with --resume, "
            "replace it with --overwrite, or choose another --out"
        )
    for name in existing:
        (out_dir / name).unlink()
    shutil.rmtree(out_dir / "tensorboard", ignore_errors=True)


def parse_metrics(text: str, path: Path) -> list[dict]:
    """The records of a ``metrics.jsonl`` text; a torn last line (a write cut by a crash) is dropped."""
    lines = text.split("\n")
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):  # no newline after it: the write was interrupted
                break
            raise UserError(
                f"{path} line {number} is not a JSON record ({line[:60]!r}); expected one JSON "
                "object a line, as annkit writes them"
            ) from None
    return records


def read_metrics(run: str | Path, kind: str | None = None) -> list[dict]:
    """The records of a run's ``metrics.jsonl`` (written by ``MetricLog``), in order; only ``kind`` ("train" or
    "eval") if given. A torn last line (a crash during a write) is left out."""
    path = Path(run) / "metrics.jsonl"
    return [r for r in parse_metrics(path.read_text(), path) if kind is None or r["kind"] == kind]


class MetricLog:
    """Append-only JSON-lines log (``metrics.jsonl``), mirrored to TensorBoard when it is installed."""

    def __init__(self, path: Path, resume_from: int | None) -> None:
        self.path = path
        if resume_from is None:
            write_text(path, "")
        elif path.exists():  # drop what an interrupted run logged after its last checkpoint, and a torn line
            keep = [r for r in parse_metrics(path.read_text(), path) if r["iteration"] <= resume_from]
            write_text(path, "".join(json.dumps(r) + "\n" for r in keep))
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.board = SummaryWriter(str(path.parent / "tensorboard"))
        except ImportError:
            self.board = None

    def write(self, record: dict) -> None:
        """Append ``record`` as one line (and its numbers to TensorBoard)."""
        try:
            with self.path.open("a") as file:
                file.write(json.dumps(record) + "\n")
        except OSError as error:
            raise os_error(error, self.path) from error
        if self.board is not None:
            for key, value in record.items():
                if isinstance(value, (int, float)) and key != "iteration":
                    self.board.add_scalar(f"{record['kind']}/{key}", value, record["iteration"])

    def close(self) -> None:
        if self.board is not None:
            self.board.close()
