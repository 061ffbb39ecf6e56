"""The block benchmark: its measurements are sound (FLOPs, memory) and the command runs end to end."""

import json

import pytest
import torch
import torch.nn.functional as F

from annkit.bench.common import flop_counter, profile_call
from annkit.bench.macs import apnb_macs
from annkit.cli import main
from annkit.nn import APNB, NonLocal2d


def flops(fn) -> int:
    with flop_counter() as counter:
        fn()
    return counter.get_total_flops()


def test_fused_attention_is_counted_on_cpu_forward_and_backward():
    # torch 2.14's own counter sees F.scaled_dot_product_attention on CPU as 0 FLOPs; flop_counter must not
    b, heads, n, s, e, ev = 2, 3, 50, 20, 16, 16  # equal key and value widths: the flash kernel runs
    q = torch.randn(b, heads, n, e, requires_grad=True)
    k, v = torch.randn(b, heads, s, e, requires_grad=True), torch.randn(b, heads, s, ev, requires_grad=True)
    gemms = 2 * b * heads * n * s  # FLOPs of one (n × s) GEMM step per unit width
    assert flops(lambda: F.scaled_dot_product_attention(q, k, v)) == gemms * (e + ev)
    out = F.scaled_dot_product_attention(q, k, v)
    assert flops(lambda: out.backward(torch.ones_like(out))) == gemms * (3 * e + 2 * ev)  # QKᵀ again, dV, dP, dQ, dK


def test_fused_nonlocal_counts_the_same_as_explicit():
    block = NonLocal2d(24, inter_channels=8, zero_init=False).eval()
    x = torch.randn(1, 24, 9, 11)
    with torch.no_grad():
        profile = profile_call(lambda: block(x), torch.device("cpu"))
        assert any("flash" in k or "scaled_dot_product" in k for k in profile.attention_kernels), (
            profile.attention_kernels
        )  # the fused kernel really ran
        assert profile.flops == flops(lambda: block.reference(x)) > 0


@pytest.mark.parametrize("c, out, v, folds", [(128, 96, 128, True), (40, 24, 8, False)])
def test_flop_counter_matches_the_step_by_step_multiply_adds(c, out, v, folds):
    h, w, d = 23, 37, 16
    block = APNB(c, out, key_channels=d, value_channels=v, dropout=0.0).eval()
    x = torch.randn(1, c, h, w)
    expected = apnb_macs(h, w, c, out, d, v)
    assert ("out projection on anchors" in expected["annkit"]) == folds  # wide channels: fold onto anchors
    with torch.no_grad():
        assert flops(lambda: block(x)) == 2 * sum(expected["annkit"].values())
        assert flops(lambda: block.reference(x)) == 2 * sum(expected["reference"].values())
        context = apnb_macs(h, w, c, c, d, v, fused=False)
        assert flops(lambda: block.context(x)) == 2 * sum(context["annkit"].values())


def test_context_with_equal_key_and_value_widths_counts_its_fused_attention():
    h, w, c, d = 23, 37, 40, 16  # values stay d wide (no projection folds onto the anchors): SDPA runs
    block = APNB(c, key_channels=d, value_channels=d, dropout=0.0).eval()
    x = torch.randn(1, c, h, w)
    steps = apnb_macs(h, w, c, c, d, d, fused=False)["annkit"]
    assert f"AV ({d} wide values)" in steps
    with torch.no_grad():
        profile = profile_call(lambda: block.context(x), torch.device("cpu"))
    assert any("flash" in k or "scaled_dot_product" in k for k in profile.attention_kernels), profile.attention_kernels
    assert profile.flops == 2 * sum(steps.values())


def test_paper_block_arithmetic_from_ann_facts():
    # the official 2048/256 block at 128×256: ~70.6 GMAC reference, ~25.6 GMAC with the exact rewrites
    macs = apnb_macs(128, 256, 2048, 2048, 256, 256, fused=False)
    assert round(sum(macs["reference"].values()) / 1e9, 1) == 70.6
    core = {k: v for k, v in macs["annkit"].items() if not k.startswith("pool")}
    assert round(sum(core.values()) / 1e9, 1) == 25.6


