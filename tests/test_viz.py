"""Visualisers: attention rows, back-projection, planted attention, figures (Agg) and the explorer, headless."""

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

from annkit.cli import main  # noqa: E402
from annkit.data import overlay  # noqa: E402
from annkit.models import build, save  # noqa: E402
from annkit.nn import IdentitySampler, PyramidSampler  # noqa: E402
from annkit.viz import (  # noqa: E402
    BlockAttention,
    Capture,
    anchor_mass,
    backproject,
    capture_attention,
    class_mean_attention,
    entropy_map,
    level_grids,
    plot_backprojection,
    plot_class_attention,
    plot_entropy,
    plot_level_grids,
    plot_query,
    plot_top_anchors,
    plot_versus_nonlocal,
)
from annkit.viz.classes import class_palette, coloured_classes, default_class_names  # noqa: E402
from annkit.viz.explorer import explorer_payload, standalone_html  # noqa: E402
from annkit.viz.plots import place_labels  # noqa: E402


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
    forced = Capture(
        capture.image,
        capture.prediction,
        {"planted": BlockAttention("planted", weights, real.query_size, real.key_size, real.geometry, real.image_size)},
    )
    fig = plot_query(forced, "planted", (40, 30))
    drawn = np.asarray(fig.axes[1].images[-1].get_array())  # the heat layer over the image
    y0, x0, y1, x1 = real.boxes[planted].tolist()
    inside = np.zeros(real.key_size, bool)
    inside[y0:y1, x0:x1] = True
    assert np.allclose(drawn[inside], 1.0 / inside.sum()) and np.all(drawn[~inside] == 0)
    assert np.isclose(anchor_mass(weights[0], real.geometry, inside), 1.0)
    assert [t.get_text() for t in fig.axes[2].texts][0] == "#1"
    listing = fig.axes[2].get_xlabel().splitlines()
    assert listing[1] == "#1 1.000  8×8 level, row 3, col 3"  # anchor 73 = 1 + 9 + 36 + 27, 27 = 3·8 + 3
    assert fig.axes[2].get_xlim() == (0, 104) and fig.axes[2].get_ylim() == (72, 0)  # boxes leave the axes as they are
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
        plot_top_anchors(capture.image, row, attention.image_boxes, (50, 30), k=4, geometry=attention.geometry),
        plot_versus_nonlocal(
            capture.image,
            row,
            attention.geometry,
            attention.key_size,
            torch.softmax(torch.randn(attention.weights.shape[0]), 0),
            attention.query_size,
        ),
        plot_entropy(capture.image, attention.weights, attention.query_size),
        plot_class_attention(
            class_mean_attention(
                attention.weights, capture.prediction, attention.query_size, int(capture.prediction[0, 0])
            ),
            attention.geometry,
            "bg",
        ),
        plot_query(capture, "head.fusion", (10, 60), level=2, normalize="level", overlay=True),
    ]
    for i, fig in enumerate(figures):
        fig.savefig(tmp_path / f"{i}.png", dpi=50)  # renders with Agg
        layers = [np.asarray(image.get_array()) for ax in fig.axes for image in ax.images]
        assert layers and any(np.ptp(layer) > 0 for layer in layers), f"figure {i} draws nothing but a flat image"
        assert all(np.isfinite(layer).all() for layer in layers if layer.dtype.kind == "f"), f"figure {i}: NaN drawn"
        plt.close(fig)


def test_explorer_payload_carries_the_capture_at_float16_precision(capture):
    import base64

    payload = explorer_payload([capture, (capture, "head.context", "APNB")], k=4, point=(10, 20))
    assert [p["block"] for p in payload["panels"]] == ["head.fusion", "head.context"]  # default: AFNB
    assert len(payload["captures"]) == 1 and payload["point"] == [10, 20] and len(payload["rank_colours"]) == 4
    for name, block in capture.blocks.items():
        shipped = payload["captures"][0]["blocks"][name]
        table = np.frombuffer(base64.b64decode(shipped["weights"]), "<f2").reshape(block.weights.shape)
        assert np.allclose(table, block.weights.numpy(), rtol=2**-11, atol=1e-7)
        assert shipped["boxes"] == block.boxes.tolist() and shipped["kind"] in ("AFNB", "APNB")
    labels = np.frombuffer(base64.b64decode(payload["captures"][0]["prediction"]), np.uint8)
    assert np.array_equal(labels, capture.prediction.numpy().reshape(-1))
    page = standalone_html(payload)
    assert '<script type="module">' in page and "https://" not in page and "http://" not in page
    other = Capture(torch.rand(3, 72, 104), capture.prediction, capture.blocks, capture.class_names)
    with pytest.raises(ValueError, match="same image"):
        explorer_payload([capture, other])
    with pytest.raises(ValueError, match="no block 'head.nope'; blocks: head.fusion, head.context"):
        explorer_payload([(capture, "head.nope")])


def test_explorer_payload_two_models_side_by_side(model, capture):
    torch.manual_seed(1)
    full = capture_attention(build("tiny_ann", head={"name": "nonlocal"}).eval(), capture.image)
    payload = explorer_payload([(capture, "head.fusion", "ANN"), (full, "head.context", "non-local")])
    assert [p["capture"] for p in payload["panels"]] == [0, 1] and len(payload["captures"]) == 2
    nonlocal_block = payload["captures"][1]["blocks"]["head.context"]
    assert nonlocal_block["kind"] == "NonLocal2d" and nonlocal_block["grids"] == [[9, 13]]  # S = N = 9·13


