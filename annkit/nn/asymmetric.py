"""APNB and AFNB: the asymmetric non-local blocks of Zhu et al., ICCV 2019 (https://arxiv.org/abs/1908.07678).

"Asymmetric" because the N queries attend over S ≪ N anchors sampled by pyramid pooling (Sec. 3.2–3.4):

    APNB(x)        = fuse([W_o · Σ_s softmax(q_n·k_s/√d) v_s ;  x])      q = k-projection of x (shared)
    AFNB(low, high) = fuse([W_o · Σ_s softmax(q_n·k_s/√d) v_s ;  high])   q from high, k and v from low

with q, k = ReLU(BN(1×1 conv)), v = 1×1 conv sampled to anchors, W_o a zero-initialised 1×1 conv, and
``fuse`` a 1×1 conv + BN (+ ReLU in APNB). With ``sampler=IdentitySampler()`` APNB *is* a non-local block.

``forward`` is annkit's exact fast path; ``reference`` is the straightforward formulation as mmsegmentation
writes it (project at full resolution, pool, matmul, softmax, matmul, out conv, concat, fuse). They agree to
rounding because of three identities:

1. average pooling P has rows summing to 1, so a 1×1 conv with bias commutes with it: P(Wx + b) = W(Px) + b —
   the value projection runs on the S anchors (``_anchor_values``);
2. softmax rows sum to 1, so any affine map A after the aggregation moves onto the anchors:
   A(Σ_s a_ns v_s) = Σ_s a_ns (A v_s) — the out conv, and the context half of the fusion conv, which is linear
   before its BN (W·[ctx; x] = W₁·ctx + W₂·x), are applied to S anchors instead of N pixels, whenever that
   costs fewer multiply-adds (``_anchors_first``; with S = N it never does);
3. with a shared query/key projection, compute it once (mmseg runs the same module twice);
4. the query conv and the fusion conv's input half are both 1×1 convs of the same map: one conv, stacked weights.
Max pooling is not linear: with ``PyramidSampler(mode="max")`` only identity 1 falls back to full resolution.

Defaults follow the official implementation (MendelXu/ANN): key conv with bias, Dropout2d(0.05) after the
fusion, zero-initialised out conv. mmsegmentation: ``key_bias=False, dropout=0.0`` (its head adds Dropout2d(0.1)).
PaddleSeg: ``dropout_kind="element", zero_init_out=False``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from annkit.nn.attention import AttentionBlock, project
from annkit.nn.layers import ConvNormAct, check_feature_map, make_dropout
from annkit.nn.samplers import PyramidSampler, Sampler

Affine = tuple[Tensor, Tensor | None]  # a 1×1 conv's (weight (C_out, C_in[, 1, 1]), bias (C_out,) or None)


def _anchors_first(n: int, s: int, c_in: int, c_out: int) -> bool:
    """Is a c_in→c_out linear map cheaper on the S anchors before aggregation than on the N pixels after?

    before: S·c_in·c_out (map) + N·S·c_out (aggregate wider values);  after: N·S·c_in + N·c_in·c_out.
    """
    return s * c_in * c_out + n * s * c_out <= n * s * c_in + n * c_in * c_out


class _AnchoredBlock(AttentionBlock):
    """What APNB and AFNB share: value/out projections on anchors, the fusion, the fast aggregation."""

    def __init__(
        self,
        value_in: int,
        skip_channels: int,
        context_channels: int,
        out_channels: int,
        key_channels: int,
        value_channels: int,
        sampler: Sampler | None,
        dropout: float,
        dropout_kind: str,
        zero_init_out: bool,
        fuse_act: bool,
    ) -> None:
        super().__init__(sampler if sampler is not None else PyramidSampler((1, 3, 6, 8), "avg"))
        for name, value in (
            ("key_channels", key_channels),
            ("value_channels", value_channels),
            ("out_channels", out_channels),
        ):
            if value < 1:
                raise ValueError(f"{name} must be positive, got {value}")
        self.key_channels = key_channels
        self.context_channels = context_channels
        self.value = nn.Conv2d(value_in, value_channels, 1)
        self.out = nn.Conv2d(value_channels, context_channels, 1)
        if zero_init_out:  # the block starts as "no context": fuse([0; x])
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)
        self.fuse = ConvNormAct(context_channels + skip_channels, out_channels, 1, act=fuse_act)
        self.dropout = make_dropout(dropout, dropout_kind)

    @property
    def scale(self) -> float:
        """The attention scale d^-1/2, d = key channels."""
        return self.key_channels**-0.5

    def _anchor_values(self, source: Tensor) -> Tensor:
        """Values on the anchors (B, c_v, S): W·P(x) + b (identity 1) when sampling is linear, else P(W·x + b)."""
        if self.sampler.linear:
            return project(self.sampler(source), self.value.weight, self.value.bias)
        return self.sampler(self.value(source))

    def _aggregate(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        maps: list[Affine],
        query_size: tuple[int, int],
        key_size: tuple[int, int],
        onto: Tensor | None = None,
    ) -> Tensor:
        """Attend, then apply ``maps`` in order — each on the anchors while that is cheaper (identity 2) —
        and add ``onto``: query (B, d, N), key (B, d, S), value (B, c, S), onto (B, c_last, N) → (B, c_last, N)."""
        n, s = query.shape[-1], key.shape[-1]
        on_anchors = 0
        while on_anchors < len(maps) and _anchors_first(n, s, value.shape[1], maps[on_anchors][0].shape[0]):
            value = project(value, *maps[on_anchors])  # (B, c', S)
            on_anchors += 1
        if on_anchors == len(maps):  # everything folded: one GEMM aggregates and adds
            return self._attend(query, key, value, self.scale, query_size, key_size, onto=onto)
        context = self._attend(query, key, value, self.scale, query_size, key_size)  # (B, c', N)
        for weight, bias in maps[on_anchors:]:
            context = project(context, weight, bias)
        return context if onto is None else onto + context

    def _query_and_local(self, projection: ConvNormAct, skip: Tensor) -> tuple[Tensor, Tensor]:
        """The query projection (conv + BN + ReLU) and the fusion conv's input half W₂·skip read the same map:
        run them as one 1×1 conv with stacked weights (identity 4) — one pass over ``skip`` forward, one
        input-gradient GEMM backward. Returns (B, d, H, W) and (B, C_out, N)."""
        conv, fuse = projection.conv, self.fuse.conv
        weight = torch.cat([conv.weight, fuse.weight[:, self.context_channels :]])  # (d + C_out, C_skip, 1, 1)
        widths = (conv.out_channels, fuse.out_channels)
        biases = (conv.bias, fuse.bias)
        bias = (
            None
            if all(b is None for b in biases)
            else torch.cat([weight.new_zeros(n) if b is None else b for b, n in zip(biases, widths)])
        )
        projected, local = F.conv2d(skip, weight, bias).split(widths, dim=1)
        return projection.act(projection.norm(projected)), local.flatten(2)

    def _fused(
        self, query: Tensor, key: Tensor, value: Tensor, local: Tensor, size: tuple[int, int], key_size: tuple[int, int]
    ) -> Tensor:
        """fuse([out(context); skip]) = act(BN(W₂·skip + W₁·out(context))), the context half folded into the
        aggregation: ``local`` = W₂·skip (B, C_out, N) → (B, C_out, H, W)."""
        w_context = self.fuse.conv.weight[:, : self.context_channels]
        maps = [(self.out.weight, self.out.bias), (w_context, None)]
        fused = self._aggregate(query, key, value, maps, size, key_size, onto=local)  # W₂·skip + W₁·ctx
        return self.dropout(self.fuse.act(self.fuse.norm(fused.unflatten(2, size))))

    def _context(
        self, query: Tensor, key: Tensor, value: Tensor, size: tuple[int, int], key_size: tuple[int, int]
    ) -> Tensor:
        context = self._aggregate(query, key, value, [(self.out.weight, self.out.bias)], size, key_size)
        return context.unflatten(2, size)  # (B, C_ctx, H, W)

    def _reference_context(self, query_map: Tensor, key_map: Tensor, value_map: Tensor) -> Tensor:
        """mmseg's _SelfAttentionBlock: full-resolution maps in, out-projected context (B, C_ctx, H, W) out."""
        b, _, h, w = query_map.shape
        query = query_map.reshape(b, self.key_channels, -1).permute(0, 2, 1)  # (B, N, d)
        key = self.sampler.reference(key_map)  # (B, d, S)
        value = self.sampler.reference(value_map).permute(0, 2, 1)  # (B, S, c_v)
        sim = torch.softmax(torch.matmul(query, key) * self.scale, dim=-1)  # (B, N, S)
        self._emit(sim, (h, w), tuple(key_map.shape[-2:]))
        context = torch.matmul(sim, value).permute(0, 2, 1).reshape(b, -1, h, w)  # (B, c_v, H, W)
        return self.out(context)  # (B, C_ctx, H, W)


