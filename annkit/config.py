"""Dataclass configs. A preset (YAML in ``annkit/configs/``) names a whole recipe; this module reads its ``model``
section (what to build, how to run it) and leaves the other sections (``train``, …) to their owners.

    model:
      name: voc_ann_r50
      num_classes: 21
      backbone: {name: resnet, depth: 50, output_stride: 8, stem: torchvision, weights: IMAGENET1K_V1}
      head: {name: ann, channels: 512, ...}        # every key but ``name`` goes to the head's constructor
      aux_head: {name: fcn, channels: 256, ...}    # or null
      align_corners: false
      mean: [0.485, 0.456, 0.406]                  # per R, G, B channel, images in [0, 1]: (image - mean) / std
      std: [0.229, 0.224, 0.225]
      channel_order: RGB                           # the order the network reads (BGR: the official ANN models)
      classes: [background, aeroplane, ...]        # optional: class names, index = class id
      palette: [[0, 0, 0], [128, 0, 0], ...]       # optional: RGB colour per class id, for predictions
      runtime: {amp_dtype: null, channels_last: false, compile: false, fold_bn: true}
      protocol: null                               # or an annkit.protocols.EvalProtocol as a mapping
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from annkit.errors import ConfigError
from annkit.protocols import EvalProtocol

AMP_DTYPES = (None, "bfloat16", "float16")
CHANNEL_ORDERS = ("RGB", "BGR")
#: ImageNet statistics per R, G, B channel of images in [0, 1] (torchvision's; mmseg's 0–255 values / 255)
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
CONFIG_DIR = Path(__file__).with_name("configs")


def _from_mapping(cls, data: dict[str, Any], where: str):
    """Build dataclass ``cls`` from ``data``; unknown keys raise a ConfigError naming them and the known ones."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a mapping, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{where} has unknown keys {unknown}; expected some of {sorted(known)}")
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
    """A head by name (``ann``, ``aspp``, ``fcn``, ``nonlocal``, ``psp``) plus its constructor keyword arguments."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str) -> HeadConfig:
        if not isinstance(data, dict) or "name" not in data:
            raise ConfigError(f"{where} must be a mapping with a 'name' key, got {data!r}")
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
            raise ConfigError(f"runtime.amp_dtype must be one of {AMP_DTYPES}, got {self.amp_dtype!r}")
        for key in ("channels_last", "compile", "fold_bn"):
            if not isinstance(getattr(self, key), bool):
                raise ConfigError(f"model.runtime.{key} must be true or false, got {getattr(self, key)!r}")


@dataclass
class ModelConfig:
    """A whole segmentation model: backbone + head (+ auxiliary head), output resampling, and its input contract.

    The input contract travels with the model (and every checkpoint annkit writes): images in [0, 1] are
    normalised per channel with ``mean``/``std`` (listed R, G, B whatever the order), then given to the network in
    ``channel_order``; logits are resized with ``align_corners``; ``classes``/``palette`` name and colour the ids.
    """

    name: str
    num_classes: int
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    head: HeadConfig = field(default_factory=lambda: HeadConfig("ann"))
    aux_head: HeadConfig | None = None
    align_corners: bool = False
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    channel_order: str = "RGB"
    classes: tuple[str, ...] | None = None
    palette: tuple[tuple[int, int, int], ...] | None = None
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    protocol: EvalProtocol | None = None  # how the model's published score was measured (``annkit eval`` applies it)

    def __post_init__(self) -> None:
        if self.channel_order not in CHANNEL_ORDERS:
            raise ValueError(f"model.channel_order must be one of {CHANNEL_ORDERS}, got {self.channel_order!r}")
        for key in ("classes", "palette"):
            value = getattr(self, key)
            if value is not None and len(value) != self.num_classes:
                raise ValueError(f"model.{key} has {len(value)} entries, expected num_classes = {self.num_classes}")

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
        if data.get("protocol") is not None and not isinstance(data["protocol"], EvalProtocol):
            data["protocol"] = EvalProtocol.from_dict(data["protocol"])
        for key in ("mean", "std"):
            if key in data:
                values = data[key]
                if not (
                    isinstance(values, (list, tuple))
                    and len(values) == 3
                    and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
                ):
                    raise ConfigError(f"model.{key} must be 3 numbers (R, G, B), got {values!r}")
                data[key] = tuple(float(v) for v in values)
        if "std" in data and min(data["std"]) <= 0:
            raise ConfigError(f"model.std must be positive (images are divided by it), got {list(data['std'])}")
        if data.get("classes") is not None:
            data["classes"] = tuple(str(c) for c in data["classes"])
        if data.get("palette") is not None:
            data["palette"] = tuple(tuple(int(v) for v in colour) for colour in data["palette"])
        config = _from_mapping(cls, data, "model")
        if isinstance(config.num_classes, bool) or not isinstance(config.num_classes, int) or config.num_classes < 1:
            raise ConfigError(f"model.num_classes must be a positive integer, got {config.num_classes!r}")
        if not isinstance(config.align_corners, bool):
            raise ConfigError(f"model.align_corners must be true or false, got {config.align_corners!r}")
        return config

    def to_dict(self) -> dict[str, Any]:
        """The ``model`` section as plain YAML-able values (inverse of ``from_dict``)."""
        out = dataclasses.asdict(self)
        out["head"] = self.head.to_dict()
        out["aux_head"] = self.aux_head.to_dict() if self.aux_head is not None else None
        out["backbone"]["channels"] = list(self.backbone.channels)
        out["mean"], out["std"] = list(self.mean), list(self.std)
        out["classes"] = list(self.classes) if self.classes is not None else None
        out["palette"] = [list(c) for c in self.palette] if self.palette is not None else None
        out["protocol"] = self.protocol.to_dict() if self.protocol is not None else None
        return out


def preset_names() -> list[str]:
    """Names of the YAML presets shipped in ``annkit/configs``."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def load_preset(name: str | Path) -> dict[str, Any]:
    """The whole preset as a dict (sections ``model``, ``train``, …): a shipped preset by name (``tiny_ann``) or
    a YAML file of your own by path (``my.yaml``, laid out like ``annkit/configs/*.yaml``)."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise ConfigError(
                f"config file {path} does not exist; expected a YAML file laid out like {CONFIG_DIR / 'tiny_ann.yaml'}"
            )
    elif str(name) in preset_names():
        path = CONFIG_DIR / f"{name}.yaml"
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
            f"config file {path} must be a mapping with a model: section (and a train: section "
            f"to train); copy {CONFIG_DIR / 'tiny_ann.yaml'} to start from a preset"
        )
    return data
