"""Convert mmsegmentation checkpoints (ANN, and the FCN/PSP/DeepLabV3/NonLocal baselines on ResNetV1c) into annkit
state dicts.

Facts from mmsegmentation's source (``mmseg/models/decode_heads/ann_head.py``, ``utils/self_attention_block.py``,
``backbones/resnet.py``; read, not copied):
- the backbone is ResNetV1c: ``backbone.stem.{0,1,3,4,6,7}`` then ``layerK.i.{convJ,bnJ,downsample.{0,1}}`` —
  annkit's ``ResNetBackbone`` with ``stem="deep"`` uses the same names, so these keys pass through;
- ``ConvModule`` = conv (no bias when followed by BN) → ``bn`` → activation; annkit's ``ConvNormAct`` calls its
  norm ``norm``;
- ANN: ``decode_head.fusion.stages.0.{query_project,key_project}`` (conv+BN+ReLU), ``value_project``,
  ``out_project`` (plain 1×1 convs with bias), ``fusion.bottleneck`` (conv+BN, no ReLU) = annkit's AFNB
  ``query``, ``key``, ``value``, ``out``, ``fuse``; ``decode_head.bottleneck`` (3×3) = ``head.bottleneck``;
  APNB = ``decode_head.context.stages.0`` where ``share_key_query=True`` makes ``query_project`` the *same
  module* as ``key_project``, saved under both names — checked equal, stored once as ``query_key``;
- ``conv_seg`` = ``classifier``; the auxiliary FCN head's ``convs.N`` / ``conv_cat`` keep their names;
- PSPHead: ``decode_head.psp_modules.i.1`` (the ConvModule after the adaptive pool) = ``head.branches.i``;
- ASPPHead: ``image_pool.1`` (ConvModule after the global pool), ``aspp_modules.i``, ``bottleneck``;
- NLHead: ``convs.0`` → mmcv ``NonLocal2d`` (``g``/``theta``/``phi``: 1×1 convs with bias; ``conv_out``: conv
  without bias + BN; residual) → ``convs.1`` → ``conv_cat`` = annkit's ``NonLocalHead(post_conv, concat_input)``.
Only one query scale (``stages.0``) exists in every released ANN config; others are rejected by name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch

from annkit.config import BackboneConfig, HeadConfig, ModelConfig

# (mmseg prefix, annkit prefix, holds ConvModules whose "bn" is annkit's "norm"); first match wins
_PREFIXES: tuple[tuple[str, str, bool], ...] = (
    ("backbone.", "backbone.", False),
    ("decode_head.fusion.stages.0.query_project.", "head.fusion.query.", True),
    ("decode_head.fusion.stages.0.key_project.", "head.fusion.key.", True),
    ("decode_head.fusion.stages.0.value_project.", "head.fusion.value.", False),
    ("decode_head.fusion.stages.0.out_project.", "head.fusion.out.", False),
    ("decode_head.fusion.bottleneck.", "head.fusion.fuse.", True),
    ("decode_head.context.stages.0.key_project.", "head.context.query_key.", True),
    ("decode_head.context.stages.0.value_project.", "head.context.value.", False),
    ("decode_head.context.stages.0.out_project.", "head.context.out.", False),
    ("decode_head.context.bottleneck.", "head.context.fuse.", True),
    ("decode_head.bottleneck.", "head.bottleneck.", True),
    ("decode_head.image_pool.1.", "head.image_pool.", True),
    ("decode_head.aspp_modules.", "head.branches.", True),
    ("decode_head.convs.", "head.convs.", True),
    ("decode_head.conv_cat.", "head.conv_cat.", True),
    ("decode_head.conv_seg.", "head.classifier.", False),
    ("auxiliary_head.convs.", "aux_head.convs.", True),
    ("auxiliary_head.conv_cat.", "aux_head.conv_cat.", True),
    ("auxiliary_head.conv_seg.", "aux_head.classifier.", False),
)
# NLHead = FCNHead(num_convs=2) with mmcv's NonLocal2d between its convs; these rules come first for it
_NONLOCAL: tuple[tuple[str, str, bool], ...] = (
    ("decode_head.convs.0.", "head.bottleneck.", True),
    ("decode_head.convs.1.", "head.post.", True),
    ("decode_head.nl_block.g.conv.", "head.context.g.", False),
    ("decode_head.nl_block.theta.conv.", "head.context.theta.", False),
    ("decode_head.nl_block.phi.conv.", "head.context.phi.", False),
    ("decode_head.nl_block.conv_out.conv.", "head.context.out.", False),
    ("decode_head.nl_block.conv_out.bn.", "head.context.out_norm.", False),
)
_SHARED_QUERY = "decode_head.context.stages.0.query_project."
_SHARED_KEY = "decode_head.context.stages.0.key_project."


def saved_twice(state: Mapping[str, torch.Tensor], query: str, key: str, why: str) -> set[str]:
    """The keys under prefix ``query`` that repeat APNB's one shared query/key projection, saved again under prefix
    ``key``: each is checked equal to its twin (a ValueError names the pair and says ``why`` they must be) and
    returned, for the converter to skip."""
    repeats = {name for name in state if name.startswith(query)}
    for name in repeats:
        twin = key + name[len(query) :]
        if twin not in state or not torch.equal(state[twin], state[name]):
            raise ValueError(f"APNB's shared query/key projection differs: {name!r} != {twin!r}; {why}")
    return repeats


def _rename(key: str, nonlocal_head: bool = False) -> str | None:
    """The annkit name of mmsegmentation parameter ``key``, or None if the layout is unknown."""
    psp = "decode_head.psp_modules."
    if key.startswith(psp):  # psp_modules.<i>.1 is the ConvModule after adaptive pool <i>
        index, module, rest = key[len(psp) :].split(".", 2)
        if module != "1":
            return None
        target, conv_module = f"head.branches.{index}.", True
    else:
        for source, target, conv_module in (_NONLOCAL if nonlocal_head else ()) + _PREFIXES:  # noqa: B007 (used after the break)
            if key.startswith(source):
                rest = key[len(source) :]
                break
        else:
            return None
    if conv_module:  # "bn.weight" or "<i>.bn.weight" (a stack of ConvModules) → "norm"
        rest = re.sub(r"(^|\.)bn\.", r"\1norm.", rest, count=1)
    return target + rest


def mmseg_state_dict(checkpoint: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The model weights of an mmsegmentation checkpoint (its ``state_dict`` entry, or the mapping itself), with
    the ``module.`` prefix of a DataParallel/DDP-wrapped model removed."""
    state = checkpoint.get("state_dict", checkpoint)
    if isinstance(state, Mapping):  # a DataParallel / DDP model saves every key under "module."
        state = {k[len("module.") :] if k.startswith("module.") else k: v for k, v in state.items()}
    if not isinstance(state, Mapping) or not any(k.startswith("decode_head.") for k in state):
        keys = list(state)[:5] if isinstance(state, Mapping) else type(state).__name__
        raise ValueError(
            f"not an mmsegmentation segmentor checkpoint: expected 'decode_head.*' keys "
            f"(under 'state_dict', optionally prefixed 'module.'), found {keys}"
        )
    return state


