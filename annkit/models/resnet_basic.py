"""Dilated BasicBlock stages for ResNet-18/34 (mmsegmentation's ResNetV1c and PaddleSeg's ResNet-vd), and the
shortcut both block types share.

torchvision's ``BasicBlock`` refuses ``dilation > 1``, so ResNet-18/34 at output stride 8 needs its own block.
mmsegmentation's semantics (``mmseg/models/backbones/resnet.py``, ``utils/res_layer.py``), followed here so that
its ``r18-d8`` / ``r34-d8`` checkpoints convert:
- only the first 3×3 conv of a block is dilated (padding = dilation); the second is a plain 3×3 conv, padding 1;
- ``contract_dilation``: the first block of a dilated stage uses half the stage's dilation (stage 4: 1, 2, …;
  stage 5: 2, 4, …);
- a block that changes stride or width gets a 1×1 conv + BN shortcut (``downsample.0``, ``downsample.1``).
Parameter names equal torchvision's BasicBlock (``conv1``, ``bn1``, ``conv2``, ``bn2``), so its ImageNet weights load.

PaddleSeg's ResNet-vd (``paddleseg/models/backbones/resnet_vd.py``) differs in two ways, both options here:
- ``contract_dilation=False``: every block of a dilated stage, and both of its 3×3 convs, use the stage's full
  dilation (stage 4: 2, 2, …; stage 5: 4, 4, …);
- ``avg_down=True`` (ResNet-D, He et al. 2019 "Bag of Tricks"): a strided shortcut averages 2×2 windows first and
  then applies a stride-1 1×1 conv + BN, instead of a stride-2 1×1 conv that drops three quarters of the pixels.
"""

from __future__ import annotations

import torch
from torch import nn


class DilatedBasicBlock(nn.Module):
    """Residual block ``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))`` with a dilated ``conv1`` (and
    ``conv2`` dilated by ``second_dilation``: 1 in mmsegmentation, the block's dilation in PaddleSeg)."""

    expansion = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        *,
        stride: int = 1,
        dilation: int = 1,
        downsample: nn.Module | None = None,
        second_dilation: int = 1,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=dilation, dilation=dilation, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=second_dilation, dilation=second_dilation, bias=False)
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


def shortcut(inplanes: int, planes: int, stride: int, *, avg_down: bool = False) -> nn.Sequential:
    """The projection shortcut of a block that changes stride or width: (B, inplanes, H, W) → (B, planes, H/s, W/s).

    ``avg_down=False``: 1×1 conv (stride s) + BN, named ``0``, ``1``. ``avg_down=True`` (ResNet-vd): an average pool
    (2×2, stride 2, ceil mode, padding not counted; ``nn.Identity`` when s = 1), a stride-1 1×1 conv and BN, named
    ``0``, ``1``, ``2`` in every block so a converter needs no stride bookkeeping.
    """
    if avg_down:
        pool = nn.AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False) if stride > 1 else nn.Identity()
        layers = [pool, nn.Conv2d(inplanes, planes, 1, bias=False), nn.BatchNorm2d(planes)]
    else:
        layers = [nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)]
    conv = layers[-2]
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    return nn.Sequential(*layers)


def make_basic_stage(
    inplanes: int,
    planes: int,
    blocks: int,
    *,
    stride: int = 1,
    dilation: int = 1,
    contract_dilation: bool = True,
    avg_down: bool = False,
) -> nn.Sequential:
    """One ResNet stage of ``blocks`` DilatedBasicBlocks.

    ``contract_dilation=True`` (mmsegmentation): the first block uses half the stage's dilation, only ``conv1`` is
    dilated. ``False`` (PaddleSeg): every block and both convs use ``dilation``. ``avg_down``: see ``shortcut``;
    as PaddleSeg builds ResNet-vd, the first block then always has a projection shortcut (also in ``layer1``,
    where the widths match).
    """
    downsample = None
    if stride != 1 or inplanes != planes or avg_down:
        downsample = shortcut(inplanes, planes, stride, avg_down=avg_down)
    first_dilation = dilation // 2 if contract_dilation and dilation > 1 else dilation
    second = 1 if contract_dilation else dilation
    layers = [
        DilatedBasicBlock(
            inplanes, planes, stride=stride, dilation=first_dilation, downsample=downsample, second_dilation=second
        )
    ]
    layers += [DilatedBasicBlock(planes, planes, dilation=dilation, second_dilation=second) for _ in range(1, blocks)]
    return nn.Sequential(*layers)
