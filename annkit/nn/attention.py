"""The one attention core of annkit: N queries attend over S anchors.

Non-local block (Wang et al. 2018, eq. 1–2), APNB and AFNB (Zhu et al. 2019, eq. 1–4) all compute

    context_n = Σ_s softmax_s(scale · q_n · k_s) v_s,   q: (B, N, d), k: (B, S, d), v: (B, S, c)

and differ only in their projections and in how the S anchors (keys and values) are sampled from a feature
map (``annkit.nn.samplers``). ``attend`` is that sum; ``AttentionBlock`` is the base every block derives from,
which also lets ``record_attention`` observe the (B, N, S) attention without any block storing it.
Tensors are channels-first as feature maps flatten: (B, C, N) with pixels in row-major order (n = y·W + x),
(B, C, S) with anchors in sampler order; attention maps are (B, N, S).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from annkit.nn.samplers import Sampler


def project(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """A 1×1 conv on flattened features: (B, C_in, L) → (B, C_out, L); weight (C_out, C_in[, 1, 1]).

    A batched GEMM: on the few anchors it avoids a convolution primitive's set-up cost (~2× faster on CPU)."""
    weight = weight.flatten(1).expand(x.shape[0], -1, -1)  # (B, C_out, C_in), a view
    return torch.bmm(weight, x) if bias is None else torch.baddbmm(bias[None, :, None], weight, x)


def attention_weights(query: Tensor, key: Tensor, scale: float) -> Tensor:
    """softmax_s(scale · q_n·k_s), explicitly: query (B, d, N), key (B, d, S) → (B, N, S); rows sum to 1."""
    return torch.softmax(torch.bmm(query.transpose(1, 2), key) * scale, dim=-1)


def attend(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    *,
    scale: float | None = None,
    need_weights: bool = False,
    onto: Tensor | None = None,
) -> tuple[Tensor, Tensor | None]:
    """N queries attend over S anchors: returns (context (B, c, N), weights (B, N, S) or None).

    Channels-first, like flattened feature maps: query (B, d, N), key (B, d, S), value (B, c, S).
    ``scale`` defaults to d^-0.5 (the paper's and mmseg's). ``onto`` (B, c, N), if given, is added to the
    context inside the same GEMM (``baddbmm``) — how APNB/AFNB add their context to the fusion conv's other half.
    Where it applies — no weights wanted, nothing to add onto, c = d (PyTorch's fused kernels need equal widths)
    — this is ``F.scaled_dot_product_attention``: a flash kernel that never holds the (B, N, S) map, which for
    S = N (non-local) is the N×N wall. Otherwise the weights are explicit; with S ≪ N they are small.
    """
    if scale is None:
        scale = query.shape[1] ** -0.5
    if need_weights or onto is not None or value.shape[1] != query.shape[1]:
        weights = attention_weights(query, key, scale)  # (B, N, S)
        weights_t = weights.transpose(1, 2)  # (B, S, N), a view: BLAS reads it transposed
        context = torch.bmm(value, weights_t) if onto is None else torch.baddbmm(onto, value, weights_t)
        return context, (weights if need_weights else None)  # (B, c, N)
    # the fused kernels take rows (B, heads = 1, N, d), each contiguous (4-D: the form every backend and ONNX take)
    rows = [t.transpose(1, 2).contiguous().unsqueeze(1) for t in (query, key, value)]
    return F.scaled_dot_product_attention(*rows, scale=scale)[:, 0].transpose(1, 2), None  # (B, c, N)


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

    def _attend(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        scale: float,
        query_size: tuple[int, int],
        key_size: tuple[int, int],
        onto: Tensor | None = None,
    ) -> Tensor:
        """``attend`` plus observation: (B, d, N), (B, d, S), (B, c, S) → (B, c, N)."""
        context, weights = attend(query, key, value, scale=scale, need_weights=self.recording, onto=onto)
        if weights is not None:
            self._emit(weights, query_size, key_size)
        return context
