"""Fixtures shared across test modules: the tiny synthetic data root, a full-width mmseg R-50 checkpoint, one
thread; and what running under pytest-xdist needs (the README's test command runs ``-n auto --dist loadfile``:
each file, and so each notebook's cells, stays in one worker, in order).

Helpers that are plain functions live in ``helpers.py`` and the independent reference implementations in
``reference_mmseg.py`` / ``reference_official.py``; test modules import those, never each other.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from filelock import FileLock


def pytest_configure(config) -> None:
    """Under xdist, each worker takes its share of the cores for torch's intra-op threads, and so do the notebook
    kernels and subprocesses it starts (``OMP_NUM_THREADS``): k workers with all the cores each oversubscribe
    them, and OpenMP threads waiting on each other then cost tens of times the work. Tests that need one thread
    still ask for it (``one_thread``). torch is imported here and in the fixtures, not at the top: the xdist
    controller, which runs no test, then starts its workers without importing it (~8 CPU-s)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        import torch

        threads = max(1, torch.get_num_threads() // workers)
        torch.set_num_threads(threads)
        os.environ["OMP_NUM_THREADS"] = str(threads)


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    """A data root holding the tiny synthetic set ``helpers.SMALL`` (48×48 px, 12 train + 3 val images).
    Shared: tests only read it (a training writes to its own run folder). One per xdist worker (0.1 s)."""
    from helpers import SMALL

    from annkit.data import write_synthetic

    root = tmp_path_factory.mktemp("data")
    write_synthetic(root / "synthetic", SMALL)
    return root


@pytest.fixture
def one_thread():
    """One CPU thread: small convolutions run several times faster than with 2 on a busy machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def mmseg_r50(tmp_path_factory) -> tuple[dict, Path]:
    """A full-width random mmseg ANN R-50-D8 (21 classes) state dict and its checkpoint file, written once for
    the whole run — under xdist the first worker writes it (under a file lock) in the run's shared temporary
    folder, the others read it: what mmseg's VOC zoo file holds. Tests read the file; they copy it before
    changing anything."""
    import torch
    from reference_mmseg import mmseg_layout

    shared = tmp_path_factory.getbasetemp()
    if "PYTEST_XDIST_WORKER" in os.environ:  # the workers' folders share the run's folder
        shared = shared.parent
    path = shared / "mmseg" / "ann_r50.pth"
    with FileLock(str(shared / "mmseg.lock")):
        if not path.is_file():
            path.parent.mkdir(exist_ok=True)
            state = mmseg_layout(50, num_classes=21)
            torch.save({"meta": {"CLASSES": ["a"] * 21}, "state_dict": state}, path)
            return state, path
    return torch.load(path, weights_only=True)["state_dict"], path
