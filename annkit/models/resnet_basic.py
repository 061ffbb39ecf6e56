"""Dilated BasicBlock stages for ResNet-18/34, following mmsegmentation's ResNetV1c-18/34 exactly.

torchvision's ``BasicBlock`` refuses ``dilation > 1``, so ResNet-18/34 at output stride 8 needs its own block.
mmsegmentation's semantics (``mmseg/models/backbones/resnet.py``, ``utils/res_layer.py``), followed here so that
its ``r18-d8`` / ``r34-d8`` checkpoints convert:
- only the first 3×3 conv of a block is dilated (padding = dilation); the second is a plain 3×3 conv, padding 1;
- ``contract_dilation``: the first block of a dilated stage uses half the stage's dilation (stage 4: 1, 2, …;
  stage 5: 2, 4, …);
- a block that changes stride or width gets a 1×1 conv + BN shortcut (``downsample.0``, ``downsample.1``).
Parameter names equal torchvision's BasicBlock (``conv1``, ``bn1``, ``conv2``, ``bn2``), so its ImageNet weights load.
"""

from __future__ import annotations

import torch
from torch import nn


class DilatedBasicBlock(nn.Module):
    """Residual block ``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))`` with a dilated ``conv1``."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, *, stride: int = 1, dilation: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=dilation, dilation=dilation, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        for conv in (self.conv1, self.conv2):
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + shortcut)


def make_basic_stage(inplanes: int, planes: int, blocks: int, *, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    """One ResNet stage of ``blocks`` DilatedBasicBlocks with mmsegmentation's ``contract_dilation=True``."""
    downsample = None
    if stride != 1 or inplanes != planes:
        downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes))
        nn.init.kaiming_normal_(downsample[0].weight, mode="fan_out", nonlinearity="relu")
    first_dilation = dilation // 2 if dilation > 1 else dilation
    layers = [DilatedBasicBlock(inplanes, planes, stride=stride, dilation=first_dilation, downsample=downsample)]
    layers += [DilatedBasicBlock(planes, planes, dilation=dilation) for _ in range(1, blocks)]
    return nn.Sequential(*layers)
