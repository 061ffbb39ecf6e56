"""Segmentation heads: ANN (the paper's, Fig. 1) and the three baselines its comparisons need.

Every head is built the same way, ``Head(in_channels, num_classes, **options)``, where ``in_channels`` is the
backbone's ``out_channels`` tuple (one width per stage) and ``options`` are the head's keyword options (a preset's
``model.head`` keys); it takes the backbone's feature tuple (stage 4 = ``features[-2]``, stage 5 = ``features[-1]``)
and returns class logits at feature resolution, (B, num_classes, H/8, W/8). ``HEADS`` names them for configs.

- ``ANNHead``: AFNB(stage 4, stage 5) → 3×3 conv+BN+ReLU (2048→512) → APNB → dropout → 1×1 classifier.
- ``FCNHead``: 3×3 conv+BN+ReLU stack → classifier. On stage 4 it is the auxiliary head (loss weight 0.4); on
  stage 5 it is the "no context" baseline.
- ``NonLocalHead``: the same 3×3 conv to 512 channels, then a full non-local block (every pixel attends to every
  pixel, S = N) with ANN's key width — the cost APNB avoids.
- ``PSPHead``: pyramid pooling context (Zhao et al. 2017), the pooling-only baseline ANN's samplers borrow from.
- ``ASPPHead``: DeepLabV3's atrous spatial pyramid pooling, context from dilated convs and image pooling.

Parameter names follow mmsegmentation's heads where they coincide (``fusion``, ``bottleneck``, ``context``,
``convs``, ``conv_cat``), with ``classifier`` for its ``conv_seg``; ``annkit.models.convert_mmseg`` maps the rest.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from annkit.nn import AFNB, APNB, ConvNormAct, NonLocal2d, PyramidSampler
from annkit.nn.layers import make_dropout


def _classifier(channels: int, num_classes: int) -> nn.Conv2d:
    """The 1×1 conv that maps features to class logits (mmseg's ``conv_seg``), initialised N(0, 0.01²)."""
    classifier = nn.Conv2d(channels, num_classes, 1)
    nn.init.normal_(classifier.weight, std=0.01)
    nn.init.zeros_(classifier.bias)
    return classifier


class ANNHead(nn.Module):
    """The ANN head: AFNB fuses stage 4 into stage 5, a 3×3 conv narrows to ``channels``, APNB adds context.

    low = stage 4 (B, C4, H, W), high = stage 5 (B, C5, H, W) → logits (B, num_classes, H, W).
    ``block_dropout`` is the dropout inside AFNB and APNB (official: 0.05); ``dropout`` is the head's
    dropout after AFNB and before the classifier (mmsegmentation: 0.1); ``dropout_kind`` makes all of them
    Dropout2d (``"channel"``) or element-wise (``"element"``, PaddleSeg). ``key_bias`` gives the query/key
    convs a bias (official: yes, mmsegmentation: no); ``zero_init_out`` starts both blocks' out convs at zero
    (official, mmsegmentation; PaddleSeg: no). ``afnb=False`` / ``apnb=False`` drop a block — the
    paper's ablation (Zhu et al. 2019, Table 1): stage 5 then goes straight to the 3×3 conv, or the 3×3 conv's
    output straight to the classifier.
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        num_classes: int,
        *,
        channels: int = 512,
        key_channels: int = 256,
        value_channels: int = 256,
        pool_sizes: Sequence[int] = (1, 3, 6, 8),
        pool_mode: str = "avg",
        block_dropout: float = 0.05,
        dropout: float = 0.0,
        dropout_kind: str = "channel",
        key_bias: bool = True,
        zero_init_out: bool = True,
        afnb: bool = True,
        apnb: bool = True,
    ) -> None:
        super().__init__()
        low_channels, high_channels = in_channels[-2], in_channels[-1]  # stage 4, stage 5
        blocks = dict(
            key_channels=key_channels,
            value_channels=value_channels,
            dropout=block_dropout,
            dropout_kind=dropout_kind,
            key_bias=key_bias,
            zero_init_out=zero_init_out,
        )
        self.fusion = (
            AFNB(low_channels, high_channels, high_channels, sampler=PyramidSampler(pool_sizes, pool_mode), **blocks)
            if afnb
            else None
        )
        self.bottleneck = ConvNormAct(high_channels, channels, 3, padding=1)
        self.context = (
            APNB(channels, channels, sampler=PyramidSampler(pool_sizes, pool_mode), **blocks) if apnb else None
        )
        self.dropout = make_dropout(dropout, dropout_kind)
        self.classifier = _classifier(channels, num_classes)

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        low, high = features[-2], features[-1]  # stage 4 (B, C4, H, W), stage 5 (B, C5, H, W)
        x = self.dropout(self.fusion(low, high)) if self.fusion is not None else high  # (B, C5, H, W)
        x = self.bottleneck(x)  # (B, channels, H, W)
        x = self.context(x) if self.context is not None else x
        return self.classifier(self.dropout(x))  # (B, K, H, W)


class FCNHead(nn.Module):
    """Fully convolutional head: ``num_convs`` 3×3 conv+BN+ReLU, optional concat with the input, classifier.

    Reads ``features[in_index]`` (−2: stage 4, the auxiliary head; −1: stage 5, the "no context" baseline).
    ``dropout_kind``: Dropout2d (``"channel"``, mmsegmentation) or element-wise (``"element"``, PaddleSeg).
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        num_classes: int,
        *,
        channels: int = 256,
        num_convs: int = 1,
        concat_input: bool = False,
        dropout: float = 0.1,
        dropout_kind: str = "channel",
        in_index: int = -2,
    ) -> None:
        super().__init__()
        if num_convs < 1:
            raise ValueError(f"FCNHead needs num_convs >= 1, got {num_convs}")
        self.in_index = in_index
        width = in_channels[in_index]
        self.convs = nn.Sequential(
            *[ConvNormAct(width if i == 0 else channels, channels, 3, padding=1) for i in range(num_convs)]
        )
        self.conv_cat = ConvNormAct(width + channels, channels, 3, padding=1) if concat_input else None
        self.dropout = make_dropout(dropout, dropout_kind)
        self.classifier = _classifier(channels, num_classes)

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        x = features[self.in_index]  # (B, C_in, H, W)
        out = self.convs(x)  # (B, channels, H, W)
        if self.conv_cat is not None:
            out = self.conv_cat(torch.cat([x, out], dim=1))
        return self.classifier(self.dropout(out))  # (B, K, H, W)


