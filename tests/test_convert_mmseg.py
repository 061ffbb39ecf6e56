"""mmsegmentation → annkit conversion, checked against an independent forward pass written from mmseg's semantics.

``mmseg_layout`` builds a random state dict with mmsegmentation's key names and shapes (ResNetV1c-D8 + ANNHead +
FCN auxiliary head); ``mmseg_forward`` runs it the straightforward way with ``torch.nn.functional`` only, following
mmseg's modules (ResLayer with contract_dilation, ConvModule = conv→BN→ReLU, SelfAttentionBlock with PPMConcat key
sampling, bilinear resize with the config's align_corners). Neither uses annkit.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from annkit.models import build
from annkit.models.convert_mmseg import convert_state_dict, infer_config
from annkit.models.modelfile import load, load_state_dict_strict, save
from annkit.models.pretrained import convert_mmseg_checkpoint

BLOCKS = {18: (2, 2, 2, 2), 50: (3, 4, 6, 3)}
POOLS = (1, 3, 6, 8)


def _conv(state, name, c_out, c_in, k, bias=False, gain=1.0):
    state[f"{name}.weight"] = torch.randn(c_out, c_in, k, k) * gain * math.sqrt(1.0 / (c_in * k * k))
    if bias:
        state[f"{name}.bias"] = torch.randn(c_out) * 0.1


def _bn(state, name, c):
    state[f"{name}.weight"] = torch.rand(c) * 0.5 + 0.75
    state[f"{name}.bias"] = torch.randn(c) * 0.1
    state[f"{name}.running_mean"] = torch.randn(c) * 0.1
    state[f"{name}.running_var"] = torch.rand(c) * 0.5 + 0.75
    state[f"{name}.num_batches_tracked"] = torch.tensor(0)


def _conv_module(state, name, c_out, c_in, k):
    _conv(state, f"{name}.conv", c_out, c_in, k)
    _bn(state, f"{name}.bn", c_out)


def mmseg_layout(depth=50, num_classes=21, channels=512, project=256, aux_channels=256, seed=0):
    """A random state dict in mmsegmentation's ANN R-depth-D8 layout."""
    torch.manual_seed(seed)
    s: dict[str, torch.Tensor] = {}
    for i, (c_in, c_out) in enumerate(((3, 32), (32, 32), (32, 64))):  # ResNetV1c deep stem
        _conv(s, f"backbone.stem.{3 * i}", c_out, c_in, 3)
        _bn(s, f"backbone.stem.{3 * i + 1}", c_out)
    bottleneck, inplanes = depth >= 50, 64
    for stage, blocks in enumerate(BLOCKS[depth]):
        planes = 64 * 2**stage
        out = planes * (4 if bottleneck else 1)
        for b in range(blocks):
            p = f"backbone.layer{stage + 1}.{b}"
            if bottleneck:
                _conv(s, f"{p}.conv1", planes, inplanes, 1), _bn(s, f"{p}.bn1", planes)
                _conv(s, f"{p}.conv2", planes, planes, 3), _bn(s, f"{p}.bn2", planes)
                _conv(s, f"{p}.conv3", out, planes, 1, gain=0.3), _bn(s, f"{p}.bn3", out)
            else:
                _conv(s, f"{p}.conv1", planes, inplanes, 3), _bn(s, f"{p}.bn1", planes)
                _conv(s, f"{p}.conv2", planes, planes, 3, gain=0.3), _bn(s, f"{p}.bn2", planes)
            if b == 0 and (stage == 1 or inplanes != out):
                _conv(s, f"{p}.downsample.0", out, inplanes, 1), _bn(s, f"{p}.downsample.1", out)
            inplanes = out
    low, high = inplanes // 2, inplanes
    f, c = "decode_head.fusion", "decode_head.context"
    _conv_module(s, f"{f}.stages.0.query_project", project, high, 1)
    _conv_module(s, f"{f}.stages.0.key_project", project, low, 1)
    _conv(s, f"{f}.stages.0.value_project", project, low, 1, bias=True)
    _conv(s, f"{f}.stages.0.out_project", high, project, 1, bias=True)
    _conv_module(s, f"{f}.bottleneck", high, 2 * high, 1)
    _conv_module(s, "decode_head.bottleneck", channels, high, 3)
    _conv_module(s, f"{c}.stages.0.key_project", project, channels, 1)
    for key in [k for k in s if k.startswith(f"{c}.stages.0.key_project.")]:  # one module, two names
        s[key.replace("key_project", "query_project")] = s[key]
    _conv(s, f"{c}.stages.0.value_project", project, channels, 1, bias=True)
    _conv(s, f"{c}.stages.0.out_project", channels, project, 1, bias=True)
    _conv_module(s, f"{c}.bottleneck", channels, 2 * channels, 1)
    _conv(s, "decode_head.conv_seg", num_classes, channels, 1, bias=True)
    _conv_module(s, "auxiliary_head.convs.0", aux_channels, low, 3)
    _conv(s, "auxiliary_head.conv_seg", num_classes, aux_channels, 1, bias=True)
    return s


# ----- the independent reference: mmsegmentation's forward pass, written with torch.nn.functional -----


def _cba(s, name, x, stride=1, padding=0, dilation=1, relu=True, conv="conv", bn="bn"):
    x = F.conv2d(x, s[f"{name}.{conv}.weight"], s.get(f"{name}.{conv}.bias"), stride, padding, dilation)
    x = F.batch_norm(
        x,
        s[f"{name}.{bn}.running_mean"],
        s[f"{name}.{bn}.running_var"],
        s[f"{name}.{bn}.weight"],
        s[f"{name}.{bn}.bias"],
        training=False,
        eps=1e-5,
    )
    return F.relu(x) if relu else x


