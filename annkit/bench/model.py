"""``annkit bench model``: whole-model throughput, peak memory, FLOPs and the fraction of GEMM throughput reached.

FLOP convention: ``torch.utils.flop_counter`` counts **2 FLOPs per multiply-add** (convolutions and matmuls
only; elementwise ops, pooling, softmax and resizing count 0). The model's FLOP/s is compared with a square
GEMM of the same dtype on the same device and threads, timed **interleaved with the model in the same run**
(median of each), so a busy or throttled machine lowers both. Inference also reports the ANN head's share of
the time (head run alone on precomputed backbone features) beside its share of the FLOPs.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from annkit.config import RuntimeConfig
from annkit.models import build
from annkit.models.runtime import autocast, prepare


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _seconds(fn: Callable[[], object], device: torch.device) -> float:
    """Wall time of one call, synchronised on CUDA."""
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def _flops(fn: Callable[[], object]) -> int:
    """FLOPs of one call (torch.utils.flop_counter: 2 per multiply-add)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def _peak_memory(device: torch.device) -> tuple[str, float]:
    """(what was measured, MiB): CUDA peak allocated since the last reset, or the process's peak RSS on CPU."""
    if device.type == "cuda":
        return "cuda max_memory_allocated", torch.cuda.max_memory_allocated(device) / 2 ** 20
    return "process peak RSS", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(preset: str, *, height: int, width: int, batch: int, device: str, dtype: str, channels_last: bool,
        compile: bool, fold_bn: bool, mode: str, repeats: int, warmup: int, gemm_size: int) -> dict:
    """Measure one configuration; returns a JSON-able dict (see module docstring for the conventions)."""
    dev = torch.device(device)
    runtime = RuntimeConfig(amp_dtype=None if dtype == "float32" else dtype, channels_last=channels_last,
                            compile=compile, fold_bn=fold_bn)
    model = build(preset, backbone_weights=False).to(dev)
    num_classes = model.config.num_classes
    images = torch.randn(batch, 3, height, width, device=dev)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    training = mode == "train"
    net = prepare(model, runtime, inference=not training)
    if training:
        labels = torch.randint(0, num_classes, (batch, height, width), device=dev)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)

        def step() -> None:
            with autocast(runtime, dev):
                out = net(images)
                loss = F.cross_entropy(out.logits, labels, ignore_index=255)
                if out.aux_logits is not None:
                    loss = loss + 0.4 * F.cross_entropy(out.aux_logits, labels, ignore_index=255)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    else:
        def step() -> None:
            with torch.no_grad(), autocast(runtime, dev):
                net(images)

    gemm_dtype = getattr(torch, dtype)
    a = torch.randn(gemm_size, gemm_size, device=dev, dtype=gemm_dtype)
    b = torch.randn(gemm_size, gemm_size, device=dev, dtype=gemm_dtype)
    gemm_flops = 2 * gemm_size ** 3
    model_flops = _flops(step)

    for _ in range(warmup):
        step()
        _seconds(lambda: a @ b, dev)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    times, gemm_rates = [], []
    for _ in range(repeats):  # interleaved: the model and the GEMM see the same machine state
        times.append(_seconds(step, dev))
        gemm_rates.append(gemm_flops / _seconds(lambda: a @ b, dev))
    memory_kind, memory_mib = _peak_memory(dev)
    seconds, gemm_rate = statistics.median(times), statistics.median(gemm_rates)
    result = dict(
        preset=preset, mode=mode, device=str(dev), dtype=dtype, batch=batch, size=[height, width],
        channels_last=channels_last, compile=compile, fold_bn=fold_bn and not training,
        threads=torch.get_num_threads() if dev.type == "cpu" else None,
        seconds_per_step=seconds, images_per_second=batch / seconds,
        model_gflops=model_flops / 1e9, flop_convention="torch.utils.flop_counter: 2 FLOPs per multiply-add",
        model_tflops_per_second=model_flops / seconds / 1e12,
        gemm_size=gemm_size, gemm_tflops_per_second=gemm_rate / 1e12,
        gemm_fraction=model_flops / seconds / gemm_rate,
        peak_memory_mib=memory_mib, peak_memory_kind=memory_kind, repeats=repeats,
    )
    if not training:
        result.update(_head_share(net, images, runtime, dev, repeats, seconds, model_flops))
    return result


def _head_share(net, images, runtime, dev, repeats, seconds, model_flops) -> dict:
    """The head's share of inference time (head alone on precomputed features) and of the model's FLOPs."""
    model = getattr(net, "_orig_mod", net)  # under torch.compile the head runs eagerly here
    with torch.no_grad(), autocast(runtime, dev):
        features = model.backbone(images)
        head_flops = _flops(lambda: model.head(features))
        model.head(features)
        head_times = [_seconds(lambda: model.head(features), dev) for _ in range(repeats)]
    head_seconds = statistics.median(head_times)
    return dict(head_seconds=head_seconds, head_time_share=head_seconds / seconds,
                head_gflops=head_flops / 1e9, head_flop_share=head_flops / model_flops)


def report(result: dict) -> str:
    """Human-readable lines for one result."""
    lines = [
        f"{result['preset']} {result['mode']} on {result['device']} ({result['dtype']}, batch {result['batch']}, "
        f"{result['size'][0]}x{result['size'][1]}, channels_last={result['channels_last']}, "
        f"compile={result['compile']}, fold_bn={result['fold_bn']}, threads={result['threads']})",
        f"  {result['images_per_second']:.3f} images/s ({result['seconds_per_step'] * 1e3:.1f} ms per step, "
        f"median of {result['repeats']})",
        f"  model {result['model_gflops']:.1f} GFLOP per step ({result['flop_convention']}) -> "
        f"{result['model_tflops_per_second'] * 1e3:.1f} GFLOP/s",
        f"  GEMM {result['gemm_size']}x{result['gemm_size']} same dtype, same run: "
        f"{result['gemm_tflops_per_second'] * 1e3:.1f} GFLOP/s -> model reaches {result['gemm_fraction']:.2f} of it",
        f"  peak memory {result['peak_memory_mib']:.0f} MiB ({result['peak_memory_kind']})",
    ]
    if "head_time_share" in result:
        lines.append(f"  head: {result['head_time_share']:.1%} of the time, {result['head_flop_share']:.1%} of the "
                     f"FLOPs ({result['head_gflops']:.1f} GFLOP, {result['head_seconds'] * 1e3:.1f} ms)")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    """Entry point of ``annkit bench model``."""
    height, width = (int(v) for v in args.size.lower().split("x"))
    if args.threads:
        torch.set_num_threads(args.threads)
    result = run(args.preset, height=height, width=width, batch=args.batch, device=args.device, dtype=args.dtype,
                 channels_last=args.channels_last, compile=args.compile, fold_bn=not args.no_fold_bn,
                 mode=args.mode, repeats=args.repeats, warmup=args.warmup,
                 gemm_size=args.gemm_size or (8192 if args.device.startswith("cuda") else 2048))
    print(report(result))
    if args.json:
        with open(args.json, "w") as file:
            json.dump(result, file, indent=2)
    return 0
