"""mmsegmentation's baseline checkpoints — DeepLabV3 (ASPPHead), NonLocal (NLHead), FCN (FCNHead), PSPNet (PSPHead)
— → annkit, checked against forward passes written from mmsegmentation's and mmcv's module semantics with
``torch.nn.functional`` only (``reference_mmseg``, not annkit)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from reference_mmseg import aspp_forward, baseline_layout, mmseg_baseline_forward

from annkit.models import build
from annkit.models.convert_mmseg import convert_state_dict, infer_config


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
        expected = F.conv2d(
            aspp_forward(state, x), state["decode_head.conv_seg.weight"], state["decode_head.conv_seg.bias"]
        )
        assert (model.head([x, x]) - expected).abs().max() <= 1e-4


def test_unexpected_aspp_layout_is_named():
    state = baseline_layout("aspp")
    del state["decode_head.aspp_modules.3.conv.weight"]
    with pytest.raises(ValueError, match="dilations"):
        infer_config({k: v for k, v in state.items() if not k.startswith("decode_head.aspp_modules.3")})
