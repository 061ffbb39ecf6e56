"""Pictures of anchor attention: pure functions that take arrays and return matplotlib Figures.

Every map is drawn on the image with ``extent`` (no resampling: one feature cell covers exactly its pixels);
axes are labelled in image pixels, colour bars say what is measured, levels are named by their grid.
The widgets in ``annkit.viz.explore`` only wire controls to these functions.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from annkit.nn import AnchorGeometry
from annkit.viz.maps import backproject, entropy_map, level_grids, top_anchors

HEAT = "magma"


def to_hwc(image) -> np.ndarray:
    """An RGB image as an (H, W, 3) float array in [0, 1] from (3, H, W) tensors or (H, W, 3) arrays."""
    array = image.detach().cpu().numpy() if hasattr(image, "detach") else np.asarray(image)
    if array.ndim == 3 and array.shape[0] == 3 and array.shape[-1] != 3:
        array = array.transpose(1, 2, 0)
    if array.dtype == np.uint8:
        array = array / 255.0
    return np.clip(array.astype(np.float64), 0.0, 1.0)


def prediction_overlay(image, prediction, alpha: float = 0.5, palette: np.ndarray | None = None) -> np.ndarray:
    """Blend class colours (a (K, 3) uint8 palette; default tab20) over the image: (H, W, 3) in [0, 1]."""
    labels = prediction.detach().cpu().numpy() if hasattr(prediction, "detach") else np.asarray(prediction)
    colours = (palette / 255.0 if palette is not None
               else np.array([plt.get_cmap("tab20")(i % 20)[:3] for i in range(int(labels.max()) + 1)]))
    return (1 - alpha) * to_hwc(image) + alpha * colours[labels]


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
    shown = ax.imshow(heat, cmap=HEAT, alpha=alpha, extent=(0, width, height, 0), interpolation="nearest")
    ax.figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.03).set_label(label, fontsize=8)
    if point is not None:
        _mark(ax, point)


def draw_level_grids(figure, row, geometry: AnchorGeometry) -> None:
    """One heatmap per pyramid level into ``figure`` (a Figure or SubFigure), each titled with its mass."""
    grids = level_grids(row, geometry)
    for ax, grid in zip(figure.subplots(1, len(grids), squeeze=False)[0], grids):
        shown = ax.imshow(grid, cmap=HEAT, vmin=0)
        ax.set_title(f"{grid.shape[0]}×{grid.shape[1]} level: {grid.sum():.0%} of mass", fontsize=9)
        ax.set_xlabel("anchor column", fontsize=8)
        ax.set_ylabel("anchor row", fontsize=8)
        ax.set_xticks(range(grid.shape[1]))
        ax.set_yticks(range(grid.shape[0]))
        ax.tick_params(labelsize=6)
        figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.03).set_label("weight", fontsize=8)


def plot_level_grids(row, geometry: AnchorGeometry, title: str = "attention per pyramid level") -> Figure:
    """(a) A query's attention as one heatmap per level (1×1, 3×3, 6×6, 8×8), each with its share of the mass."""
    fig = plt.figure(figsize=(2.6 * len(geometry.grids), 2.7), layout="constrained")
    draw_level_grids(fig, row, geometry)
    fig.suptitle(title, fontsize=10)
    return fig


def plot_backprojection(image, row, geometry: AnchorGeometry, key_size: tuple[int, int], point=None,
                        normalize: str = "overall") -> Figure:
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


def draw_top_anchors(ax, image, row, image_boxes, point, k: int = 5, levels=None) -> None:
    """The k most attended anchors as rectangles (line width ∝ weight), ranked and labelled with their weight."""
    _image_axes(ax, image, f"top {k} anchors")
    row = np.asarray(row)
    boxes = np.asarray(image_boxes)
    best = top_anchors(row, k)
    colours = plt.get_cmap("viridis")(np.linspace(0.95, 0.2, len(best)))
    for rank, (s, colour) in enumerate(zip(best, colours), start=1):
        y0, x0, y1, x1 = boxes[s]
        width = 1.0 + 5.0 * row[s] / max(row[best[0]], 1e-12)
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=colour, linewidth=width))
        level = "" if levels is None else f" L{int(levels[s])}"
        ax.text(x0 + 1, y0 + 1, f"#{rank} {row[s]:.2f}{level}", color="white", fontsize=7, va="top",
                bbox=dict(facecolor=colour, alpha=0.8, pad=1, linewidth=0))
    if point is not None:
        _mark(ax, point)


