"""Visualisers: attention rows, back-projection, planted attention, figures (Agg) and the explorer, headless."""

from types import SimpleNamespace

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

from annkit.cli import main  # noqa: E402
from annkit.models import build, save  # noqa: E402
from annkit.nn import IdentitySampler, PyramidSampler  # noqa: E402
from annkit.viz import (BlockAttention, Capture, anchor_mass, backproject, capture_attention, class_mean_attention,  # noqa: E402
                        entropy_map, level_grids, plot_backprojection, plot_class_attention, plot_entropy,
                        plot_level_grids, plot_query, plot_top_anchors, plot_versus_nonlocal)
from annkit.viz.explore import AttentionExplorer  # noqa: E402


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    net = build("tiny_ann")
    for name, p in net.named_parameters():  # non-zero out convs, so attention shapes the output
        if name.endswith("out.weight"):
            torch.nn.init.normal_(p, std=0.1)
    return net.eval()


@pytest.fixture(scope="module")
def capture(model):
    torch.manual_seed(1)
    return capture_attention(model, torch.rand(3, 72, 104))


def test_capture_rows_sum_to_one_and_geometry_in_image_pixels(capture):
    assert set(capture.blocks) == {"head.fusion", "head.context"}
    for block in capture.blocks.values():
        h, w = block.query_size
        assert block.weights.shape == (h * w, 110)
        assert torch.allclose(block.weights.sum(-1), torch.ones(h * w), atol=1e-5)
        boxes = block.image_boxes
        assert boxes[0].tolist() == [0, 0, 72, 104]  # the 1×1 anchor pools the whole image
        assert boxes[:, 2].max() == 72 and boxes[:, 3].max() == 104
    assert capture.prediction.shape == (72, 104)


def test_backprojection_sums_to_one_and_is_constant_on_each_rectangle():
    sampler = PyramidSampler((1, 3, 6, 8))
    geometry = sampler.geometry(13, 22)
    row = np.random.default_rng(0).dirichlet(np.ones(110))
    heat = backproject(row, geometry, (13, 22))
    assert heat.shape == (13, 22) and np.isclose(heat.sum(), 1.0)
    per_level = backproject(row, geometry, (13, 22), normalize="level")
    assert per_level.shape == (4, 13, 22) and np.allclose(per_level.sum((1, 2)), 1.0)
    for s in (0, 5, 60, 109):  # a single anchor: uniform on its rectangle, zero elsewhere
        one = backproject(np.eye(110)[s], geometry, (13, 22))
        y0, x0, y1, x1 = geometry.boxes[s].tolist()
        inside = np.zeros((13, 22), bool)
        inside[y0:y1, x0:x1] = True
        assert np.allclose(one[inside], 1 / inside.sum()) and np.all(one[~inside] == 0)


def test_backprojection_rectangles_agree_with_the_pooling_matrix():
    sampler = PyramidSampler((2, 3))
    geometry = sampler.geometry(7, 9)
    matrix = sampler.matrix(7, 9).numpy()  # (S, N)
    row = np.random.default_rng(1).dirichlet(np.ones(13))
    assert np.allclose(backproject(row, geometry, (7, 9)).reshape(-1), row @ matrix, atol=1e-6)


def test_planted_attention_highlights_exactly_that_rectangle(capture):
    """All attention forced onto one anchor: the drawn map is that anchor's rectangle and nothing else."""
    real = capture.blocks["head.context"]
    planted = 73  # an anchor of the 8×8 level
    weights = torch.zeros_like(real.weights)
    weights[:, planted] = 1.0
    forced = Capture(capture.image, capture.prediction,
                     {"planted": BlockAttention("planted", weights, real.query_size, real.key_size, real.geometry,
                                                real.image_size)})
    fig = plot_query(forced, "planted", (40, 30))
    drawn = np.asarray(fig.axes[1].images[-1].get_array())  # the heat layer over the image
    y0, x0, y1, x1 = real.boxes[planted].tolist()
    inside = np.zeros(real.key_size, bool)
    inside[y0:y1, x0:x1] = True
    assert np.allclose(drawn[inside], 1.0 / inside.sum()) and np.all(drawn[~inside] == 0)
    assert np.isclose(anchor_mass(weights[0], real.geometry, inside), 1.0)
    top_panel_text = [t.get_text() for t in fig.axes[2].texts]
    assert top_panel_text[0] == "#1 1.00 L3"
    import matplotlib.pyplot as plt
    plt.close(fig)


