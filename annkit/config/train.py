"""The train schema: a preset's ``train`` section, the paper's optimisation recipe and the engine's bookkeeping.

The recipe (Zhu et al. 2019, Sec. 4.1; official code MendelXu/ANN): SGD with momentum 0.9 and weight decay,
"poly" learning rate lr·(1 − it/max_it)^0.9, auxiliary FCN loss on stage 4 with weight 0.4, OHEM cross-entropy
(pixels whose true-class probability is below 0.7, at least ``min_kept`` of them) on the main output.

    train:
      dataset: voc12aug            # voc12aug | voc | synthetic | folder (a VOC-layout folder at data_root) |
                                   # cityscapes | ade20k | pascal_context_59 | pascal_context
      crop_size: [512, 512]
      batch_size: 16               # global batch: divided over the torchrun processes
      iterations: 40000
      optimizer: {name: sgd, lr: 0.01, momentum: 0.9, weight_decay: 0.0005}
      schedule: {name: poly, power: 0.9, min_lr: 0.0}
      loss: {name: ohem, threshold: 0.7, min_kept: 100000, ignore_index: 255}
      aux_weight: 0.4

Every key and value is checked as it loads (``annkit.config.values``): a misspelt key is an error that names the
closest valid keys; a value must have its setting's declared type (``1e-3``, a string in YAML 1.1, is read as the
number it means) and lie in its range (each dataclass's ``__post_init__``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from annkit.config.values import check as _check
from annkit.config.values import parse, plain
from annkit.errors import ConfigError
from annkit.protocols import EvalProtocol

DATASETS = ("voc12aug", "voc", "synthetic", "folder", "cityscapes", "ade20k", "pascal_context_59", "pascal_context")
LOSSES = ("ohem", "cross_entropy")
OPTIMIZERS = ("sgd", "adamw")
EVAL_MODES = ("whole", "slide")


@dataclass
class OptimizerConfig:
    """``sgd`` with momentum (the paper's optimiser) or ``adamw`` (β = (momentum, 0.999); for short from-scratch
    CPU runs such as the quickstart, not the paper's recipe); ``lr`` is the base rate of the poly schedule."""

    name: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0005

    def __post_init__(self) -> None:
        _check(
            "train.optimizer",
            [
                (self.name in OPTIMIZERS, "name", f"one of {OPTIMIZERS}", self.name),
                (self.lr > 0, "lr", "a positive number", self.lr),
                (0 <= self.momentum < 1, "momentum", "in [0, 1)", self.momentum),
                (self.weight_decay >= 0, "weight_decay", "a number ≥ 0", self.weight_decay),
            ],
        )


@dataclass
class ScheduleConfig:
    """Poly learning rate: lr(it) = (lr − min_lr)·(1 − it/iterations)^power + min_lr."""

    name: str = "poly"
    power: float = 0.9
    min_lr: float = 0.0

    def __post_init__(self) -> None:
        _check(
            "train.schedule",
            [
                (self.name == "poly", "name", "'poly'", self.name),
                (self.power > 0, "power", "a positive number", self.power),
                (self.min_lr >= 0, "min_lr", "a number ≥ 0", self.min_lr),
            ],
        )


@dataclass
class LossConfig:
    """``ohem``: online hard example mining cross-entropy (official ANN); ``cross_entropy``: plain (mmseg)."""

    name: str = "ohem"
    threshold: float = 0.7
    min_kept: int = 100000
    ignore_index: int = 255

    def __post_init__(self) -> None:
        _check(
            "train.loss",
            [
                (self.name in LOSSES, "name", f"one of {LOSSES}", self.name),
                (0 < self.threshold <= 1, "threshold", "a probability in (0, 1]", self.threshold),
                (self.min_kept >= 0, "min_kept", "an integer ≥ 0", self.min_kept),
                (0 <= self.ignore_index <= 255, "ignore_index", "a label value in 0..255", self.ignore_index),
            ],
        )


@dataclass
class EvalConfig:
    """Inference for evaluation: optional test-time resize (keep-ratio bound, as mmseg's ``Resize``) and padding,
    whole image or sliding ``crop`` windows every ``stride`` px; scales and flip; logits resized back to the
    original size with ``align_corners`` (None: the model's). ``annkit.protocols.EvalProtocol`` fills these for a
    published checkpoint (``from_protocol``)."""

    mode: str = "whole"
    crop: tuple[int, int] = (512, 512)
    stride: tuple[int, int] = (341, 341)
    scales: tuple[float, ...] = (1.0,)
    flip: bool = False
    max_images: int | None = None  # evaluate on the first N images only (quick runs)
    resize: tuple[int, int] | None = None  # keep-ratio bound (a, b): long edge ≤ max, short edge ≤ min
    keep_ratio: bool = True
    pad: tuple[int, int] | None = None  # pad (H, W) at the bottom/right before inference
    align_corners: bool | None = None

    @classmethod
    def from_protocol(cls, protocol: EvalProtocol, max_images: int | None = None) -> EvalConfig:
        """The inference settings of an ``EvalProtocol`` (its dataset and split are the caller's business)."""
        names = {f.name for f in dataclasses.fields(cls)} - {"max_images"}
        values = {name: getattr(protocol, name) for name in names}
        values["crop"] = values["crop"] or cls.crop
        values["stride"] = values["stride"] or cls.stride
        return cls(**values, max_images=max_images)

    def __post_init__(self) -> None:
        _check(
            "eval",
            [
                (self.mode in EVAL_MODES, "mode", f"one of {EVAL_MODES}", self.mode),
                (len(self.crop) == 2 and min(self.crop) >= 1, "crop", "two positive integers (H, W)", self.crop),
                (
                    len(self.stride) == 2 and min(self.stride) >= 1,
                    "stride",
                    "two positive integers (H, W)",
                    self.stride,
                ),
                (len(self.scales) >= 1 and min(self.scales) > 0, "scales", "positive numbers", self.scales),
                (isinstance(self.flip, bool), "flip", "true or false", self.flip),
                (
                    self.max_images is None or self.max_images >= 1,
                    "max_images",
                    "a positive integer or null",
                    self.max_images,
                ),
            ],
        )


@dataclass
class TrainConfig:
    """Everything the training loop needs besides the model (see the module docstring for the YAML layout)."""

    dataset: str = "voc12aug"
    data_root: str = "data"
    train_split: str = "trainaug"
    val_split: str = "val"
    crop_size: tuple[int, int] | None = (512, 512)
    scale_range: tuple[float, float] | None = (0.5, 2.0)
    scale: tuple[int, int] = (2048, 512)  # keep-ratio bound the random rescale multiplies (mmseg's RandomResize)
    cat_max_ratio: float = 0.75  # crops redrawn while one class covers this share (mmseg's RandomCrop)
    flip: bool = True
    photometric: bool = True
    batch_size: int = 16
    iterations: int = 40000
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    aux_weight: float = 0.4
    grad_clip: float | None = None  # max global gradient norm; None = off
    amp: bool = True  # mixed precision on CUDA (model.runtime.amp_dtype, default float16); ignored on CPU
    sync_bn: bool = False  # SyncBatchNorm across torchrun processes
    norm_eval: bool = False  # keep BatchNorm in eval mode (frozen running statistics), as mmseg's norm_eval
    seed: int = 0
    num_workers: int = 2
    eval_every: int = 1000
    checkpoint_every: int = 1000
    log_every: int = 10
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        crop, scale = self.crop_size, self.scale_range
        _check(
            "train",
            [
                (self.dataset in DATASETS, "dataset", f"one of {DATASETS}", self.dataset),
                (
                    crop is None or (len(crop) == 2 and min(crop) >= 1),
                    "crop_size",
                    "two positive integers (H, W) or null",
                    crop,
                ),
                (
                    scale is None or (len(scale) == 2 and 0 < scale[0] <= scale[1]),
                    "scale_range",
                    "two numbers 0 < low ≤ high, or null",
                    scale,
                ),
                (isinstance(self.flip, bool), "flip", "true or false", self.flip),
                (isinstance(self.photometric, bool), "photometric", "true or false", self.photometric),
                (self.iterations >= 1, "iterations", "a positive integer", self.iterations),
                (self.batch_size >= 1, "batch_size", "a positive integer", self.batch_size),
                (self.aux_weight >= 0, "aux_weight", "a number ≥ 0", self.aux_weight),
                (
                    self.grad_clip is None or self.grad_clip > 0,
                    "grad_clip",
                    "a positive maximum gradient norm, or null for no clipping",
                    self.grad_clip,
                ),
                (self.seed >= 0, "seed", "an integer ≥ 0", self.seed),
                (self.num_workers >= 0, "num_workers", "an integer ≥ 0", self.num_workers),
                (self.eval_every >= 1, "eval_every", "a positive integer", self.eval_every),
                (self.checkpoint_every >= 1, "checkpoint_every", "a positive integer", self.checkpoint_every),
                (self.log_every >= 1, "log_every", "a positive integer", self.log_every),
            ],
        )
        if self.optimizer.lr <= self.schedule.min_lr:
            raise ConfigError(
                f"train.schedule.min_lr ({self.schedule.min_lr}) must be below train.optimizer.lr ({self.optimizer.lr})"
            )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Parse a preset's ``train`` section; unknown keys raise a ConfigError naming the closest valid ones."""
        return parse(cls, data, "train")

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML-able values (inverse of ``from_dict``)."""
        return plain(self)