def plot_top_anchors(image, row, image_boxes, point=None, k: int = 5, levels=None) -> Figure:
    """(c) The top-k anchors drawn on the image."""
    fig, ax = plt.subplots(figsize=(4.8, 4.2), layout="constrained")
    draw_top_anchors(ax, image, row, image_boxes, point, k, levels)
    return fig


def plot_versus_nonlocal(image, row, geometry: AnchorGeometry, key_size: tuple[int, int], nonlocal_row,
                         nonlocal_size: tuple[int, int], point=None) -> Figure:
    """(d) APNB's back-projected anchors beside a full non-local block's N×N row, on the same scale."""
    anchored = backproject(row, geometry, key_size)
    full = np.asarray(nonlocal_row, dtype=np.float64).reshape(nonlocal_size)
    # per-pixel density, so maps at different resolutions compare: weight / (pixels per cell)
    height, width = to_hwc(image).shape[:2]
    anchored_density = anchored / (height * width / anchored.size)
    full_density = full / (height * width / full.size)
    vmax = max(anchored_density.max(), full_density.max())
    fig, axes = plt.subplots(1, 2, figsize=(9.2, 4.0), layout="constrained")
    for ax, density, title in ((axes[0], anchored_density, "asymmetric (pyramid anchors)"),
                               (axes[1], full_density, "non-local (every pixel)")):
        _image_axes(ax, image, title)
        shown = ax.imshow(density, cmap=HEAT, alpha=0.6, extent=(0, width, height, 0), vmin=0, vmax=vmax,
                          interpolation="nearest")
        if point is not None:
            _mark(ax, point)
    fig.colorbar(shown, ax=list(axes), fraction=0.046, pad=0.03).set_label("attention per image pixel", fontsize=8)
    return fig


def plot_entropy(image, weights, query_size: tuple[int, int]) -> Figure:
    """(e) Attention entropy of every query pixel (0 = one anchor, 1 = uniform over all S)."""
    fig, ax = plt.subplots(figsize=(4.8, 4.2), layout="constrained")
    draw_heat(ax, image, entropy_map(weights, query_size), None, "attention entropy per pixel",
              "H / log S", alpha=0.7)
    return fig


def plot_class_attention(mean_row, geometry: AnchorGeometry, class_name: str) -> Figure:
    """(f) The mean attention of all pixels of one class, per level."""
    return plot_level_grids(mean_row, geometry, title=f"mean attention of the pixels predicted '{class_name}'")


def plot_query(capture, block: str, point: tuple[float, float], level: int | None = None,
               normalize: str = "overall", overlay: bool = False, k: int = 5) -> Figure:
    """Everything about one query pixel of one block: image (± prediction), where it looks, top-k anchors, and
    the per-level grids. ``level`` picks one pyramid level (None = all); ``normalize="level"`` rescales each
    level's weights to sum to 1 (so levels count equally)."""
    attention = capture.blocks[block]
    row = attention.row(*point).numpy()
    maps = backproject(row, attention.geometry, attention.key_size, "level" if normalize == "level" else "overall")
    if normalize == "level":
        heat = maps[level] if level is not None else maps.mean(0)
    else:
        levels = attention.levels.numpy()
        heat = maps if level is None else backproject(np.where(levels == level, row, 0.0), attention.geometry,
                                                       attention.key_size)
    fig = plt.figure(figsize=(12, 6.6), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.4, 1])
    axes = top.subplots(1, 3)
    picture = prediction_overlay(capture.image, capture.prediction) if overlay else capture.image
    _image_axes(axes[0], picture, "prediction overlay" if overlay else "image")
    _mark(axes[0], point)
    grid_name = "all levels" if level is None else "{}×{} level".format(*attention.geometry.grids[level])
    draw_heat(axes[1], capture.image, heat, point, f"{block}: {grid_name}, {normalize} normalisation",
              "attention per feature cell")
    draw_top_anchors(axes[2], capture.image, row, attention.image_boxes.numpy(), point, k, attention.levels.numpy())
    draw_level_grids(bottom, row, attention.geometry)
    fig.suptitle(f"query pixel (x={point[0]:.0f}, y={point[1]:.0f})", fontsize=11)
    return fig