def test_explorer_widget_point_and_row(capture):
    pytest.importorskip("anywidget", reason="the notebook explorer needs anywidget (pip install anywidget)")
    from annkit.viz import explore_attention

    explorer = explore_attention(capture, (capture, "head.context"))
    explorer.point = [50.0, 30.0]
    block = capture.blocks["head.context"]
    assert np.allclose(explorer.row(1), block.row(50, 30).numpy(), rtol=2**-11, atol=1e-7)
    assert np.allclose(explorer.row(0), capture.blocks["head.fusion"].row(50, 30).numpy(), rtol=2**-11, atol=1e-7)
    import traitlets

    with pytest.raises(traitlets.TraitError, match="outside the 104×72 image"):
        explorer.point = [104.0, 3.0]


def test_class_colours_follow_the_dataset():
    assert default_class_names(21)[15] == "person" and default_class_names(5) == (
        "background",
        "red",
        "green",
        "blue",
        "yellow",
    )
    palette = class_palette(default_class_names(5))
    assert palette[1].tolist() == [230, 30, 30] and palette[3].tolist() == [35, 70, 235]  # red is red, blue blue
    assert class_palette(default_class_names(21))[15].tolist() == [192, 128, 128]  # VOC's person
    image = np.full((2, 2, 3), 128, np.uint8)
    labels = np.array([[0, 1], [3, 255]])
    names = default_class_names(5)
    blended = overlay(image, labels, class_palette(names), coloured_classes(names))
    assert blended[0, 0].tolist() == blended[1, 1].tolist() == [128] * 3  # background, ignore: untouched
    assert blended[0, 1].tolist() == [179, 79, 79]  # half the image's grey, half the cue's red (230, 30, 30)


def test_anchor_labels_never_overlap_and_stay_inside():
    boxes = np.array([[0, 0, 104, 72], [0, 0, 13, 9], [0, 0, 13, 9], [91, 63, 104, 72], [0, 0, 35, 24]], float)
    spots = place_labels(boxes, (20.0, 8.0), 104, 72)
    for i, (x, y) in enumerate(spots):
        assert 0 <= x <= 104 - 20 and 0 <= y <= 72 - 8
        for px, py in spots[:i]:
            assert x + 20 <= px or px + 20 <= x or y + 8 <= py or py + 8 <= y


def test_level_grids_share_one_colour_scale_unless_asked(capture):
    import matplotlib.pyplot as plt

    attention = capture.blocks["head.fusion"]
    row = attention.row(30, 30).numpy()
    shared = plot_level_grids(row, attention.geometry)
    assert {image.get_clim() for ax in shared.axes[:4] for image in ax.images} == {(0, row.max())}
    per_level = plot_level_grids(row, attention.geometry, scale="level")
    assert [ax.images[0].get_clim()[1] for ax in per_level.axes if ax.images] == pytest.approx(
        [grid.max() for grid in level_grids(row, attention.geometry)]
    )
    plt.close("all")


def test_cli_viz_attention(model, tmp_path, capsys):
    from PIL import Image

    checkpoint = tmp_path / "tiny.pt"
    save(model, checkpoint)
    image = tmp_path / "in.png"
    Image.fromarray((np.random.default_rng(0).random((40, 56, 3)) * 255).astype(np.uint8)).save(image)
    out = tmp_path / "fig.png"
    assert (
        main(
            [
                "viz",
                "attention",
                "--checkpoint",
                str(checkpoint),
                "--image",
                str(image),
                "--point",
                "20",
                "10",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert out.stat().st_size > 10_000
    assert (
        main(
            [
                "viz",
                "attention",
                "--checkpoint",
                str(checkpoint),
                "--image",
                str(image),
                "--point",
                "60",
                "10",
                "--out",
                str(out),
            ]
        )
        == 2
    )  # a user error: one line, exit code 2
    assert "outside the 56×40 image" in capsys.readouterr().err
    page = tmp_path / "page.html"
    assert (
        main(
            [
                "viz",
                "attention",
                "--checkpoint",
                str(checkpoint),
                "--image",
                str(image),
                "--html",
                str(page),
                "--versus",
                "head.context",
            ]
        )
        == 0
    )
    text = page.read_text()
    assert '"block":"head.fusion"' in text and '"block":"head.context"' in text and "export default" in text
    capsys.readouterr()
    assert (
        main(
            [
                "viz",
                "attention",
                "--checkpoint",
                str(checkpoint),
                "--image",
                str(image),
                "--html",
                str(page),
                "--block",
                "x",
            ]
        )
        == 2
    )
    assert "no block 'x'; blocks: head.fusion (AFNB), head.context (APNB)" in capsys.readouterr().err


def test_cli_viz_attention_help_names_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["viz", "attention", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for phrase in (
        "--image IMG the input image",
        "--out FIG.png write the static figure",
        "--top-k K how many",
        "--device DEVICE where the model runs",
        "default: head.fusion, the AFNB",
        "--list-blocks",
    ):
        assert phrase in text


def test_identity_sampler_attention_is_a_full_map():
    geometry = IdentitySampler().geometry(3, 4)
    row = np.zeros(12)
    row[5] = 1.0
    heat = backproject(row, geometry, (3, 4))
    assert heat[1, 1] == 1.0 and heat.sum() == 1.0
