"""The explorer as a Jupyter widget (anywidget): hover over the image, and the browser shows where that pixel looks.

The attention is captured once in Python and drawn by ``explorer.js`` in the browser — no kernel round trip per
pointer move. Displayed in a notebook it gives two outputs: the live widget (JupyterLab, Notebook 7, VS Code; its
``point`` trait follows a pinned click and moves the query when Python sets it) and a kernel-free copy in an
``<iframe srcdoc>`` that the live widget hides, which is what a notebook exported to HTML keeps working.
"""

from __future__ import annotations

import pathlib

import anywidget
import numpy as np
import traitlets
from IPython.display import HTML, display

from annkit.viz.explorer import explorer_payload, iframe_html


class AttentionExplorer(anywidget.AnyWidget):
    """Side-by-side panels (Captures or (capture, block[, label]) tuples), synchronised on one query pixel."""

    _esm = pathlib.Path(__file__).with_name("explorer.js")
    data = traitlets.Dict().tag(sync=True)
    point = traitlets.List(traitlets.Float(), minlen=2, maxlen=2).tag(sync=True)  # the query pixel (x, y)

    def __init__(self, *panels, k: int = 5, point: tuple[float, float] | None = None, static: bool = True) -> None:
        payload = explorer_payload(panels, k=k, point=point)
        super().__init__(data=payload, point=[float(v) for v in payload["point"]])
        self.static = static

    @traitlets.validate("point")
    def _check_point(self, proposal):
        x, y = proposal["value"]
        if not (0 <= x < self.data["width"] and 0 <= y < self.data["height"]):
            raise traitlets.TraitError(
                f"point ({x:g}, {y:g}) is outside the {self.data['width']}×{self.data['height']} image"
            )
        return proposal["value"]

    def row(self, panel: int = 0) -> np.ndarray:
        """The (S,) float16 attention row the browser draws for the current point in ``panel`` (as float64)."""
        import base64

        spec = self.data["panels"][panel]
        block = self.data["captures"][spec["capture"]]["blocks"][spec["block"]]
        (h, w), (x, y) = block["query"], self.point
        fy = min(max(int(y * h / self.data["height"]), 0), h - 1)
        fx = min(max(int(x * w / self.data["width"]), 0), w - 1)
        table = np.frombuffer(base64.b64decode(block["weights"]), "<f2").reshape(h * w, -1)
        return table[fy * w + fx].astype(np.float64)

    def __repr__(self) -> str:  # short: the default would print the whole attention table
        panels = ", ".join(panel["label"] for panel in self.data["panels"])
        return f"AttentionExplorer({panels}; point={tuple(self.point)})"

    def _ipython_display_(self) -> None:
        data, metadata = self._repr_mimebundle_()
        display(data, metadata=metadata, raw=True)  # the live widget
        if self.static:
            display(HTML(iframe_html(self.data)))  # the kernel-free copy (hidden while the widget is live)


def explore_attention(*panels, k: int = 5, point: tuple[float, float] | None = None) -> AttentionExplorer:
    """Open the explorer: ``explore_attention(capture)``; AFNB vs APNB: ``explore_attention((c, "head.fusion"),
    (c, "head.context"))``; two models on one image: ``explore_attention((ann, "head.fusion"), (nonlocal_capture,
    "head.attention"))``. Display it in a notebook cell."""
    return AttentionExplorer(*panels, k=k, point=point)
