"""The annkit model file: ``{format, config, state_dict}``, everything needed to rebuild a ``Segmentor``.

``save(model, path)`` writes it atomically (``annkit.torchfile``); ``load(path)`` rebuilds the model from its
config (``annkit.config.ModelConfig``, which carries the input contract and evaluation protocol) and loads the
weights strictly: every name and shape must match (``load_state_dict_strict``, also the check of every converter).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from annkit.config import ModelConfig
from annkit.models.build import build
from annkit.models.segmentor import Segmentor
from annkit.torchfile import CheckpointError, atomic_save, load_file

FORMAT = "annkit.segmentor/1"


def load_state_dict_strict(model: nn.Module, state: dict[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Load ``state`` into ``model`` only if names and shapes match exactly; else a ValueError listing the missing,
    unexpected and mis-shaped keys (architecture or class-count mismatch)."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    misshaped = [
        f"{k}: {tuple(state[k].shape)} in {source}, {tuple(expected[k].shape)} in the model"
        for k in sorted(set(state) & set(expected))
        if state[k].shape != expected[k].shape
    ]
    if missing or unexpected or misshaped:
        parts = [
            f"{label} ({len(keys)}): {keys[:8]}{' …' if len(keys) > 8 else ''}"
            for label, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped))
            if keys
        ]
        raise CheckpointError(f"{source} does not fit the model — " + "; ".join(parts))
    model.load_state_dict(state, strict=True)


def save(model: Segmentor, path: str | Path) -> None:
    """Write ``{format, config, state_dict}`` atomically; ``load`` rebuilds the model from it."""
    if not hasattr(model, "config"):
        raise ValueError("save needs a Segmentor made by annkit.models.build (it stores model.config)")
    atomic_save({"format": FORMAT, "config": model.config.to_dict(), "state_dict": model.state_dict()}, path)


def load(path: str | Path) -> Segmentor:
    """Rebuild a Segmentor saved by ``save`` (or ``annkit convert mmseg``), strictly, in eval mode."""
    checkpoint = load_file(path)
    if checkpoint.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not an annkit model file (format {checkpoint.get('format')!r}, expected "
            f"{FORMAT!r}); convert mmsegmentation checkpoints with `annkit convert mmseg`"
        )
    missing = [key for key in ("config", "state_dict") if not isinstance(checkpoint.get(key), dict)]
    if missing:
        raise CheckpointError(
            f"{path} has no {' or '.join(missing)}; expected an annkit model file written by "
            "annkit.models.save (a run's best.pt / final.pt)"
        )
    try:
        config = ModelConfig.from_dict(checkpoint["config"])
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: its model config is not valid ({err})") from err
    model = build(config, backbone_weights=False)
    load_state_dict_strict(model, checkpoint["state_dict"], source=str(path))
    return model.eval()
