"""Convert the official ANN checkpoints (MendelXu/ANN, Cityscapes) into annkit state dicts.

Facts from the official code (``models/seg/nets/annn.py``, ``models/seg/utils/{afnb,apnb}.py``,
``models/backbones/resnet/``, ``methods/tools/runner_helper.py``; read, not copied):
- the file is ``{config_dict, state_dict, runner_state}``; the model was wrapped in DataParallel, so every key
  starts with ``module.``;
- backbone ``deepbase_resnet101_dilated8``: ``backbone.prefix.{conv1,bn1,conv2,bn2,conv3,bn3}`` (3×3 convs
  64-64-128, max pool with ``ceil_mode=True``), then torchvision-named ``layerK.i.{convJ,bnJ,downsample.{0,1}}``;
  stage 4 dilation 2, stage 5 dilation 4 with multi-grid (1, 1, 1), the first block's strided conv at half
  dilation — torchvision's ``replace_stride_with_dilation`` exactly;
- AFNB ``fusion.stages.0``: ``f_query``/``f_key`` = Sequential(conv **with bias**, Sequential(BN, ReLU)),
  ``f_value``, ``W`` (1×1 convs with bias); ``fusion.conv_bn_dropout`` = conv (with bias) → BN → Dropout2d(0.05);
- ``context.0`` (3×3 conv 2048→512, with bias) → ``context.1.0`` (BN) → ReLU → ``context.2`` = APNB with
  ``stages.0.f_query`` the *same module* as ``f_key`` (saved under both names) and ``conv_bn_dropout`` = conv (with
  bias) → BN → ReLU → Dropout2d(0.05); ``cls`` the classifier;
- auxiliary ``dsn``: 3×3 conv 1024→512 (with bias) → BN → ReLU → Dropout2d(0.05) → 1×1 classifier
  (``dsn.3``);
- input BGR on the 0–255 scale minus [102.9801, 115.9465, 122.7717], std 1; logits resized with align_corners=True.
annkit's convs before a BN carry no bias; a conv bias b before BN is folded exactly into BN's running mean
(BN(Wx + b) with mean μ equals BN(Wx) with mean μ − b, in eval mode).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from annkit.models.convert_mmseg import saved_twice

#: (official prefix, annkit prefix); first match wins
_PREFIXES: tuple[tuple[str, str], ...] = (
    ("backbone.prefix.conv1.", "backbone.stem.0."),
    ("backbone.prefix.bn1.", "backbone.stem.1."),
    ("backbone.prefix.conv2.", "backbone.stem.3."),
    ("backbone.prefix.bn2.", "backbone.stem.4."),
    ("backbone.prefix.conv3.", "backbone.stem.6."),
    ("backbone.prefix.bn3.", "backbone.stem.7."),
    ("backbone.layer", "backbone.layer"),
    ("fusion.stages.0.f_query.0.", "head.fusion.query.conv."),
    ("fusion.stages.0.f_query.1.0.", "head.fusion.query.norm."),
    ("fusion.stages.0.f_key.0.", "head.fusion.key.conv."),
    ("fusion.stages.0.f_key.1.0.", "head.fusion.key.norm."),
    ("fusion.stages.0.f_value.", "head.fusion.value."),
    ("fusion.stages.0.W.", "head.fusion.out."),
    ("fusion.conv_bn_dropout.0.", "head.fusion.fuse.conv."),
    ("fusion.conv_bn_dropout.1.", "head.fusion.fuse.norm."),
    ("context.0.", "head.bottleneck.conv."),
    ("context.1.0.", "head.bottleneck.norm."),
    ("context.2.stages.0.f_key.0.", "head.context.query_key.conv."),
    ("context.2.stages.0.f_key.1.0.", "head.context.query_key.norm."),
    ("context.2.stages.0.f_value.", "head.context.value."),
    ("context.2.stages.0.W.", "head.context.out."),
    ("context.2.conv_bn_dropout.0.", "head.context.fuse.conv."),
    ("context.2.conv_bn_dropout.1.0.", "head.context.fuse.norm."),
    ("cls.", "head.classifier."),
    ("dsn.0.", "aux_head.convs.0.conv."),
    ("dsn.1.0.", "aux_head.convs.0.norm."),
    ("dsn.3.", "aux_head.classifier."),
)
_SHARED = ("context.2.stages.0.f_query.", "context.2.stages.0.f_key.")
#: convs with a bias that annkit folds into the BN after them: conv prefix → BN prefix (annkit names)
_FOLDED = {
    "head.fusion.fuse.conv.": "head.fusion.fuse.norm.",
    "head.bottleneck.conv.": "head.bottleneck.norm.",
    "head.context.fuse.conv.": "head.context.fuse.norm.",
    "aux_head.convs.0.conv.": "aux_head.convs.0.norm.",
}


def official_state_dict(checkpoint: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The network weights of an official ANN checkpoint (its ``state_dict``), ``module.`` prefix removed."""
    state = checkpoint.get("state_dict", checkpoint)
    if isinstance(state, Mapping):
        state = {k[len("module.") :] if k.startswith("module.") else k: v for k, v in state.items()}
    required = ("backbone.prefix.conv1.weight", "fusion.conv_bn_dropout.0.weight")
    if not isinstance(state, Mapping) or any(key not in state for key in required):
        keys = list(state)[:5] if isinstance(state, Mapping) else type(state).__name__
        raise ValueError(
            f"not an official ANN (MendelXu/ANN) checkpoint: expected 'module.backbone.prefix.*' and "
            f"'module.fusion.*' keys under 'state_dict', found {keys}"
        )
    return dict(state)


def convert_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Official key layout → annkit's (biases before BN folded into the running means; new tensors only there).

    Raises ValueError naming every key it cannot place, and if APNB's ``f_query`` differs from its ``f_key``.
    """
    converted, unknown = {}, []
    shared = saved_twice(state, *_SHARED, "the official code saves one module under both names")
    for key, tensor in state.items():
        if key in shared:
            continue
        for source, target in _PREFIXES:
            if key.startswith(source):
                converted[target + key[len(source) :]] = tensor
                break
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(f"cannot convert {len(unknown)} official ANN keys (unknown layout): {unknown[:10]}")
    for conv, norm in _FOLDED.items():  # BN(Wx + b) = BN'(Wx) with running mean μ − b
        bias = converted.pop(conv + "bias", None)
        if bias is not None:
            converted[norm + "running_mean"] = converted[norm + "running_mean"] - bias
    for key in [k for k in converted if k.endswith(".running_var")]:  # older BN (sync BN) had no counter
        converted.setdefault(key.replace("running_var", "num_batches_tracked"), torch.tensor(0))
    return converted


def num_classes(state: Mapping[str, torch.Tensor]) -> int:
    """The class count of an official state dict (rows of ``cls.weight``)."""
    return state["cls.weight"].shape[0]
