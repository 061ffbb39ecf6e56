"""The model schema: a preset's ``model`` section (what to build, how to run it, its input contract) as checked
dataclasses. A preset (``annkit.presets``) or your own YAML file lays it out so:

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

from dataclasses import dataclass, field
from typing import Any

from annkit.config.values import parse, plain
from annkit.errors import ConfigError
from annkit.protocols import EvalProtocol

AMP_DTYPES = (None, "bfloat16", "float16")
CHANNEL_ORDERS = ("RGB", "BGR")
#: ImageNet statistics per R, G, B channel of images in [0, 1] (torchvision's; mmseg's 0–255 values / 255)
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


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
        """``{name: ann, channels: 512, ...}``: the name, and every other key as a constructor option."""
        if not isinstance(data, dict) or "name" not in data:
            raise ConfigError(f"{where} must be a mapping with a 'name' key, got {data!r}")
        options = {k: v for k, v in data.items() if k != "name"}
        return cls(name=data["name"], options=options)

    def to_dict(self) -> dict[str, Any]:
        """Inverse of ``from_dict``."""
        return {"name": self.name, **plain(self.options)}


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
        if isinstance(self.num_classes, bool) or not isinstance(self.num_classes, int) or self.num_classes < 1:
            raise ConfigError(f"model.num_classes must be a positive integer, got {self.num_classes!r}")
        if min(self.std) <= 0:
            raise ConfigError(f"model.std must be positive (images are divided by it), got {list(self.std)}")
        for key in ("classes", "palette"):
            value = getattr(self, key)
            if value is not None and len(value) != self.num_classes:
                raise ValueError(f"model.{key} has {len(value)} entries, expected num_classes = {self.num_classes}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Parse a preset's ``model`` section (see the module docstring for the layout)."""
        return parse(cls, data, "model")

    def to_dict(self) -> dict[str, Any]:
        """The ``model`` section as plain YAML-able values (inverse of ``from_dict``)."""
        return plain(self)
