"""Dataclass configs. A preset (YAML in ``annkit/configs/``) names a whole recipe; this module reads its ``model``
section (what to build, how to run it) and leaves the other sections (``train``, …) to their owners.

    model:
      name: voc_ann_r50
      num_classes: 21
      backbone: {name: resnet, depth: 50, output_stride: 8, stem: torchvision, weights: IMAGENET1K_V1}
      head: {name: ann, channels: 512, ...}        # every key but ``name`` goes to the head's constructor
      aux_head: {name: fcn, channels: 256, ...}    # or null
      align_corners: false
      mean: [0.485, 0.456, 0.406]                  # RGB images in [0, 1]: (image - mean) / std
      std: [0.229, 0.224, 0.225]
      runtime: {amp_dtype: null, channels_last: false, compile: false, fold_bn: true}
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

AMP_DTYPES = (None, "bfloat16", "float16")
CONFIG_DIR = Path(__file__).with_name("configs")


def _from_mapping(cls, data: dict[str, Any], where: str):
    """Build dataclass ``cls`` from ``data``; unknown keys raise a ValueError naming them and the known ones."""
    if not isinstance(data, dict):
        raise ValueError(f"{where} must be a mapping, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{where} has unknown keys {unknown}; expected some of {sorted(known)}")
    return cls(**data)


@dataclass
class BackboneConfig:
    """Which feature extractor: ``resnet`` (depth 18/34/50/101, stem torchvision|deep) or ``tiny``.

    ``avg_down`` / ``contract_dilation``: ResNet-vd's average-pool shortcut and un-contracted dilation
    (``stem: deep, avg_down: true, contract_dilation: false`` is PaddleSeg's ResNet-vd); see ``models.backbones``."""

    name: str = "resnet"
    depth: int = 50
    output_stride: int = 8
    stem: str = "torchvision"
    weights: str | None = None  # torchvision ImageNet weights name, e.g. IMAGENET1K_V1
    avg_down: bool = False
    contract_dilation: bool = True
    channels: tuple[int, ...] = (32, 32, 64, 64, 128, 128)  # tiny backbone only


@dataclass
class HeadConfig:
    """A head by name (``ann``, ``fcn``, ``nonlocal``, ``psp``) plus its constructor keyword arguments."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str) -> HeadConfig:
        if not isinstance(data, dict) or "name" not in data:
            raise ValueError(f"{where} must be a mapping with a 'name' key, got {data!r}")
        options = {k: v for k, v in data.items() if k != "name"}
        return cls(name=data["name"], options=options)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.options}


@dataclass
class RuntimeConfig:
    """How to run the model: autocast dtype (None = fp32), NHWC memory format, ``torch.compile``, and whether
    inference folds each BatchNorm into the conv before it (exact in eval mode; see ``models.runtime``)."""

    amp_dtype: str | None = None
    channels_last: bool = False
    compile: bool = False
    fold_bn: bool = True

    def __post_init__(self) -> None:
        if self.amp_dtype not in AMP_DTYPES:
            raise ValueError(f"runtime.amp_dtype must be one of {AMP_DTYPES}, got {self.amp_dtype!r}")


@dataclass
class ModelConfig:
    """A whole segmentation model: backbone + head (+ auxiliary head), output resampling and input normalisation."""

    name: str
    num_classes: int
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    head: HeadConfig = field(default_factory=lambda: HeadConfig("ann"))
    aux_head: HeadConfig | None = None
    align_corners: bool = False
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Parse a preset's ``model`` section (see the module docstring for the layout)."""
        data = dict(data)
        if "backbone" in data:
            backbone = dict(data["backbone"] or {})
            if "channels" in backbone:
                backbone["channels"] = tuple(backbone["channels"])
            data["backbone"] = _from_mapping(BackboneConfig, backbone, "model.backbone")
        if "head" in data:
            data["head"] = HeadConfig.from_dict(data["head"], "model.head")
        if data.get("aux_head") is not None:
            data["aux_head"] = HeadConfig.from_dict(data["aux_head"], "model.aux_head")
        if "runtime" in data:
            data["runtime"] = _from_mapping(RuntimeConfig, data["runtime"] or {}, "model.runtime")
        for key in ("mean", "std"):
            if key in data:
                data[key] = tuple(float(v) for v in data[key])
        config = _from_mapping(cls, data, "model")
        if not isinstance(config.num_classes, int) or config.num_classes < 1:
            raise ValueError(f"model.num_classes must be a positive integer, got {config.num_classes!r}")
        return config

    def to_dict(self) -> dict[str, Any]:
        """The ``model`` section as plain YAML-able values (inverse of ``from_dict``)."""
        out = dataclasses.asdict(self)
        out["head"] = self.head.to_dict()
        out["aux_head"] = self.aux_head.to_dict() if self.aux_head is not None else None
        out["backbone"]["channels"] = list(self.backbone.channels)
        out["mean"], out["std"] = list(self.mean), list(self.std)
        return out


def preset_names() -> list[str]:
    """Names of the YAML presets shipped in ``annkit/configs``."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def load_preset(name: str) -> dict[str, Any]:
    """The whole preset ``name`` as a dict (sections ``model``, ``train``, …)."""
    names = preset_names()
    if name not in names:
        raise ValueError(f"unknown preset {name!r}; expected one of {names}")
    return yaml.safe_load((CONFIG_DIR / f"{name}.yaml").read_text())
