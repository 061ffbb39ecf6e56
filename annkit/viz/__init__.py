"""annkit.viz — where does each pixel look? Capture, pure array computations, plots, interactive explorers.

``capture_attention(model, image)`` records every attention block; ``annkit.viz.maps`` turns rows of attention
into grids, back-projections, entropies and class means; ``annkit.viz.plots`` draws them;
``explore_attention(capture)`` is the browser-side explorer (anywidget, imported lazily: plotting needs no widgets);
``write_html`` writes the same explorer as one self-contained page.
"""

from annkit.nn import record_attention
from annkit.viz.capture import BlockAttention, Capture, capture_attention
from annkit.viz.classes import class_palette, default_class_names
from annkit.viz.explorer import explorer_payload, standalone_html, write_html
from annkit.viz.maps import (
    anchor_mass,
    backproject,
    class_mean_attention,
    entropy_map,
    labels_at,
    level_grids,
    top_anchors,
)
from annkit.viz.plots import (
    plot_backprojection,
    plot_class_attention,
    plot_entropy,
    plot_level_grids,
    plot_query,
    plot_top_anchors,
    plot_versus_nonlocal,
)


def explore_attention(*panels, k: int = 5, point: tuple[float, float] | None = None):
    """The browser-side explorer as a notebook widget (needs ``anywidget``); see ``annkit.viz.explore``."""
    from annkit.viz.explore import explore_attention as explore

    return explore(*panels, k=k, point=point)


__all__ = [
    "BlockAttention",
    "Capture",
    "anchor_mass",
    "class_palette",
    "default_class_names",
    "explorer_payload",
    "standalone_html",
    "write_html",
    "backproject",
    "capture_attention",
    "class_mean_attention",
    "entropy_map",
    "explore_attention",
    "labels_at",
    "level_grids",
    "plot_backprojection",
    "plot_class_attention",
    "plot_entropy",
    "plot_level_grids",
    "plot_query",
    "plot_top_anchors",
    "plot_versus_nonlocal",
    "record_attention",
    "top_anchors",
]
