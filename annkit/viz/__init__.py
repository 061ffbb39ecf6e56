"""annkit.viz — where does each pixel look? Capture, pure array computations, plots, interactive explorers.

``capture_attention(model, image)`` records every attention block; ``annkit.viz.maps`` turns rows of attention
into grids, back-projections, entropies and class means; ``annkit.viz.plots`` draws them;
``explore_attention(capture)`` wires ipywidgets around them (imported lazily: plotting needs no widgets).
"""

from annkit.nn import record_attention
from annkit.viz.capture import BlockAttention, Capture, capture_attention, load_image
from annkit.viz.maps import (anchor_mass, backproject, class_mean_attention, entropy_map, labels_at, level_grids,
                             top_anchors)
from annkit.viz.plots import (plot_backprojection, plot_class_attention, plot_entropy, plot_level_grids,
                              plot_query, plot_top_anchors, plot_versus_nonlocal, prediction_overlay)


def explore_attention(capture: Capture, k: int = 5):
    """The interactive explorer (ipywidgets); see ``annkit.viz.explore.AttentionExplorer``."""
    from annkit.viz.explore import explore_attention as explore

    return explore(capture, k)


__all__ = [
    "BlockAttention", "Capture", "anchor_mass", "backproject", "capture_attention", "class_mean_attention",
    "entropy_map", "explore_attention", "labels_at", "load_image", "level_grids", "plot_backprojection", "plot_class_attention",
    "plot_entropy", "plot_level_grids", "plot_query", "plot_top_anchors", "plot_versus_nonlocal",
    "prediction_overlay", "record_attention", "top_anchors",
]
