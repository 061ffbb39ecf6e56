"""Official ANN (MendelXu/ANN) checkpoints → annkit, checked against a forward pass written from the official
code's semantics with ``torch.nn.functional`` only (``reference_official``, not annkit)."""

from __future__ import annotations

import pytest
import torch
from reference_official import official_forward, official_layout

from annkit.models import convert_official, load, model_config
from annkit.models.pretrained import convert_official_checkpoint


def test_official_checkpoint_matches_official_forward(tmp_path):
    state = official_layout(50)
    torch.save(
        {
            "config_dict": {"network": {"backbone": "deepbase_resnet50_dilated8"}},
            "state_dict": state,
            "runner_state": {"iters": 40000, "max_performance": 0.5},
        },
        tmp_path / "fs_annn.pth",
    )
    config = model_config(
        "official_ann_r101_cityscapes",
        backbone={"name": "resnet", "depth": 50, "output_stride": 8, "stem": "deep_base"},
    )
    model = convert_official_checkpoint(tmp_path / "fs_annn.pth", tmp_path / "annkit.pth", config=config)
    images = torch.rand(1, 3, 70, 54)  # stem output 35×27: odd, so the ceil-mode max pool matters
    with torch.no_grad():
        expected, expected_aux = official_forward(state, images)
        logits = model(model.normalize(images))
        features = model.backbone(model.normalize(images))
        aux = model._resize(model.aux_head(features), images.shape[-2:])
        assert expected.abs().max() > 0.1
        for ours, theirs in ((logits, expected), (aux, expected_aux)):  # logits ~20: 0–255 input, std 1
            assert (ours - theirs).norm() <= 1e-5 * theirs.norm()  # measured 3.4e-6 (fp32, folded biases)
            assert torch.equal(ours.argmax(1), theirs.argmax(1))
        assert torch.equal(load(tmp_path / "annkit.pth")(model.normalize(images)), logits)  # contract saved too
    assert model.config.channel_order == "BGR" and model.config.align_corners


def test_official_registry_model_builds_with_r101_and_keys_fit():
    config = model_config("official_ann_r101_cityscapes")
    from annkit.models import build

    model = build(config, backbone_weights=False)
    converted = convert_official.convert_state_dict(
        convert_official.official_state_dict({"state_dict": official_layout(101)})
    )
    assert set(converted) == set(model.state_dict())
    assert all(converted[k].shape == v.shape for k, v in model.state_dict().items())


def test_official_errors_name_the_problem():
    state = official_layout(50)
    bad = dict(state)
    bad["module.context.2.stages.0.f_query.0.weight"] = bad["module.context.2.stages.0.f_query.0.weight"] + 1
    with pytest.raises(ValueError, match="shared query/key"):
        convert_official.convert_state_dict(convert_official.official_state_dict({"state_dict": bad}))
    with pytest.raises(ValueError, match="not an official ANN"):
        convert_official.official_state_dict({"state_dict": {"decode_head.conv_seg.weight": torch.zeros(1)}})
    extra = dict(state, **{"module.extra.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match=r"unknown layout.*extra\.weight"):
        convert_official.convert_state_dict(convert_official.official_state_dict({"state_dict": extra}))
