"""Fixtures shared across test modules, each built once per session: the tiny synthetic data root, a full-width
mmseg R-50 checkpoint, one thread.

Helpers that are plain functions live in ``helpers.py`` and the independent reference implementations in
``reference_mmseg.py`` / ``reference_official.py``; test modules import those, never each other.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import SMALL
from reference_mmseg import mmseg_layout

from annkit.data import write_synthetic


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    """A data root holding the tiny synthetic set ``helpers.SMALL`` (48×48 px, 12 train + 3 val images).
    Shared: tests only read it (a training writes to its own run folder)."""
    root = tmp_path_factory.mktemp("data")
    write_synthetic(root / "synthetic", SMALL)
    return root


@pytest.fixture
def one_thread():
    """One CPU thread: small convolutions run several times faster than with 2 on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def mmseg_r50(tmp_path_factory) -> tuple[dict, Path]:
    """A full-width random mmseg ANN R-50-D8 (21 classes) state dict and its checkpoint file, written once:
    what mmseg's VOC zoo file holds. Tests read the file; they copy it before changing anything."""
    state = mmseg_layout(50, num_classes=21)
    path = tmp_path_factory.mktemp("mmseg") / "ann_r50.pth"
    torch.save({"meta": {"CLASSES": ["a"] * 21}, "state_dict": state}, path)
    return state, path
