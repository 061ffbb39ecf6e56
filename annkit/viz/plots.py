"""Pictures of anchor attention: pure functions that take arrays and return matplotlib Figures.

Every map is drawn on the image with ``extent`` (no resampling: one feature cell covers exactly its pixels);
axes are labelled in image pixels, colour bars say what is measured, levels are named by their grid.
The widgets in ``annkit.viz.explore`` only wire controls to these functions.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from annkit.data import overlay as blend
from annkit.nn import AnchorGeometry
from annkit.viz.classes import class_palette, coloured_classes
from annkit.viz.maps import _as_numpy, backproject, entropy_map, level_grids, top_anchors

HEAT = "magma"


def to_hwc(image) -> np.ndarray:
    """An RGB image as an (H, W, 3) float array in [0, 1] from (3, H, W) tensors or (H, W, 3) arrays."""
    array = image.detach().cpu().numpy() if hasattr(image, "detach") else np.asarray(image)
    if array.ndim == 3 and array.shape[0] == 3 and array.shape[-1] != 3:
        array = array.transpose(1, 2, 0)
    if array.dtype == np.uint8:
        array = array / 255.0
    return np.clip(array.astype(np.float64), 0.0, 1.0)


def class_legend(ax, prediction, class_names: Sequence[str]) -> None:
    """A legend of the classes present in ``prediction``, in their overlay colours."""
    labels = prediction.detach().cpu().numpy() if hasattr(prediction, "detach") else np.asarray(prediction)
    palette, coloured = class_palette(class_names) / 255.0, coloured_classes(class_names)
    handles = [
        Patch(facecolor=palette[c] if coloured[c] else "none", edgecolor="0.4", label=class_names[c])
        for c in np.unique(labels)
        if c < len(class_names)
    ]
    ax.legend(
        handles=handles,
        fontsize=7,
        loc="upper left",
        bbox_to_anchor=(0, -0.14),
        ncols=min(len(handles), 4),
        frameon=False,
        title="prediction",
        title_fontsize=7,
    )


def digits(weight: float) -> str:
    """An attention weight with enough digits to tell close ones apart: 3 decimals from 0.1, else 3 significant."""
    return f"{weight:.3f}" if weight >= 0.1 else f"{weight:.3g}"


def rank_colours(k: int) -> list[str]:
    """The colours of ranks 1..k of the top anchors (bright to dark viridis), as hex, shared with the browser."""
    return [to_hex(c) for c in plt.get_cmap("viridis")(np.linspace(0.95, 0.2, max(k, 2))[:k])]


def _image_axes(ax, image, title: str) -> None:
    ax.imshow(to_hwc(image))
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("x (pixels)", fontsize=8)
    ax.set_ylabel("y (pixels)", fontsize=8)
    ax.tick_params(labelsize=7)


def _mark(ax, point) -> None:
    ax.plot(*point, marker="+", color="cyan", markersize=14, markeredgewidth=2.5)


def draw_heat(ax, image, heat: np.ndarray, point, title: str, label: str, alpha: float = 0.6) -> None:
    """A feature-resolution map over the image, stretched exactly to the image's extent, with a colour bar."""
    height, width = to_hwc(image).shape[:2]
    _image_axes(ax, image, title)
    shown = ax.imshow(heat, cmap=HEAT, alpha=alpha, extent=(0, width, height, 0), interpolation="nearest", vmin=0)
    ax.figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.03).set_label(label, fontsize=8)
    if point is not None:
        _mark(ax, point)