def test_level_grids_entropy_and_class_mean():
    geometry = PyramidSampler((1, 2)).geometry(4, 4)
    grids = level_grids(np.arange(5) / 10, geometry)
    assert [g.shape for g in grids] == [(1, 1), (2, 2)] and grids[1][1, 0] == 0.3
    uniform = np.full((16, 5), 0.2)
    assert np.allclose(entropy_map(uniform, (4, 4)), 1.0)
    one_hot = np.eye(5)[np.zeros(16, int)]
    assert np.allclose(entropy_map(one_hot, (4, 4)), 0.0)
    labels = np.zeros((8, 8), int)
    labels[:4] = 3  # top half: class 3 at image resolution
    weights = np.vstack([np.eye(5)[[1] * 8], np.eye(5)[[2] * 8]])  # top half looks at anchor 1
    assert np.allclose(class_mean_attention(weights, labels, (4, 4), 3), np.eye(5)[1])
    with pytest.raises(ValueError, match=r"no query pixel has class 7; classes present: \[0, 3\]"):
        class_mean_attention(weights, labels, (4, 4), 7)


def test_every_figure_renders_with_agg(capture, tmp_path):
    import matplotlib.pyplot as plt

    attention = capture.blocks["head.context"]
    row = attention.row(50, 30)
    figures = [
        plot_level_grids(row, attention.geometry),
        plot_backprojection(capture.image, row, attention.geometry, attention.key_size, (50, 30)),
        plot_backprojection(capture.image, row, attention.geometry, attention.key_size, (50, 30), "level"),
        plot_top_anchors(capture.image, row, attention.image_boxes, (50, 30), k=4, levels=attention.levels),
        plot_versus_nonlocal(capture.image, row, attention.geometry, attention.key_size,
                             torch.softmax(torch.randn(attention.weights.shape[0]), 0), attention.query_size),
        plot_entropy(capture.image, attention.weights, attention.query_size),
        plot_class_attention(class_mean_attention(attention.weights, capture.prediction, attention.query_size,
                                                  int(capture.prediction[0, 0])), attention.geometry, "bg"),
        plot_query(capture, "head.fusion", (10, 60), level=2, normalize="level", overlay=True),
    ]
    for i, fig in enumerate(figures):
        fig.savefig(tmp_path / f"{i}.png", dpi=50)
        assert (tmp_path / f"{i}.png").stat().st_size > 1000
        plt.close(fig)


def test_explorer_state_changes_update_the_figure(capture):
    import matplotlib.pyplot as plt

    explorer = AttentionExplorer(capture, k=3)
    first = explorer.figure
    heat_before = explorer.figure.axes[1].images[-1].get_array().copy()
    explorer.x.value, explorer.y.value = 3, 4  # a different query pixel
    assert explorer.figure is not first
    assert not np.allclose(explorer.figure.axes[1].images[-1].get_array(), heat_before)
    explorer.block.value = "head.fusion"
    assert [label for label, _ in explorer.level.options] == ["all levels", "1×1", "3×3", "6×6", "8×8"]
    assert "head.fusion" in explorer.figure.axes[1].get_title()
    explorer.level.value = 3
    assert "8×8 level" in explorer.figure.axes[1].get_title()
    explorer.normalize.value = "level"
    assert "level normalisation" in explorer.figure.axes[1].get_title()
    explorer.overlay.value = True
    assert explorer.figure.axes[0].get_title() == "prediction overlay"
    image_axes = explorer.figure.axes[0]
    explorer.on_click(SimpleNamespace(inaxes=image_axes, xdata=90.7, ydata=12.2))  # a click on the image
    assert (explorer.x.value, explorer.y.value) == (90, 12)
    plt.close("all")


def test_cli_viz_attention(model, tmp_path, capsys):
    from PIL import Image

    checkpoint = tmp_path / "tiny.pt"
    save(model, checkpoint)
    image = tmp_path / "in.png"
    Image.fromarray((np.random.default_rng(0).random((40, 56, 3)) * 255).astype(np.uint8)).save(image)
    out = tmp_path / "fig.png"
    assert main(["viz", "attention", "--checkpoint", str(checkpoint), "--image", str(image),
                 "--point", "20", "10", "--out", str(out)]) == 0
    assert out.stat().st_size > 10_000
    assert main(["viz", "attention", "--checkpoint", str(checkpoint), "--image", str(image),
                 "--point", "60", "10", "--out", str(out)]) == 2  # a user error: one line, exit code 2
    assert "outside the 56×40 image" in capsys.readouterr().err


def test_identity_sampler_attention_is_a_full_map():
    geometry = IdentitySampler().geometry(3, 4)
    row = np.zeros(12)
    row[5] = 1.0
    heat = backproject(row, geometry, (3, 4))
    assert heat[1, 1] == 1.0 and heat.sum() == 1.0


def test_explorer_block_change_renders_once(capture, monkeypatch):
    import matplotlib.pyplot as plt

    from annkit.viz import explore

    explorer = AttentionExplorer(capture, k=3)
    explorer.level.value = 2
    calls = []
    real = explore.plot_query
    monkeypatch.setattr(explore, "plot_query", lambda *a, **k: calls.append(a) or real(*a, **k))
    explorer.block.value = "head.context"
    assert len(calls) == 1 and explorer.level.value is None
    plt.close("all")
