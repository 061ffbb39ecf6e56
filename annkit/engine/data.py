"""Training and validation data for the engine: data sets by name and the seeded, infinite training stream.

The engine counts iterations, not epochs. Position p of the training stream (p = iteration · batch + j) is
sample ``permutation_e[p mod n]`` of epoch e = p // n (a fresh permutation per epoch, seeded by (seed, e)),
augmented with the torch RNG seeded by (seed, p). The stream is therefore a pure function of (seed, p):
resuming at iteration k reproduces exactly the batches an uninterrupted run would have seen, whatever the
number of loader workers, and ``torchrun`` processes split each global batch between them (rank r takes
positions r, r + W, …), so W processes see the same global batch as one.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from annkit.config import ConfigError, ModelConfig, TrainConfig
from annkit.data import (
    DATASETS,
    eval_transforms,
    load_dataset,
    segmentation_folder,
    train_transforms,
    voc2012,
)


def build_dataset(config: TrainConfig, split: str, train: bool, model: ModelConfig):
    """The configured data set's ``split`` with training augmentation (``train``) or the evaluation transform,
    images prepared as ``model``'s input contract says (mean, std, channel order)."""
    mean, std, order = model.mean, model.std, model.channel_order
    if train:
        crop = tuple(config.crop_size) if config.crop_size is not None else None
        scale = tuple(config.scale_range) if config.scale_range is not None else None
        transforms = train_transforms(
            crop,
            scale,
            tuple(config.scale),
            flip=config.flip,
            photometric=config.photometric,
            mean=mean,
            std=std,
            cat_max_ratio=config.cat_max_ratio,
            channel_order=order,
        )
    else:
        transforms = eval_transforms(mean, std, order)
    root = Path(config.data_root)
    if config.dataset in ("voc12aug", "voc"):
        return voc2012(root, split, transforms)
    if config.dataset == "synthetic":
        folder = root / "synthetic"
        return segmentation_folder(folder, split, transforms, hint=f"annkit data synth --root {folder}")
    if config.dataset == "folder":
        return segmentation_folder(root, split, transforms)
    if config.dataset in DATASETS:
        return load_dataset(config.dataset, root, split, transforms)
    raise ConfigError(f"train.dataset {config.dataset!r} has no loader")


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn``: seed ``random`` and NumPy from this worker's torch seed (the loader's seeded base +
    ``worker_id``), so a data set drawing on those libraries differs between workers yet repeats from run to run."""
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


class TrainStream(Dataset):
    """Item p = sample ``permutation_e[p mod n]`` (e = p // n), augmented under torch seed (seed, p)."""

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset, self.seed = dataset, seed
        self._epoch, self._permutation = -1, None

    def __len__(self) -> int:
        return len(self.dataset)

    def index_at(self, position: int) -> int:
        """Data set index at stream position ``position``."""
        epoch, offset = divmod(position, len(self.dataset))
        if epoch != self._epoch:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._epoch, self._permutation = epoch, torch.randperm(len(self.dataset), generator=generator)
        return int(self._permutation[offset])

    def __getitem__(self, position: int) -> dict:
        with torch.random.fork_rng(devices=[]):  # the augmentation draws from its own seed only
            torch.manual_seed(self.seed * 1_000_003 + position + 7919)
            return self.dataset[self.index_at(position)]


class StreamBatches(Sampler):
    """Batches of stream positions from iteration ``start`` on, forever; this rank's share of each global batch."""

    def __init__(self, batch_size: int, start: int = 0, rank: int = 0, world_size: int = 1) -> None:
        if batch_size % world_size:
            raise ConfigError(f"train.batch_size {batch_size} must be divisible by the {world_size} processes")
        self.batch_size, self.start, self.rank, self.world_size = batch_size, start, rank, world_size

    def __iter__(self) -> Iterator[list[int]]:
        iteration = self.start
        while True:
            first = iteration * self.batch_size
            yield list(range(first + self.rank, first + self.batch_size, self.world_size))
            iteration += 1


def stream_loader(dataset: Dataset, config: TrainConfig, start: int, rank: int = 0, world_size: int = 1) -> DataLoader:
    """An endless DataLoader over ``TrainStream(dataset)`` starting at iteration ``start``.

    Its own generator keeps DataLoader start-up from drawing on the global torch RNG (which dropout uses and
    checkpoints restore).
    """
    stream = TrainStream(dataset, config.seed)
    if len(dataset) < config.batch_size // world_size:
        raise ConfigError(f"the training set has {len(dataset)} images, fewer than one batch per process")
    return DataLoader(
        stream,
        batch_sampler=StreamBatches(config.batch_size, start, rank, world_size),
        num_workers=config.num_workers,
        worker_init_fn=seed_worker,
        generator=torch.Generator().manual_seed(config.seed),
        pin_memory=torch.cuda.is_available(),
        persistent_workers=False,
    )
