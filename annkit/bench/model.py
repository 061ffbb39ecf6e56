"""``annkit bench model``: whole-model throughput, peak memory, FLOPs and the fraction of GEMM throughput reached.

FLOPs: ``torch.utils.flop_counter`` counts **2 FLOPs per multiply-add** (convolutions and matmuls only;
elementwise ops, pooling, softmax and resizing count 0), on one eager step before BN folding and compilation
(same convolutions and matmuls). The model's FLOP/s is compared with a square GEMM of the same dtype on the
same device and threads, **in the same run, interleaved**: each model step is followed by a block of GEMMs of
about the same duration; the fraction is the median over these adjacent pairs, so neighbours' load on a shared
machine hits both sides of each ratio. On CPU the same ratio is also given in process CPU time, which time
slicing by other processes does not inflate. Inference also reports the head's share of the time (head run
alone on precomputed backbone features) beside its share of the FLOPs.
"""

from __future__ import annotations

import argparse
import json
import statistics

import torch

from annkit.bench.common import FLOP_CONVENTION, clock, environment, profile_call
from annkit.config import RuntimeConfig
from annkit.engine.step import TrainStep
from annkit.models import build
from annkit.models.runtime import autocast, prepare
from annkit.presets import resolve


def run(
    preset: str,
    *,
    size: tuple[int, int],
    batch: int,
    device: str,
    dtype: str,
    channels_last: bool,
    compile: bool,
    fold_bn: bool,
    mode: str,
    repeats: int,
    warmup: int,
    gemm_size: int,
) -> dict:
    """Measure one configuration at input ``size`` (H, W); returns a JSON-able dict (conventions in the module
    docstring)."""
    height, width = size
    dev = torch.device(device)
    runtime = RuntimeConfig(
        amp_dtype=None if dtype == "float32" else dtype, channels_last=channels_last, compile=compile, fold_bn=fold_bn
    )
    training = mode == "train"
    model = build(preset, backbone_weights=False).to(dev).train(training)
    images = torch.randn(batch, 3, height, width, device=dev)  # (B, 3, H, W)
    if training:  # the trainer's own step, with the preset's optimiser and loss, autocast to --dtype
        labels = torch.randint(0, model.config.num_classes, (batch, height, width), device=dev)  # (B, H, W)
        train_step = TrainStep.of(model, resolve(preset)[1], None if dtype == "float32" else getattr(torch, dtype))

        def step() -> None:
            train_step(images, labels)
    else:

        def step() -> None:
            with torch.no_grad(), autocast(runtime, dev):
                model(images)

    profile = profile_call(step, dev)  # eager: FLOPs, and on CPU the peak of live tensor storages
    head_flops = None
    if not training:
        with torch.no_grad():
            features = model.backbone(images)
            head_flops = profile_call(lambda: model.head(features), dev).flops
    prepare(model, runtime, inference=not training)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)

    a = torch.randn(gemm_size, gemm_size, device=dev, dtype=getattr(torch, dtype))
    b = torch.randn(gemm_size, gemm_size, device=dev, dtype=getattr(torch, dtype))
    gemm_flops = 2 * gemm_size**3
    for _ in range(warmup):
        step()
    gemm_reps = max(1, round(clock(step, dev)[0] / clock(lambda: a @ b, dev)[0]))  # GEMM block ≈ one step

    def gemm() -> None:
        for _ in range(gemm_reps):
            a @ b

    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    steps, gemms = [], []
    for _ in range(repeats):  # adjacent pairs: a step, then a GEMM block of about the same duration
        steps.append(clock(step, dev))
        gemms.append(tuple(t / gemm_reps for t in clock(gemm, dev)))
    if dev.type == "cuda":
        peak_mib, memory_method = torch.cuda.max_memory_allocated(dev) / 2**20, "CUDA max_memory_allocated"
    else:
        peak_mib, memory_method = profile.peak_bytes / 2**20, "CPU: peak live tensor storages, one eager step"
    flops = profile.flops

    def fraction(i: int) -> float:  # median over pairs of (model FLOP/s) / (GEMM FLOP/s); i: 0 wall, 1 CPU time
        return statistics.median((flops / s[i]) / (gemm_flops / g[i]) for s, g in zip(steps, gemms))

    seconds = statistics.median(s[0] for s in steps)
    result = dict(
        preset=preset,
        mode=mode,
        batch=batch,
        size=[height, width],
        channels_last=channels_last,
        compile=compile,
        fold_bn=fold_bn and not training,
        environment=environment(dev, getattr(torch, dtype)),
        seconds_per_step=seconds,
        images_per_second=batch / seconds,
        repeats=repeats,
        model_gflops=flops / 1e9,
        flop_convention=FLOP_CONVENTION,
        model_gflops_per_second=flops / seconds / 1e9,
        gemm_size=gemm_size,
        gemm_gflops_per_second=gemm_flops / statistics.median(g[0] for g in gemms) / 1e9,
        gemm_fraction=fraction(0),
        gemm_fraction_pairs=[(flops / s[0]) / (gemm_flops / g[0]) for s, g in zip(steps, gemms)],
        gemm_fraction_cpu_time=fraction(1) if dev.type == "cpu" else None,
        peak_memory_mib=peak_mib,
        memory_method=memory_method,
    )
    if not training:
        with torch.no_grad(), autocast(runtime, dev):
            features = model.backbone(images)
            model.head(features)
            head_seconds = statistics.median(clock(lambda: model.head(features), dev)[0] for _ in range(repeats))
        result.update(
            head_seconds=head_seconds,
            head_time_share=head_seconds / seconds,
            head_gflops=head_flops / 1e9,
            head_flop_share=head_flops / flops,
        )
    return result


