"""Training state on disk: seeding, random-number-generator states, atomic checkpoints.

A checkpoint holds everything needed to continue a run exactly: model, optimiser, poly scheduler, AMP grad
scaler, the RNG states of Python, NumPy and torch (CPU and CUDA), the iteration (which is also the data
position: the training stream is a pure function of seed and iteration, see ``annkit.engine.data``), the best
score so far and the resolved config. Files are written to ``NAME.tmp`` and renamed over ``NAME``, so a crash
(even ``kill -9``) leaves either the old or the new checkpoint, never half of one; they load with
``torch.load(weights_only=True)``: tensors and plain containers only.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from annkit.torchfile import CheckpointError, load_file

FORMAT = "annkit.train/1"


def seed_everything(seed: int) -> None:
    """The one seeding helper: Python, NumPy and torch (every device) from ``seed``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """RNG states of Python, NumPy and torch as tensors and plain values (loadable with weights_only)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "python": random.getstate(),
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": pos,
            "has_gauss": has_gauss,
            "gauss": gauss,
        },
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what ``rng_state`` captured."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a training checkpoint written by the engine (weights_only); errors name the file and the problem."""
    checkpoint = load_file(path)  # missing, truncated or not-weights files: a clear error naming the file
    if checkpoint.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not an annkit training checkpoint (expected format {FORMAT!r}); "
            "model files for eval/predict are the run's best.pt / final.pt"
        )
    return checkpoint
