"""A tiny CPU backbone with a known, bounded receptive field, for teaching runs in minutes.

Six 3×3 conv + BN + ReLU layers with strides 2, 1, 2, 1, 2, 1 (output stride 8, like the dilated ResNets).
Receptive field of one output pixel, layer by layer (r ← r + (k − 1)·j, j ← j·s):
3, 7, 11, 19, 27, **43 pixels**. A pixel's prediction from a purely convolutional head therefore sees at most a
43×43 window; anything farther away can only reach it through attention (APNB/AFNB) or pooling (PSP) —
exactly the long-range gap the synthetic data set probes.
"""

from __future__ import annotations

import torch
from torch import nn

#: receptive field (pixels) of the "high" output; tests recompute it from gradients
RECEPTIVE_FIELD = 43
STRIDES = (2, 1, 2, 1, 2, 1)


class TinyBackbone(nn.Module):
    """Six 3×3 conv+BN+ReLU layers (strides 2,1,2,1,2,1): output stride 8, receptive field 43 px.

    ``forward(images (B, 3, H, W)) -> (low, high)``: ``low`` is layer 5's output (receptive field 27 px), the
    stand-in for ResNet's stage 4; ``high`` is layer 6's (43 px), the stand-in for stage 5. Both are
    (B, C, ⌈H/8⌉, ⌈W/8⌉), so ANN's head applies unchanged (AFNB queries ``high``, keys/values ``low``).
    """

    def __init__(self, channels: tuple[int, ...] = (32, 32, 64, 64, 128, 128)) -> None:
        super().__init__()
        if len(channels) != len(STRIDES):
            raise ValueError(f"TinyBackbone needs {len(STRIDES)} channel counts, got {tuple(channels)}")
        layers, c_in = [], 3
        for c_out, stride in zip(channels, STRIDES):
            conv = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
            layers.append(nn.Sequential(conv, nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)))
            c_in = c_out
        self.layers = nn.Sequential(*layers)
        self.out_channels = (channels[-2], channels[-1])

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        low = self.layers[:5](images)  # (B, C5, H/8, W/8), receptive field 27
        high = self.layers[5](low)  # (B, C6, H/8, W/8), receptive field 43
        return low, high
