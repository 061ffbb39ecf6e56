"""The one parser of settings: a plain mapping (YAML, a checkpoint's saved config) → a checked config dataclass,
and back (``plain``).

``parse(cls, data, where)`` refuses keys ``cls`` does not declare (naming the closest valid ones) and reads each
value as its annotation declares: ``int``, ``float`` (finite; a YAML 1.1 string such as ``1e-3`` — no dot, so not
a float to YAML 1.1 — is read as the number it spells), ``bool`` (``true``/``false`` only), ``str``, tuples
(``tuple[int, int]``, ``tuple[float, ...]``), ``X | None``, ``dict`` and nested config dataclasses (``null``: their
defaults; a class with its own ``from_dict(data, where)`` parses itself). Ranges are each dataclass's ``__post_init__`` (``check``). A
wrong value is a ``ConfigError`` naming the dotted key, what was expected and the value.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from typing import Any

from annkit.errors import ConfigError


def check(section: str, checks: list[tuple[bool, str, str, Any]]) -> None:
    """Raise a ConfigError for the first failed (ok, key, expected, got) range check of ``section``."""
    for ok, key, expected, got in checks:
        if not ok:
            raise ConfigError(
                f"{section}.{key} must be {expected}, got {list(got) if isinstance(got, tuple) else got!r}"
            )


_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")  # YAML 1.1 reads 1e-3 (no dot) as a string


def coerce(value: Any, kind: Any, key: str) -> Any:
    """``value`` as the declared type ``kind`` of setting ``key`` (int, float, bool, str, tuples, ``X | None``,
    dict, config dataclasses); a ConfigError names the key, the expected type and the value otherwise."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return coerce(value, inner, key)
    if dataclasses.is_dataclass(kind):
        if isinstance(value, kind):
            return value
        value = {} if value is None else value  # ``runtime: null``: the defaults
        return kind.from_dict(value, key) if hasattr(kind, "from_dict") else parse(kind, value, key)
    if origin is dict or kind is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a mapping, got {value!r}")
        return dict(value)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} must be a list like [1, 2], got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(coerce(item, args[0], f"{key}[{i}]") for i, item in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{key} must be a list of {len(args)} values, got {value!r}")
        return tuple(coerce(item, sub, f"{key}[{i}]") for i, (item, sub) in enumerate(zip(value, args)))
    if kind is float and isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        value = float(value)
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is float and number and math.isfinite(value):
        return float(value)
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind is not float and isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    expected = {int: "an integer", float: "a finite number", bool: "true or false", str: "a string"}.get(
        kind, str(kind)
    )
    raise ConfigError(f"{key} must be {expected}, got {value!r}")


def unknown_keys(keys: Any, valid: Any, where: str) -> None:
    """Raise a ConfigError naming every key of ``keys`` not in ``valid`` (settings of ``where``) and the closest
    valid ones: ``unknown config key 'train.iteratons': did you mean train.iterations?``."""
    valid = sorted(valid)
    problems = []
    for key in sorted(set(keys) - set(valid)):
        close = difflib.get_close_matches(key, valid, n=3, cutoff=0.5)
        hint = ", ".join(f"{where}.{k}" for k in close)
        problems.append(
            f"unknown config key '{where}.{key}': "
            + (f"did you mean {hint}?" if close else f"expected one of {valid} (under {where})")
        )
    if problems:
        raise ConfigError("; ".join(problems))


def parse(cls, data: Any, where: str):
    """Instantiate config dataclass ``cls`` from the plain mapping ``data`` (the settings of ``where``, a dotted
    name such as ``train.optimizer``); see the module docstring for what is checked."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a mapping of settings, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown_keys(data, fields, where)
    hints = typing.get_type_hints(cls)
    values = {name: coerce(value, hints[name], f"{where}.{name}") for name, value in data.items()}
    missing = [f"{where}.{name}" for name, f in fields.items() if name not in values and _required(f)]
    if missing:
        raise ConfigError(f"{where} needs {', '.join(missing)}")
    return cls(**values)


def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def plain(value: Any) -> Any:
    """A config dataclass (its fields; nested ones through their own ``to_dict`` where they have one), tuples and
    mappings as plain YAML-able values (dicts, lists); the inverse of ``parse``."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _nested(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def _nested(value: Any) -> Any:
    return value.to_dict() if dataclasses.is_dataclass(value) and hasattr(value, "to_dict") else plain(value)