def draw_level_grids(figure, row, geometry: AnchorGeometry, scale: str = "shared") -> None:
    """One heatmap per pyramid level into ``figure`` (a Figure or SubFigure), each titled with its mass.

    ``scale="shared"``: one colour scale for all levels (0 … the row's largest weight), so a level holding 1 % of
    the mass looks dim; ``"level"``: each level to its own maximum (patterns inside weak levels show), labelled.
    """
    if scale not in ("shared", "level"):
        raise ValueError(f"scale must be 'shared' or 'level', got {scale!r}")
    grids = level_grids(row, geometry)
    top = max(max(float(grid.max()) for grid in grids), 1e-12)
    axes = figure.subplots(1, len(grids), squeeze=False)[0]
    for ax, grid in zip(axes, grids):
        shown = ax.imshow(grid, cmap=HEAT, vmin=0, vmax=top if scale == "shared" else max(grid.max(), 1e-12))
        ax.set_title(f"{grid.shape[0]}×{grid.shape[1]} level: {grid.sum():.1%} of mass", fontsize=9)
        ax.set_xlabel("anchor column", fontsize=8)
        ax.set_ylabel("anchor row", fontsize=8)
        ax.set_xticks(range(grid.shape[1]))
        ax.set_yticks(range(grid.shape[0]))
        ax.tick_params(labelsize=6)
        if scale == "level":
            figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.03).set_label("weight (this level's scale)", fontsize=8)
    if scale == "shared":
        figure.colorbar(shown, ax=list(axes), fraction=0.046, pad=0.02).set_label(
            "weight (one scale for all levels)", fontsize=8
        )


def plot_level_grids(
    row, geometry: AnchorGeometry, title: str = "attention per pyramid level", scale: str = "shared"
) -> Figure:
    """(a) A query's attention as one heatmap per level (1×1, 3×3, 6×6, 8×8), each with its share of the mass."""
    fig = plt.figure(figsize=(2.6 * len(geometry.grids), 2.7), layout="constrained")
    draw_level_grids(fig, row, geometry, scale)
    fig.suptitle(title, fontsize=10)
    return fig


def plot_backprojection(
    image, row, geometry: AnchorGeometry, key_size: tuple[int, int], point=None, normalize: str = "overall"
) -> Figure:
    """(b) Each anchor's weight spread over its rectangle, on the image: one map, or one per level."""
    maps = backproject(row, geometry, key_size, normalize)
    if normalize == "overall":
        fig, ax = plt.subplots(figsize=(4.8, 4.2), layout="constrained")
        draw_heat(ax, image, maps, point, "where the query pixel looks", "attention per feature cell")
        return fig
    fig, axes = plt.subplots(1, len(maps), figsize=(3.6 * len(maps), 3.2), squeeze=False, layout="constrained")
    for ax, level_map, (rows, cols) in zip(axes[0], maps, geometry.grids):
        draw_heat(ax, image, level_map, point, f"{rows}×{cols} level (normalised)", "share of level")
    return fig


def place_labels(boxes: np.ndarray, size: tuple[float, float], width: float, height: float) -> list[tuple]:
    """Greedy label placement (as ``explorer.js``): each label (w, h) goes to the first of its box's corners —
    inside, then just above or below — that stays in the image and overlaps no earlier label; else it is
    stacked below the first corner. ``boxes`` (k, 4) as (x0, y0, x1, y1); returns top-left corners."""
    placed: list[tuple[float, float]] = []
    lw, lh = size

    def fit(x, y):
        return min(max(x, 0), width - lw), min(max(y, 0), height - lh)

    def free(spot):
        return all(
            spot[0] + lw <= px or px + lw <= spot[0] or spot[1] + lh <= py or py + lh <= spot[1] for px, py in placed
        )

    for x0, y0, x1, y1 in boxes:
        candidates = [
            fit(x, y)
            for x, y in (
                (x0 + 1, y0 + 1),
                (x1 - lw - 1, y0 + 1),
                (x0 + 1, y1 - lh - 1),
                (x1 - lw - 1, y1 - lh - 1),
                (x0, y0 - lh - 1),
                (x0, y1 + 1),
            )
        ]
        spot = next((c for c in candidates if free(c)), None)
        if spot is None:
            spot = candidates[0]
            while not free(spot) and spot[1] + lh < height:
                spot = (spot[0], spot[1] + lh + 1)
        placed.append(spot)
    return placed


