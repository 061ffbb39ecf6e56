"""APNB and AFNB: the asymmetric non-local blocks of Zhu et al., ICCV 2019 (https://arxiv.org/abs/1908.07678).

A non-local block lets each of N pixels attend over all N pixels. The paper's blocks let the N queries attend over
S ≪ N *anchors* sampled by pyramid pooling (Sec. 3.2: pool sizes 1, 3, 6, 8 → S = 110), so the N×N similarity
map becomes N×S. The paper's symbols and annkit's names (N = H·W queries; d = ``key_channels``,
c_v = ``value_channels``; notebook 03 uses the same symbols):

=========================  =====================================  =================  ==============================
paper (Sec. 3.1–3.3)       annkit                                 shape              what it is
=========================  =====================================  =================  ==============================
X  (AFNB: X_h, X_l)        ``x`` (AFNB: ``high``, ``low``)        (B, C, H, W)       input map(s): stage 5, stage 4
φ = W_φ(X)                 ``query_key(x)`` (AFNB: ``query``)     (B, d, N)          queries: 1×1 conv + BN + ReLU
θ = W_θ(X)                 ``query_key(x)`` (AFNB: ``key``)       (B, d, h·w)        keys; APNB shares W_θ = W_φ
γ = W_γ(X)                 ``value(x)``                           (B, c_v, h·w)      values: a plain 1×1 conv
P_θ, P_γ                   ``sampler`` (``PyramidSampler``)       (·, ·, S)          pyramid pooling to S anchors
θ_P, γ_P                   ``sampler(θ)``, ``sampler(γ)``         (B, d | c_v, S)    the key and value anchors
V_P = φᵀ·θ_P               ``similarity``                         (B, N, S)          query–anchor similarities
A = softmax_s(V_P / √d)    ``attention``                          (B, N, S)          V_P normalised; rows sum to 1
O_P = A·γ_Pᵀ               ``o_p``                                (B, N, c_v)        the attended values
W_o                        ``out``                                (B, C_ctx, H, W)   1×1 conv, zero-initialised
Y_P = cat(W_o(O_Pᵀ), X)    ``fuse(cat(...))``, then ``dropout``   (B, C_out, H, W)   1×1 conv + BN (+ ReLU in APNB)
=========================  =====================================  =================  ==============================

AFNB (Sec. 3.3) is the same with φ from X_h and θ, γ from X_l (the paper writes V_F, O_F, Y_F).
``reference()`` is the paper's formulation, line by line below, as mmsegmentation also writes it. ``forward()``
computes the same function with annkit's exact fast path (``annkit/nn/asymmetric_fast.py``, which lists the four
identities that make it exact) whenever that path sees every module ``reference()`` would call — and
``reference()`` otherwise, so hooks, pruning, QAT or LoRA wrappers on the projections are always seen. With
``sampler=IdentitySampler()`` (S = N) APNB *is* a non-local block.

Defaults follow the official implementation (MendelXu/ANN): key conv with bias, Dropout2d(0.05) after the
fusion, zero-initialised out conv. mmsegmentation: ``key_bias=False, dropout=0.0`` (its head adds Dropout2d(0.1)).
PaddleSeg: ``dropout_kind="element", zero_init_out=False``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from annkit.nn import asymmetric_fast as fast
from annkit.nn.attention import AttentionBlock
from annkit.nn.layers import ConvNormAct, check_feature_map, make_dropout
from annkit.nn.samplers import PyramidSampler, Sampler


class AnchoredBlock(AttentionBlock):
    """What APNB and AFNB share: the sampler, the scale, the paper's attention over anchors, fusion and dropout.

    Subclasses create ``value`` (W_γ), ``out`` (W_o), ``fuse`` and their query/key projections, in that order (the
    parameter order that optimizer checkpoints index).
    """

    def __init__(
        self,
        sampler: Sampler | None,
        key_channels: int,
        value_channels: int,
        out_channels: int,
        dropout: float,
        dropout_kind: str,
    ) -> None:
        super().__init__(PyramidSampler((1, 3, 6, 8), "avg") if sampler is None else sampler)
        for name, value in (
            ("key_channels", key_channels),
            ("value_channels", value_channels),
            ("out_channels", out_channels),
        ):
            if value < 1:
                raise ValueError(f"{name} must be positive, got {value}")
        self.key_channels = key_channels
        self.dropout = make_dropout(dropout, dropout_kind)

    @property
    def scale(self) -> float:
        """The attention scale d^-1/2, d = key channels."""
        return self.key_channels**-0.5

    def _paper_context(self, phi: Tensor, theta: Tensor, gamma: Tensor) -> Tensor:
        """W_o(O_Pᵀ), Sec. 3.2, from full-resolution maps: φ (B, d, H, W), θ (B, d, h, w), γ (B, c_v, h, w)
        → (B, C_ctx, H, W)."""
        b, _, h, w = phi.shape
        theta_p = self.sampler.reference(theta)  # θ_P = P_θ(θ): (B, d, S)
        gamma_p = self.sampler.reference(gamma)  # γ_P = P_γ(γ): (B, c_v, S)
        similarity = torch.matmul(phi.reshape(b, self.key_channels, -1).permute(0, 2, 1), theta_p)  # V_P: (B, N, S)
        attention = torch.softmax(similarity * self.scale, dim=-1)  # A, normalised over the S anchors: (B, N, S)
        self._emit(attention, (h, w), tuple(theta.shape[-2:]))
        o_p = torch.matmul(attention, gamma_p.permute(0, 2, 1))  # O_P = A·γ_Pᵀ: (B, N, c_v)
        return self.out(o_p.permute(0, 2, 1).reshape(b, -1, h, w))  # W_o(O_Pᵀ): (B, C_ctx, H, W)

    def _paper_fusion(self, context: Tensor, skip: Tensor) -> Tensor:
        """Y_P = fuse(cat(W_o(O_Pᵀ), X)), then dropout: (B, C_ctx, H, W), (B, C_skip, H, W) → (B, C_out, H, W)."""
        return self.dropout(self.fuse(torch.cat([context, skip], dim=1)))


class APNB(AnchoredBlock):
    """Asymmetric Pyramid Non-local Block: self-attention of a map over its pyramid-pooled anchors.

    in: (B, in_channels, H, W) → out: (B, out_channels, H, W). Query and key share one projection
    (conv + BN + ReLU), as in all three public implementations; the context has ``in_channels`` channels and is
    fused with the input: ReLU(BN(conv1×1([context; x]))), then dropout.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int | None = None,
        key_channels: int = 256,
        value_channels: int = 256,
        sampler: Sampler | None = None,
        dropout: float = 0.05,
        dropout_kind: str = "channel",
        key_bias: bool = True,
        zero_init_out: bool = True,
    ) -> None:
        out_channels = in_channels if out_channels is None else out_channels
        super().__init__(sampler, key_channels, value_channels, out_channels, dropout, dropout_kind)
        self.in_channels = in_channels
        self.value = nn.Conv2d(in_channels, value_channels, 1)  # W_γ
        self.out = _out_projection(value_channels, in_channels, zero_init_out)  # W_o
        self.fuse = ConvNormAct(2 * in_channels, out_channels, 1, act=True)  # on cat(W_o(O_Pᵀ), X)
        self.query_key = ConvNormAct(in_channels, key_channels, 1, bias=key_bias)  # W_φ = W_θ

    def reference(self, x: Tensor) -> Tensor:
        """Y_P computed as the paper (and mmsegmentation) write it: x (B, C, H, W) → (B, out_channels, H, W)."""
        return self._paper_fusion(self.context(x, reference=True), x)

    def context(self, x: Tensor, reference: bool = False) -> Tensor:
        """The non-local context W_o(O_Pᵀ) before fusion (B, in_channels, H, W) — the official benchmark block.

        ``reference=True`` computes it as the paper does, running the shared projection twice as mmseg does.
        """
        check_feature_map(x, self.in_channels, "APNB")
        if reference or not fast.sees_all(self, self.query_key):
            return self._paper_context(self.query_key(x), self.query_key(x), self.value(x))  # φ, θ (= φ), γ
        return fast.apnb(self, x, fused=False)

    def forward(self, x: Tensor) -> Tensor:
        """Y_P (B, out_channels, H, W), by the exact fast path when it sees every submodule, else ``reference``."""
        if not fast.sees_all(self, self.query_key):
            return self.reference(x)
        check_feature_map(x, self.in_channels, "APNB")
        return fast.apnb(self, x)


