"""Fixtures shared across test modules, each built once per session: the tiny synthetic data root, one thread.

Helpers that are plain functions live in ``helpers.py`` and the independent reference implementations in
``reference_mmseg.py`` / ``reference_official.py``; test modules import those, never each other.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import SMALL

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
