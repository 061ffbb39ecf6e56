"""``annkit bench data``: loading + augmentation throughput of one DataLoader worker.

A worker decodes the JPEG and PNG, validates the mask, then runs the VOC training transforms (random
rescale 0.5–2.0, 512×512 crop, flip, colour jitter, normalisation) on one CPU thread — DataLoader workers
run torch single-threaded. Images/s per worker × workers bounds the images/s a training run can be fed.
Without VOC on disk, 500×500 synthetic JPEGs stand in (VOC images are at most 500×500, mostly 500×375).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from annkit.bench.common import clock
from annkit.data.synthetic import SynthConfig, write_synthetic
from annkit.data.transforms import train_transforms
from annkit.data.voc import SegmentationDataset, segmentation_folder, voc2012


def measure(dataset: SegmentationDataset, transforms, num_images: int, warmup: int = 3) -> dict[str, float]:
    """Time ``dataset.load`` and ``transforms`` over ``num_images`` samples on one thread (each call by
    ``annkit.bench.common.clock``): wall-clock ms per step, images per wall-clock second and per CPU-second (the
    latter is robust to other load on the machine)."""
    cpu = torch.device("cpu")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        loads, augments, loaded = [], [], []
        for step in range(warmup + num_images):
            load = clock(lambda step=step: loaded.append(dataset.load(step % len(dataset))), cpu)
            augment = clock(lambda: transforms(loaded.pop()), cpu)
            if step >= warmup:
                loads.append(load)
                augments.append(augment)
    finally:
        torch.set_num_threads(threads)
    load_s, transform_s = sum(wall for wall, _ in loads), sum(wall for wall, _ in augments)
    cpu_s = sum(cpu_time for _, cpu_time in loads + augments)
    return dict(
        load_ms=1000 * load_s / num_images,
        transform_ms=1000 * transform_s / num_images,
        images_per_s=num_images / (load_s + transform_s),
        images_per_cpu_s=num_images / cpu_s,
    )


def bench(root: str | Path | None = None, crop_size: int = 512, num_images: int = 100) -> str:
    """Measure a worker's throughput on VOC train under ``root`` (or stand-in images) and describe it."""
    transforms = train_transforms(crop_size=crop_size)
    with tempfile.TemporaryDirectory() as scratch:
        if root is not None:
            dataset, source = voc2012(root, "train"), f"VOC 2012 train under {root}"
        else:
            config = SynthConfig(
                size=500,
                num_train=min(num_images, 50),
                num_val=1,
                cue_size=64,
                cue_distance=128,
                object_min=40,
                object_max=160,
            )
            dataset = segmentation_folder(write_synthetic(scratch, config), "train")
            source = f"{len(dataset)} synthetic 500×500 JPEGs (no VOC given; pass --root to use VOC)"
        result = measure(dataset, transforms, num_images)
    return (
        f"{source}; crop {crop_size}×{crop_size}, 1 thread, {num_images} images\n"
        f"  decode + check {result['load_ms']:.1f} ms, augment {result['transform_ms']:.1f} ms per image\n"
        f"  {result['images_per_s']:.1f} images/s per worker (wall clock; "
        f"{result['images_per_cpu_s']:.1f} per CPU-second, what an otherwise idle core gives)"
    )


def main(args: argparse.Namespace) -> int:
    """Entry point of ``annkit bench data``."""
    print(bench(args.root, args.crop, args.images))
    return 0