def test_cpu_peak_memory_tracks_live_tensors():
    a = torch.randn(256, 256)

    def step():
        b = a @ a  # 256 KiB
        c = b * 2  # another 256 KiB while b lives
        del b
        return c.view(-1)  # a view: no new storage

    profile = profile_call(step, torch.device("cpu"))
    assert profile.peak_bytes == 2 * 256 * 256 * 4 and profile.result_bytes == 256 * 256 * 4
    assert profile.flops == 2 * 256**3


def test_bench_blocks_command_writes_table_and_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = main(
        [
            "bench",
            "blocks",
            "--sizes",
            "6x10",
            "--channels",
            "16",
            "--key-channels",
            "8",
            "--min-run-time",
            "0.01",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "ratios (measured in this run)" in printed and "APNB annkit" in printed
    report = json.loads(out.read_text())
    assert report["environment"]["flop_convention"].endswith("2 FLOPs per multiply-add")
    results = report["results"]
    assert {r["impl"] for r in results} >= {"APNB reference", "APNB annkit", "AFNB annkit", "non-local fused SDPA"}
    for r in results:  # every case ran, and agrees with its block's reference
        assert r["time_ms"] > 0 and r["gflop"] > 0
        assert r["max_abs_diff"] is None or r["max_abs_diff"] < 1e-4, r
    labels = {(r["label"], r["size"]) for r in report["ratios"]}
    assert ("APNB annkit vs explicit non-local, time", "6x10") in labels


@pytest.mark.parametrize("size", ["64", "64x0", "axb", "8x8x8"])
def test_size_options_reject_what_is_not_hxw(size, capsys):
    for argv in (["bench", "blocks", "--sizes", size], ["bench", "model", "--size", size]):
        with pytest.raises(SystemExit) as stop:
            main(argv)
        assert stop.value.code == 2  # a user error, named by argparse with the option
        error = capsys.readouterr().err.strip().splitlines()[-1]
        assert error.endswith(f"expected HxW with positive integers, e.g. 64x128; got '{size}'") and "--size" in error


def test_published_block_benchmark_flops_are_what_this_torch_counts():
    # bench/blocks_cpu.json was measured on another torch; its FLOP column must still be what flop_counter counts
    # here (the fused-SDPA rows read 0 FLOPs on torch 2.14 without annkit's formula). Shapes only: FakeTensorMode.
    from pathlib import Path

    from torch._subclasses.fake_tensor import FakeTensorMode

    from annkit.bench.blocks import _call, official_cases

    report = json.loads((Path(__file__).resolve().parents[1] / "bench" / "blocks_cpu.json").read_text())
    published = {
        (r["impl"], r["size"]): r["gflop"]
        for r in report["results"]
        if r["suite"] == "official" and r["gflop"] is not None
    }
    assert len(published) == 12
    for size in ("64x128", "96x96", "128x256"):
        h, w = map(int, size.split("x"))
        for case in official_cases(h, w, 1, None, 256):
            fn = _call(case, torch.device("cpu"), torch.float32, backward=False)
            with FakeTensorMode(allow_non_fake_inputs=True), flop_counter() as counter:
                fn()
            assert counter.get_total_flops() / 1e9 == pytest.approx(published[(case.impl, size)], abs=1e-6), case.impl


def test_bench_train_times_the_trainers_step(monkeypatch, capsys):
    from annkit.engine.step import TrainStep

    updates = []
    update = TrainStep.update
    monkeypatch.setattr(
        TrainStep, "update", lambda self, loss: updates.append(float(loss.detach())) or update(self, loss)
    )
    argv = ["bench", "train", "--preset", "tiny_ann", "--steps", "3", "--device", "cpu", "crop_size=[32,40]"]
    assert main([*argv, "batch_size=2"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(updates) == 2 + 3  # warm-up steps, then the timed ones: each a whole step of the trainer
    assert result["batch"] == 2 and result["size"] == [32, 40] and result["amp"] is None  # no autocast on CPU
    assert result["images_per_s"] == pytest.approx(2 / result["step_s"], rel=0.01)


def test_threads_below_one_are_a_user_error(capsys):
    assert main(["bench", "train", "--preset", "tiny_ann", "--threads", "0"]) == 2
    assert "--threads 0: expected a number of CPU threads, at least 1" in capsys.readouterr().err
