"""Attention as arrays: the pure computations behind every picture (NumPy in, NumPy out).

A query pixel's attention over S anchors is a row ``a`` (S,) that sums to 1. It can be read per pyramid level
as n×n grids, or *back-projected* onto the map: each anchor spreads its weight uniformly over the rectangle it
pooled, so the map sums to Σ a = 1 and shows where, in pixels, the query looks.
"""

from __future__ import annotations

import numpy as np

from annkit.nn import AnchorGeometry


def _as_numpy(values) -> np.ndarray:
    return values.detach().cpu().numpy() if hasattr(values, "detach") else np.asarray(values)


def level_grids(row, geometry: AnchorGeometry) -> list[np.ndarray]:
    """One query's attention (S,) as one (rows, cols) grid per pyramid level (1×1, 3×3, 6×6, 8×8, …)."""
    row = _as_numpy(row)
    if row.shape != (len(geometry),):
        raise ValueError(f"attention row must have one weight per anchor, shape ({len(geometry)},), got {row.shape}")
    grids, start = [], 0
    for rows, cols in geometry.grids:
        grids.append(row[start : start + rows * cols].reshape(rows, cols))
        start += rows * cols
    return grids


def backproject(row, geometry: AnchorGeometry, size: tuple[int, int], normalize: str = "overall") -> np.ndarray:
    """Spread each anchor's weight uniformly over its rectangle on the (h, w) key map.

    ``normalize="overall"``: one (h, w) map, Σ = Σ a (1 for a softmax row). ``"level"``: (L, h, w), each level's
    weights rescaled to sum to 1 — compares where each pyramid level looks, whatever its share of the mass.
    """
    if normalize not in ("overall", "level"):
        raise ValueError(f"normalize must be 'overall' or 'level', got {normalize!r}")
    row = _as_numpy(row).astype(np.float64)
    boxes, levels = _as_numpy(geometry.boxes), _as_numpy(geometry.level)
    num_levels = len(geometry.grids)
    maps = np.zeros((num_levels, *size))
    for weight, (y0, x0, y1, x1), level in zip(row, boxes, levels):
        maps[level, y0:y1, x0:x1] += weight / ((y1 - y0) * (x1 - x0))
    if normalize == "overall":
        return maps.sum(0)  # (h, w)
    mass = np.array([row[levels == level].sum() for level in range(num_levels)])
    return maps / np.where(mass > 0, mass, 1.0)[:, None, None]  # (L, h, w)


def top_anchors(row, k: int = 5) -> np.ndarray:
    """Indices of the k anchors with the most attention, most first."""
    row = _as_numpy(row)
    return np.argsort(-row, kind="stable")[: min(k, row.size)]


def entropy_map(weights, query_size: tuple[int, int]) -> np.ndarray:
    """Attention entropy of every query pixel, H(a_n)/log S in [0, 1]: 0 = looks at one anchor, 1 = uniform."""
    weights = _as_numpy(weights).astype(np.float64)  # (N, S)
    if weights.shape[0] != query_size[0] * query_size[1]:
        raise ValueError(f"weights have {weights.shape[0]} rows, expected h·w = {query_size[0] * query_size[1]}")
    entropy = -(weights * np.log(np.clip(weights, 1e-30, None))).sum(1)
    return (entropy / np.log(weights.shape[1])).reshape(query_size)


def labels_at(labels, query_size: tuple[int, int]) -> np.ndarray:
    """Class ids (H, W) read at the centre of each cell of an (h, w) query map: (h, w)."""
    labels = _as_numpy(labels)
    h, w = query_size
    ys = ((np.arange(h) + 0.5) * labels.shape[0] / h).astype(int)
    xs = ((np.arange(w) + 0.5) * labels.shape[1] / w).astype(int)
    return labels[np.ix_(ys, xs)]


def class_mean_attention(weights, labels, query_size: tuple[int, int], class_id: int) -> np.ndarray:
    """Mean attention (S,) over the query pixels labelled ``class_id`` (labels at image or query resolution)."""
    weights = _as_numpy(weights)
    cells = labels_at(labels, query_size).reshape(-1)
    chosen = cells == class_id
    if not chosen.any():
        present = sorted(int(c) for c in np.unique(cells))
        raise ValueError(f"no query pixel has class {class_id}; classes present: {present}")
    return weights[chosen].mean(0)


def anchor_mass(row, geometry: AnchorGeometry, region) -> float:
    """Attention mass that lands inside a boolean (h, w) region of the key map (back-projected)."""
    region = _as_numpy(region).astype(bool)
    return float(backproject(row, geometry, region.shape)[region].sum())
