"""ONNX export: one dynamic file equals PyTorch at every size (pyramid bins computed in the graph), for every head.

Needs the ``onnx`` extra (onnx, onnxruntime, onnxscript). Models get ``randomize_weights``: a fresh model's
zero-initialised attention out-convs would leave the pyramid pooling out of the logits.
"""

import pytest
import torch

onnx = pytest.importorskip("onnx", reason="ONNX export tests need the onnx extra: pip install -e '.[onnx]'")
pytest.importorskip("onnxruntime", reason="ONNX export tests need the onnx extra: pip install -e '.[onnx]'")
pytest.importorskip("onnxscript", reason="torch's ONNX exporter needs onnxscript: pip install -e '.[onnx]'")

if not hasattr(torch.export, "Dim") or not hasattr(torch.export.Dim, "DYNAMIC"):
    pytest.skip(
        f"ONNX export needs torch >= 2.6; this is torch {torch.__version__} (to_onnx says so too)",
        allow_module_level=True,
    )

from annkit.cli import main  # noqa: E402
from annkit.export import UnexportableError, check_exportable, to_onnx  # noqa: E402
from annkit.export.check import compare, randomize_weights, session  # noqa: E402
from annkit.models import build  # noqa: E402
from annkit.nn import PyramidSampler, bin_averaging  # noqa: E402
from annkit.nn.samplers import adaptive_bins  # noqa: E402

# the sizes: square, odd and coprime (97×131: feature 13×17, bins of 3, 6, 8 overlap), wide, tall, Cityscapes
SIZES = [(512, 512), (97, 131), (321, 481), (200, 75), (1024, 2048), (64, 64), (5, 3)]


def _model(preset: str, seed: int = 0, **model_overrides):
    # overrides replace whole sections of the preset's model; a new class count drops its class names
    return randomize_weights(build(preset, backbone_weights=False, **model_overrides), seed).eval()


def _tiny_with(head: dict):
    return _model("tiny_ann", num_classes=5, head=head)


@pytest.fixture(scope="module")
def tiny_ann(tmp_path_factory):
    model = _model("tiny_ann")
    return model, to_onnx(model, tmp_path_factory.mktemp("onnx") / "tiny_ann.onnx", dynamic=True)


def _assert_equal(model, path, sizes, batch=1):
    checks = compare(model, path, sizes, batch=batch)
    for c in checks:
        assert c.passed, c
        assert c.max_abs_logit > 0.05  # logits that mean something: the bound 1e-4 is not trivially met
    return checks


def test_bin_averaging_is_adaptive_pooling_rule():
    for length in (1, 5, 7, 13, 17, 64):
        rows = bin_averaging(length, (1, 3, 6, 8))
        bins = [b for n in (1, 3, 6, 8) for b in adaptive_bins(length, n)]
        assert rows.shape == (18, length) and torch.allclose(rows.sum(1), torch.ones(18, dtype=torch.float64))
        for row, (start, end) in zip(rows, bins):
            assert row.nonzero().flatten().tolist() == list(range(start, end))


def test_tiny_ann_one_dynamic_file_equals_pytorch_at_every_size(tiny_ann):
    model, path = tiny_ann
    _assert_equal(model, path, SIZES)


def test_dynamic_batch(tiny_ann):
    model, path = tiny_ann
    _assert_equal(model, path, [(97, 131)], batch=3)


def test_graph_computes_the_bins_and_outputs_only_logits(tiny_ann):
    _, path = tiny_ann
    graph = onnx.load(str(path)).graph
    ops = {node.op_type for node in graph.node}
    assert "Range" in ops and "Softmax" in ops  # bins from arange over the runtime size; attention an intermediate
    assert not ops & {"AveragePool", "GlobalAveragePool", "MaxPool"}  # no fixed-kernel stand-in for the pyramid
    assert [o.name for o in graph.output] == ["logits"] and [i.name for i in graph.input] == ["images"]


def test_resnet18_ann_dynamic(tmp_path):
    model = _model(
        "mmseg_ann_r50_d8_voc12aug",
        num_classes=5,
        backbone=dict(name="resnet", depth=18, output_stride=8, stem="deep", weights=None),
        head=dict(
            name="ann",
            channels=64,
            key_channels=32,
            value_channels=32,
            pool_sizes=[1, 3, 6, 8],
            block_dropout=0.0,
            dropout=0.1,
            key_bias=False,
        ),
    )
    _assert_equal(model, to_onnx(model, tmp_path / "r18.onnx"), [(97, 131), (64, 64), (200, 75)])


