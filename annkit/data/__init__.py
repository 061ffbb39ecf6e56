"""Data for annkit: Pascal VOC 2012 (+SBD trainaug), Cityscapes, ADE20K, PASCAL Context, the synthetic long-range
set, joint transforms (mmseg's geometric rules), downloads, dataset checks and DataLoader helpers.

A sample is ``dict(image=tv_tensors.Image (3, H, W), mask=tv_tensors.Mask (H, W), name=str)``; masks hold
class ids with 255 = ignore. Both VOC and the synthetic set use the VOC folder layout, so the same loader,
evaluator and visualisers serve both. This package imports nothing else of annkit but ``annkit.errors`` and ``annkit.atomic``.
"""

from annkit.data.ceilings import global_ceiling, local_ceiling
from annkit.data.datasets import DATASETS, dataset_root, load_dataset
from annkit.data.errors import (
    CorruptFileError,
    DatasetNotFoundError,
    DownloadError,
    EmptySplitError,
    MaskValueError,
    SizeMismatchError,
    UnpairedFileError,
)
from annkit.data.geometric import CatMaxRatioCrop, KeepRatioResize, PadTo, RandomKeepRatioResize, rescale_size
from annkit.data.image_io import read_image
from annkit.data.loader import make_loader, seed_worker, set_epoch
from annkit.data.palette import IGNORE_INDEX, VOC_CLASSES, colorize, load_mask, save_mask, voc_palette
from annkit.data.synthetic import SIDES, SMALL, SynthConfig, ensure_synthetic, write_synthetic
from annkit.data.transforms import IMAGENET_MEAN, IMAGENET_STD, denormalize, eval_transforms, train_transforms
from annkit.data.voc import SegmentationDataset, segmentation_folder, voc2012

__all__ = [
    "DATASETS",
    "dataset_root",
    "load_dataset",
    "CatMaxRatioCrop",
    "KeepRatioResize",
    "PadTo",
    "RandomKeepRatioResize",
    "rescale_size",
    "CorruptFileError",
    "DatasetNotFoundError",
    "DownloadError",
    "EmptySplitError",
    "MaskValueError",
    "SIDES",
    "SMALL",
    "SizeMismatchError",
    "UnpairedFileError",
    "make_loader",
    "seed_worker",
    "set_epoch",
    "IGNORE_INDEX",
    "VOC_CLASSES",
    "colorize",
    "read_image",
    "load_mask",
    "save_mask",
    "voc_palette",
    "SynthConfig",
    "ensure_synthetic",
    "global_ceiling",
    "local_ceiling",
    "write_synthetic",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "denormalize",
    "eval_transforms",
    "train_transforms",
    "SegmentationDataset",
    "segmentation_folder",
    "voc2012",
]
