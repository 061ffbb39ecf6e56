"""Small building blocks shared by the attention blocks and the models.

``ConvNormAct`` is the "conv + BN + ReLU" unit the paper's figures draw as one box (mmsegmentation calls it
ConvModule). ``check_feature_map`` gives every block the same clear error for a wrong input.
"""

from __future__ import annotations

from torch import Tensor, nn


class ConvNormAct(nn.Module):
    """Conv2d → BatchNorm2d → ReLU, each of the last two optional.

    ``padding=None`` keeps the spatial size ("same" padding for odd kernels, dilation included).
    Attributes ``conv``, ``norm``, ``act`` name the parts (state-dict keys ``conv.weight``, ``norm.weight``, …).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 1,
        *,
        padding: int | None = None,
        dilation: int = 1,
        stride: int = 1,
        bias: bool = False,
        norm: bool = True,
        act: bool = True,
    ) -> None:
        super().__init__()
        if padding is None:
            padding = dilation * (kernel_size - 1) // 2
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride=stride, padding=padding, dilation=dilation, bias=bias
        )
        self.norm = nn.BatchNorm2d(out_channels) if norm else nn.Identity()
        self.act = nn.ReLU(inplace=True) if act else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.norm(self.conv(x)))  # (B, out, H', W')


def make_dropout(p: float, kind: str) -> nn.Module:
    """Dropout as the implementations differ: ``"channel"`` = Dropout2d (official, mmseg), ``"element"`` (PaddleSeg)."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {p!r}")
    if kind not in ("channel", "element"):
        raise ValueError(f"dropout_kind must be 'channel' or 'element', got {kind!r}")
    if p == 0.0:
        return nn.Identity()
    return nn.Dropout2d(p) if kind == "channel" else nn.Dropout(p)


def check_feature_map(x: Tensor, channels: int, who: str, what: str = "input") -> None:
    """Raise ValueError unless ``x`` is a (B, channels, H, W) tensor; the message names the block and input."""
    if not hasattr(x, "dim") or x.dim() != 4:
        shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
        raise ValueError(f"{who} expects {what} of shape (B, {channels}, H, W), got {shape}")
    if x.shape[1] != channels:
        raise ValueError(
            f"{who} expects {what} with {channels} channels (B, {channels}, H, W), "
            f"got {x.shape[1]} channels in shape {tuple(x.shape)}"
        )
