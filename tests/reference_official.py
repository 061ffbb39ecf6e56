"""The official ANN code (MendelXu/ANN) written from its modules' semantics with ``torch.nn.functional`` only (never
annkit): ``official_layout`` builds a random state dict as the official code saves it, ``official_forward`` runs it —
deep-base ResNet (3×3 stem 64-64-128, max pool with ceil_mode), torchcv's dilation (first block of each dilated stage
at half dilation), AFNB/APNB with conv biases everywhere, BGR 0–255 input minus the official mean, align_corners=True.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
POOLS = (1, 3, 6, 8)
MEAN_BGR = torch.tensor([102.9801, 115.9465, 122.7717])


def _conv(s, name, c_out, c_in, k, bias=False, gain=1.0):
    s[f"{name}.weight"] = torch.randn(c_out, c_in, k, k) * gain * math.sqrt(1.0 / (c_in * k * k))
    if bias:
        s[f"{name}.bias"] = torch.randn(c_out) * 0.3


def _bn(s, name, c):  # sync BN of the official code: no num_batches_tracked
    s[f"{name}.weight"] = torch.rand(c) * 0.5 + 0.75
    s[f"{name}.bias"] = torch.randn(c) * 0.1
    s[f"{name}.running_mean"] = torch.randn(c) * 0.1
    s[f"{name}.running_var"] = torch.rand(c) * 0.5 + 0.75


def official_layout(depth=50, num_classes=19, seed=0):
    """A random state dict as the official ANN code saves it (DataParallel: every key under ``module.``)."""
    torch.manual_seed(seed)
    s: dict[str, torch.Tensor] = {}
    for i, (c_in, c_out) in enumerate(((3, 64), (64, 64), (64, 128)), start=1):
        _conv(s, f"backbone.prefix.conv{i}", c_out, c_in, 3)
        _bn(s, f"backbone.prefix.bn{i}", c_out)
    inplanes = 128
    for stage, blocks in enumerate(BLOCKS[depth]):
        planes = 64 * 2**stage
        for b in range(blocks):
            p = f"backbone.layer{stage + 1}.{b}"
            _conv(s, f"{p}.conv1", planes, inplanes, 1), _bn(s, f"{p}.bn1", planes)
            _conv(s, f"{p}.conv2", planes, planes, 3), _bn(s, f"{p}.bn2", planes)
            _conv(s, f"{p}.conv3", planes * 4, planes, 1, gain=0.3), _bn(s, f"{p}.bn3", planes * 4)
            if b == 0:
                _conv(s, f"{p}.downsample.0", planes * 4, inplanes, 1), _bn(s, f"{p}.downsample.1", planes * 4)
            inplanes = planes * 4
    f, a = "fusion.stages.0", "context.2.stages.0"
    _conv(s, f"{f}.f_key.0", 256, 1024, 1, bias=True), _bn(s, f"{f}.f_key.1.0", 256)
    _conv(s, f"{f}.f_query.0", 256, 2048, 1, bias=True), _bn(s, f"{f}.f_query.1.0", 256)
    _conv(s, f"{f}.f_value", 256, 1024, 1, bias=True)
    _conv(s, f"{f}.W", 2048, 256, 1, bias=True)
    _conv(s, "fusion.conv_bn_dropout.0", 2048, 4096, 1, bias=True), _bn(s, "fusion.conv_bn_dropout.1", 2048)
    _conv(s, "context.0", 512, 2048, 3, bias=True), _bn(s, "context.1.0", 512)
    _conv(s, f"{a}.f_key.0", 256, 512, 1, bias=True), _bn(s, f"{a}.f_key.1.0", 256)
    for key in [k for k in s if k.startswith(f"{a}.f_key.")]:  # f_query is f_key: one module, two names
        s[key.replace("f_key", "f_query")] = s[key]
    _conv(s, f"{a}.f_value", 256, 512, 1, bias=True)
    _conv(s, f"{a}.W", 512, 256, 1, bias=True)
    _conv(s, "context.2.conv_bn_dropout.0", 512, 1024, 1, bias=True), _bn(s, "context.2.conv_bn_dropout.1.0", 512)
    _conv(s, "cls", num_classes, 512, 1, bias=True)
    _conv(s, "dsn.0", 512, 1024, 3, bias=True), _bn(s, "dsn.1.0", 512)
    _conv(s, "dsn.3", num_classes, 512, 1, bias=True)
    return {f"module.{k}": v for k, v in s.items()}


# ----- the independent reference, from the official modules' semantics -----


def _cbr(s, conv, bn, x, stride=1, padding=0, dilation=1, relu=True):
    x = F.conv2d(x, s[f"{conv}.weight"], s.get(f"{conv}.bias"), stride, padding, dilation)
    x = F.batch_norm(
        x, s[f"{bn}.running_mean"], s[f"{bn}.running_var"], s[f"{bn}.weight"], s[f"{bn}.bias"], training=False, eps=1e-5
    )
    return F.relu(x) if relu else x


def _backbone(s, x, depth):
    for i in (1, 2, 3):
        x = _cbr(s, f"prefix.conv{i}", f"prefix.bn{i}", x, stride=2 if i == 1 else 1, padding=1)
    x = F.max_pool2d(x, 3, 2, 1, ceil_mode=True)
    feats = []
    for stage, blocks in enumerate(BLOCKS[depth]):
        for b in range(blocks):
            p = f"layer{stage + 1}.{b}"
            stride = 2 if stage == 1 and b == 0 else 1  # stages 4 and 5 trade their stride for dilation
            dilate = {2: 2, 3: 4}.get(stage, 1)
            d = dilate // 2 if (b == 0 and dilate > 1) else dilate  # _nostride_dilate: strided conv at half
            out = _cbr(s, f"{p}.conv1", f"{p}.bn1", x)
            out = _cbr(s, f"{p}.conv2", f"{p}.bn2", out, stride=stride, padding=d, dilation=d)
            out = _cbr(s, f"{p}.conv3", f"{p}.bn3", out, relu=False)
            short = _cbr(s, f"{p}.downsample.0", f"{p}.downsample.1", x, stride=stride, relu=False) if b == 0 else x
            x = F.relu(out + short)
        feats.append(x)
    return feats


def _psp(x):
    return torch.cat([F.adaptive_avg_pool2d(x, p).flatten(2) for p in POOLS], dim=2)  # (B, C, S)


def _attention(s, p, low, high, query_name):
    b, _, h, w = high.shape
    value = _psp(F.conv2d(low, s[f"{p}.f_value.weight"], s[f"{p}.f_value.bias"])).transpose(1, 2)
    query = _cbr(s, f"{p}.{query_name}.0", f"{p}.{query_name}.1.0", high).flatten(2).transpose(1, 2)
    key = _psp(_cbr(s, f"{p}.f_key.0", f"{p}.f_key.1.0", low))
    sim = torch.softmax(query @ key * 256**-0.5, dim=-1)  # (B, N, S)
    context = (sim @ value).transpose(1, 2).reshape(b, -1, h, w)
    return F.conv2d(context, s[f"{p}.W.weight"], s[f"{p}.W.bias"])


def official_forward(state, images_rgb01, depth=50):
    """(main, aux) logits at input size for RGB images in [0, 1], as the official network computes them."""
    s = {
        k[len("module.backbone.") :] if k.startswith("module.backbone.") else k[len("module.") :]: v
        for k, v in state.items()
    }
    x = images_rgb01.flip(1) * 255 - MEAN_BGR.view(1, 3, 1, 1)  # BGR, 0–255, minus mean, std 1
    low, high = _backbone(s, x, depth)[2:]
    aux = F.conv2d(_cbr(s, "dsn.0", "dsn.1.0", low, padding=1), s["dsn.3.weight"], s["dsn.3.bias"])
    context = _attention(s, "fusion.stages.0", low, high, "f_query")
    x = _cbr(s, "fusion.conv_bn_dropout.0", "fusion.conv_bn_dropout.1", torch.cat([context, high], 1), relu=False)
    x = _cbr(s, "context.0", "context.1.0", x, padding=1)
    context = _attention(s, "context.2.stages.0", x, x, "f_query")
    x = _cbr(s, "context.2.conv_bn_dropout.0", "context.2.conv_bn_dropout.1.0", torch.cat([context, x], 1))
    logits = F.conv2d(x, s["cls.weight"], s["cls.bias"])
    size = images_rgb01.shape[-2:]
    return tuple(F.interpolate(t, size=size, mode="bilinear", align_corners=True) for t in (logits, aux))
