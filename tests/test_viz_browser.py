"""The explorer in a real browser (headless Chromium via Selenium): the standalone page and a notebook exported
to HTML respond to the pointer with no kernel, and draw exactly the back-projection ``annkit.viz.maps`` computes.

Skipped, with the reason, when chromium / chromium-driver (Debian packages) or selenium are absent.
"""

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

from annkit.models import build  # noqa: E402
from annkit.viz import capture_attention, explorer_payload, standalone_html  # noqa: E402
from annkit.viz.browser import BrowserUnavailable, browser_paths  # noqa: E402
from annkit.viz.plots import query_heat  # noqa: E402

try:
    browser_paths()
except BrowserUnavailable as missing:
    pytest.skip(f"no headless browser: {missing}", allow_module_level=True)

from annkit.viz.browser import colour_indices, drawn_heat, headless_chrome, hover, open_explorer  # noqa: E402


@pytest.fixture(scope="module")
def capture():
    torch.manual_seed(0)
    model = build("tiny_ann", num_classes=5)
    for name, p in model.named_parameters():  # non-zero out convs: attention that varies across the image
        if name.endswith("out.weight"):
            torch.nn.init.normal_(p, std=0.1)
    return capture_attention(model.eval(), torch.rand(3, 96, 128))


@pytest.fixture(scope="module")
def driver():
    with headless_chrome() as chrome:
        yield chrome


def reference_indices(capture, block, x, y, level=None, normalize="overall"):
    """The colour-map index of every key-map cell for query pixel (x, y), from annkit.viz.maps in float64."""
    attention = capture.blocks[block]
    heat = query_heat(attention.row(x, y).double().numpy(), attention.geometry, attention.key_size, level, normalize)
    return np.round(heat / heat.max() * 255).astype(int)


def assert_draws_reference(driver, root, capture, block, x, y, panel, colormap, level=None, normalize="overall"):
    drawn = colour_indices(drawn_heat(driver, root, panel), colormap)
    expected = reference_indices(capture, block, x, y, level, normalize)
    assert drawn.shape == expected.shape
    assert np.abs(drawn - expected).max() <= 1, "drawn heat differs from maps.backproject beyond float16 rounding"


def test_standalone_page_follows_the_pointer_and_draws_the_backprojection(capture, driver, tmp_path):
    payload = explorer_payload([capture, (capture, "head.context")], point=(5, 5))
    page = tmp_path / "explorer.html"
    page.write_text(standalone_html(payload))
    root = open_explorer(driver, str(page))
    before = drawn_heat(driver, root).copy()
    for x, y, view in ((100, 70, 0), (20, 80, 1)):  # either view of a panel moves the query for every panel
        hover(driver, root, x, y, panel=0, view=view)
        assert driver.execute_script(
            "return [arguments[0].annkitExplorer.x, arguments[0].annkitExplorer.y]", root
        ) == pytest.approx([x + 0.5, y + 0.5], abs=0.6)
        assert not np.array_equal(drawn_heat(driver, root), before)
        assert_draws_reference(driver, root, capture, "head.fusion", x, y, 0, payload["colormap"])
        assert_draws_reference(driver, root, capture, "head.context", x, y, 1, payload["colormap"])  # in sync
    rows = driver.execute_script(
        "return Array.from(arguments[0].querySelectorAll('.ak-top')[0].rows)"
        ".slice(1).map((r) => r.cells[2].textContent)",
        root,
    )
    best = np.sort(capture.blocks["head.fusion"].row(20, 80).numpy())[::-1][:5]
    assert [float(w) for w in rows] == pytest.approx(best, rel=2e-3)  # listed weights: 3 significant digits
    driver.execute_script(  # one pyramid level (8×8), each level rescaled to sum to 1: as plot_query draws it
        "const level = arguments[0].querySelector('.ak-level'), e = arguments[0].annkitExplorer;"
        "level.value = '3'; level.dispatchEvent(new Event('change'));"
        "e.normalize.value = 'level'; e.normalize.dispatchEvent(new Event('change'));",
        root,
    )
    assert_draws_reference(driver, root, capture, "head.fusion", 20, 80, 0, payload["colormap"], 3, "level")
    assert not [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_notebook_exported_to_html_keeps_a_working_explorer(capture, driver, tmp_path):
    """The explorer's outputs, as a kernel displays them, exported by nbconvert: the page works with no kernel."""
    nbformat = pytest.importorskip("nbformat")
    nbconvert = pytest.importorskip("nbconvert")
    pytest.importorskip("anywidget", reason="the notebook explorer needs anywidget")
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.display import display
    from IPython.utils.capture import capture_output

    from annkit.viz import explore_attention

    InteractiveShell.instance()  # display() as in a kernel, without starting one
    with capture_output() as captured:
        display(explore_attention(capture))
    kinds = [sorted(output.data) for output in captured.outputs]
    assert kinds == [["application/vnd.jupyter.widget-view+json", "text/plain"], ["text/html", "text/plain"]]
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "explore_attention(capture)",
            outputs=[
                nbformat.v4.new_output("display_data", data=output.data, metadata=output.metadata)
                for output in captured.outputs
            ],
        )
    ]
    body, _ = nbconvert.HTMLExporter().from_notebook_node(notebook)
    page = tmp_path / "exported.html"
    page.write_text(body)
    root = open_explorer(driver, str(page))  # nothing but the exported file: no kernel, no network
    before = drawn_heat(driver, root).copy()
    hover(driver, root, 50, 10)
    assert not np.array_equal(drawn_heat(driver, root), before)
    assert_draws_reference(driver, root, capture, "head.fusion", 50, 10, 0, explore_attention(capture).data["colormap"])
