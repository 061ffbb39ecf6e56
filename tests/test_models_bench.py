"""``annkit bench model`` on the tiny preset: every reported quantity is present and plausible (seconds)."""

from __future__ import annotations

from annkit.bench.model import report, run
from annkit.cli import build_parser


def test_bench_model_inference_and_train_step():
    common = dict(
        size=(48, 40),
        batch=2,
        device="cpu",
        channels_last=False,
        compile=False,
        repeats=2,
        warmup=1,
        gemm_size=128,
    )
    result = run("tiny_ann", dtype="float32", fold_bn=True, mode="inference", **common)
    assert result["model_gflops"] > 0 and result["images_per_second"] > 0
    assert 0 < result["head_flop_share"] < 1 and result["head_time_share"] > 0
    assert result["gemm_fraction"] > 0 and result["gemm_fraction_cpu_time"] > 0 and result["peak_memory_mib"] > 0
    assert "2 FLOPs per multiply-add" in report(result)
    train = run("tiny_fcn", dtype="bfloat16", fold_bn=True, mode="train", **{**common, "channels_last": True})
    assert train["fold_bn"] is False and train["model_gflops"] > result["model_gflops"] / 2


def test_cli_parses_bench_model():
    args = build_parser().parse_args(["bench", "model", "--preset", "tiny_ann", "--compile", "--channels-last"])
    assert args.compile and args.channels_last and args.size == (512, 512)
