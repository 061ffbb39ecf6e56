"""Training throughput of a preset: images/s of the whole training step on random data.

One step = forward in training mode (main + auxiliary logits) → OHEM/CE loss → backward → SGD step, at the
preset's crop size and per-process batch, with autocast on CUDA as training would use it. Data loading is left
out (``annkit data bench`` measures it). Warm-up steps first; the median step time is reported.
"""

from __future__ import annotations

import statistics
import time

import torch

from annkit import models
from annkit.config import ModelConfig, TrainConfig
from annkit.engine.loss import SegmentationLoss
from annkit.engine.schedule import build_optimizer


def measure(
    model_config: ModelConfig, config: TrainConfig, steps: int = 5, device: str = "cpu", warmup: int = 2
) -> dict:
    """``{"preset", "device", "batch", "size", "threads", "step_s", "images_per_s"}`` for ``steps`` timed steps."""
    device = torch.device(device)
    model = models.build(model_config, backbone_weights=False).to(device).train()
    optimizer = build_optimizer(model, config)
    criterion = SegmentationLoss(config.loss, config.aux_weight)
    height, width = config.crop_size or (512, 512)
    generator = torch.Generator().manual_seed(config.seed)
    images = torch.randn(config.batch_size, 3, height, width, generator=generator).to(device)
    target = torch.randint(0, model_config.num_classes, (config.batch_size, height, width), generator=generator).to(
        device
    )
    dtype = (
        getattr(torch, model_config.runtime.amp_dtype or "float16") if device.type == "cuda" and config.amp else None
    )
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    times = []
    for step in range(warmup + steps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            output = model(images)
        loss, _ = criterion(output.logits, output.aux_logits, target)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if step >= warmup:
            times.append(time.perf_counter() - start)
    step_s = statistics.median(times)
    return {
        "preset": model_config.name,
        "device": str(device),
        "batch": config.batch_size,
        "size": [height, width],
        "threads": torch.get_num_threads(),
        "amp": str(dtype) if dtype else None,
        "step_s": round(step_s, 4),
        "images_per_s": round(config.batch_size / step_s, 2),
    }
