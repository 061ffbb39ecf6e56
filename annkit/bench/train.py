"""``annkit bench train``: training throughput of a preset, images/s of the whole training step on random data.

The step is the trainer's own (``annkit.engine.step.TrainStep``): forward in training mode (main + auxiliary
logits) → OHEM/CE loss → backward → optimiser step, at the preset's crop size and per-process batch, with autocast
on CUDA as training would use it. Data loading is left out (``annkit bench data`` measures it). Warm-up steps
first; each step is timed on its own (``annkit.bench.common.clock``) and the median is reported.
"""

from __future__ import annotations

import argparse
import json
import statistics

import torch

from annkit import models
from annkit.bench.common import clock
from annkit.config import ModelConfig, TrainConfig, parse_overrides
from annkit.engine.distributed import resolve_device
from annkit.engine.step import TrainStep, amp_dtype
from annkit.presets import resolve


def measure(
    model_config: ModelConfig, config: TrainConfig, steps: int = 5, device: str = "cpu", warmup: int = 2
) -> dict:
    """``{"preset", "device", "batch", "size", "threads", "amp", "step_s", "images_per_s"}`` for ``steps`` timed
    steps (median step time)."""
    device = torch.device(device)
    model = models.build(model_config, backbone_weights=False).to(device).train()
    step = TrainStep.of(model, config, amp_dtype(config, model_config, device))
    height, width = config.crop_size or (512, 512)
    generator = torch.Generator().manual_seed(config.seed)
    images = torch.randn(config.batch_size, 3, height, width, generator=generator).to(device)  # (B, 3, H, W)
    target = torch.randint(0, model_config.num_classes, (config.batch_size, height, width), generator=generator)
    target = target.to(device)  # (B, H, W) class ids
    for _ in range(warmup):
        step(images, target)
    step_s = statistics.median(clock(lambda: step(images, target), device)[0] for _ in range(steps))
    return {
        "preset": model_config.name,
        "device": str(device),
        "batch": config.batch_size,
        "size": [height, width],
        "threads": torch.get_num_threads(),
        "amp": str(step.dtype) if step.dtype else None,
        "step_s": round(step_s, 4),
        "images_per_s": round(config.batch_size / step_s, 2),
    }


def main(args: argparse.Namespace) -> int:
    """Entry point of ``annkit bench train``: print the measurement as JSON."""
    model_config, config = resolve(args.preset, parse_overrides(args.overrides))
    print(json.dumps(measure(model_config, config, args.steps, str(resolve_device(args.device))), indent=2))
    return 0
