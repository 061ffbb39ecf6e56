"""The one attention core of annkit: N queries attend over S anchors.

Non-local block (Wang et al. 2018, eq. 1–2), APNB and AFNB (Zhu et al. 2019, eq. 1–4) all compute

    context_n = Σ_s softmax_s(scale · q_n · k_s) v_s,   q: (B, N, d), k: (B, S, d), v: (B, S, c)

and differ only in their projections and in how the S anchors (keys and values) are sampled from a feature
map (``annkit.nn.samplers``). ``attend`` is that sum; ``AttentionBlock`` is the base every block derives from,
which also lets ``record_attention`` observe the (B, N, S) attention without any block storing it.
Rows are pixels in row-major order (n = y·W + x) or anchors in sampler order.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from annkit.nn.samplers import Sampler


def as_rows(x: Tensor) -> Tensor:
    """(B, C, H, W) or (B, C, S) → (B, H·W or S, C): one row per pixel (row-major) or per anchor (a view)."""
    return x.flatten(2).transpose(1, 2)


def as_map(rows: Tensor, h: int, w: int) -> Tensor:
    """(B, H·W, C) → (B, C, H, W), the inverse of ``as_rows`` (a view, channels-last strides)."""
    return rows.transpose(1, 2).unflatten(2, (h, w))


def project_rows(rows: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """A 1×1 conv applied to rows: (B, L, C_in) → (B, L, C_out), weight (C_out, C_in[, 1, 1])."""
    return F.linear(rows, weight.flatten(1), bias)


def attention_weights(query: Tensor, key: Tensor, scale: float) -> Tensor:
    """softmax(scale · Q Kᵀ) over the anchors, explicitly: (B, N, d), (B, S, d) → (B, N, S); rows sum to 1."""
    return torch.softmax(torch.bmm(query, key.transpose(1, 2)) * scale, dim=-1)


def attend(query: Tensor, key: Tensor, value: Tensor, *, scale: float | None = None,
           need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
    """N queries attend over S anchors: returns (context (B, N, c), weights (B, N, S) or None).

    query (B, N, d), key (B, S, d), value (B, S, c); ``scale`` defaults to d^-0.5 (the paper's and mmseg's
    normalisation). Without ``need_weights`` this is ``F.scaled_dot_product_attention`` (fused kernels, no
    (B, N, S) tensor kept: for S = N it avoids the N×N map); with it the weights are computed explicitly.
    """
    if scale is None:
        scale = query.shape[-1] ** -0.5
    if need_weights:
        weights = attention_weights(query, key, scale)  # (B, N, S)
        return torch.bmm(weights, value), weights  # (B, N, c)
    return F.scaled_dot_product_attention(query, key, value, scale=scale), None  # (B, N, c)


Observer = Callable[["AttentionBlock", Tensor, tuple[int, int], tuple[int, int]], None]


class AttentionBlock(nn.Module):
    """Base of every block whose queries attend over the anchors of ``self.sampler``.

    Normal forward passes keep no attention tensors. ``record_attention`` installs an observer; while one is
    installed, blocks compute the weights explicitly and hand each (B, N, S) map to it.
    """

    def __init__(self, sampler: Sampler) -> None:
        super().__init__()
        if not isinstance(sampler, Sampler):
            raise ValueError(f"sampler must be an annkit.nn.Sampler, got {type(sampler).__name__}")
        self.sampler = sampler
        self._observer: Observer | None = None

    @property
    def recording(self) -> bool:
        """True while ``record_attention`` observes this block."""
        return self._observer is not None

    def _emit(self, weights: Tensor, query_size: tuple[int, int], key_size: tuple[int, int]) -> None:
        if self._observer is not None:
            self._observer(self, weights, query_size, key_size)

    def _attend(self, query: Tensor, key: Tensor, value: Tensor, scale: float,
                query_size: tuple[int, int], key_size: tuple[int, int]) -> Tensor:
        """``attend`` plus observation: (B, N, d), (B, S, d), (B, S, c) → (B, N, c)."""
        context, weights = attend(query, key, value, scale=scale, need_weights=self.recording)
        if weights is not None:
            self._emit(weights, query_size, key_size)
        return context
