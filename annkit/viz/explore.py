"""Interactive explorers (ipywidgets): pick a query pixel and see where it looks.

Thin wiring only: controls → ``annkit.viz.plots.plot_query``. Callbacks read their state from the widgets, never
from notebook globals. Under ``%matplotlib widget`` (ipympl) a click on any image panel moves the query pixel;
with the inline backend the x/y sliders do.
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import display

from annkit.viz.capture import Capture
from annkit.viz.plots import plot_query


class AttentionExplorer:
    """Sliders (x, y), block, level, normalisation and a prediction-overlay toggle around one ``Capture``."""

    def __init__(self, capture: Capture, k: int = 5) -> None:
        if not capture.blocks:
            raise ValueError("the capture holds no attention block: was the model an ANN or non-local model?")
        self.capture, self.k = capture, k
        height, width = capture.size
        self.x = widgets.IntSlider(value=width // 2, min=0, max=width - 1, description="x")
        self.y = widgets.IntSlider(value=height // 2, min=0, max=height - 1, description="y")
        self.block = widgets.Dropdown(options=list(capture.blocks), description="block")
        self.level = widgets.Dropdown(description="level")
        self.normalize = widgets.ToggleButtons(options=["overall", "level"], description="normalise")
        self.overlay = widgets.Checkbox(value=False, description="prediction overlay")
        self.output = widgets.Output()
        self.figure = None
        self._resetting = False  # True while a block change rewrites the level choices: render once, after
        self._set_levels()
        self.block.observe(self._on_block, names="value")
        for control in (self.x, self.y, self.level, self.normalize, self.overlay):
            control.observe(lambda change: self.render(), names="value")
        controls = widgets.VBox([widgets.HBox([self.x, self.y]), widgets.HBox([self.block, self.level]),
                                 widgets.HBox([self.normalize, self.overlay])])
        self.widget = widgets.VBox([controls, self.output])
        self.render()

    def _set_levels(self) -> None:
        grids = self.capture.blocks[self.block.value].geometry.grids
        options = [("all levels", None)] + [(f"{r}×{c}", i) for i, (r, c) in enumerate(grids)]
        self._resetting = True
        try:
            self.level.options = options
            self.level.value = None
        finally:
            self._resetting = False

    def _on_block(self, change) -> None:
        self._set_levels()
        self.render()

    def render(self) -> None:
        """Redraw for the widgets' current state; the figure is kept in ``self.figure``."""
        if self._resetting:
            return
        if self.figure is not None:
            plt.close(self.figure)
        with plt.ioff():  # under ipympl a new figure would otherwise show itself outside the explorer
            self.figure = plot_query(self.capture, self.block.value, (self.x.value, self.y.value),
                                     self.level.value, self.normalize.value, self.overlay.value, self.k)
        self.figure.canvas.mpl_connect("button_press_event", self.on_click)
        canvas = self.figure.canvas
        with self.output:
            self.output.clear_output(wait=True)
            display(canvas if isinstance(canvas, widgets.DOMWidget) else self.figure)  # ipympl: clickable

    def on_click(self, event) -> None:
        """A click on an image panel (pixel coordinates) moves the query pixel there."""
        if event.inaxes is None or event.xdata is None or event.inaxes.get_xlabel() != "x (pixels)":
            return
        with self.x.hold_trait_notifications(), self.y.hold_trait_notifications():
            self.x.value = min(max(int(event.xdata), 0), self.x.max)
            self.y.value = min(max(int(event.ydata), 0), self.y.max)

    def _ipython_display_(self) -> None:
        display(self.widget)


def explore_attention(capture: Capture, k: int = 5) -> AttentionExplorer:
    """Open an explorer on a capture (see ``annkit.viz.capture_attention``); display it in a notebook cell."""
    return AttentionExplorer(capture, k)