class APNB(_AnchoredBlock):
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
        super().__init__(
            in_channels,
            in_channels,
            in_channels,
            out_channels,
            key_channels,
            value_channels,
            sampler,
            dropout,
            dropout_kind,
            zero_init_out,
            fuse_act=True,
        )
        self.in_channels = in_channels
        self.query_key = ConvNormAct(in_channels, key_channels, 1, bias=key_bias)

    def _inputs(self, x: Tensor, fused: bool) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
        """query (B, d, N), key (B, d, S), value (B, c_v, S) and, if ``fused``, W₂·x (B, C_out, N)."""
        check_feature_map(x, self.in_channels, "APNB")
        # the shared query/key projection, computed once (identity 3)
        shared, local = self._query_and_local(self.query_key, x) if fused else (self.query_key(x), None)
        return shared.flatten(2), self.sampler(shared), self._anchor_values(x), local

    def forward(self, x: Tensor) -> Tensor:
        """The fused APNB output (B, out_channels, H, W), computed with the exact fast path."""
        size = tuple(x.shape[-2:])
        return self._fused(*self._inputs(x, fused=True), size, size)

    def context(self, x: Tensor, reference: bool = False) -> Tensor:
        """The non-local context W_o·Σ a v before fusion (B, in_channels, H, W) — the official benchmark block.

        ``reference=True`` computes it the straightforward way (shared projection run twice, as mmseg does).
        """
        if reference:
            check_feature_map(x, self.in_channels, "APNB")
            return self._reference_context(self.query_key(x), self.query_key(x), self.value(x))
        query, key, value, _ = self._inputs(x, fused=False)
        size = tuple(x.shape[-2:])
        return self._context(query, key, value, size, size)

    def reference(self, x: Tensor) -> Tensor:
        """The same block written the straightforward way (mmsegmentation's formulation), for tests and teaching."""
        # mmseg saves one module as both key_project and query_project, and runs it twice
        return self.dropout(self.fuse(torch.cat([self.context(x, reference=True), x], dim=1)))


