"""Anchor samplers: how a block turns a feature map into the S anchors its queries attend over.

The paper (Zhu et al. 2019, Sec. 3.2) replaces the N keys and values of a non-local block by S ≪ N
*anchors* sampled with spatial pyramid pooling: "we apply pooling operations with sizes n ∈ {1, 3, 6, 8}",
so S = Σ n² = 110. A sampler is that choice, made an object:

- ``IdentitySampler``: every pixel is an anchor (S = N) — this is the plain non-local block;
- ``PyramidSampler``: adaptive average (or max) pooling at several sizes — APNB and AFNB;
- ``GridSampler``: k×k pooling with stride k — Wang et al.'s "sub-sampling" trick for non-local blocks.

Every sampler maps (B, C, H, W) → (B, C, S) and answers ``geometry(h, w)``: for each anchor its pyramid
level and the pixel rectangle it pools. For linear samplers (identity, average pooling) ``matrix(h, w)`` is the
S×N operator P with anchors = x·Pᵀ; its rows sum to 1, which is what lets a 1×1 conv (with bias) commute with
sampling — identity 1 of annkit's exact fast path (``annkit/nn/asymmetric_fast.py``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class AnchorGeometry:
    """Where each of the S anchors comes from on an (h, w) feature map.

    ``level[s]`` is the index of the anchor's pyramid level; ``boxes[s] = (y0, x0, y1, x1)`` is the half-open
    pixel rectangle [y0, y1) × [x0, x1) that it pools; ``grids[l] = (rows, cols)`` is the anchor grid of level l.
    Anchors are ordered level by level, row-major inside a level.
    """

    level: Tensor  # (S,) int64
    boxes: Tensor  # (S, 4) int64: y0, x0, y1, x1
    grids: tuple[tuple[int, int], ...]

    def __len__(self) -> int:
        return self.level.numel()


def _check_map(x: Tensor, who: str) -> None:
    if x.dim() != 4:
        raise ValueError(f"{who} expects a 4-D feature map (B, C, H, W), got shape {tuple(x.shape)}")


def _check_size(h: int, w: int) -> None:
    if h < 1 or w < 1:
        raise ValueError(f"feature size must be positive, got h={h}, w={w}")


def adaptive_bins(length: int, bins: int) -> list[tuple[int, int]]:
    """Adaptive pooling's bin rule: bin i covers [floor(i·L/n), ceil((i+1)·L/n)) — bins may overlap or repeat."""
    return [((i * length) // bins, -((-(i + 1) * length) // bins)) for i in range(bins)]


class Sampler(nn.Module):
    """Base class: turns a feature map (B, C, H, W) into anchors (B, C, S)."""

    #: anchors are averages (rows of P sum to 1), so 1×1 convs with bias commute with sampling
    linear: bool = False

    def geometry(self, h: int, w: int) -> AnchorGeometry:
        """The level and pooled pixel rectangle of every anchor on an (h, w) map."""
        raise NotImplementedError

    def _set_pooling(self, mode: str) -> None:
        """A pooling sampler's mode: ``"avg"`` is linear (anchors are averages), ``"max"`` is not."""
        if mode not in ("avg", "max"):
            raise ValueError(f"mode must be 'avg' or 'max', got {mode!r}")
        self.mode = mode
        self.linear = mode == "avg"

    def reference(self, x: Tensor) -> Tensor:
        """The anchors computed the textbook way (as mmseg does); equal to ``forward`` up to rounding."""
        return self(x)

    def num_anchors(self, h: int, w: int) -> int:
        """S, the number of anchors sampled from an (h, w) map."""
        return len(self.geometry(h, w))

    def matrix(self, h: int, w: int) -> Tensor:
        """The S×N sampling operator P (float32, CPU): anchors = x.flatten(2) @ Pᵀ. Linear samplers only."""
        if not self.linear:
            raise ValueError(f"{self!r} takes a maximum, which is not linear: it has no sampling matrix")
        return _averaging_matrix(self.geometry(h, w).boxes, h, w)


@functools.lru_cache(maxsize=64)
def _averaging_matrix_cached(boxes: tuple[tuple[int, int, int, int], ...], h: int, w: int) -> Tensor:
    matrix = torch.zeros(len(boxes), h, w)  # (S, H, W)
    for s, (y0, x0, y1, x1) in enumerate(boxes):
        matrix[s, y0:y1, x0:x1] = 1.0 / ((y1 - y0) * (x1 - x0))
    return matrix.flatten(1)  # (S, N)


def _eager() -> bool:
    """True unless a fake-tensor mode (``torch.export``, ONNX export, FLOP counting on shapes) or ``torch.compile``
    is active: only tensors made then are real and safe to cache — a cached fake tensor breaks every later call."""
    return torch._guards.detect_fake_mode() is None and not torch.compiler.is_compiling()


def _averaging_matrix(boxes: Tensor, h: int, w: int) -> Tensor:
    # cached per (anchor rectangles, shape) in eager mode; cloned so callers cannot corrupt the cache
    build = _averaging_matrix_cached if _eager() else _averaging_matrix_cached.__wrapped__
    return build(tuple(map(tuple, boxes.tolist())), h, w).clone()


class IdentitySampler(Sampler):
    """Every pixel is its own anchor (S = N): with it, an attention block is the full non-local block."""

    linear = True

    def forward(self, x: Tensor) -> Tensor:
        _check_map(x, "IdentitySampler")
        return x.flatten(2)  # (B, C, N)

    def geometry(self, h: int, w: int) -> AnchorGeometry:
        _check_size(h, w)
        y, x = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        boxes = torch.stack([y, x, y + 1, x + 1], dim=-1).reshape(-1, 4)
        return AnchorGeometry(torch.zeros(h * w, dtype=torch.long), boxes, ((h, w),))


class PyramidSampler(Sampler):
    """The paper's pyramid sampling module: adaptive pooling to n×n for each n in ``pool_sizes``, concatenated.

    S = Σ n²  (110 for the paper's (1, 3, 6, 8)). ``mode="avg"`` is the paper's choice and is linear;
    ``mode="max"`` is the ablation. Maps smaller than a pool size are fine: adaptive bins then repeat pixels.
    """

    def __init__(self, pool_sizes: Sequence[int] = (1, 3, 6, 8), mode: str = "avg") -> None:
        super().__init__()
        sizes = tuple(pool_sizes)
        if not sizes or not all(isinstance(n, int) and n > 0 for n in sizes):
            raise ValueError(f"pool_sizes must be a non-empty sequence of positive ints, got {pool_sizes!r}")
        self.pool_sizes = sizes
        self._set_pooling(mode)

    def extra_repr(self) -> str:
        return f"pool_sizes={self.pool_sizes}, mode={self.mode!r}, S={anchor_count(self.pool_sizes)}"

    def reference(self, x: Tensor) -> Tensor:
        """One adaptive pooling per level, concatenated (mmseg's PPMConcat): (B, C, H, W) → (B, C, S)."""
        _check_map(x, "PyramidSampler")
        pool = F.adaptive_avg_pool2d if self.mode == "avg" else F.adaptive_max_pool2d
        return torch.cat([pool(x, n).flatten(2) for n in self.pool_sizes], dim=2)  # (B, C, S)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) → (B, C, S). Average pooling is separable — the mean over a rectangle is the mean over
        its row bin of the means over its column bin — so every level comes from one pass over the map:
        ``rows @ x @ colsᵀ`` gives all (row bin, column bin) pairs, and each level keeps its own n×n block."""
        if self.mode == "max":
            return self.reference(x)
        _check_map(x, "PyramidSampler")
        b, c, h, w = x.shape
        rows, cols, keep = _separable_factors(self.pool_sizes, x)  # (Σn, H), (Σn, W), (S,)
        if x.is_contiguous() or not x.is_contiguous(memory_format=torch.channels_last):
            pairs = rows @ (x @ cols.t())  # (B, C, H, Σn) → (B, C, Σn, Σn)
            return pairs.flatten(2)[..., keep]  # (B, C, S)
        # channels-last memory is (B, H, W, C): pool W, then H, as GEMMs over that layout — no copy of x
        nhwc = x.permute(0, 2, 3, 1)  # (B, H, W, C), a contiguous view
        by_column = (cols @ nhwc).reshape(b, h, -1)  # (B, H, Σn·C)
        pairs = (rows @ by_column).reshape(b, -1, c)  # (B, Σn·Σn, C)
        return pairs[:, keep].transpose(1, 2)  # (B, C, S)

    def num_anchors(self, h: int, w: int) -> int:
        return anchor_count(self.pool_sizes)

    def geometry(self, h: int, w: int) -> AnchorGeometry:
        _check_size(h, w)
        levels, boxes = [], []
        for level, n in enumerate(self.pool_sizes):
            for y0, y1 in adaptive_bins(h, n):
                for x0, x1 in adaptive_bins(w, n):
                    levels.append(level)
                    boxes.append((y0, x0, y1, x1))
        grids = tuple((n, n) for n in self.pool_sizes)
        return AnchorGeometry(torch.tensor(levels), torch.tensor(boxes), grids)


def bin_averaging(length: int, pool_sizes: Sequence[int], device: torch.device | None = None) -> Tensor:
    """Adaptive average pooling along one axis, all levels stacked: the (Σn, L) float64 matrix whose row for bin i
    of level n averages pixels [floor(i·L/n), ceil((i+1)·L/n)) — ``adaptive_bins`` as tensor arithmetic.

    Built from ``arange`` and comparisons, so ``length`` may be a symbolic size (``torch.export``, ONNX with
    dynamic height and width): the exported graph computes the exact bins of whatever size it is given."""
    index = torch.tensor([i for n in pool_sizes for i in range(n)], device=device)  # (Σn,) bin i of its level
    count = torch.tensor([n for n in pool_sizes for _ in range(n)], device=device)  # (Σn,) the level's n
    start = index * length // count  # floor(i·L/n)
    end = ((index + 1) * length + count - 1) // count  # ceil((i+1)·L/n)
    pixel = torch.arange(length, device=device)  # (L,)
    inside = (pixel >= start[:, None]) & (pixel < end[:, None])  # (Σn, L)
    return inside.double() / (end - start).double()[:, None]


def _anchor_index(pool_sizes: Sequence[int], device: torch.device | None = None) -> Tensor:
    """Flat indices into the (Σn × Σn) grid of (row bin, column bin) pairs that are the S anchors, level by level."""
    total, offset, keep = sum(pool_sizes), 0, []
    for n in pool_sizes:
        keep += [(offset + i) * total + offset + j for i in range(n) for j in range(n)]
        offset += n
    return torch.tensor(keep, device=device)  # (S,)


@functools.lru_cache(maxsize=64)
def _separable_factors_cached(pool_sizes: tuple[int, ...], h: int, w: int) -> tuple[Tensor, Tensor, Tensor]:
    return bin_averaging(h, pool_sizes), bin_averaging(w, pool_sizes), _anchor_index(pool_sizes)


def _separable_factors(pool_sizes: tuple[int, ...], x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Row and column bin-averaging matrices of all levels stacked, (Σn, H) and (Σn, W), and the S anchor indices,
    in ``x``'s dtype and on its device.

    Eager calls (concrete sizes, a plain tensor) reuse them per shape; traced ones (``torch.export``, ONNX,
    ``torch.compile``: symbolic sizes or fake tensors) compute them in the graph — the same function either way,
    and nothing a tracer creates is ever cached."""
    h, w = x.shape[-2:]
    if _eager() and type(x) is Tensor and isinstance(h, int) and isinstance(w, int):
        rows, cols, keep = _separable_factors_cached(pool_sizes, h, w)
    else:
        rows, cols = bin_averaging(h, pool_sizes, x.device), bin_averaging(w, pool_sizes, x.device)
        keep = _anchor_index(pool_sizes, x.device)
    return rows.to(x), cols.to(x), keep.to(x.device)


class GridSampler(Sampler):
    """k×k pooling with stride k (floor mode): Wang et al.'s sub-sampled non-local block uses max with k = 2."""

    def __init__(self, kernel: int = 2, mode: str = "max") -> None:
        super().__init__()
        if not isinstance(kernel, int) or kernel < 1:
            raise ValueError(f"kernel must be a positive int, got {kernel!r}")
        self.kernel = kernel
        self._set_pooling(mode)

    def extra_repr(self) -> str:
        return f"kernel={self.kernel}, mode={self.mode!r}"

    def forward(self, x: Tensor) -> Tensor:
        _check_map(x, "GridSampler")
        if x.shape[-2] < self.kernel or x.shape[-1] < self.kernel:
            raise ValueError(
                f"GridSampler(kernel={self.kernel}) needs a map of at least that size, got {tuple(x.shape[-2:])}"
            )
        pool = F.avg_pool2d if self.mode == "avg" else F.max_pool2d
        return pool(x, self.kernel).flatten(2)  # (B, C, ⌊H/k⌋·⌊W/k⌋)

    def geometry(self, h: int, w: int) -> AnchorGeometry:
        _check_size(h, w)
        k, rows, cols = self.kernel, h // self.kernel, w // self.kernel
        y, x = torch.meshgrid(torch.arange(rows) * k, torch.arange(cols) * k, indexing="ij")
        boxes = torch.stack([y, x, y + k, x + k], dim=-1).reshape(-1, 4)
        return AnchorGeometry(torch.zeros(rows * cols, dtype=torch.long), boxes, ((rows, cols),))


def anchor_count(pool_sizes: Sequence[int]) -> int:
    """S = Σ n² for a pyramid with these pool sizes (110 for the paper's 1, 3, 6, 8)."""
    return sum(n * n for n in pool_sizes)


def cost_ratio(h: int, w: int, pool_sizes: Sequence[int] = (1, 3, 6, 8)) -> float:
    """N / S: how many times fewer key–query pairs a pyramid of these sizes needs than a non-local block."""
    return (h * w) / anchor_count(pool_sizes)


__all__ = [
    "AnchorGeometry",
    "Sampler",
    "IdentitySampler",
    "PyramidSampler",
    "GridSampler",
    "adaptive_bins",
    "anchor_count",
    "bin_averaging",
    "cost_ratio",
]
