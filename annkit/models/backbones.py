"""Dilated ResNet backbones: the feature extractor of ANN (paper Sec. 4.1, "dilated ResNet at output stride 8").

ANN reads two backbone stages: stage 4 (``layer3``, 1024 channels for ResNet-50/101) feeds the keys and values of
AFNB and the auxiliary FCN head; stage 5 (``layer4``, 2048 channels) feeds AFNB's queries. Both sit at output
stride 8 because the last two stages trade their stride for dilation (Yu & Koltun's dilated convolutions).

Three stems share the same four stages:
- ``"torchvision"``: the 7×7 stride-2 conv of torchvision's ResNet, so torchvision's ImageNet weights load;
- ``"deep"``: mmsegmentation's ResNetV1c stem, three 3×3 convs with 32-32-64 channels, so mmsegmentation's
  ``*-D8`` checkpoints convert with identical parameter names (``stem.0`` … ``stem.7``, ``layerK.i.convJ`` …);
- ``"deep_base"``: the official ANN code's (torchcv's) "deep base" stem, 3×3 convs 64-64-128, so the first block
  reads 128 channels ("in-planes 128"), and its max pool rounds up (``ceil_mode=True``).

Bottleneck stages (ResNet-50/101) are torchvision's, built with ``replace_stride_with_dilation``; its per-block
dilations (stage 4: 1, 2, 2, …; stage 5: 2, 4, 4, …) equal mmsegmentation's ``contract_dilation=True``.
Basic stages (ResNet-18/34) come from :mod:`annkit.models.resnet_basic`, because torchvision's BasicBlock
refuses dilation.

PaddleSeg's ResNet-vd is the deep stem plus two options: ``avg_down=True`` (average-pool shortcut on strided
blocks) and ``contract_dilation=False`` (every block of a dilated stage at the full dilation: stage 4 all 2,
stage 5 all 4). Its bottleneck blocks are torchvision's ``Bottleneck`` (stride and dilation on the 3×3 conv,
padding = dilation, as PaddleSeg's), assembled stage by stage.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from torch import nn
from torchvision.models.resnet import Bottleneck

from annkit.errors import WeightsDownloadError
from annkit.models.resnet_basic import make_basic_stage, shortcut

#: blocks per stage (layer1..layer4) for each depth
DEPTHS: dict[int, tuple[int, int, int, int]] = {
    18: (2, 2, 2, 2),
    34: (3, 4, 6, 3),
    50: (3, 4, 6, 3),
    101: (3, 4, 23, 3),
}
#: which of layer2..layer4 replace their stride by dilation, per output stride
_DILATE: dict[int, tuple[bool, bool, bool]] = {
    8: (False, True, True),
    16: (False, False, True),
    32: (False, False, False),
}
STEMS = ("torchvision", "deep", "deep_base")


class ResNetBackbone(nn.Module):
    """A ResNet without its classifier that returns the features of stages 2–5 (``layer1`` … ``layer4``).

    ``forward(images (B, 3, H, W)) -> (c2, c3, c4, c5)``; with output stride 8, c4 and c5 are both
    (B, C, ⌈H/8⌉, ⌈W/8⌉). ``out_channels`` lists the four channel counts; the last two are the
    "low" (stage 4) and "high" (stage 5) features that ANN's head reads.
    """

    def __init__(
        self, stem: nn.Sequential, stages: list[nn.Sequential], out_channels: tuple[int, ...], ceil_mode: bool = False
    ) -> None:
        super().__init__()
        self.stem = stem
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1, ceil_mode=ceil_mode)
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.out_channels = out_channels

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = self.maxpool(self.stem(images))  # (B, 64, H/4, W/4)
        c2 = self.layer1(x)
        c3 = self.layer2(c2)  # (B, ·, H/8, W/8)
        c4 = self.layer3(c3)  # stage 4: (B, 1024, H/8, W/8) for ResNet-50/101 at OS 8
        c5 = self.layer4(c4)  # stage 5: (B, 2048, H/8, W/8)
        return c2, c3, c4, c5


def deep_stem(width: int = 32) -> nn.Sequential:
    """A "deep" stem: 3×3 convs 3→w (stride 2) →w →2w, each + BN + ReLU (output stride 2). w = 32 is
    mmsegmentation's ResNetV1c; w = 64 is the official ANN code's deep base (output 128 channels)."""
    layers: list[nn.Module] = []
    for c_in, c_out, stride in ((3, width, 2), (width, width, 1), (width, 2 * width, 1)):
        layers += [
            nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        ]
    return nn.Sequential(*layers)


def _torchvision_resnet(depth: int, weights, **kwargs) -> nn.Module:
    """torchvision's ResNet-``depth`` with ImageNet ``weights`` (downloaded into the torch hub cache once); offline,
    an error that says what was being fetched, where it would be cached and how to build without it."""
    try:
        return torchvision.models.get_model(f"resnet{depth}", weights=weights, **kwargs)
    except OSError as err:  # URLError, timeouts and unreachable hosts are OSErrors
        cached = Path(torch.hub.get_dir()) / "checkpoints" / weights.url.rsplit("/", 1)[1]
        raise WeightsDownloadError(
            f"could not download torchvision's ImageNet weights for ResNet-{depth} ({weights}) from {weights.url} "
            f"({getattr(err, 'reason', err)}). Without network access, fetch that file elsewhere and place it at "
            f"{cached}, or build without them: annkit.models.build(..., backbone_weights=False), or the override "
            "model.backbone.weights=null (random initialisation)"
        ) from None


def resnet(
    depth: int = 50,
    *,
    output_stride: int = 8,
    stem: str = "torchvision",
    weights: str | None = None,
    avg_down: bool = False,
    contract_dilation: bool = True,
) -> ResNetBackbone:
    """A dilated ResNet-``depth`` backbone at ``output_stride`` 8, 16 or 32.

    ``weights`` names torchvision ImageNet weights (``"IMAGENET1K_V1"``, ``"IMAGENET1K_V2"``, ``"DEFAULT"``) and
    needs ``stem="torchvision"``; ``None`` leaves the initialisation random. Weights are fetched through
    torchvision's weights API (into the torch hub cache). ``stem="deep", avg_down=True, contract_dilation=False``
    is PaddleSeg's ResNet-vd (``ResNet50_vd``, ``ResNet101_vd``, …).
    """
    if depth not in DEPTHS:
        raise ValueError(f"ResNet depth {depth!r} is not supported; expected one of {sorted(DEPTHS)}")
    if output_stride not in _DILATE:
        raise ValueError(f"output_stride {output_stride!r} is not supported; expected one of {sorted(_DILATE)}")
    if stem not in STEMS:
        raise ValueError(f"stem {stem!r} is not supported; expected one of {STEMS}")
    if weights is not None and stem != "torchvision":
        raise ValueError(
            f"torchvision ImageNet weights ({weights!r}) fit the 'torchvision' stem only, not {stem!r}; "
            "deep-stem weights come from mmsegmentation checkpoints (annkit.models.from_pretrained)"
        )
    if weights is not None and (avg_down or not contract_dilation):
        raise ValueError(
            f"torchvision ImageNet weights ({weights!r}) fit torchvision's ResNet only, not "
            "avg_down=True or contract_dilation=False (ResNet-vd weights come from PaddleSeg checkpoints)"
        )
    tv_weights = torchvision.models.get_model_weights(f"resnet{depth}")[weights] if weights else None
    dilate = list(_DILATE[output_stride])
    if depth >= 50 and (avg_down or not contract_dilation):
        stages = _bottleneck_stages(depth, dilate, avg_down=avg_down, contract_dilation=contract_dilation)
        out_channels = tuple(64 * 2**i * Bottleneck.expansion for i in range(4))
    elif depth >= 50:
        tv = _torchvision_resnet(depth, tv_weights, replace_stride_with_dilation=dilate)
        stages = [tv.layer1, tv.layer2, tv.layer3, tv.layer4]
        out_channels = tuple(64 * 2**i * Bottleneck.expansion for i in range(4))
    else:
        stages, out_channels = _basic_stages(depth, dilate, avg_down=avg_down, contract_dilation=contract_dilation)
        if tv_weights is not None:  # same parameter names as torchvision's BasicBlock stages
            tv = _torchvision_resnet(depth, tv_weights)
            for ours, theirs in zip(stages, (tv.layer1, tv.layer2, tv.layer3, tv.layer4)):
                ours.load_state_dict(theirs.state_dict())
    if stem == "deep_base":  # 128 stem channels: the first block's 1×1 conv and shortcut read 128, not 64
        if depth < 50:
            raise ValueError(
                f"the 'deep_base' stem is built for ResNet-50/101 (the official ANN models), not ResNet-{depth}"
            )
        first = stages[0][0]
        first.conv1 = nn.Conv2d(128, first.conv1.out_channels, 1, bias=False)
        first.downsample[0] = nn.Conv2d(128, first.downsample[0].out_channels, 1, bias=False)
        stem_module = deep_stem(64)
    elif stem == "deep":
        stem_module = deep_stem()
    elif tv_weights is not None:
        stem_module = nn.Sequential(tv.conv1, tv.bn1, tv.relu)
    else:
        stem_module = nn.Sequential(
            nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True)
        )
        nn.init.kaiming_normal_(stem_module[0].weight, mode="fan_out", nonlinearity="relu")
    return ResNetBackbone(stem_module, stages, out_channels, ceil_mode=stem == "deep_base")


def _stage_plan(depth: int, dilate: list[bool]) -> list[tuple[int, int, int]]:
    """(planes, stride, dilation) of each stage; a dilated stage keeps stride 1 and doubles the dilation
    (output stride 8: dilations 1, 1, 2, 4)."""
    plan, dilation = [], 1
    for i in range(len(DEPTHS[depth])):
        stride = 1 if i == 0 else 2
        if i > 0 and dilate[i - 1]:
            dilation, stride = dilation * stride, 1
        plan.append((64 * 2**i, stride, dilation))
    return plan


def _bottleneck_stages(
    depth: int, dilate: list[bool], *, avg_down: bool, contract_dilation: bool
) -> list[nn.Sequential]:
    """torchvision Bottleneck stages assembled with the ResNet-vd options (see ``resnet``)."""
    stages, inplanes = [], 64
    for blocks, (planes, stride, dilation) in zip(DEPTHS[depth], _stage_plan(depth, dilate)):
        width = planes * Bottleneck.expansion
        downsample = shortcut(inplanes, width, stride, avg_down=avg_down) if stride != 1 or inplanes != width else None
        first = dilation // 2 if contract_dilation and dilation > 1 else dilation
        layers = [Bottleneck(inplanes, planes, stride, downsample, dilation=first)]
        layers += [Bottleneck(width, planes, dilation=dilation) for _ in range(1, blocks)]
        for block in layers:
            for module in block.modules():
                if isinstance(module, nn.Conv2d):
                    nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        stages.append(nn.Sequential(*layers))
        inplanes = width
    return stages


def _basic_stages(
    depth: int, dilate: list[bool], *, avg_down: bool = False, contract_dilation: bool = True
) -> tuple[list[nn.Sequential], tuple[int, ...]]:
    """The four BasicBlock stages (output stride 8: dilations 1, 1, 2, 4)."""
    stages, inplanes = [], 64
    for blocks, (planes, stride, dilation) in zip(DEPTHS[depth], _stage_plan(depth, dilate)):
        stages.append(
            make_basic_stage(
                inplanes,
                planes,
                blocks,
                stride=stride,
                dilation=dilation,
                contract_dilation=contract_dilation,
                avg_down=avg_down,
            )
        )
        inplanes = planes
    return stages, tuple(64 * 2**i for i in range(4))
