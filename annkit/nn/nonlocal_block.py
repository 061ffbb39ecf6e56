"""The non-local block of Wang, Girshick, Gupta, He, "Non-local Neural Networks", CVPR 2018
(https://arxiv.org/abs/1711.07971).

    y_i = 1/C(x) · Σ_j f(x_i, x_j) g(x_j),      z_i = W_z y_i + x_i                     (eq. 1 and 6)

with g a 1×1 conv and four pairwise functions f (Sec. 3.2):

- ``"embedded_gaussian"``: f = exp(θ(x_i)ᵀ φ(x_j)), C = Σ_j f  → softmax over j (self-attention);
- ``"gaussian"``:          f = exp(x_iᵀ x_j), no embedding       → softmax over j;
- ``"dot_product"``:       f = θ(x_i)ᵀ φ(x_j),  C = number of anchors;
- ``"concatenation"``:     f = ReLU(w_fᵀ [θ(x_i); φ(x_j)]),  C = number of anchors.

Keys and values are the anchors of a sampler: every pixel (``IdentitySampler``), or 2×2 max pooling with
``sub_sample=True`` (Wang et al.'s trick). The softmax kinds use annkit's attention core, so with the same
projections this block and ``APNB(sampler=IdentitySampler())`` compute the same context. ``scale=True`` divides
the logits by √d as mmsegmentation does (Wang's original: ``scale=False``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from annkit.nn.attention import AttentionBlock, attention_weights
from annkit.nn.layers import check_feature_map
from annkit.nn.samplers import GridSampler, IdentitySampler

PAIRWISE = ("embedded_gaussian", "gaussian", "dot_product", "concatenation")


class NonLocal2d(AttentionBlock):
    """Wang et al.'s non-local block on (B, C, H, W) maps; returns z = W_z y + x (or W_z y if not residual).

    ``inter_channels`` (default C/2) is the channel reduction of θ, φ, g; ``norm=True`` puts BN after W_z
    (Wang's choice, zero-initialised γ with ``zero_init``); otherwise ``zero_init`` zeroes W_z itself, so the
    block starts as the identity.
    """

    def __init__(
        self,
        in_channels: int,
        inter_channels: int | None = None,
        pairwise: str = "embedded_gaussian",
        sub_sample: bool = False,
        residual: bool = True,
        zero_init: bool = True,
        norm: bool = False,
        scale: bool = True,
    ) -> None:
        if pairwise not in PAIRWISE:
            raise ValueError(f"pairwise must be one of {PAIRWISE}, got {pairwise!r}")
        super().__init__(GridSampler(2, "max") if sub_sample else IdentitySampler())
        inter = max(in_channels // 2, 1) if inter_channels is None else inter_channels
        if inter < 1:
            raise ValueError(f"inter_channels must be positive, got {inter_channels}")
        self.in_channels, self.inter_channels = in_channels, inter
        self.pairwise, self.residual, self.use_scale = pairwise, residual, scale
        self.g = nn.Conv2d(in_channels, inter, 1)
        if pairwise != "gaussian":
            self.theta = nn.Conv2d(in_channels, inter, 1)
            self.phi = nn.Conv2d(in_channels, inter, 1)
        if pairwise == "concatenation":
            self.concat_project = nn.Conv2d(2 * inter, 1, 1, bias=False)
        self.out = nn.Conv2d(inter, in_channels, 1)
        self.out_norm = nn.BatchNorm2d(in_channels) if norm else nn.Identity()
        if zero_init:
            zeroed = self.out_norm if norm else self.out
            nn.init.zeros_(zeroed.weight)
            nn.init.zeros_(zeroed.bias)

    def extra_repr(self) -> str:
        return f"pairwise={self.pairwise!r}, residual={self.residual}, scale={self.use_scale}"

    def _embeddings(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """query (B, d, N), key anchors (B, d, S), value anchors (B, inter, S)."""
        query_map, key_map = (x, x) if self.pairwise == "gaussian" else (self.theta(x), self.phi(x))
        return query_map.flatten(2), self.sampler(key_map), self.sampler(self.g(x))

    def _scale(self, d: int) -> float:
        return d**-0.5 if self.use_scale else 1.0

    def _weights(self, query: Tensor, key: Tensor) -> Tensor:
        """f(x_i, x_j) / C(x) as an explicit (B, N, S) map, for every pairwise kind."""
        if self.pairwise in ("embedded_gaussian", "gaussian"):
            return attention_weights(query, key, self._scale(query.shape[1]))
        if self.pairwise == "dot_product":
            return torch.bmm(query.transpose(1, 2), key) / key.shape[-1]
        w_query, w_key = self.concat_project.weight.flatten(1).split(self.inter_channels, dim=1)  # (1, d) each
        # w_fᵀ[θ_i; φ_j] = w_θᵀθ_i + w_φᵀφ_j: a (B, N, 1) + (B, 1, S) sum, never a (B, N, S, 2d) tensor
        logits = (w_query @ query).transpose(1, 2) + w_key @ key
        return torch.relu(logits) / key.shape[-1]

    def _output(self, x: Tensor, context: Tensor) -> Tensor:
        y = self.out_norm(self.out(context.unflatten(2, x.shape[-2:])))  # (B, inter, N) → (B, C, H, W)
        return y + x if self.residual else y

    def forward(self, x: Tensor) -> Tensor:
        """z = W_z y + x, with y from the fused attention kernel for the softmax kinds (no N×S map kept)."""
        check_feature_map(x, self.in_channels, "NonLocal2d")
        query, key, value = self._embeddings(x)
        size = tuple(x.shape[-2:])  # anchors are sampled from the same map: key size = query size
        if self.pairwise in ("embedded_gaussian", "gaussian"):
            context = self._attend(query, key, value, self._scale(query.shape[1]), size, size)
        else:
            weights = self._weights(query, key)  # (B, N, S)
            self._emit(weights, size, size)
            context = torch.bmm(value, weights.transpose(1, 2))  # (B, inter, N)
        return self._output(x, context)

    def reference(self, x: Tensor) -> Tensor:
        """The same block with the explicit (B, N, S) pairwise map, as Wang et al. and mmseg write it."""
        check_feature_map(x, self.in_channels, "NonLocal2d")
        query, key, value = self._embeddings(x)
        weights = self._weights(query, key)  # (B, N, S)
        self._emit(weights, tuple(x.shape[-2:]), tuple(x.shape[-2:]))
        return self._output(x, torch.bmm(value, weights.transpose(1, 2)))