def anchor_name(s: int, geometry: AnchorGeometry) -> str:
    """Anchor s by its place in the pyramid: "8×8 level, row 2, col 5" (levels are numbered 0 = 1×1 upwards)."""
    level = int(geometry.level[s])
    rows, cols = geometry.grids[level]
    first = sum(r * c for r, c in geometry.grids[:level])
    return f"{rows}×{cols} level, row {(s - first) // cols}, col {(s - first) % cols}"


def draw_top_anchors(ax, image, row, image_boxes, point, k: int = 5, geometry: AnchorGeometry | None = None) -> None:
    """The k most attended anchors as rectangles (line width ∝ weight) drawn inside the image, labelled "#rank"
    where labels do not collide; the ranked weights (and, given ``geometry``, each anchor's level and cell) are
    listed under the axes."""
    height, width = to_hwc(image).shape[:2]
    _image_axes(ax, image, f"top {k} anchors")
    row = _as_numpy(row)
    boxes = _as_numpy(image_boxes)
    best = top_anchors(row, k)
    colours = rank_colours(len(best))
    axes_points = ax.bbox.width * 72 / ax.figure.figure.dpi  # axes width in points (before layout: approx.)
    per_point = width / max(axes_points, 1.0)  # image pixels per typographic point
    corners = boxes[best][:, [1, 0, 3, 2]]  # (k, 4) as x0, y0, x1, y1
    spots = place_labels(corners, (20 * per_point, 11 * per_point), width, height)
    for rank, (s, colour, (lx, ly)) in enumerate(zip(best, colours, spots), start=1):
        y0, x0, y1, x1 = boxes[s]
        line = 1.0 + 4.0 * row[s] / max(row[best[0]], 1e-12)  # points
        inset = line / 2 * per_point  # the stroke stays inside the rectangle, so inside the image
        ax.add_patch(
            Rectangle(
                (x0 + inset, y0 + inset),
                max(x1 - x0 - 2 * inset, 0),
                max(y1 - y0 - 2 * inset, 0),
                fill=False,
                edgecolor=colour,
                linewidth=line,
            )
        )
        ax.text(
            lx,
            ly,
            f"#{rank}",
            color="white",
            fontsize=7,
            va="top",
            ha="left",
            bbox=dict(facecolor=colour, alpha=0.9, pad=1, linewidth=0),
            clip_on=True,
        )
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    listing = [
        f"#{rank} {digits(row[s])}" + (f"  {anchor_name(s, geometry)}" if geometry is not None else "")
        for rank, s in enumerate(best, start=1)
    ]
    ax.set_xlabel("x (pixels)\n" + "\n".join(listing), fontsize=7, loc="left")
    if point is not None:
        _mark(ax, point)


def plot_top_anchors(image, row, image_boxes, point=None, k: int = 5, geometry: AnchorGeometry | None = None) -> Figure:
    """(c) The top-k anchors drawn on the image, their weights listed underneath."""
    fig, ax = plt.subplots(figsize=(4.8, 4.2 + 0.15 * k), layout="constrained")
    draw_top_anchors(ax, image, row, image_boxes, point, k, geometry)
    return fig


def plot_versus_nonlocal(
    image,
    row,
    geometry: AnchorGeometry,
    key_size: tuple[int, int],
    nonlocal_row,
    nonlocal_size: tuple[int, int],
    point=None,
) -> Figure:
    """(d) APNB's back-projected anchors beside a full non-local block's N×N row, on the same scale."""
    anchored = backproject(row, geometry, key_size)
    full = np.asarray(nonlocal_row, dtype=np.float64).reshape(nonlocal_size)
    # per-pixel density, so maps at different resolutions compare: weight / (pixels per cell)
    height, width = to_hwc(image).shape[:2]
    anchored_density = anchored / (height * width / anchored.size)
    full_density = full / (height * width / full.size)
    vmax = max(anchored_density.max(), full_density.max())
    fig, axes = plt.subplots(1, 2, figsize=(9.2, 4.0), layout="constrained")
    for ax, density, title in (
        (axes[0], anchored_density, "asymmetric (pyramid anchors)"),
        (axes[1], full_density, "non-local (every pixel)"),
    ):
        _image_axes(ax, image, title)
        shown = ax.imshow(
            density, cmap=HEAT, alpha=0.6, extent=(0, width, height, 0), vmin=0, vmax=vmax, interpolation="nearest"
        )
        if point is not None:
            _mark(ax, point)
    fig.colorbar(shown, ax=list(axes), fraction=0.046, pad=0.03).set_label("attention per image pixel", fontsize=8)
    return fig


