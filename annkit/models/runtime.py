"""The runtime switches of a config: BN folding, channels_last, ``torch.compile``, autocast (bf16/fp16).

``prepare(model, runtime, inference=True)`` applies them; ``autocast(runtime, device)`` is the matching context.

BN folding (inference only): in eval mode BN is the affine map y = γ(x − μ)/√(σ² + ε) + β, so a conv
followed by BN is one conv with weight W·γ/√(σ²+ε) and bias (b − μ)·γ/√(σ²+ε) + β — same numbers up to
rounding, one memory pass fewer per conv. AFNB/APNB stay exact: their fusion conv (context half included) is folded as a whole.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from annkit.config import RuntimeConfig

# (conv attribute, BN attribute) pairs inside one module: ConvNormAct, torchvision/annkit ResNet blocks
_PAIRS = (("conv", "norm"), ("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3"))


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Fold every eval-mode BatchNorm2d into the Conv2d that feeds it (in place); the BN becomes Identity.

    Pairs are found by name (``conv``/``norm``, ``convK``/``bnK``) and as consecutive Conv2d, BatchNorm2d in an
    ``nn.Sequential`` (stems, shortcuts). The model must be in eval mode: training BN normalises by batch stats.
    """
    if model.training:
        raise ValueError("fold_batchnorm needs model.eval(): training-mode BatchNorm uses batch statistics")
    for module in list(model.modules()):
        for conv_name, bn_name in _PAIRS:
            conv, bn = getattr(module, conv_name, None), getattr(module, bn_name, None)
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                setattr(module, conv_name, fuse_conv_bn_eval(conv, bn))
                setattr(module, bn_name, nn.Identity())
        if isinstance(module, nn.Sequential):
            for i in range(len(module) - 1):
                if isinstance(module[i], nn.Conv2d) and isinstance(module[i + 1], nn.BatchNorm2d):
                    module[i] = fuse_conv_bn_eval(module[i], module[i + 1])
                    module[i + 1] = nn.Identity()
    return model


def prepare(model: nn.Module, runtime: RuntimeConfig, *, inference: bool = True) -> nn.Module:
    """Apply ``runtime`` to a Segmentor in place and return it.

    - inference: eval() and BN folding (``fold_bn``);
    - ``channels_last``: every conv runs NHWC (annkit.nn pools NHWC maps in their own layout);
    - ``compile``: backbone, head and auxiliary head each ``nn.Module.compile``-d as their own graph
      (parameter names unchanged), with inductor's weight freezing for inference.
    """
    if inference:
        model.eval()
        if runtime.fold_bn:
            fold_batchnorm(model)
    heads = [part for part in (model.head, model.aux_head) if part is not None]
    if runtime.channels_last:
        model.to(memory_format=torch.channels_last)
    if runtime.compile:
        options = {"freezing": True} if inference else None
        for part in (model.backbone, *heads):
            part.compile(options=options)
    return model


def autocast(runtime: RuntimeConfig, device: str | torch.device) -> contextlib.AbstractContextManager:
    """``torch.autocast`` with the configured dtype on ``device``'s type, or a no-op for fp32."""
    if runtime.amp_dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=getattr(torch, runtime.amp_dtype))