def convert_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """mmsegmentation key layout → annkit key layout (tensors shared, not copied).

    Raises ValueError naming every key it cannot place, and if APNB's saved ``query_project`` differs from its
    ``key_project`` (they must be one shared module).
    """
    converted, unknown = {}, []
    nonlocal_head = "decode_head.nl_block.g.conv.weight" in state
    if nonlocal_head:  # mmcv's conv_out has no bias (BN follows); annkit's NonLocal2d.out has one: zero
        out = state["decode_head.nl_block.conv_out.conv.weight"]
        converted["head.context.out.bias"] = out.new_zeros(out.shape[0])
    shared = saved_twice(state, _SHARED_QUERY, _SHARED_KEY, "mmsegmentation saves one module under both names")
    for key, tensor in state.items():
        if key in shared:
            continue
        new = _rename(key, nonlocal_head)
        if new is None:
            unknown.append(key)
        else:
            converted[new] = tensor
    if unknown:
        raise ValueError(f"cannot convert {len(unknown)} mmsegmentation keys (unknown layout): {unknown[:10]}")
    return converted


def infer_config(
    state: Mapping[str, torch.Tensor], *, name: str = "mmseg_converted", align_corners: bool = False
) -> ModelConfig:
    """The annkit ``ModelConfig`` an mmsegmentation ANN/FCN/PSP/ASPP/NL ResNetV1c-D8 state dict describes.

    Depth, block type, head kind and widths, class count and the auxiliary head are read from key names and tensor
    shapes; dropouts follow mmsegmentation's configs (0.1 in the heads, none in the blocks). ``align_corners``
    cannot be read from weights: mmsegmentation uses True only for its 769×769 Cityscapes models.
    """
    if "backbone.stem.0.weight" not in state:
        raise ValueError("expected an mmsegmentation ResNetV1c backbone ('backbone.stem.0.weight' is missing)")
    blocks = 1 + max(int(k.split(".")[2]) for k in state if k.startswith("backbone.layer3."))
    bottleneck = "backbone.layer1.0.conv3.weight" in state
    depths = {(True, 6): 50, (True, 23): 101, (False, 2): 18, (False, 6): 34}
    if (bottleneck, blocks) not in depths:
        raise ValueError(
            f"unsupported ResNet: {'bottleneck' if bottleneck else 'basic'} blocks with {blocks} "
            f"blocks in stage 4; expected ResNet-18/34/50/101"
        )
    num_classes = state["decode_head.conv_seg.weight"].shape[0]
    if "decode_head.fusion.stages.0.query_project.conv.weight" in state:
        head = HeadConfig(
            "ann",
            dict(
                channels=state["decode_head.bottleneck.conv.weight"].shape[0],
                key_channels=state["decode_head.fusion.stages.0.query_project.conv.weight"].shape[0],
                value_channels=state["decode_head.fusion.stages.0.value_project.weight"].shape[0],
                block_dropout=0.0,
                dropout=0.1,
                key_bias=False,
            ),
        )
    elif "decode_head.psp_modules.0.1.conv.weight" in state:
        branches = 1 + max(int(k.split(".")[2]) for k in state if k.startswith("decode_head.psp_modules."))
        head = HeadConfig(
            "psp",
            dict(
                channels=state["decode_head.bottleneck.conv.weight"].shape[0],
                pool_sizes=[1, 2, 3, 6][:branches],
                dropout=0.1,
            ),
        )
    elif "decode_head.image_pool.1.conv.weight" in state:  # ASPPHead: branch 0 is the 1×1 (dilation 1) conv
        branches = 1 + max(int(k.split(".")[2]) for k in state if k.startswith("decode_head.aspp_modules."))
        if branches != 4 or state["decode_head.aspp_modules.0.conv.weight"].shape[-1] != 1:
            raise ValueError(
                f"unsupported ASPPHead: expected mmsegmentation's dilations (1, 12, 24, 36), found {branches} branches"
            )
        head = HeadConfig(
            "aspp",
            dict(channels=state["decode_head.bottleneck.conv.weight"].shape[0], dilations=[1, 12, 24, 36], dropout=0.1),
        )
    elif "decode_head.nl_block.g.conv.weight" in state:  # NLHead
        head = HeadConfig(
            "nonlocal",
            dict(
                channels=state["decode_head.convs.0.conv.weight"].shape[0],
                key_channels=state["decode_head.nl_block.g.conv.weight"].shape[0],
                dropout=0.1,
                post_conv=True,
                concat_input="decode_head.conv_cat.conv.weight" in state,
            ),
        )
    elif "decode_head.convs.0.conv.weight" in state:
        head = HeadConfig("fcn", _fcn_options(state, "decode_head", in_index=-1))
    else:
        raise ValueError(
            "unsupported mmsegmentation decode head: expected ANNHead, ASPPHead, NLHead, PSPHead or FCNHead keys"
        )
    aux = (
        HeadConfig("fcn", _fcn_options(state, "auxiliary_head", in_index=-2))
        if "auxiliary_head.conv_seg.weight" in state
        else None
    )
    backbone = BackboneConfig(name="resnet", depth=depths[bottleneck, blocks], output_stride=8, stem="deep")
    return ModelConfig(
        name=name, num_classes=num_classes, backbone=backbone, head=head, aux_head=aux, align_corners=align_corners
    )


def _fcn_options(state: Mapping[str, torch.Tensor], prefix: str, in_index: int) -> dict[str, Any]:
    num_convs = 1 + max(int(k.split(".")[2]) for k in state if k.startswith(f"{prefix}.convs."))
    return dict(
        channels=state[f"{prefix}.convs.0.conv.weight"].shape[0],
        num_convs=num_convs,
        concat_input=f"{prefix}.conv_cat.conv.weight" in state,
        dropout=0.1,
        in_index=in_index,
    )
