"""Multiply-adds of APNB, step by step, for the reference formulation and annkit's exact fast path.

Counting first is what explains the measurements: once keys are pooled the 1×1 projections dominate, so the
fast path wins by moving projections onto the S anchors, not by a cheaper attention. Forward pass, one image;
``torch.utils.flop_counter`` reports 2 × these numbers (tests check that it does).
"""

from __future__ import annotations

from collections.abc import Sequence

from annkit.nn.asymmetric_fast import anchors_first


def apnb_macs(
    h: int,
    w: int,
    in_channels: int,
    out_channels: int,
    key_channels: int,
    value_channels: int,
    pool_sizes: Sequence[int] = (1, 3, 6, 8),
    fused: bool = True,
) -> dict[str, dict[str, int]]:
    """{"reference": {step: MACs}, "annkit": {step: MACs}} for APNB (``fused``) or its context block.

    The annkit column makes the fast path's own choice of which projections go onto the anchors.
    """
    n, s, levels = h * w, sum(k * k for k in pool_sizes), sum(pool_sizes)
    c, d, v = in_channels, key_channels, value_channels
    reference = {
        "query projection": n * c * d,
        "key projection (same module, again)": n * c * d,
        "value projection": n * c * v,
        "QKᵀ": n * s * d,
        "AV": n * s * v,
        "out projection": n * v * c,
    }
    pool = levels * n + levels * levels * h  # separable average pooling of one channel: x·colsᵀ, then rows·(…)
    annkit = {
        "query/key projection (once)": n * c * d,
        "pool x and keys": (c + d) * pool,
        "value projection on anchors": s * c * v,
        "QKᵀ": n * s * d,
    }
    maps = [("out projection", c)] + ([("fusion conv, context half", out_channels)] if fused else [])
    width, folded = v, 0
    while folded < len(maps) and anchors_first(n, s, width, maps[folded][1]):
        annkit[f"{maps[folded][0]} on anchors"] = s * width * maps[folded][1]
        width, folded = maps[folded][1], folded + 1
    annkit[f"AV ({width} wide values)"] = n * s * width
    for name, c_next in maps[folded:]:
        annkit[f"{name} on pixels"] = n * width * c_next
        width = c_next
    if fused:
        reference["fusion conv [ctx; x]"] = n * 2 * c * out_channels
        annkit["fusion conv, input half"] = n * c * out_channels
    return {"reference": reference, "annkit": annkit}