class NonLocalHead(nn.Module):
    """Full non-local baseline: 3×3 conv+BN+ReLU to ``channels``, a non-local block (S = N), classifier.

    Same widths as ANN's APNB stage (``channels`` in/out, ``key_channels`` inside), so the only difference is
    attending over all N pixels instead of S = 110 pooled anchors (and no AFNB). ``post_conv`` adds a second 3×3
    conv+BN+ReLU after the block and ``concat_input`` a 3×3 fusion of [stage 5; that output] — together they are
    mmsegmentation's ``NLHead`` (an FCN head with the block between its two convs).
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        num_classes: int,
        *,
        channels: int = 512,
        key_channels: int = 256,
        dropout: float = 0.1,
        post_conv: bool = False,
        concat_input: bool = False,
    ) -> None:
        super().__init__()
        width = in_channels[-1]  # stage 5
        self.bottleneck = ConvNormAct(width, channels, 3, padding=1)
        self.context = NonLocal2d(channels, key_channels, norm=True)
        self.post = ConvNormAct(channels, channels, 3, padding=1) if post_conv else None
        self.conv_cat = ConvNormAct(width + channels, channels, 3, padding=1) if concat_input else None
        self.dropout = make_dropout(dropout, "channel")
        self.classifier = _classifier(channels, num_classes)

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        x = self.context(self.bottleneck(features[-1]))  # (B, channels, H, W)
        x = self.post(x) if self.post is not None else x
        if self.conv_cat is not None:
            x = self.conv_cat(torch.cat([features[-1], x], dim=1))
        return self.classifier(self.dropout(x))  # (B, K, H, W)


class ASPPHead(nn.Module):
    """DeepLabV3's atrous spatial pyramid pooling (Chen et al. 2017, arXiv 1706.05587), as mmsegmentation builds it.

    Parallel branches on stage 5: image pooling (global average → 1×1 conv+BN+ReLU → broadcast back) and one
    conv+BN+ReLU per dilation (1×1 for dilation 1, else 3×3 with that dilation; 1, 12, 24, 36 at output stride 8);
    concat → 3×3 conv+BN+ReLU → dropout → classifier. (B, C, H, W) → (B, K, H, W). Context by dilation, no
    attention.
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        num_classes: int,
        *,
        channels: int = 512,
        dilations: Sequence[int] = (1, 12, 24, 36),
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        width = in_channels[-1]  # stage 5
        self.image_pool = ConvNormAct(width, channels, 1)
        self.branches = nn.ModuleList([ConvNormAct(width, channels, 1 if d == 1 else 3, dilation=d) for d in dilations])
        self.bottleneck = ConvNormAct((len(dilations) + 1) * channels, channels, 3, padding=1)
        self.dropout = make_dropout(dropout, "channel")
        self.classifier = _classifier(channels, num_classes)

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        x = features[-1]  # (B, C, H, W)
        pooled = self.image_pool(F.adaptive_avg_pool2d(x, 1))  # (B, channels, 1, 1): one value per image
        outs = [pooled.expand(-1, -1, *x.shape[-2:])] + [branch(x) for branch in self.branches]
        x = self.bottleneck(torch.cat(outs, dim=1))  # (B, channels, H, W)
        return self.classifier(self.dropout(x))  # (B, K, H, W)