class AFNB(AnchoredBlock):
    """Asymmetric Fusion Non-local Block: high-level queries attend over anchors pooled from a low-level map.

    low: (B, low_channels, h, w) (ResNet stage 4), high: (B, high_channels, H, W) (stage 5) →
    (B, out_channels, H, W). Separate query (on high) and key (on low) projections; the value comes from low; the
    context has ``out_channels`` channels and is fused with ``high``: BN(conv1×1([context; high])), no ReLU.
    """

    def __init__(
        self,
        low_channels: int,
        high_channels: int,
        out_channels: int | None = None,
        key_channels: int = 256,
        value_channels: int = 256,
        sampler: Sampler | None = None,
        dropout: float = 0.05,
        dropout_kind: str = "channel",
        key_bias: bool = True,
        zero_init_out: bool = True,
    ) -> None:
        out_channels = high_channels if out_channels is None else out_channels
        super().__init__(sampler, key_channels, value_channels, out_channels, dropout, dropout_kind)
        self.low_channels, self.high_channels = low_channels, high_channels
        self.value = nn.Conv2d(low_channels, value_channels, 1)  # W_γ on X_l
        self.out = _out_projection(value_channels, out_channels, zero_init_out)  # W_o
        self.fuse = ConvNormAct(out_channels + high_channels, out_channels, 1, act=False)  # on cat(W_o(O_Fᵀ), X_h)
        self.query = ConvNormAct(high_channels, key_channels, 1, bias=key_bias)  # W_φ on X_h
        self.key = ConvNormAct(low_channels, key_channels, 1, bias=key_bias)  # W_θ on X_l

    def reference(self, low: Tensor, high: Tensor) -> Tensor:
        """Y_F computed as the paper (and mmsegmentation) write it."""
        return self._paper_fusion(self.context(low, high, reference=True), high)

    def context(self, low: Tensor, high: Tensor, reference: bool = False) -> Tensor:
        """The context W_o(O_Fᵀ) before fusion: (B, out_channels, H, W); ``reference`` as in ``APNB.context``."""
        self._check(low, high)
        if reference or not fast.sees_all(self, self.query):
            return self._paper_context(self.query(high), self.key(low), self.value(low))  # φ_h, θ_l, γ_l
        return fast.afnb(self, low, high, fused=False)

    def forward(self, low: Tensor, high: Tensor) -> Tensor:
        """Y_F (B, out_channels, H, W), by the exact fast path when it sees every submodule, else ``reference``."""
        if not fast.sees_all(self, self.query):
            return self.reference(low, high)
        self._check(low, high)
        return fast.afnb(self, low, high)

    def _check(self, low: Tensor, high: Tensor) -> None:
        check_feature_map(low, self.low_channels, "AFNB", "low-level input")
        check_feature_map(high, self.high_channels, "AFNB", "high-level input")
        if low.shape[0] != high.shape[0]:
            raise ValueError(
                f"AFNB expects low- and high-level inputs with the same batch size, "
                f"got low {tuple(low.shape)} and high {tuple(high.shape)}"
            )


def _out_projection(value_channels: int, context_channels: int, zero_init: bool) -> nn.Conv2d:
    """W_o, a 1×1 conv; zero-initialised, the block starts as "no context": fuse([0; x])."""
    out = nn.Conv2d(value_channels, context_channels, 1)
    if zero_init:
        nn.init.zeros_(out.weight)
        nn.init.zeros_(out.bias)
    return out
