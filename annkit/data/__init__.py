"""Data for annkit: Pascal VOC 2012 (+SBD trainaug), Cityscapes, ADE20K, PASCAL Context, the synthetic long-range
set, joint transforms (mmseg's geometric rules), downloads, dataset checks, the class-colour overlay.

A sample is ``dict(image=tv_tensors.Image (3, H, W), mask=tv_tensors.Mask (H, W), name=str)``; masks hold
class ids with 255 = ignore. Both VOC and the synthetic set use the VOC folder layout, so the same loader,
evaluator and visualisers serve both. Of annkit this package imports only ``annkit.errors`` and ``annkit.config``
(the ImageNet mean and std, one definition).
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
from annkit.data.palette import IGNORE_INDEX, VOC_CLASSES, colorize, load_mask, overlay, save_mask, voc_palette
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
    "IGNORE_INDEX",
    "VOC_CLASSES",
    "colorize",
    "overlay",
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