class PSPHead(nn.Module):
    """Pyramid pooling head: pool stage 5 to s×s grids, 1×1 conv+BN+ReLU each, upsample, concat, 3×3 fuse.

    (B, C, H, W) → (B, K, H, W). The context is pooled averages only — no attention. The pooling is annkit's
    ``PyramidSampler`` (exactly ``adaptive_avg_pool2d`` per size, exportable to ONNX at any input size).
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        num_classes: int,
        *,
        channels: int = 512,
        pool_sizes: Sequence[int] = (1, 2, 3, 6),
        dropout: float = 0.1,
        align_corners: bool = False,
    ) -> None:
        super().__init__()
        width = in_channels[-1]  # stage 5
        self.pool_sizes = tuple(pool_sizes)
        self.sampler = PyramidSampler(self.pool_sizes)  # adaptive average pooling, all sizes in one separable pass
        self.align_corners = align_corners
        self.branches = nn.ModuleList([ConvNormAct(width, channels, 1) for _ in self.pool_sizes])
        self.bottleneck = ConvNormAct(width + len(self.pool_sizes) * channels, channels, 3, padding=1)
        self.dropout = make_dropout(dropout, "channel")
        self.classifier = _classifier(channels, num_classes)

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        x = features[-1]  # (B, C, H, W)
        pyramid = [x]
        levels = self.sampler(x).split([s * s for s in self.pool_sizes], dim=2)  # (B, C, s²) per level
        for size, level, branch in zip(self.pool_sizes, levels, self.branches):
            pooled = branch(level.unflatten(2, (size, size)))  # (B, channels, s, s)
            pyramid.append(F.interpolate(pooled, size=x.shape[-2:], mode="bilinear", align_corners=self.align_corners))
        x = self.bottleneck(torch.cat(pyramid, dim=1))  # (B, channels, H, W)
        return self.classifier(self.dropout(x))  # (B, K, H, W)


HEADS: dict[str, type[nn.Module]] = {
    "ann": ANNHead,
    "aspp": ASPPHead,
    "fcn": FCNHead,
    "nonlocal": NonLocalHead,
    "psp": PSPHead,
}
