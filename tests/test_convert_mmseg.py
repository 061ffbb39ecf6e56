"""mmsegmentation → annkit conversion, checked against an independent forward pass written from mmseg's semantics
(``reference_mmseg``: random weights in mmseg's layout, a forward pass with ``torch.nn.functional`` only)."""

from __future__ import annotations

import pytest
import torch
from reference_mmseg import mmseg_forward, mmseg_layout

from annkit.models import build
from annkit.models.convert_mmseg import convert_state_dict, infer_config
from annkit.models.modelfile import load, load_state_dict_strict, save
from annkit.models.pretrained import convert_mmseg_checkpoint


@pytest.mark.parametrize(
    "depth, align_corners, widths",
    [
        (50, False, dict(channels=512, project=256, aux_channels=256)),
        (18, True, dict(channels=64, project=32, aux_channels=32)),
    ],
)
def test_converted_model_matches_mmseg_forward(tmp_path, depth, align_corners, widths, request):
    if depth == 50:
        state, path = request.getfixturevalue("mmseg_r50")
    else:
        state, path = mmseg_layout(depth, num_classes=21, **widths), tmp_path / "mmseg.pth"
        torch.save({"meta": {"CLASSES": ["a"] * 21}, "state_dict": state}, path)
    model = convert_mmseg_checkpoint(path, align_corners=align_corners)
    images = torch.randn(1, 3, 67, 45)  # odd size: not a multiple of 8, pool bins that do not divide it
    with torch.no_grad():
        expected, expected_aux = mmseg_forward(state, images, depth, align_corners)
        logits = model(images)
        aux = model._resize(model.aux_head(model.backbone(images)), images.shape[-2:])
    assert expected.abs().max() > 0.1  # the comparison is not vacuous
    assert (logits - expected).abs().max() <= 1e-4
    assert (aux - expected_aux).abs().max() <= 1e-4


def test_preset_accepts_converted_r50_and_roundtrips(tmp_path, mmseg_r50):
    model = convert_mmseg_checkpoint(mmseg_r50[1], config="mmseg_ann_r50_d8_voc12aug")
    assert model.config.name == "mmseg_ann_r50_d8_voc12aug"
    save(model, tmp_path / "annkit.pth")
    again = load(tmp_path / "annkit.pth")
    images = torch.randn(1, 3, 33, 40)
    with torch.no_grad():
        assert torch.equal(model(images), again(images))


def test_infer_config_reads_architecture_from_weights():
    config = infer_config(mmseg_layout(18, num_classes=150, channels=64, project=32, aux_channels=32))
    assert (config.backbone.depth, config.backbone.stem, config.num_classes) == (18, "deep", 150)
    assert config.head.options["key_channels"] == 32 and config.head.options["key_bias"] is False
    assert config.aux_head.options["channels"] == 32


def test_shared_query_key_must_be_equal():
    state = mmseg_layout(18, channels=64, project=32, aux_channels=32)
    key = "decode_head.context.stages.0.query_project.conv.weight"
    state[key] = state[key] + 1
    with pytest.raises(ValueError, match="shared query/key"):
        convert_state_dict(state)


def test_unknown_keys_are_named():
    state = mmseg_layout(18, channels=64, project=32, aux_channels=32)
    state["decode_head.fusion.stages.1.value_project.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match=r"stages\.1\.value_project"):
        convert_state_dict(state)


def test_class_count_mismatch_names_the_misshaped_keys(tmp_path):
    state = convert_state_dict(mmseg_layout(18, num_classes=21, channels=64, project=32, aux_channels=32))
    config = infer_config(mmseg_layout(18, num_classes=19, channels=64, project=32, aux_channels=32))
    model = build(config, backbone_weights=False)
    with pytest.raises(ValueError, match=r"mis-shaped.*head\.classifier\.weight: \(21, 64, 1, 1\)"):
        load_state_dict_strict(model, state)


def test_architecture_mismatch_names_missing_and_unexpected_keys():
    state = convert_state_dict(mmseg_layout(18, channels=64, project=32, aux_channels=32))
    del state["head.fusion.value.bias"]
    state["head.extra.weight"] = torch.zeros(1)
    model = build(infer_config(mmseg_layout(18, channels=64, project=32, aux_channels=32)), backbone_weights=False)
    with pytest.raises(ValueError, match=r"missing \(1\): \['head.fusion.value.bias'\].*unexpected \(1\)"):
        load_state_dict_strict(model, state)


if __name__ == "__main__":  # the README's equivalence numbers: python tests/test_convert_mmseg.py
    for depth, align_corners, widths in (
        (50, False, dict(channels=512, project=256, aux_channels=256)),
        (18, True, dict(channels=64, project=32, aux_channels=32)),
    ):
        weights = mmseg_layout(depth, num_classes=21, **widths)
        model = build(infer_config(weights, align_corners=align_corners), backbone_weights=False).eval()
        model.load_state_dict(convert_state_dict(weights))
        images = torch.randn(1, 3, 67, 45)
        with torch.no_grad():
            ours, theirs = model(images), mmseg_forward(weights, images, depth, align_corners)[0]
        print(
            f"R-{depth}: max |diff| {(ours - theirs).abs().max():.1e}, "
            f"rel-L2 {(ours - theirs).norm() / theirs.norm():.1e}"
        )
