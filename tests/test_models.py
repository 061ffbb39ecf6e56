"""Backbones, heads, Segmentor, presets and runtime switches: shapes, train/eval behaviour, receptive field."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from annkit.config import ModelConfig, RuntimeConfig
from annkit.models import RECEPTIVE_FIELD, SegmentorOutput, TinyBackbone, build, resnet
from annkit.models.runtime import autocast, fold_batchnorm, prepare
from annkit.presets import load_preset, preset_names


def _small(head: dict, aux: dict | None = None, depth: int = 18, num_classes: int = 5) -> dict:
    """A preset-like dict: ResNet-18-D8 (fast) with the given head."""
    return {
        "model": dict(
            name="small",
            num_classes=num_classes,
            head=head,
            aux_head=aux,
            backbone=dict(name="resnet", depth=depth, stem="deep"),
        )
    }


def _randomize_bn(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.1)
            module.running_var.uniform_(0.5, 1.5)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.normal_(0, 0.1)


@pytest.mark.parametrize("batch, size", [(1, (161, 243)), (4, (65, 47))])  # odd sizes: no multiple of 8
def test_ann_r18_shapes_train_and_eval(batch, size):
    model = build(
        _small(dict(name="ann", channels=32, key_channels=16, value_channels=16), dict(name="fcn", channels=16)),
        backbone_weights=False,
    )
    images = torch.randn(batch, 3, *size)
    model.train()
    out = model(images)
    assert isinstance(out, SegmentorOutput)
    assert out.logits.shape == out.aux_logits.shape == (batch, 5, *size)
    model.eval()
    with torch.no_grad():
        logits = model(images)
    assert isinstance(logits, torch.Tensor) and logits.shape == (batch, 5, *size)


@pytest.mark.parametrize(
    "head",
    [
        dict(name="fcn", channels=16, num_convs=2, concat_input=True, in_index=-1),
        dict(name="nonlocal", channels=32, key_channels=16),
        dict(name="psp", channels=16),
    ],
)
def test_baseline_heads(head):
    model = build(_small(head), backbone_weights=False).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 57, 70)).shape == (2, 5, 57, 70)
    model.train()
    assert model(torch.randn(2, 3, 40, 40)).aux_logits is None


@pytest.mark.parametrize("depth", [18, 34, 50, 101])
def test_resnet_stage_channels_and_output_stride(depth):
    backbone = resnet(depth, output_stride=8).eval()
    with torch.no_grad():
        c2, c3, c4, c5 = backbone(torch.randn(1, 3, 63, 40))
    wide = 4 if depth >= 50 else 1
    assert backbone.out_channels == (64 * wide, 128 * wide, 256 * wide, 512 * wide)
    assert c4.shape == (1, 256 * wide, 8, 5) and c5.shape == (1, 512 * wide, 8, 5)


def test_dilations_follow_contract_dilation():
    basic = resnet(18, output_stride=8, stem="deep")
    assert [b.conv1.dilation[0] for b in (*basic.layer3, *basic.layer4)] == [1, 2, 2, 4]
    assert all(b.conv2.dilation[0] == 1 for b in (*basic.layer3, *basic.layer4))  # mmseg: conv2 not dilated
    bottleneck = resnet(50, output_stride=8)
    assert [b.conv2.dilation[0] for b in bottleneck.layer4] == [2, 4, 4]
    assert [b.conv2.dilation[0] for b in bottleneck.layer3][:2] == [1, 2]
    os16 = resnet(34, output_stride=16)
    assert [b.conv1.dilation[0] for b in os16.layer4] == [1, 2, 2]
    assert os16(torch.randn(1, 3, 64, 64))[-1].shape[-1] == 4


def test_deep_stem_names_match_mmseg_v1c():
    names = [k for k in resnet(50, stem="deep").state_dict() if k.startswith("stem.") and k.endswith("weight")]
    assert names == [
        "stem.0.weight",
        "stem.1.weight",
        "stem.3.weight",
        "stem.4.weight",
        "stem.6.weight",
        "stem.7.weight",
    ]


def test_tiny_backbone_receptive_field_is_43():
    """Gradient of one output pixel w.r.t. the input: its support is the receptive field."""
    torch.manual_seed(0)
    backbone = TinyBackbone().eval()
    for module in backbone.modules():  # positive weights and inputs keep every ReLU open: support = full RF
        if isinstance(module, nn.Conv2d):
            nn.init.constant_(module.weight, 1.0 / module.weight[0].numel())
    images = torch.ones(1, 3, 128, 128, requires_grad=True)
    low, high = backbone(images)
    assert low.shape[-2:] == high.shape[-2:] == (16, 16)  # output stride 8
    high[0, 0, 8, 8].backward()
    rows, cols = images.grad[0].abs().sum(0).nonzero(as_tuple=True)
    assert rows.max() - rows.min() + 1 == RECEPTIVE_FIELD == 43
    assert cols.max() - cols.min() + 1 == 43


def test_every_preset_parses_and_tiny_presets_run():
    names = preset_names()
    for required in (
        "voc_ann_r101",
        "voc_ann_r50",
        "tiny_ann",
        "tiny_fcn",
        "mmseg_ann_r50_d8_voc12aug",
        "mmseg_ann_r101_d8_voc12aug",
        "mmseg_ann_r50_d8_cityscapes",
        "mmseg_ann_r101_d8_cityscapes",
        "mmseg_ann_r50_d8_ade20k",
        "mmseg_ann_r101_d8_ade20k",
    ):
        assert required in names
    for name in names:
        config = ModelConfig.from_dict(load_preset(name)["model"])
        assert ModelConfig.from_dict(config.to_dict()) == config
    assert ModelConfig.from_dict(load_preset("mmseg_ann_r50_d8_ade20k")["model"]).num_classes == 150
    model = build("tiny_ann", num_classes=3).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 96, 96)).shape == (2, 3, 96, 96)


def test_build_r50_preset_without_download():
    model = build("voc_ann_r50", backbone_weights=False)
    assert model.backbone.out_channels[-2:] == (1024, 2048)
    assert model.head.fusion.query.conv.bias is not None  # official: query/key conv with bias
    mmseg = build("mmseg_ann_r50_d8_voc12aug", backbone_weights=False)
    assert mmseg.head.fusion.query.conv.bias is None and model.align_corners and not mmseg.align_corners


def test_config_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown preset 'nope'"):
        build("nope")
    with pytest.raises(ValueError, match=r"unknown config key 'model.colour'"):
        build({"model": dict(name="x", num_classes=2, colour="red")})
    with pytest.raises(ValueError, match="model.head.name 'transformer' is unknown"):
        build(_small(dict(name="transformer")), backbone_weights=False)
    with pytest.raises(ValueError, match=r"unknown config key 'model.head.colour'"):
        build(_small(dict(name="fcn", colour=1)), backbone_weights=False)
    with pytest.raises(ValueError, match="ResNet depth 152"):
        resnet(152)
    with pytest.raises(ValueError, match="runtime.amp_dtype"):
        RuntimeConfig(amp_dtype="int8")
    with pytest.raises(ValueError, match="images of shape \\(B, 3, H, W\\)"):
        build("tiny_fcn")(torch.randn(1, 1, 8, 8))


def test_fold_batchnorm_is_exact_and_removes_bn():
    torch.manual_seed(0)
    model = build(
        _small(
            dict(name="ann", channels=32, key_channels=16, value_channels=16, key_bias=False),
            dict(name="fcn", channels=16),
        ),
        backbone_weights=False,
    ).eval()
    _randomize_bn(model)
    for block in (model.head.fusion, model.head.context):  # leave the zero-init: make the context count
        nn.init.normal_(block.out.weight, std=0.1)
    images = torch.randn(2, 3, 48, 56)
    with torch.no_grad():
        expected = model(images)
        fold_batchnorm(model)
        assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
        assert (model(images) - expected).abs().max() < 1e-5


def test_runtime_channels_last_and_bf16_autocast_on_cpu():
    model = build("tiny_ann", num_classes=4)
    images = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = model.eval()(images)
        runtime = RuntimeConfig(amp_dtype="bfloat16", channels_last=True)
        net = prepare(model, runtime)
        with autocast(runtime, "cpu"):
            logits = net(images.contiguous(memory_format=torch.channels_last))
    assert logits.dtype == torch.bfloat16
    assert (logits.float() - expected).abs().max() < 0.05 * expected.abs().max() + 1e-2
    with pytest.raises(ValueError, match="needs model.eval"):
        fold_batchnorm(build("tiny_fcn").train())


def test_compile_switch_compiles_each_part_and_keeps_the_output(monkeypatch):
    """``runtime.compile``: backbone, head and auxiliary head are each compiled (inductor with weight freezing for
    inference, plain for training), names unchanged; the traced model computes the eager model's logits.
    TorchDynamo traces annkit's code (the pyramid bins under symbolic sizes); inductor's C++ code generation, torch's
    own and minutes on a busy CPU, is swapped for the eager backend."""
    requests, original = [], torch.nn.Module.compile

    def compile_eagerly(module, **kwargs):
        requests.append(kwargs)
        original(module, backend="eager")

    monkeypatch.setattr(torch.nn.Module, "compile", compile_eagerly)
    from annkit.export.check import randomize_weights  # the zero-init out-convs would leave attention unseen

    model = randomize_weights(build("tiny_ann", num_classes=3, aux_head={"name": "fcn", "channels": 8}), 0)
    images = torch.randn(1, 3, 41, 37)
    with torch.no_grad():
        expected = model.eval()(images)
        compiled = prepare(model, RuntimeConfig(compile=True, fold_bn=False))
        assert requests == [{"options": {"freezing": True}}] * 3  # backbone, head, aux head
        assert all(part._compiled_call_impl is not None for part in (model.backbone, model.head, model.aux_head))
        assert expected.abs().max() > 0.1 and torch.allclose(compiled(images), expected, atol=1e-5)
    requests.clear()
    prepare(build("tiny_fcn"), RuntimeConfig(compile=True), inference=False)
    assert requests == [{"options": None}] * 2  # training: no freezing (the weights change)


def test_normalize_uses_config_mean_std():
    model = build("tiny_fcn")
    images = torch.full((1, 3, 2, 2), 0.485)
    assert torch.allclose(model.normalize(images)[0, 0], torch.zeros(2, 2), atol=1e-6)


@pytest.mark.parametrize("depth", [18, 50])
def test_torchvision_imagenet_weights_reach_every_stage(monkeypatch, depth):
    """weights='IMAGENET1K_V1' goes through torchvision's weights API (served here from memory, no download)."""
    import torchvision
    from torchvision.models._api import WeightsEnum

    reference = torchvision.models.get_model(f"resnet{depth}", weights=None)
    for i, tensor in enumerate(reference.state_dict().values()):
        if tensor.is_floating_point():
            tensor.fill_(0.001 * (i + 1))
    monkeypatch.setattr(WeightsEnum, "get_state_dict", lambda self, *args, **kwargs: reference.state_dict())
    backbone = resnet(depth, weights="IMAGENET1K_V1")
    assert torch.equal(backbone.stem[0].weight, reference.conv1.weight)
    assert torch.equal(backbone.stem[1].running_var, reference.bn1.running_var)
    for stage in ("layer1", "layer2", "layer3", "layer4"):
        ours, theirs = getattr(backbone, stage).state_dict(), getattr(reference, stage).state_dict()
        assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    with pytest.raises(ValueError, match="fit the 'torchvision' stem only"):
        resnet(depth, stem="deep", weights="IMAGENET1K_V1")


def test_every_preset_train_section_is_valid_for_the_engine():
    from annkit.presets import resolve

    for name in preset_names():
        model_config, _ = resolve(name)
        assert model_config.name == name


@pytest.mark.parametrize("afnb, apnb", [(False, True), (True, False), (False, False)])
def test_ann_head_ablation_switches(afnb, apnb):
    from annkit.nn import AFNB, APNB

    net = build(
        "tiny_ann",
        num_classes=3,
        head={"name": "ann", "channels": 32, "key_channels": 8, "value_channels": 8, "afnb": afnb, "apnb": apnb},
    ).eval()
    kinds = {type(m) for m in net.modules()}
    assert (AFNB in kinds) == afnb and (APNB in kinds) == apnb
    assert net(torch.rand(1, 3, 40, 56)).shape == (1, 3, 40, 56)
