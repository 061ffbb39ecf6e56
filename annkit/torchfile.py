"""Torch files on disk, written whole or not at all and read as weights only.

``atomic_save`` serialises with ``torch.save`` and writes through ``annkit.atomic`` (``NAME.tmp``, fsync, rename):
a crash, even ``kill -9``, or a full disk leaves the old file or the new one, never half of one. ``load_file``
reads with ``torch.load(weights_only=True)`` — tensors and plain containers, never code — and says, naming the
file, why a file cannot be used (missing, a folder, empty, truncated, not weights). Model files
(``annkit.models.modelfile``) and training checkpoints (``annkit.engine.checkpoint``) are both such files.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import torch

from annkit.atomic import atomic_write
from annkit.errors import MissingFileError, UserError


class CheckpointError(UserError, ValueError):
    """A checkpoint file that cannot be used: empty, truncated, not weights, or missing what annkit needs."""


def _unreadable_reason(error: Exception) -> str:
    """Why torch.load refused a file, in one line, without torch's advice to load it unsafely."""
    unsafe = re.search(r"GLOBAL ([\w.]+)", str(error))
    if unsafe:
        return (
            f"it holds a Python object ({unsafe.group(1)}), not only tensors and plain containers; annkit "
            "loads weights only and never runs code stored in a file (save model.state_dict() instead)"
        )
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines and "weights_only" not in lines[0] else f"{type(error).__name__}, not a torch file"


def load_file(path: str | Path) -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` on CPU, with errors that name the file and say what is wrong."""
    path = Path(path)
    if path.is_dir():
        inside = [path / name for name in ("best.pt", "final.pt", "last.pt") if (path / name).is_file()]
        hint = f"; this folder holds {', '.join(str(p) for p in inside)}" if inside else ""
        raise CheckpointError(f"checkpoint {path} is a folder; expected a checkpoint file{hint}")
    if not path.is_file():
        raise MissingFileError(f"checkpoint {path} does not exist")
    if path.stat().st_size == 0:
        raise CheckpointError(
            f"checkpoint {path} is empty (0 bytes; an interrupted copy or download?); "
            "expected a file written by torch.save"
        )
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, not a torch file, or a pickle of non-weights objects
        raise CheckpointError(f"cannot read checkpoint {path} as weights: {_unreadable_reason(err)}") from None
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(checkpoint).__name__}, expected a dict of weights")
    return checkpoint


def atomic_save(obj: Any, path: str | Path) -> None:
    """``torch.save(obj)`` to ``path``, atomically (see the module docstring)."""
    buffer = io.BytesIO()  # serialised in memory: a full disk then fails in a plain write, which names ENOSPC
    torch.save(obj, buffer)
    atomic_write(path, lambda file: file.write(buffer.getbuffer()))
