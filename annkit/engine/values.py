"""Config values checked as they load: each setting of a config dataclass against its declared type, then its
range (``check``, called from each dataclass's ``__post_init__``).

Types follow the annotations: ``int``, ``float`` (finite; a YAML 1.1 string such as ``1e-3`` — no dot, so not
a float to YAML 1.1 — is read as the number it spells), ``bool`` (``true``/``false`` only), ``str``, tuples
(``tuple[int, int]``, ``tuple[float, ...]``) and ``X | None``. A wrong value is a ``ConfigError`` naming the key,
the expected type and the value.
"""

from __future__ import annotations

import dataclasses
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
    """``value`` as the declared type ``kind`` of setting ``key`` (int, float, bool, str, tuples, ``X | None``);
    a ConfigError names the key, the expected type and the value otherwise."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return coerce(value, inner, key)
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


def build(cls, data: dict[str, Any], prefix: str):
    """Instantiate dataclass ``cls`` from nested plain data, each value checked against its declared type."""
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix} must be a mapping of settings, got {data!r}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if dataclasses.is_dataclass(default):
            kwargs[f.name] = build(type(default), value or {}, f"{prefix}.{f.name}")
        else:
            kwargs[f.name] = coerce(value, hints[f.name], f"{prefix}.{f.name}")
    return cls(**kwargs)
