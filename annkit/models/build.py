"""``build(name_or_config)``: a preset name, a ``ModelConfig`` or a preset-like dict → a ``Segmentor``.

The presets live in ``annkit.presets`` (``preset_names()`` lists them): ``voc_ann_r101`` (the paper's recipe),
``voc_ann_r50``, the mmsegmentation-compatible ``mmseg_ann_r{50,101}_d8_{voc12aug,cityscapes,ade20k}``, PaddleSeg's
``paddleseg_ann_r{50,101}_vd_{voc12aug,cityscapes}``, the official ANN's ``official_ann_r101_cityscapes``, and the
CPU teaching presets ``tiny_ann`` and ``tiny_fcn``. Heads are built from the registry ``models.heads.HEADS``, all
with one signature: ``Head(backbone.out_channels, num_classes, **options)``.
"""

from __future__ import annotations

import inspect
from typing import Any

from torch import nn

from annkit.config import HeadConfig, ModelConfig, merge
from annkit.config.values import unknown_keys
from annkit.errors import ConfigError
from annkit.models.backbones import resnet
from annkit.models.heads import HEADS
from annkit.models.segmentor import Segmentor
from annkit.models.tiny import TinyBackbone
from annkit.presets import load_preset

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
        dotted = {f"model.{key}": value for key, value in overrides.items()}
        config = ModelConfig.from_dict(merge({"model": config.to_dict()}, dotted)["model"])
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


def head_options(head: HeadConfig, where: str) -> set[str]:
    """The keyword options head ``head.name`` takes; a ConfigError names an unknown head, or an option it does not
    take and the closest ones (``unknown config key 'model.head.pool_mod': did you mean model.head.pool_mode?``)."""
    if head.name not in HEADS:
        raise ConfigError(f"{where}.name {head.name!r} is unknown; expected one of {sorted(HEADS)}")
    parameters = inspect.signature(HEADS[head.name]).parameters.values()
    options = {p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}
    unknown_keys(head.options, options, where)
    return options


def check_heads(config: ModelConfig) -> None:
    """Fail now, before data or weights load, if ``config`` names a head or head option ``build`` does not know."""
    head_options(config.head, "model.head")
    if config.aux_head is not None:
        head_options(config.aux_head, "model.aux_head")


def build_head(head: HeadConfig, in_channels: tuple[int, ...], config: ModelConfig, where: str) -> nn.Module:
    """Head ``head`` on a backbone whose stages have ``in_channels`` channels; a head that resamples (PSP) takes
    the model's ``align_corners`` unless its options set it."""
    options = dict(head.options)
    if "align_corners" in head_options(head, where):
        options.setdefault("align_corners", config.align_corners)
    try:
        return HEADS[head.name](in_channels, config.num_classes, **options)
    except (TypeError, ValueError) as err:  # a value the head's constructor refuses
        raise ConfigError(f"{where} ({head.name}) has an invalid option: {err}") from err


def build(
    name_or_config: str | dict[str, Any] | ModelConfig, *, backbone_weights: bool = True, **overrides: Any
) -> Segmentor:
    """Build the ``Segmentor`` a preset or config describes (random head; backbone ImageNet weights if configured).

    ``build("voc_ann_r50")``; ``build("tiny_ann", num_classes=5)``; ``build(cfg, backbone_weights=False)``.
    The config is kept as ``model.config``.
    """
    config = model_config(name_or_config, **overrides)
    check_heads(config)
    backbone = build_backbone(config, backbone_weights=backbone_weights)
    channels = tuple(backbone.out_channels)
    head = build_head(config.head, channels, config, "model.head")
    aux_head = None
    if config.aux_head is not None:
        aux_head = build_head(config.aux_head, channels, config, "model.aux_head")
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