def report(result: dict) -> str:
    """Human-readable lines for one result."""
    env = result["environment"]
    lines = [
        f"{result['preset']} {result['mode']} on {env['device']} ({env['dtype']}, batch {result['batch']}, "
        f"{result['size'][0]}x{result['size'][1]}, channels_last={result['channels_last']}, "
        f"compile={result['compile']}, fold_bn={result['fold_bn']}, threads={env['threads']})",
        f"  {result['images_per_second']:.3f} images/s ({result['seconds_per_step'] * 1e3:.1f} ms per step, "
        f"median of {result['repeats']})",
        f"  model {result['model_gflops']:.1f} GFLOP per step ({result['flop_convention']}) -> "
        f"{result['model_gflops_per_second']:.1f} GFLOP/s",
        f"  GEMM {result['gemm_size']}x{result['gemm_size']}, same dtype, interleaved in this run: "
        f"{result['gemm_gflops_per_second']:.1f} GFLOP/s -> the model reaches {result['gemm_fraction']:.2f} of it"
        + (f" ({result['gemm_fraction_cpu_time']:.2f} in CPU time)" if result["gemm_fraction_cpu_time"] else ""),
        f"  peak memory {result['peak_memory_mib']:.0f} MiB ({result['memory_method']})",
    ]
    if "head_time_share" in result:
        lines.append(
            f"  head: {result['head_time_share']:.1%} of the time, {result['head_flop_share']:.1%} of the "
            f"FLOPs ({result['head_gflops']:.1f} GFLOP, {result['head_seconds'] * 1e3:.1f} ms)"
        )
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    """Entry point of ``annkit bench model``."""
    result = run(
        args.preset,
        size=args.size,  # (H, W), parsed by annkit.cli
        batch=args.batch,
        device=args.device,
        dtype=args.dtype,
        channels_last=args.channels_last,
        compile=args.compile,
        fold_bn=not args.no_fold_bn,
        mode=args.mode,
        repeats=args.repeats,
        warmup=args.warmup,
        gemm_size=args.gemm_size or (8192 if args.device.startswith("cuda") else 2048),
    )
    print(report(result))
    if args.json:
        with open(args.json, "w") as file:
            json.dump(result, file, indent=2)
    return 0
