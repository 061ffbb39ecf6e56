"""annkit's exact fast path for APNB and AFNB: the same function as the paper's formulation, fewer multiply-adds.

Read ``annkit/nn/asymmetric.py`` first: it is the paper's block. ``APNB.forward`` / ``AFNB.forward`` come here,
and so does ``context()``, whenever the path below sees everything the paper's formulation would (``sees_all``);
``reference()`` never does. Four identities make the two agree to rounding (the one list of them; README and
notebook 03 repeat it word for word):

1. **Pooling commutes with a 1×1 conv.** The rows of the average-pooling matrix P sum to 1, so
   (W·x + b)·Pᵀ = W·(x·Pᵀ) + b: the value conv W_γ runs on the S anchors instead of the N pixels.
2. **Attention commutes with an affine map.** The rows of the softmax sum to 1, so
   W·(Σ_s a_ns·v_s) + b = Σ_s a_ns·(W·v_s + b): the out conv W_o and the context half of the fusion conv run on
   the S anchors, before the aggregation, whenever that costs fewer multiply-adds.
3. **A 1×1 conv of a concatenation is a sum.** W_f·[c; x] = W₁·c + W₂·x (the fusion conv is linear before its
   BN): W₁ joins identity 2, and W₂·x shares one pass over x with the query conv (one conv, stacked weights).
4. **APNB's query and key are one projection.** φ = θ, so it is computed once (mmsegmentation runs it twice).

Max pooling (``PyramidSampler(mode="max")``) is not linear: there identity 1 does not hold and the value conv runs
at full resolution; 2–4 still hold. (The sampler's own speed-up — average pooling is separable, so every pyramid
level comes from one pass over the map — lives in ``PyramidSampler.forward``; ``anchors_first`` is identity 2's
cost model, which ``annkit.bench.macs`` counts with.)

The path reads the weights of ``value``, ``out``, the query projection (``query_key`` / ``query``, and its
``conv``) and ``fuse`` (and its ``conv``) instead of calling those modules. So that hooks, pruning, QAT or
LoRA-style wrappers on them are never skipped silently, it runs only while they are the plain classes with no
hooks; otherwise the block computes ``reference()``, which calls every module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from annkit.nn.attention import project
from annkit.nn.layers import ConvNormAct

if TYPE_CHECKING:  # annotations only: asymmetric.py imports this module
    from annkit.nn.asymmetric import AFNB, APNB, AnchoredBlock

Affine = tuple[Tensor, Tensor | None]  # a 1×1 conv's (weight (C_out, C_in[, 1, 1]), bias (C_out,) or None)


def anchors_first(n: int, s: int, c_in: int, c_out: int) -> bool:
    """Identity 2's cost model: is a c_in→c_out linear map cheaper on the S anchors before aggregation than on the
    N pixels after it?  before: S·c_in·c_out (map) + N·S·c_out (aggregate wider values);
    after: N·S·c_in + N·c_in·c_out. With S = N (the non-local block) only a map that narrows (c_out ≤ c_in) is."""
    return s * c_in * c_out + n * s * c_out <= n * s * c_in + n * c_in * c_out


def _hooked(module: nn.Module) -> bool:
    return bool(
        module._forward_hooks or module._forward_pre_hooks or module._backward_hooks or module._backward_pre_hooks
    )


def sees_all(block: AnchoredBlock, projection: nn.Module) -> bool:
    """True when the fast path computes exactly what calling every submodule would: the modules it reads weights
    from (``value``, ``out``, ``projection`` = the query projection and its conv, ``fuse`` and its conv) are the
    plain classes and none has a hook of its own. A subclass, a parametrization (its class changes), pruning (a
    pre-hook), QAT or LoRA wrappers (other classes) all send the block to ``reference()``. Global module hooks
    (``register_module_forward_hook``, which ``FlopCounterMode``'s module tracker uses) are for bookkeeping and
    aim at no module: they see the block, not the convs the fast path reads.

    The check is a few dictionary reads, well under 1 % of a forward pass even on an 8×8 map; compare
    ``python -m timeit -s "from annkit.nn import APNB; from annkit.nn.asymmetric_fast import sees_all;
    b = APNB(64, key_channels=32, value_channels=32)" "sees_all(b, b.query_key)"`` with the same ``-s`` plus
    ``import torch; x = torch.randn(1, 64, 8, 8)`` timing ``"b(x)"``.
    """
    children = block._modules  # read directly: nn.Module.__getattr__ would cost more than the rest of the check
    wrappers = (projection, children["fuse"])
    if any(type(m) is not ConvNormAct or _hooked(m) for m in wrappers):
        return False
    convs = (*(m._modules["conv"] for m in wrappers), children["value"], children["out"])
    return all(type(m) is nn.Conv2d and not _hooked(m) for m in convs)


def apnb(block: APNB, x: Tensor, fused: bool = True) -> Tensor:
    """APNB's output (B, C_out, H, W), or with ``fused=False`` its context W_o(O_Pᵀ) (B, C, H, W); x (B, C, H, W)."""
    size = tuple(x.shape[-2:])
    if fused:  # identities 3 and 4: φ (= θ) and W₂·x from one stacked conv
        phi, local = _query_and_local(block, block.query_key, x)  # (B, d, H, W), (B, C_out, N)
    else:  # identity 4
        phi, local = block.query_key(x), None
    theta_p = block.sampler(phi)  # θ_P = P(θ), θ = φ: (B, d, S)
    return _output(block, phi.flatten(2), theta_p, _anchor_values(block, x), local, size, size)


def afnb(block: AFNB, low: Tensor, high: Tensor, fused: bool = True) -> Tensor:
    """AFNB's output (B, C_out, H, W), or with ``fused=False`` its context; low (B, C_l, h, w), high (B, C_h, H, W)."""
    if fused:  # identity 3: φ_h and W₂·high from one stacked conv
        phi, local = _query_and_local(block, block.query, high)  # (B, d, H, W), (B, C_out, N)
    else:
        phi, local = block.query(high), None
    theta_p = block.sampler(block.key(low))  # θ_P from X_l: (B, d, S)
    size, key_size = tuple(high.shape[-2:]), tuple(low.shape[-2:])
    return _output(block, phi.flatten(2), theta_p, _anchor_values(block, low), local, size, key_size)


def _anchor_values(block: AnchoredBlock, source: Tensor) -> Tensor:
    """γ_P (B, c_v, S): W_γ·P(x) + b (identity 1) when sampling is linear, else P(W_γ·x + b)."""
    if block.sampler.linear:
        return project(block.sampler(source), block.value.weight, block.value.bias)
    return block.sampler(block.value(source))


def _query_and_local(block: AnchoredBlock, projection: ConvNormAct, skip: Tensor) -> tuple[Tensor, Tensor]:
    """The query projection (conv + BN + ReLU) and the fusion conv's input half W₂·skip read the same map: one
    1×1 conv with stacked weights (identity 3) — one pass over ``skip`` forward, one input-gradient GEMM backward.
    Returns φ (B, d, H, W) and W₂·skip (B, C_out, N)."""
    conv, fuse = projection.conv, block.fuse.conv
    weight = torch.cat([conv.weight, fuse.weight[:, block.out.out_channels :]])  # (d + C_out, C_skip, 1, 1)
    widths = (conv.out_channels, fuse.out_channels)
    biases = (conv.bias, fuse.bias)
    bias = (
        None
        if all(b is None for b in biases)
        else torch.cat([weight.new_zeros(n) if b is None else b for b, n in zip(biases, widths)])
    )
    projected, local = F.conv2d(skip, weight, bias).split(widths, dim=1)
    return projection.act(projection.norm(projected)), local.flatten(2)


def _output(
    block: AnchoredBlock,
    phi: Tensor,
    theta_p: Tensor,
    gamma_p: Tensor,
    local: Tensor | None,
    size: tuple[int, int],
    key_size: tuple[int, int],
) -> Tensor:
    """φ (B, d, N), θ_P (B, d, S), γ_P (B, c_v, S) → the context W_o(O_Pᵀ) (B, C_ctx, H, W), or, given
    ``local`` = W₂·skip (B, C_out, N), the fused output act(BN(W₂·skip + W₁·W_o(O_Pᵀ))) then dropout."""
    maps = [(block.out.weight, block.out.bias)]
    if local is None:
        return _aggregate(block, phi, theta_p, gamma_p, maps, size, key_size).unflatten(2, size)
    maps.append((block.fuse.conv.weight[:, : block.out.out_channels], None))  # W₁, the context half (identity 3)
    fused = _aggregate(block, phi, theta_p, gamma_p, maps, size, key_size, onto=local)  # (B, C_out, N)
    return block.dropout(block.fuse.act(block.fuse.norm(fused.unflatten(2, size))))


def _aggregate(
    block: AnchoredBlock,
    query: Tensor,
    key: Tensor,
    value: Tensor,
    maps: list[Affine],
    query_size: tuple[int, int],
    key_size: tuple[int, int],
    onto: Tensor | None = None,
) -> Tensor:
    """Attend, then apply ``maps`` in order — each on the anchors while that is cheaper (identity 2) — and add
    ``onto``: query (B, d, N), key (B, d, S), value (B, c, S), onto (B, c_last, N) → (B, c_last, N)."""
    n, s = query.shape[-1], key.shape[-1]
    on_anchors = 0
    while on_anchors < len(maps) and anchors_first(n, s, value.shape[1], maps[on_anchors][0].shape[0]):
        value = project(value, *maps[on_anchors])  # (B, c', S)
        on_anchors += 1
    if on_anchors == len(maps):  # everything folded: one GEMM aggregates and adds
        return block._attend(query, key, value, block.scale, query_size, key_size, onto=onto)
    context = block._attend(query, key, value, block.scale, query_size, key_size)  # (B, c', N)
    for weight, bias in maps[on_anchors:]:
        context = project(context, weight, bias)
    return context if onto is None else onto + context
