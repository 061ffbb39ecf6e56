"""mmsegmentation's models written from its modules' semantics with ``torch.nn.functional`` only (never annkit):
the independent references the converters are checked against.

``mmseg_layout`` builds a random state dict with mmsegmentation's key names and shapes (ResNetV1c-D8 + ANNHead +
FCN auxiliary head); ``mmseg_forward`` runs it the straightforward way, following mmseg's modules (ResLayer with
contract_dilation, ConvModule = conv→BN→ReLU, SelfAttentionBlock with PPMConcat key sampling, bilinear resize with
the config's align_corners). ``baseline_layout`` / ``mmseg_baseline_forward`` do the same for the baselines'
decode heads: DeepLabV3 (ASPPHead), NonLocal (NLHead, mmcv's NonLocal2d), FCN (FCNHead), PSPNet (PSPHead).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

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


# ----- the baselines' decode heads on the same backbone -----


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


def aspp_forward(s, x):
    """mmseg's ASPPHead on a stage-5 map ``x``: image pool + four dilated ConvModules → 3×3 bottleneck."""
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
        out = aspp_forward(s, x)
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
