"""mmsegmentation's baseline checkpoints — DeepLabV3 (ASPPHead), NonLocal (NLHead), FCN (FCNHead), PSPNet (PSPHead)
— → annkit, checked against forward passes written from mmsegmentation's and mmcv's module semantics with
``torch.nn.functional`` only (not annkit)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from test_convert_mmseg import _backbone, _cba, _conv, _conv_module, mmseg_layout

from annkit.models import build
from annkit.models.convert_mmseg import convert_state_dict, infer_config

DILATIONS = (1, 12, 24, 36)
PSP_SCALES = (1, 2, 3, 6)


def baseline_layout(head: str, num_classes=5, channels=32, seed=0):
    """A ResNetV1c-18-D8 + FCN aux state dict (from the ANN layout) with an ASPPHead or NLHead decode head."""
    s = {k: v for k, v in mmseg_layout(18, num_classes, 64, 32, 32, seed).items() if not k.startswith("decode_head.")}
    c5 = s["backbone.layer4.1.conv2.weight"].shape[0]  # 512 for ResNet-18
    torch.manual_seed(seed + 1)
    if head == "aspp":
        _conv_module(s, "decode_head.image_pool.1", channels, c5, 1)
        for i, d in enumerate(DILATIONS):
            _conv_module(s, f"decode_head.aspp_modules.{i}", channels, c5, 1 if d == 1 else 3)
        _conv_module(s, "decode_head.bottleneck", channels, (len(DILATIONS) + 1) * channels, 3)
    elif head == "fcn":  # fcn_r50-d8: two 3×3 convs, then concat with the input
        _conv_module(s, "decode_head.convs.0", channels, c5, 3)
        _conv_module(s, "decode_head.convs.1", channels, channels, 3)
        _conv_module(s, "decode_head.conv_cat", channels, c5 + channels, 3)
    elif head == "psp":
        for i in range(len(PSP_SCALES)):
            _conv_module(s, f"decode_head.psp_modules.{i}.1", channels, c5, 1)
        _conv_module(s, "decode_head.bottleneck", channels, c5 + len(PSP_SCALES) * channels, 3)
    else:
        inter = channels // 2
        _conv_module(s, "decode_head.convs.0", channels, c5, 3)
        for name in ("g", "theta", "phi"):
            _conv(s, f"decode_head.nl_block.{name}.conv", inter, channels, 1, bias=True)
        _conv_module(s, "decode_head.nl_block.conv_out", channels, inter, 1)
        _conv_module(s, "decode_head.convs.1", channels, channels, 3)
        _conv_module(s, "decode_head.conv_cat", channels, c5 + channels, 3)
    _conv(s, "decode_head.conv_seg", num_classes, channels, 1, bias=True)
    return s


def _aspp(s, x):
    pooled = _cba(s, "decode_head.image_pool.1", F.adaptive_avg_pool2d(x, 1))
    outs = [F.interpolate(pooled, size=x.shape[-2:], mode="bilinear", align_corners=False)]
    for i, d in enumerate(DILATIONS):
        outs.append(_cba(s, f"decode_head.aspp_modules.{i}", x, padding=0 if d == 1 else d, dilation=d))
    return _cba(s, "decode_head.bottleneck", torch.cat(outs, 1), padding=1)


def _nonlocal(s, x):  # mmcv NonLocal2d, embedded_gaussian, use_scale=True: x + conv_out(softmax(θᵀφ/√d) g)
    p = "decode_head.nl_block"
    b, _, h, w = x.shape
    g, theta, phi = (
        F.conv2d(x, s[f"{p}.{n}.conv.weight"], s[f"{p}.{n}.conv.bias"]).flatten(2) for n in ("g", "theta", "phi")
    )
    pairwise = torch.softmax(theta.transpose(1, 2) @ phi / theta.shape[1] ** 0.5, dim=-1)  # (B, N, N)
    y = (pairwise @ g.transpose(1, 2)).transpose(1, 2).reshape(b, -1, h, w)
    return x + _cba(s, f"{p}.conv_out", y, relu=False)


def mmseg_baseline_forward(s, images, head):
    feats = _backbone(s, images, 18)
    x = feats[3]
    if head == "aspp":
        out = _aspp(s, x)
    elif head == "fcn":
        out = _cba(s, "decode_head.convs.1", _cba(s, "decode_head.convs.0", x, padding=1), padding=1)
        out = _cba(s, "decode_head.conv_cat", torch.cat([x, out], 1), padding=1)
    elif head == "psp":  # PPM: adaptive pool → ConvModule → bilinear back; concat after the input
        outs = [x] + [
            F.interpolate(
                _cba(s, f"decode_head.psp_modules.{i}.1", F.adaptive_avg_pool2d(x, scale)),
                size=x.shape[-2:],
                mode="bilinear",
                align_corners=False,
            )
            for i, scale in enumerate(PSP_SCALES)
        ]
        out = _cba(s, "decode_head.bottleneck", torch.cat(outs, 1), padding=1)
    else:
        out = _cba(s, "decode_head.convs.1", _nonlocal(s, _cba(s, "decode_head.convs.0", x, padding=1)), padding=1)
        out = _cba(s, "decode_head.conv_cat", torch.cat([x, out], 1), padding=1)
    logits = F.conv2d(out, s["decode_head.conv_seg.weight"], s["decode_head.conv_seg.bias"])
    return F.interpolate(logits, size=images.shape[-2:], mode="bilinear", align_corners=False)


@pytest.mark.parametrize("head", ["aspp", "nonlocal", "fcn", "psp"])
def test_baseline_conversion_matches_mmseg_forward(head):
    state = baseline_layout(head)
    config = infer_config(state)
    assert config.head.name == head
    model = build(config, backbone_weights=False).eval()
    model.load_state_dict(convert_state_dict(state), strict=True)
    images = torch.randn(1, 3, 75, 61)  # 10×8 at stride 8: dilation 12+ reaches past the map, zero padding counts
    with torch.no_grad():
        expected = mmseg_baseline_forward(state, images, head)
        assert expected.abs().max() > 0.1
        assert (model(images) - expected).abs().max() <= 1e-4


def test_aspp_head_dilations_on_a_map_they_fit():
    """On a 80×80 stage-5 map every tap of the 12/24/36-dilated convs lands inside, so each dilation is checked."""
    state = baseline_layout("aspp", channels=16)
    model = build(infer_config(state), backbone_weights=False).eval()
    model.load_state_dict(convert_state_dict(state), strict=True)
    x = torch.randn(1, 512, 80, 80)
    with torch.no_grad():
        expected = F.conv2d(_aspp(state, x), state["decode_head.conv_seg.weight"], state["decode_head.conv_seg.bias"])
        assert (model.head([x, x]) - expected).abs().max() <= 1e-4


def test_unexpected_aspp_layout_is_named():
    state = baseline_layout("aspp")
    del state["decode_head.aspp_modules.3.conv.weight"]
    with pytest.raises(ValueError, match="dilations"):
        infer_config({k: v for k, v in state.items() if not k.startswith("decode_head.aspp_modules.3")})
