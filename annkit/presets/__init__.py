"""annkit.presets — named recipes (``table``: every preset annkit ships) and your own YAML files, resolved.

``load_preset("voc_ann_r50")`` or ``load_preset("my.yaml")`` → ``{"model": ..., "train": ...}`` (your file is laid
out like ``annkit presets show tiny_ann`` prints); ``resolve(preset, overrides)`` adds dotted overrides
(``annkit.config.overrides``) and parses both sections into a checked (``ModelConfig``, ``TrainConfig``).
"""

from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import Any

import yaml

from annkit.config import ModelConfig, TrainConfig, merge
from annkit.errors import ConfigError
from annkit.presets.table import PRESETS, register

__all__ = ["PRESETS", "load_preset", "preset_names", "preset_yaml", "register", "resolve"]


def preset_names() -> list[str]:
    """Names of the presets annkit ships (``annkit.presets.table``)."""
    return sorted(PRESETS)


def preset_yaml(name: str) -> str:
    """Preset ``name`` as the YAML text of a file of your own (``annkit presets show NAME``), its notes on top."""
    notes = (PRESETS[name].__doc__ or "").strip().splitlines()
    header = "".join(f"# {line.strip()}\n".replace("# \n", "#\n") for line in notes)
    return header + yaml.safe_dump(load_preset(name), sort_keys=False, default_flow_style=None, width=116)


def load_preset(name: str | Path) -> dict[str, Any]:
    """The whole preset as a fresh dict (sections ``model``, ``train``, …): a shipped preset by name (``tiny_ann``)
    or a YAML file of your own by path (``my.yaml``, laid out like ``annkit presets show tiny_ann`` prints)."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise ConfigError(
                f"config file {path} does not exist; expected a YAML file laid out like "
                "`annkit presets show tiny_ann` prints"
            )
    elif str(name) in PRESETS:
        return copy.deepcopy(PRESETS[str(name)]())
    else:
        close = difflib.get_close_matches(str(name), preset_names(), n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise ConfigError(
            f"unknown preset {str(name)!r}; {hint}expected one of {preset_names()} or the path of a YAML file"
        )
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {path} is not valid YAML: {' '.join(str(err).split())}") from None
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
        raise ConfigError(
            f"config file {path} must be a mapping with a model: section (and a train: section to train); "
            "start from a preset: `annkit presets show tiny_ann > my.yaml`"
        )
    return data


def resolve(
    preset: str | Path | dict[str, Any], overrides: dict[str, Any] | None = None
) -> tuple[ModelConfig, TrainConfig]:
    """A preset name, YAML path or preset dict plus dotted overrides → checked (ModelConfig, TrainConfig).

    A head's options are checked where the head is built (``annkit.models.build``, ``check_heads``)."""
    base = load_preset(preset) if isinstance(preset, (str, Path)) else preset
    data = merge(base, overrides)
    return ModelConfig.from_dict(data["model"]), TrainConfig.from_dict(data["train"])
