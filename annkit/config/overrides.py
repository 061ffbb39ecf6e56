"""Dotted ``key=value`` overrides of a preset's sections, as the ``annkit`` command line takes them.

``iterations=200``, ``optimizer.lr=0.02``, ``model.num_classes=5``, ``model.head.pool_mode=max``: a key without
``model.``/``train.`` is a train key; values are YAML. ``merge`` only sets them: the keys and values are checked
where the sections are parsed (``ModelConfig.from_dict``, ``TrainConfig.from_dict``; a head's options where the
head is built, ``annkit.models.build``), so a misspelt key is an error naming the closest valid ones.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml

from annkit.errors import ConfigError


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["iterations=200", "optimizer.lr=0.02"]`` → {"train.iterations": 200, "train.optimizer.lr": 0.02}.

    Values are YAML (numbers, booleans, ``null``, ``[64, 64]``); keys without ``model.``/``train.`` are train keys.
    """
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} must look like key=value (e.g. iterations=200)")
        key = key if key.split(".")[0] in ("model", "train") else f"train.{key}"
        try:
            out[key] = yaml.safe_load(value)
        except yaml.YAMLError as err:
            raise ConfigError(
                f"override {item!r}: the value is not valid YAML ({err.problem}); expected e.g. "
                "3, 0.01, true, null, [64, 64]"
            ) from None
    return out


def merge(data: dict[str, Any], overrides: dict[str, Any] | None) -> dict[str, Any]:
    """A copy of preset-like ``data`` ({model, train}) with the dotted ``overrides`` set. A new
    ``model.num_classes`` is another label set: the preset's class names and palette are dropped (they name the old
    ids) unless ``model.classes`` / ``model.palette`` are overridden too."""
    data = copy.deepcopy(data)
    data.setdefault("train", {})
    num_classes = (data.get("model") or {}).get("num_classes")
    for dotted, value in (overrides or {}).items():
        if dotted.split(".")[0] not in ("model", "train"):
            raise ConfigError(f"unknown config key {dotted!r}: expected a key under model. or train.")
        *parents, last = dotted.split(".")
        section = data
        for name in parents:
            section = section.setdefault(name, {})
            if not isinstance(section, dict):
                raise ConfigError(f"config key {dotted!r}: {name!r} is not a section")
        section[last] = value
    model = data.get("model")
    if isinstance(model, dict) and model.get("num_classes") != num_classes:
        for key in ("classes", "palette"):
            model[key] = (overrides or {}).get(f"model.{key}")
    return data
