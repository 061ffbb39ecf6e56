"""``build(name_or_config)``: a preset name, a ``ModelConfig`` or a preset-like dict → a ``Segmentor``.

Presets live in ``annkit/configs/*.yaml`` (``annkit.config.preset_names()`` lists them): ``voc_ann_r101`` (the
paper's recipe), ``voc_ann_r50``, the mmsegmentation-compatible ``mmseg_ann_r{50,101}_d8_{voc12aug,cityscapes,
ade20k}``, the official ANN's ``official_ann_r101_cityscapes``, and the CPU teaching presets ``tiny_ann`` and
``tiny_fcn``.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from annkit.config import HeadConfig, ModelConfig, load_preset
from annkit.errors import ConfigError
from annkit.models.backbones import resnet
from annkit.models.heads import ANNHead, ASPPHead, FCNHead, NonLocalHead, PSPHead
from annkit.models.segmentor import Segmentor
from annkit.models.tiny import TinyBackbone

HEADS = {"ann": ANNHead, "aspp": ASPPHead, "fcn": FCNHead, "nonlocal": NonLocalHead, "psp": PSPHead}
BACKBONES = ("resnet", "tiny")


def model_config(name_or_config: str | dict[str, Any] | ModelConfig, **overrides: Any) -> ModelConfig:
    """Resolve a preset name, a preset dict (with a ``model`` section) or a ModelConfig, then apply top-level
    ``overrides`` of the model section (e.g. ``num_classes=5``, ``align_corners=True``). A new ``num_classes``
    drops the preset's class names and palette (they name the old ids) unless ``classes``/``palette`` are given."""
    if isinstance(name_or_config, ModelConfig):
        config = name_or_config
    elif isinstance(name_or_config, str):
        config = ModelConfig.from_dict(load_preset(name_or_config)["model"])
    elif isinstance(name_or_config, dict):
        config = ModelConfig.from_dict(name_or_config.get("model", name_or_config))
    else:
        raise TypeError(f"expected a preset name, a dict or a ModelConfig, got {type(name_or_config).__name__}")
    if overrides:
        data = config.to_dict()
        if overrides.get("num_classes", config.num_classes) != config.num_classes:  # another label set: its
            data.update(classes=None, palette=None)  # names and colours are the caller's (overrides) or none
        config = ModelConfig.from_dict({**data, **overrides})
    return config


def build_backbone(config: ModelConfig, *, backbone_weights: bool = True) -> nn.Module:
    """The backbone of ``config``; ``backbone_weights=False`` skips ImageNet weights (tests, converted checkpoints)."""
    cfg = config.backbone
    try:
        if cfg.name == "tiny":
            return TinyBackbone(cfg.channels)
        if cfg.name == "resnet":
            return resnet(
                cfg.depth,
                output_stride=cfg.output_stride,
                stem=cfg.stem,
                weights=cfg.weights if backbone_weights else None,
                avg_down=cfg.avg_down,
                contract_dilation=cfg.contract_dilation,
            )
    except (TypeError, ValueError) as err:  # the constructors check their settings
        raise ConfigError(f"model.backbone ({cfg.name}): {err}") from err
    raise ConfigError(f"model.backbone.name {cfg.name!r} is unknown; expected one of {BACKBONES}")


def _build_head(
    head: HeadConfig, channels: tuple[int, ...], num_classes: int, where: str, align_corners: bool
) -> nn.Module:
    """A head from its config; its input widths come from the backbone's ``out_channels``."""
    if head.name not in HEADS:
        raise ConfigError(f"{where}.name {head.name!r} is unknown; expected one of {sorted(HEADS)}")
    options = dict(head.options)
    if head.name == "ann":
        args = (channels[-2], channels[-1], num_classes)
    elif head.name == "fcn":
        args = (channels[options.get("in_index", -2)], num_classes)
    else:
        args = (channels[-1], num_classes)
        if head.name == "psp":
            options.setdefault("align_corners", align_corners)
    try:
        return HEADS[head.name](*args, **options)
    except (TypeError, ValueError) as err:  # an unknown option, or a value the head's constructor refuses
        raise ConfigError(f"{where} ({head.name}) has an invalid option: {err}") from err


def build(
    name_or_config: str | dict[str, Any] | ModelConfig, *, backbone_weights: bool = True, **overrides: Any
) -> Segmentor:
    """Build the ``Segmentor`` a preset or config describes (random head; backbone ImageNet weights if configured).

    ``build("voc_ann_r50")``; ``build("tiny_ann", num_classes=5)``; ``build(cfg, backbone_weights=False)``.
    The config is kept as ``model.config``.
    """
    config = model_config(name_or_config, **overrides)
    backbone = build_backbone(config, backbone_weights=backbone_weights)
    channels = tuple(backbone.out_channels)
    head = _build_head(config.head, channels, config.num_classes, "model.head", config.align_corners)
    aux_head = None
    if config.aux_head is not None:
        aux_head = _build_head(config.aux_head, channels, config.num_classes, "model.aux_head", config.align_corners)
    model = Segmentor(
        backbone,
        head,
        aux_head,
        align_corners=config.align_corners,
        mean=config.mean,
        std=config.std,
        channel_order=config.channel_order,
    )
    model.config = config
    return model
