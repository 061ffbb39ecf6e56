"""Convert PaddleSeg's ANN checkpoints (``model.pdparams``, ResNet-vd backbones) into annkit state dicts.

Facts from PaddleSeg's source (``paddleseg/models/ann.py``, ``backbones/resnet_vd.py``, ``layers/layer_libs.py``,
``configs/ann/*.yml``; read, not copied):
- ``ResNet_vd``: stem ``conv1_{1,2,3}`` (3×3 convs 32-32-64) = annkit's ``stem.{0,3,6}`` + BN ``stem.{1,4,7}``;
  block ``bb_{stage}_{i}`` with ``conv0``, ``conv1``, ``conv2`` (bottleneck; ``conv0``, ``conv1`` in basic
  blocks) = ``layer{stage+1}.{i}.conv{1,2,3}`` / ``bn{…}``; the shortcut ``short`` (avg pool when strided →
  1×1 conv → BN) = ``downsample.{1,2}``. Every conv-BN pair is ``._conv`` / ``._batch_norm``, BN statistics are
  ``_mean`` / ``_variance`` (torch: ``running_mean`` / ``running_var``, eps 1e-5 in both);
- ``ANNHead``: AFNB = ``head.fusion`` (``stages.0.{f_query, f_key}`` conv+BN+ReLU, ``f_value``, ``W`` plain
  convs, ``conv_bn`` fusion); ``head.context.0`` is the 3×3 conv 2048→512 (annkit's ``head.bottleneck``);
  APNB = ``head.context.1`` whose ``f_query`` *is* ``f_key`` (one layer, saved under both names — checked equal,
  stored once as ``query_key``); ``head.cls`` = ``head.classifier``; ``head.auxlayer.conv_bn_relu`` /
  ``head.auxlayer.conv`` = ``aux_head.convs.0`` / ``aux_head.classifier``;
- PaddleSeg's ``ConvBNReLU`` / ``ConvBN`` convs keep a bias in front of BN. It is folded into the BN's running
  mean, μ' = μ − b: exact in eval mode (BN(Wx + b) with mean μ equals BN(Wx) with mean μ − b), and in training
  BN subtracts the batch mean, which cancels any constant bias anyway.
Only one attention stage (``stages.0``, PaddleSeg's ``repeat_sizes=[1]``) exists in its configs; others are
rejected by name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import torch

from annkit.config import BackboneConfig, HeadConfig, ModelConfig
from annkit.models.convert_mmseg import saved_twice

_BN = {"weight": "weight", "bias": "bias", "_mean": "running_mean", "_variance": "running_var"}
# (PaddleSeg prefix, annkit prefix, is a ConvBN(ReLU) with _conv/_batch_norm rather than a plain conv)
_HEAD: tuple[tuple[str, str, bool], ...] = (
    ("head.fusion.stages.0.f_query.", "head.fusion.query.", True),
    ("head.fusion.stages.0.f_key.", "head.fusion.key.", True),
    ("head.fusion.stages.0.f_value.", "head.fusion.value.", False),
    ("head.fusion.stages.0.W.", "head.fusion.out.", False),
    ("head.fusion.conv_bn.", "head.fusion.fuse.", True),
    ("head.context.0.", "head.bottleneck.", True),
    ("head.context.1.stages.0.f_key.", "head.context.query_key.", True),
    ("head.context.1.stages.0.f_value.", "head.context.value.", False),
    ("head.context.1.stages.0.W.", "head.context.out.", False),
    ("head.context.1.conv_bn.", "head.context.fuse.", True),
    ("head.cls.", "head.classifier.", False),
    ("head.auxlayer.conv_bn_relu.", "aux_head.convs.0.", True),
    ("head.auxlayer.conv.", "aux_head.classifier.", False),
)
_SHARED_QUERY = "head.context.1.stages.0.f_query."
_SHARED_KEY = "head.context.1.stages.0.f_key."
_STEM = re.compile(r"backbone\.conv1_([123])\.(.+)")
_BLOCK = re.compile(r"backbone\.bb_(\d+)_(\d+)\.(conv[012]|short)\.(.+)")


def _conv_bn(prefix: str, conv: str, norm: str, rest: str) -> str | None:
    """``_conv.weight`` → ``{prefix}{conv}.weight``; ``_conv.bias`` → ``{prefix}{conv}.bias`` (folded later);
    ``_batch_norm.<p>`` → ``{prefix}{norm}.<torch name of p>``; None for anything else."""
    part, _, name = rest.partition(".")
    if part == "_conv" and name in ("weight", "bias"):
        return f"{prefix}{conv}.{name}"
    if part == "_batch_norm" and name in _BN:
        return f"{prefix}{norm}.{_BN[name]}"
    return None


def _rename(key: str, bottleneck: bool) -> str | None:
    """The annkit name of PaddleSeg parameter ``key`` (a conv bias keeps its conv's name), or None if unknown."""
    if match := _STEM.fullmatch(key):
        index = 3 * (int(match.group(1)) - 1)
        return _conv_bn("backbone.stem.", str(index), str(index + 1), match.group(2))
    if match := _BLOCK.fullmatch(key):
        stage, block, part, rest = match.groups()
        prefix = f"backbone.layer{int(stage) + 1}.{block}."
        if part == "short":
            return _conv_bn(prefix, "downsample.1", "downsample.2", rest)
        j = int(part[-1]) + 1
        if not bottleneck and j == 3:
            return None
        return _conv_bn(prefix, f"conv{j}", f"bn{j}", rest)
    for source, target, conv_bn in _HEAD:
        if key.startswith(source):
            rest = key[len(source) :]
            if conv_bn:
                return _conv_bn(target, "conv", "norm", rest)
            return target + rest if rest in ("weight", "bias") else None
    return None


def convert_state_dict(state: Mapping[str, np.ndarray | torch.Tensor]) -> dict[str, torch.Tensor]:
    """PaddleSeg ANN key layout → annkit key layout (a new float32 tensor per entry).

    Folds each conv bias that feeds a BN into that BN's running mean, adds ``num_batches_tracked`` (0) for every
    BN, checks APNB's twice-saved ``f_query`` equals ``f_key``. Raises ValueError naming every unknown key.
    """
    bottleneck = "backbone.bb_0_0.conv2._conv.weight" in state
    tensors = {key: torch.tensor(np.asarray(value)) for key, value in state.items()}
    converted, unknown, biases = {}, [], {}
    shared = saved_twice(
        tensors,
        _SHARED_QUERY,
        _SHARED_KEY,
        "PaddleSeg's SelfAttentionBlock_APNB saves one layer (f_query = f_key) under both names",
    )
    for key, tensor in tensors.items():
        if key in shared:
            continue
        new = _rename(key, bottleneck)
        if new is None:
            unknown.append(key)
        elif key.endswith("._conv.bias"):
            biases[new] = tensor
        else:
            converted[new] = tensor
    if unknown:
        raise ValueError(
            f"cannot convert {len(unknown)} PaddleSeg keys (expected PaddleSeg's ANN with a ResNet-vd "
            f"backbone): {unknown[:10]}"
        )
    for conv_bias, bias in biases.items():  # BN(Wx + b; μ) = BN(Wx; μ − b)
        mean = conv_bias[: -len("conv.bias")] + "norm.running_mean"
        if mean not in converted:
            raise ValueError(f"conv bias {conv_bias!r} has no BatchNorm after it ({mean!r} is missing)")
        converted[mean] = converted[mean] - bias
    for key in [k for k in converted if k.endswith(".running_mean")]:
        converted[key[: -len("running_mean")] + "num_batches_tracked"] = torch.tensor(0)
    return converted


def infer_config(state: Mapping[str, np.ndarray | torch.Tensor], *, name: str = "paddleseg_converted") -> ModelConfig:
    """The annkit ``ModelConfig`` a PaddleSeg ANN state dict describes (as the ``paddleseg_ann_*`` presets).

    Depth, block type, widths, class count and the auxiliary head come from key names and shapes. Not in the
    weights, so taken from PaddleSeg's ANN configs: output stride 8, pool sizes (1, 3, 6, 8), align_corners False,
    mean = std = 0.5 on RGB in [0, 1], element-wise dropout 0.05.
    """
    if "backbone.conv1_1._conv.weight" not in state or "head.cls.weight" not in state:
        raise ValueError(
            "not a PaddleSeg ANN checkpoint: expected 'backbone.conv1_1._conv.weight' (ResNet-vd) and "
            f"'head.cls.weight' (ANNHead); found keys {list(state)[:5]}"
        )
    blocks = 1 + max(int(k.split(".")[1].split("_")[2]) for k in state if k.startswith("backbone.bb_2_"))
    bottleneck = "backbone.bb_0_0.conv2._conv.weight" in state
    depths = {(True, 6): 50, (True, 23): 101, (False, 2): 18, (False, 6): 34}
    if (bottleneck, blocks) not in depths:
        raise ValueError(
            f"unsupported ResNet-vd: {'bottleneck' if bottleneck else 'basic'} blocks with {blocks} "
            "blocks in stage 4; expected ResNet18/34/50/101_vd"
        )
    attention = "head.fusion.stages.0."
    head = HeadConfig(
        "ann",
        dict(
            channels=state["head.context.0._conv.weight"].shape[0],
            pool_sizes=[1, 3, 6, 8],
            key_channels=state[attention + "f_query._conv.weight"].shape[0],
            value_channels=state[attention + "f_value.weight"].shape[0],
            block_dropout=0.05,
            dropout=0.0,
            dropout_kind="element",
            key_bias=False,
            zero_init_out=False,
        ),
    )
    aux = None
    if "head.auxlayer.conv.weight" in state:
        aux = HeadConfig(
            "fcn",
            dict(
                channels=state["head.auxlayer.conv_bn_relu._conv.weight"].shape[0],
                num_convs=1,
                concat_input=False,
                dropout=0.05,
                dropout_kind="element",
                in_index=-2,
            ),
        )
    backbone = BackboneConfig(
        name="resnet",
        depth=depths[bottleneck, blocks],
        output_stride=8,
        stem="deep",
        avg_down=True,
        contract_dilation=False,
    )
    return ModelConfig(
        name=name,
        num_classes=state["head.cls.weight"].shape[0],
        backbone=backbone,
        head=head,
        aux_head=aux,
        align_corners=False,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
    )