def _backbone(s, x, depth):
    for i in range(3):
        x = _cba(s, "backbone.stem", x, stride=2 if i == 0 else 1, padding=1, conv=str(3 * i), bn=str(3 * i + 1))
    x = F.max_pool2d(x, 3, 2, 1)
    feats = []
    for stage, (blocks, stride, dilation) in enumerate(zip(BLOCKS[depth], (1, 2, 1, 1), (1, 1, 2, 4))):
        for b in range(blocks):
            p = f"backbone.layer{stage + 1}.{b}"
            st = stride if b == 0 else 1
            d = (dilation // 2 if dilation > 1 else dilation) if b == 0 else dilation  # contract_dilation
            if depth >= 50:  # Bottleneck, style='pytorch': stride on the 3x3 conv
                out = _cba(s, p, x, conv="conv1", bn="bn1")
                out = _cba(s, p, out, stride=st, padding=d, dilation=d, conv="conv2", bn="bn2")
                out = _cba(s, p, out, relu=False, conv="conv3", bn="bn3")
            else:  # BasicBlock: only conv1 dilated, conv2 padding 1
                out = _cba(s, p, x, stride=st, padding=d, dilation=d, conv="conv1", bn="bn1")
                out = _cba(s, p, out, padding=1, relu=False, conv="conv2", bn="bn2")
            identity = (
                _cba(s, f"{p}.downsample", x, stride=st, relu=False, conv="0", bn="1")
                if f"{p}.downsample.0.weight" in s
                else x
            )
            x = F.relu(out + identity)
        feats.append(x)
    return feats


def _ppm_concat(x):
    return torch.cat([F.adaptive_avg_pool2d(x, p).flatten(2) for p in POOLS], dim=2)  # (B, C, S)


def _self_attention(s, p, query_feats, key_feats):
    b, _, h, w = query_feats.shape
    query = _cba(s, f"{p}.query_project", query_feats).flatten(2).permute(0, 2, 1)  # (B, N, C)
    key = _ppm_concat(_cba(s, f"{p}.key_project", key_feats))  # (B, C, S)
    value = _ppm_concat(F.conv2d(key_feats, s[f"{p}.value_project.weight"], s[f"{p}.value_project.bias"]))
    sim = torch.softmax(query @ key * query.shape[-1] ** -0.5, dim=-1)  # (B, N, S)
    context = (sim @ value.permute(0, 2, 1)).permute(0, 2, 1).reshape(b, -1, h, w)
    return F.conv2d(context, s[f"{p}.out_project.weight"], s[f"{p}.out_project.bias"])


def mmseg_forward(s, images, depth=50, align_corners=False):
    """(main logits, auxiliary logits), both at input size, as mmsegmentation's EncoderDecoder computes them."""
    feats = _backbone(s, images, depth)
    low, high = feats[2], feats[3]
    context = _self_attention(s, "decode_head.fusion.stages.0", high, low)
    x = _cba(s, "decode_head.fusion.bottleneck", torch.cat([context, high], 1), relu=False)
    x = _cba(s, "decode_head.bottleneck", x, padding=1)
    context = _self_attention(s, "decode_head.context.stages.0", x, x)
    x = _cba(s, "decode_head.context.bottleneck", torch.cat([context, x], 1))
    logits = F.conv2d(x, s["decode_head.conv_seg.weight"], s["decode_head.conv_seg.bias"])
    aux = F.conv2d(
        _cba(s, "auxiliary_head.convs.0", low, padding=1),
        s["auxiliary_head.conv_seg.weight"],
        s["auxiliary_head.conv_seg.bias"],
    )
    size = images.shape[-2:]
    return tuple(F.interpolate(t, size=size, mode="bilinear", align_corners=align_corners) for t in (logits, aux))


# ----- tests -----


@pytest.mark.parametrize(
    "depth, align_corners, widths",
    [
        (50, False, dict(channels=512, project=256, aux_channels=256)),
        (18, True, dict(channels=64, project=32, aux_channels=32)),
    ],
)
def test_converted_model_matches_mmseg_forward(tmp_path, depth, align_corners, widths):
    state = mmseg_layout(depth, num_classes=21, **widths)
    torch.save({"meta": {"CLASSES": ["a"] * 21}, "state_dict": state}, tmp_path / "mmseg.pth")
    model = convert_mmseg_checkpoint(tmp_path / "mmseg.pth", align_corners=align_corners)
    images = torch.randn(1, 3, 67, 45)  # odd size: not a multiple of 8, pool bins that do not divide it
    with torch.no_grad():
        expected, expected_aux = mmseg_forward(state, images, depth, align_corners)
        logits = model(images)
        aux = model._resize(model.aux_head(model.backbone(images)), images.shape[-2:])
    assert expected.abs().max() > 0.1  # the comparison is not vacuous
    assert (logits - expected).abs().max() <= 1e-4
    assert (aux - expected_aux).abs().max() <= 1e-4


def test_preset_accepts_converted_r50_and_roundtrips(tmp_path):
    state = mmseg_layout(50, num_classes=19)
    torch.save({"state_dict": state}, tmp_path / "city.pth")
    model = convert_mmseg_checkpoint(tmp_path / "city.pth", config="mmseg_ann_r50_d8_cityscapes")
    assert model.config.name == "mmseg_ann_r50_d8_cityscapes"
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