@pytest.mark.parametrize(
    "head",
    [
        dict(name="psp", channels=16),  # pyramid pooling 1, 2, 3, 6: exact through the same in-graph bins
        dict(name="nonlocal", channels=32, key_channels=16),  # full attention (fused SDPA in eager)
    ],
    ids=lambda h: h["name"],
)
def test_baseline_heads_dynamic(tmp_path, head):
    model = _tiny_with(head)
    _assert_equal(model, to_onnx(model, tmp_path / "m.onnx"), [(97, 131), (200, 75), (64, 64)])


def test_fixed_size_export_from_the_cli(tmp_path, capsys):
    path = tmp_path / "fcn.onnx"
    assert main(["export", "onnx", "--preset", "tiny_fcn", str(path), "--size", "97", "131"]) == 0
    model = randomize_weights(build("tiny_fcn", backbone_weights=False), 0).eval()  # what --preset --seed 0 built
    _assert_equal(model, path, [(97, 131)])
    assert [d.dim_value for d in onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim] == [1, 3, 97, 131]
    with pytest.raises(Exception, match="97"):  # a fixed graph takes its own size only
        session(path).run(None, {"images": torch.rand(1, 3, 64, 64).numpy()})
    capsys.readouterr()
    assert main(["export", "onnx", "--preset", "tiny_fcn", str(path), "--size", "97", "131"]) == 2  # no --force
    assert "exists" in capsys.readouterr().err  # a user error: one line, and the file is not replaced


def test_max_pyramid_is_refused_by_name(tmp_path):
    model = _model("tiny_ann", head=dict(name="ann", channels=16, key_channels=8, value_channels=8, pool_mode="max"))
    with pytest.raises(UnexportableError, match=r"head\.fusion\.sampler.*head\.context\.sampler"):
        to_onnx(model, tmp_path / "max.onnx")
    assert not (tmp_path / "max.onnx").exists()


def test_foreign_adaptive_pooling_is_refused_by_name():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(3), torch.nn.AdaptiveAvgPool2d(1))
    with pytest.raises(UnexportableError, match=r"1 \(_adaptive_avg_pool2d to \(3, 3\)\)") as error:
        check_exportable(net, torch.rand(1, 3, 20, 20))
    assert "2 (" not in str(error.value)  # global pooling (to 1×1) is exact at any size: allowed
    check_exportable(torch.nn.Sequential(PyramidSampler()), torch.rand(1, 3, 20, 20))  # annkit's pyramid: fine


def test_recording_blocks_are_refused(tmp_path):
    from annkit.nn import record_attention

    model = _model("tiny_ann")
    with record_attention(model), pytest.raises(UnexportableError, match="record_attention"):
        to_onnx(model, tmp_path / "rec.onnx")


def test_fixed_size_needs_a_size(tmp_path):
    with pytest.raises(ValueError, match="size"):
        to_onnx(_model("tiny_ann"), tmp_path / "x.onnx", dynamic=False)


def test_bench_onnx_times_three_engines_on_the_same_model(tiny_ann, monkeypatch):
    import shutil

    from annkit.bench import onnx as bench

    _, exported = tiny_ann  # the bench's model (tiny_ann, seed 0), exported above: no second export
    monkeypatch.setattr(bench, "to_onnx", lambda model, path, **kwargs: shutil.copyfile(exported, path))
    result = bench.run("tiny_ann", size=(64, 96), repeats=3, warmup=1, threads=1)
    assert set(result["milliseconds"]) == set(bench.ENGINES) == set(result["cpu_milliseconds"])
    assert all(diff <= 1e-4 for diff in result["max_abs_diff"].values())  # same model, same answer
    for name in ("eager", "eager+fold"):  # the speed-ups are medians of per-round ratios, within their range
        assert result["milliseconds"][name] > 0 and result["speedup_wall"][name] > 0
    lines = bench.report(result).splitlines()
    assert lines[0].startswith("tiny_ann 64x96, batch 1") and "median of 3 interleaved rounds" in lines[0]
    assert lines[-1].startswith(f"  onnxruntime faster than eager+fold: {result['speedup_wall']['eager+fold']:.2f}x")
