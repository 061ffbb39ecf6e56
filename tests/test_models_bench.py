"""``annkit bench model`` on the tiny presets: FLOPs equal an independent count, the derived numbers follow from
the measured ones, and the training step counts forward and backward."""

from __future__ import annotations

import statistics

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from annkit.bench.model import report, run
from annkit.cli import build_parser
from annkit.models import build


def _flops(call) -> int:
    """FLOPs (2 per multiply-add) of ``call()`` by torch's own counter, without gradients."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        call()
    return counter.get_total_flops()


def _forward_flops(preset: str, batch: int, height: int, width: int) -> tuple[int, int]:
    """FLOPs of one eval forward pass of the preset's model, and of its head alone."""
    model = build(preset, backbone_weights=False).eval()
    images = torch.randn(batch, 3, height, width)
    features = model.backbone(images)
    return _flops(lambda: model(images)), _flops(lambda: model.head(features))


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
    forward, head = _forward_flops("tiny_ann", 2, 48, 40)  # counted here, independently of the bench
    # the bench's own count adds, in the attention head, a few small ops torch's counter leaves out (within 2 %);
    # outside the head (backbone, classifier resize) the two counts agree exactly
    assert result["model_gflops"] * 1e9 == pytest.approx(forward, rel=0.02)
    assert round((result["model_gflops"] - result["head_gflops"]) * 1e9) == forward - head
    assert result["head_flop_share"] == pytest.approx(result["head_gflops"] / result["model_gflops"])
    assert result["images_per_second"] == pytest.approx(2 / result["seconds_per_step"])
    assert result["gemm_fraction"] == pytest.approx(statistics.median(result["gemm_fraction_pairs"]))
    weights = sum(p.numel() * 4 for p in build("tiny_ann").parameters())
    assert result["peak_memory_mib"] * 2**20 >= 2 * 3 * 48 * 40 * 4  # at least the input batch was live
    assert result["peak_memory_mib"] * 2**20 < 100 * (weights + 2 * 3 * 48 * 40 * 4)  # and not a unit slip
    assert "2 FLOPs per multiply-add" in report(result)
    train = run("tiny_fcn", dtype="bfloat16", fold_bn=True, mode="train", **{**common, "channels_last": True})
    forward, _ = _forward_flops("tiny_fcn", 2, 48, 40)
    assert train["fold_bn"] is False and "head_time_share" not in train  # BN is not folded for training
    assert 2 * forward < train["model_gflops"] * 1e9 <= 3.1 * forward  # backward ≈ 2× forward (no input gradient)


def test_cli_parses_bench_model():
    args = build_parser().parse_args(["bench", "model", "--preset", "tiny_ann", "--compile", "--channels-last"])
    assert args.compile and args.channels_last and args.size == (512, 512)
