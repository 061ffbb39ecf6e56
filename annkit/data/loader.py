"""DataLoader helpers: reproducible shuffling and augmentation with worker processes, one or many GPUs.

Reproducibility: the loader's ``generator`` is seeded, so the shuffle order and each worker's torch seed
(``base_seed + worker_id``) are fixed; ``seed_worker`` derives the seeds of ``random`` and NumPy from it,
so augmentations that use those libraries differ between workers yet repeat from run to run.
Distributed (``torchrun``, DDP): a ``DistributedSampler`` gives each rank its own shard; call
``set_epoch(loader, epoch)`` at the start of every epoch so the shuffle changes between epochs.
"""

from __future__ import annotations

import random

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn``: seed ``random`` and NumPy from this worker's torch seed (distinct per worker)."""
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def make_loader(
    dataset: Dataset,
    batch_size: int,
    train: bool,
    num_workers: int = 2,
    seed: int = 0,
    distributed: bool | None = None,
    device: str | torch.device | None = None,
) -> DataLoader:
    """A DataLoader for segmentation samples (dicts of image, mask, name).

    ``train``: shuffle and drop the last incomplete batch; else keep order and every sample.
    ``distributed``: shard with a ``DistributedSampler`` (default: when ``torch.distributed`` is initialised).
    Workers are persistent (no re-spawn each epoch) and seeded by ``seed_worker``; memory is pinned when
    batches go to a CUDA device (``device``, default: CUDA if available).
    """
    if distributed is None:
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    device = (
        torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    )
    generator = torch.Generator().manual_seed(seed)
    sampler = DistributedSampler(dataset, shuffle=train, seed=seed, drop_last=train) if distributed else None
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=train if sampler is None else None,
        sampler=sampler,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
        pin_memory=device.type == "cuda",
        drop_last=train,
        worker_init_fn=seed_worker,
        generator=generator,
    )


def set_epoch(loader: DataLoader, epoch: int) -> None:
    """Tell a distributed sampler which epoch starts, so each epoch has its own shuffle (no-op otherwise)."""
    if isinstance(loader.sampler, DistributedSampler):
        loader.sampler.set_epoch(epoch)
