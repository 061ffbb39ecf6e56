"""``annkit bench onnx``: onnxruntime vs PyTorch eager — same model, same inputs, CPU, fp32, interleaved.

Per preset the model (``randomize_weights``, seeded) is exported with dynamic height and width (``annkit.export``), then
three engines run the same image call by call, in rotating order, ``repeats`` rounds:

- ``eager``: the Segmentor as built, in eval mode (BatchNorm separate), ``torch.no_grad``;
- ``eager+fold``: annkit's inference preparation (``models.prepare``: BN folded into the convs);
- ``onnxruntime``: CPU execution provider, all graph optimisations (it folds BN and fuses conv + ReLU), the same
  thread count, no spin-waiting (so a waiting pool does not steal the next engine's cores).

Ratios are per round (eager time ÷ onnxruntime time in the same round), then the median — neighbours' load on a
shared machine hits both sides of each ratio. Wall and process CPU time are both reported (``bench.common.clock``).
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import tempfile
from pathlib import Path

import numpy as np
import torch

from annkit.bench.common import clock, environment
from annkit.config import RuntimeConfig
from annkit.export import to_onnx
from annkit.export.check import INPUT_NAME, randomize_weights, session
from annkit.models import build, prepare

ENGINES = ("eager", "eager+fold", "onnxruntime")


def run(
    preset: str, *, size: tuple[int, int], repeats: int, warmup: int, seed: int = 0, threads: int | None = None
) -> dict:
    """Time the three engines on one preset at input ``size`` (H, W); returns a JSON-able dict (conventions in the
    module docstring)."""
    height, width = size
    cpu = torch.device("cpu")
    model = randomize_weights(build(preset, backbone_weights=False), seed).eval()
    folded = prepare(copy.deepcopy(model), RuntimeConfig(fold_bn=True))
    images = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(seed))
    with tempfile.TemporaryDirectory() as tmp:
        runner = session(to_onnx(model, Path(tmp) / "model.onnx", size=(height, width), dynamic=True), threads)
    feed = {INPUT_NAME: images.numpy()}

    def eager(net: torch.nn.Module):
        def call() -> np.ndarray:
            with torch.no_grad():
                return net(net.normalize(images)).numpy()

        return call

    calls = {"eager": eager(model), "eager+fold": eager(folded), "onnxruntime": lambda: runner.run(None, feed)[0]}
    outputs = {name: call() for name, call in calls.items()}  # also the first warm-up
    for _ in range(warmup - 1):
        for call in calls.values():
            call()
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in ENGINES}
    for r in range(repeats):  # rotating order: no engine always runs right after another
        for name in ENGINES[r % 3 :] + ENGINES[: r % 3]:
            times[name].append(clock(calls[name], cpu))

    def ratio(name: str, i: int) -> float:  # median over rounds of (name's time) / (onnxruntime's time)
        return statistics.median(a[i] / b[i] for a, b in zip(times[name], times["onnxruntime"]))

    reference = outputs["eager"]
    return dict(
        preset=preset,
        size=[height, width],
        repeats=repeats,
        environment=environment(cpu, torch.float32),
        onnxruntime_threads=threads or torch.get_num_threads(),
        milliseconds={name: statistics.median(t[0] for t in times[name]) * 1e3 for name in ENGINES},
        cpu_milliseconds={name: statistics.median(t[1] for t in times[name]) * 1e3 for name in ENGINES},
        speedup_wall={name: ratio(name, 0) for name in ENGINES[:2]},
        speedup_cpu_time={name: ratio(name, 1) for name in ENGINES[:2]},
        max_abs_diff={name: float(np.abs(outputs[name] - reference).max()) for name in ENGINES[1:]},
    )


def report(result: dict) -> str:
    """Human-readable lines for one preset."""
    env, ms, cpu_ms = result["environment"], result["milliseconds"], result["cpu_milliseconds"]
    lines = [
        f"{result['preset']} {result['size'][0]}x{result['size'][1]}, batch 1, fp32, CPU, "
        f"{env['threads']} torch threads / {result['onnxruntime_threads']} onnxruntime threads, "
        f"median of {result['repeats']} interleaved rounds"
    ]
    for name in ENGINES:
        extra = "" if name == "eager" else f"  max |diff| vs eager {result['max_abs_diff'][name]:.1e}"
        lines.append(f"  {name:<12} {ms[name]:9.1f} ms wall  {cpu_ms[name]:9.1f} ms CPU{extra}")
    for name in ENGINES[:2]:
        lines.append(
            f"  onnxruntime faster than {name}: {result['speedup_wall'][name]:.2f}x wall, "
            f"{result['speedup_cpu_time'][name]:.2f}x CPU time (median of per-round ratios)"
        )
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    """Entry point of ``annkit bench onnx``."""
    results = []
    for preset in args.presets:
        results.append(
            run(
                preset,
                size=args.size,  # (H, W), parsed by annkit.cli
                repeats=args.repeats,
                warmup=args.warmup,
                seed=args.seed,
                threads=args.threads,
            )
        )
        print(report(results[-1]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0