class AFNB(_AnchoredBlock):
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
        super().__init__(
            low_channels,
            high_channels,
            out_channels,
            out_channels,
            key_channels,
            value_channels,
            sampler,
            dropout,
            dropout_kind,
            zero_init_out,
            fuse_act=False,
        )
        self.low_channels, self.high_channels = low_channels, high_channels
        self.query = ConvNormAct(high_channels, key_channels, 1, bias=key_bias)
        self.key = ConvNormAct(low_channels, key_channels, 1, bias=key_bias)

    def _check(self, low: Tensor, high: Tensor) -> None:
        check_feature_map(low, self.low_channels, "AFNB", "low-level input")
        check_feature_map(high, self.high_channels, "AFNB", "high-level input")
        if low.shape[0] != high.shape[0]:
            raise ValueError(
                f"AFNB expects low- and high-level inputs with the same batch size, "
                f"got low {tuple(low.shape)} and high {tuple(high.shape)}"
            )

    def _inputs(self, low: Tensor, high: Tensor, fused: bool) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
        """query (B, d, N), key (B, d, S), value (B, c_v, S) and, if ``fused``, W₂·high (B, C_out, N)."""
        self._check(low, high)
        query, local = self._query_and_local(self.query, high) if fused else (self.query(high), None)
        key = self.sampler(self.key(low))  # (B, d, S)
        return query.flatten(2), key, self._anchor_values(low), local

    def forward(self, low: Tensor, high: Tensor) -> Tensor:
        """The fused AFNB output (B, out_channels, H, W), computed with the exact fast path."""
        return self._fused(*self._inputs(low, high, fused=True), tuple(high.shape[-2:]), tuple(low.shape[-2:]))

    def context(self, low: Tensor, high: Tensor, reference: bool = False) -> Tensor:
        """The context W_o·Σ a v before fusion: (B, out_channels, H, W); ``reference`` as in ``APNB.context``."""
        if reference:
            self._check(low, high)
            return self._reference_context(self.query(high), self.key(low), self.value(low))
        query, key, value, _ = self._inputs(low, high, fused=False)
        return self._context(query, key, value, tuple(high.shape[-2:]), tuple(low.shape[-2:]))

    def reference(self, low: Tensor, high: Tensor) -> Tensor:
        """The straightforward formulation (mmsegmentation's), for tests and teaching."""
        return self.dropout(self.fuse(torch.cat([self.context(low, high, reference=True), high], dim=1)))
