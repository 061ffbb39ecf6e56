"""The browser-side attention explorer: one capture (or several, side by side) packed for ``explorer.js``.

``capture_attention`` already holds, per block, the (N, S) attention of every query pixel — small: 256×110 for
the tiny model at 128×128, 4096×110 for R-50 at 512×512. Packed once (float16, base64) with the image, the
prediction, the class colours and each anchor's rectangle, it lets the browser answer every pointer move itself:
back-projection, per-level grids and top-k anchors, with no kernel behind the page. Two hosts run the same
module: the anywidget in ``annkit.viz.explore`` (JupyterLab, Notebook 7, VS Code) and the self-contained page of
``standalone_html`` (``annkit viz attention --html``; also what a notebook exported to HTML keeps).
"""

from __future__ import annotations

import base64
import html
import io
import json
import uuid
from collections.abc import Sequence
from importlib import resources

import matplotlib
import numpy as np

from annkit.viz.capture import Capture
from annkit.viz.classes import class_palette, coloured_classes
from annkit.viz.plots import HEAT, rank_colours

DEFAULT_BLOCK = "head.fusion"  # AFNB: the block that reads the far cue


def explorer_source() -> str:
    """The ES module that draws the explorer (``annkit/viz/explorer.js``)."""
    return resources.files("annkit.viz").joinpath("explorer.js").read_text(encoding="utf-8")


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def _png_data_url(image) -> str:
    from PIL import Image

    rgb = np.round(np.clip(image.permute(1, 2, 0).numpy(), 0, 1) * 255).astype(np.uint8)  # (H, W, 3)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _panel(spec, index: int) -> tuple[Capture, str, str]:
    """A panel given as a Capture, (capture, block) or (capture, block, label) → (capture, block, label)."""
    capture, *rest = spec if isinstance(spec, tuple) else (spec,)
    if not isinstance(capture, Capture) or len(rest) > 2:
        raise ValueError(
            f"panel {index}: expected a Capture, (capture, block) or (capture, block, label), got {spec!r:.80}"
        )
    if not capture.blocks:
        raise ValueError(f"panel {index}: the capture holds no attention block (was the model an ANN or non-local?)")
    block = rest[0] if rest else (DEFAULT_BLOCK if DEFAULT_BLOCK in capture.blocks else next(iter(capture.blocks)))
    if block not in capture.blocks:
        raise ValueError(f"panel {index}: no block {block!r}; blocks: {', '.join(capture.blocks)}")
    label = rest[1] if len(rest) > 1 else f"{block} ({capture.blocks[block].kind})"
    return capture, block, label


def explorer_payload(panels: Sequence, *, k: int = 5, point: tuple[float, float] | None = None) -> dict:
    """Everything ``explorer.js`` draws, as JSON-ready data.

    ``panels``: Captures or (capture, block[, label]) tuples of the *same image*, shown side by side and
    synchronised on one query pixel (e.g. AFNB vs APNB of one capture, or ANN vs a non-local model). Attention
    rows travel as little-endian float16 (relative error ≤ 2⁻¹¹), boxes on the key map as integers.
    """
    if not panels:
        raise ValueError("the explorer needs at least one panel (a Capture)")
    if k < 1:
        raise ValueError(f"k (top anchors shown) must be at least 1, got {k}")
    resolved = [_panel(spec, i) for i, spec in enumerate(panels)]
    first = resolved[0][0]
    captures: list[Capture] = []
    for capture, _, _ in resolved:
        if capture.size != first.size or not np.array_equal(capture.image.numpy(), first.image.numpy()):
            raise ValueError(f"side-by-side panels must show the same image; got sizes {first.size} and {capture.size}")
        if capture.class_names != first.class_names:
            raise ValueError(
                f"side-by-side panels must share class names: {first.class_names} vs {capture.class_names}"
            )
        if all(capture is not seen for seen in captures):
            captures.append(capture)
    height, width = first.size
    palette = class_palette(first.class_names)
    coloured = coloured_classes(first.class_names)
    colormap = np.round(matplotlib.colormaps[HEAT](np.linspace(0, 1, 256))[:, :3] * 255).astype(int)
    return {
        "uid": uuid.uuid4().hex,
        "width": width,
        "height": height,
        "k": k,
        "point": list(point) if point is not None else [width / 2, height / 2],
        "image": _png_data_url(first.image),
        "colormap": colormap.tolist(),
        "rank_colours": rank_colours(k),
        "classes": [
            {"name": name, "colour": palette[i].tolist() if coloured[i] else None}
            for i, name in enumerate(first.class_names)
        ],
        "captures": [
            {
                "prediction": _b64(capture.prediction.clamp(0, 255).numpy().astype(np.uint8)),  # (H·W,) class ids
                "blocks": {
                    name: {
                        "kind": block.kind,
                        "query": list(block.query_size),
                        "key": list(block.key_size),
                        "grids": [list(grid) for grid in block.geometry.grids],
                        "levels": block.levels.tolist(),
                        "boxes": block.boxes.tolist(),
                        "weights": _b64(block.weights.detach().float().cpu().numpy().astype("<f2")),  # (N·S,)
                    }
                    for name, block in capture.blocks.items()
                },
            }
            for capture in captures
        ],
        "panels": [
            {"capture": next(i for i, c in enumerate(captures) if c is capture), "block": block, "label": label}
            for capture, block, label in resolved
        ],
    }


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body style="margin: 8px">
<div id="annkit-explorer">loading the attention explorer…</div>
<script type="application/json" id="annkit-data">{data}</script>
<script type="module">
{source}
const data = JSON.parse(document.getElementById("annkit-data").textContent);
const state = {{ data, point: data.point }};
const model = {{ static: true, get: (key) => state[key], set: (key, value) => {{ state[key] = value; }},
  save_changes() {{}}, on() {{}} }};
if (window.frameElement) {{  // inside a notebook's iframe: grow with the content
  new ResizeObserver(() => {{ window.frameElement.style.height = document.documentElement.scrollHeight + "px"; }})
    .observe(document.body);
}}
render({{ model, el: document.getElementById("annkit-explorer") }});
</script>
</body></html>
"""


def standalone_html(payload: dict, title: str = "annkit attention explorer") -> str:
    """One self-contained HTML page (no kernel, no network): the explorer module and its data inlined."""
    data = json.dumps(payload, separators=(",", ":")).replace("</", "<\\/")  # safe inside <script>
    return PAGE.format(title=html.escape(title), data=data, source=explorer_source())


def iframe_html(payload: dict) -> str:
    """The standalone page in an ``<iframe srcdoc>``: a notebook output that keeps working when exported."""
    height = round(min(3.0, 320 / max(payload["width"], payload["height"])) * payload["height"]) + 420
    return (
        f'<div class="annkit-static" data-annkit-uid="{payload["uid"]}">'
        f'<iframe srcdoc="{html.escape(standalone_html(payload), quote=True)}" '
        f'style="width: 100%; height: {height}px; border: 0"></iframe></div>'
    )


def write_html(
    path, *panels, k: int = 5, point: tuple[float, float] | None = None, title: str = "annkit attention explorer"
) -> None:
    """Write the explorer for ``panels`` (see ``explorer_payload``) as one self-contained HTML file."""
    from pathlib import Path

    Path(path).write_text(standalone_html(explorer_payload(panels, k=k, point=point), title), encoding="utf-8")