def plot_entropy(image, weights, query_size: tuple[int, int]) -> Figure:
    """(e) Attention entropy of every query pixel (0 = one anchor, 1 = uniform over all S)."""
    fig, ax = plt.subplots(figsize=(4.8, 4.2), layout="constrained")
    draw_heat(ax, image, entropy_map(weights, query_size), None, "attention entropy per pixel", "H / log S", alpha=0.7)
    return fig


def plot_class_attention(mean_row, geometry: AnchorGeometry, class_name: str) -> Figure:
    """(f) The mean attention of all pixels of one class, per level."""
    return plot_level_grids(mean_row, geometry, title=f"mean attention of the pixels predicted '{class_name}'")


def plot_query(
    capture,
    block: str,
    point: tuple[float, float],
    level: int | None = None,
    normalize: str = "overall",
    overlay: bool = False,
    k: int = 5,
    scale: str = "shared",
) -> Figure:
    """Everything about one query pixel of one block: image (± prediction, with a legend), where it looks, top-k
    anchors with their weights, and the per-level grids. ``level`` picks one pyramid level (None = all);
    ``normalize="level"`` rescales each level's weights to sum to 1 (so levels count equally); ``scale`` is the
    level grids' colour scale ("shared" across levels, or "level": each to its own maximum)."""
    attention = capture.blocks[block]
    row = attention.row(*point).numpy()
    heat = query_heat(row, attention.geometry, attention.key_size, level, normalize)
    fig = plt.figure(figsize=(12, 7.4), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.7, 1])
    axes = top.subplots(1, 3)
    picture = capture.image
    if overlay:  # the prediction in the dataset's class colours, "background" left uncoloured
        names, labels = capture.class_names, capture.prediction.numpy()  # labels (H, W)
        image = np.round(to_hwc(capture.image) * 255).astype(np.uint8)  # (H, W, 3)
        picture = blend(image, labels, class_palette(names), coloured_classes(names))
    _image_axes(axes[0], picture, "prediction overlay" if overlay else "image")
    if overlay:
        class_legend(axes[0], capture.prediction, capture.class_names)
    _mark(axes[0], point)
    grid_name = "all levels" if level is None else "{}×{} level".format(*attention.geometry.grids[level])
    draw_heat(
        axes[1],
        capture.image,
        heat,
        point,
        f"{block}: {grid_name}, {normalize} normalisation",
        "attention per feature cell",
    )
    draw_top_anchors(axes[2], capture.image, row, attention.image_boxes.numpy(), point, k, attention.geometry)
    draw_level_grids(bottom, row, attention.geometry, scale)
    fig.suptitle(f"{block} ({attention.kind}), query pixel (x={point[0]:.0f}, y={point[1]:.0f})", fontsize=11)
    return fig


def query_heat(
    row, geometry: AnchorGeometry, key_size: tuple[int, int], level: int | None = None, normalize: str = "overall"
) -> np.ndarray:
    """The (h, w) map ``plot_query`` and the browser explorer draw: all levels or one, raw or per-level
    normalised (then "all levels" is the mean of the levels' normalised maps)."""
    row = np.asarray(row, dtype=np.float64)
    if normalize == "level":
        maps = backproject(row, geometry, key_size, "level")
        return maps[level] if level is not None else maps.mean(0)
    if level is None:
        return backproject(row, geometry, key_size)
    return backproject(np.where(np.asarray(geometry.level) == level, row, 0.0), geometry, key_size)
