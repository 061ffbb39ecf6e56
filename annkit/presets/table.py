"""The presets: every recipe annkit ships, in one table.

A preset is a function registered under its name (timm's registration style) that returns the two sections of a
run, ``{"model": ..., "train": ...}`` (the schemas: ``annkit.config``). Presets of one family are built by one
function whose arguments are their differences, stated once: ``voc_ann_r50`` and ``voc_ann_r101`` are
``_paper(depth=50)`` and ``_paper(depth=101)``. Class names and colours come from the data sets' own tables
(``annkit.data``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from annkit.config import IMAGENET_MEAN, IMAGENET_STD
from annkit.data.ade20k import ADE20K_CLASSES, ADE20K_PALETTE
from annkit.data.cityscapes import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE
from annkit.data.palette import VOC_CLASSES, voc_palette

PRESETS: dict[str, Callable[[], dict[str, Any]]] = {}


def register(preset: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """Add ``preset`` to ``PRESETS`` under its function name."""
    PRESETS[preset.__name__] = preset
    return preset


def _labels(dataset: str) -> dict[str, Any]:
    """The class names and RGB colours of ``dataset`` (voc12aug, cityscapes, ade20k) as a model section's keys."""
    classes, palette = {
        "voc12aug": (VOC_CLASSES, voc_palette(len(VOC_CLASSES)).tolist()),
        "cityscapes": (CITYSCAPES_CLASSES, CITYSCAPES_PALETTE),
        "ade20k": (ADE20K_CLASSES, ADE20K_PALETTE),
    }[dataset]
    return {"num_classes": len(classes), "classes": list(classes), "palette": [list(c) for c in palette]}


_IMAGENET = {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}
_IN1K = "IMAGENET1K_V1"  # torchvision's ImageNet weights
_FP32 = {"amp_dtype": None, "channels_last": False, "compile": False, "fold_bn": True}
_ANN = {"name": "ann", "channels": 512, "key_channels": 256, "value_channels": 256, "pool_sizes": [1, 3, 6, 8]}
#: the FCN auxiliary head on stage 4 (its loss weight: ``train.aux_weight``)
_AUX = {"name": "fcn", "num_convs": 1, "concat_input": False, "in_index": -2}
_SGD = {"name": "sgd", "lr": 0.01, "momentum": 0.9}
_CROSS_ENTROPY = {"name": "cross_entropy", "ignore_index": 255}
_OHEM = {"name": "ohem", "threshold": 0.7, "min_kept": 100000, "ignore_index": 255}
#: Cityscapes in VOC layout (JPEGImages/, SegmentationClass/ with train ids, ImageSets/Segmentation/{train,val}.txt)
_CITYSCAPES_FOLDER = {"dataset": "folder", "data_root": "data/cityscapes", "train_split": "train", "val_split": "val"}


def _paper(depth: int) -> dict[str, Any]:
    """The paper's recipe (Zhu et al. 2019; official code MendelXu/ANN) on PASCAL VOC 2012 + SBD, ResNet-``depth``.

    Official head: Dropout2d(0.05) inside AFNB and APNB, query/key convs with bias, zero-initialised out convs;
    auxiliary head 3×3 1024→512 on stage 4 (weight 0.4); OHEM cross-entropy on the main output; align_corners=True.
    Differences, stated: torchvision's ImageNet ResNet (7×7 stem) instead of the official "deep base" stem, and RGB
    ImageNet normalisation; the official schedule is for Cityscapes (crop 769, batch 8, 60k) — VOC uses 512 crops.
    """
    model = {
        "name": f"voc_ann_r{depth}",
        "backbone": {"name": "resnet", "depth": depth, "output_stride": 8, "stem": "torchvision", "weights": _IN1K},
        "head": {**_ANN, "block_dropout": 0.05, "dropout": 0.0, "key_bias": True},
        "aux_head": {**_AUX, "channels": 512, "dropout": 0.05},
        "align_corners": True,
        **_IMAGENET,
        **_labels("voc12aug"),
        "runtime": {**_FP32, "amp_dtype": "bfloat16", "channels_last": True},
    }
    train = {
        "dataset": "voc12aug",
        "crop_size": [512, 512],
        "scale_range": [0.5, 2.0],
        "batch_size": 16,
        "iterations": 40000,
        "optimizer": {**_SGD, "weight_decay": 0.0005},
        "schedule": {"name": "poly", "power": 0.9},
        "loss": _OHEM,
        "aux_weight": 0.4,
    }
    return {"model": model, "train": train}


def _mmseg(depth: int, dataset: str) -> dict[str, Any]:
    """mmsegmentation's ANN R-``depth``-D8 for ``dataset`` (``configs/ann/ann_r{depth}-d8_*_{dataset}.py``): its
    checkpoints load into this model.

    ResNetV1c backbone (deep stem 32-32-64, dilations 1,1,2,4, contract_dilation); ANNHead with no dropout inside
    the blocks, Dropout2d(0.1) after AFNB and before the classifier, bias-free query/key convs; FCN aux head on
    stage 4 (1024→256, loss weight 0.4). Input: RGB, mean/std of ImageNet (mmseg's 0–255 values divided by 255).
    Schedule: mmsegmentation's (SGD, poly to 1e-4, plain cross-entropy; keep-ratio random rescale of ``scale`` ×
    U(0.5, 2.0), crops with cat_max_ratio 0.75).
    """
    model = {
        "name": f"mmseg_ann_r{depth}_d8_{dataset}",
        "backbone": {"name": "resnet", "depth": depth, "output_stride": 8, "stem": "deep", "weights": None},
        "head": {**_ANN, "block_dropout": 0.0, "dropout": 0.1, "key_bias": False},
        "aux_head": {**_AUX, "channels": 256, "dropout": 0.1},
        "align_corners": False,
        **_IMAGENET,
        **_labels(dataset),
        "runtime": _FP32,
    }
    data = {
        "voc12aug": {"crop_size": [512, 512], "batch_size": 16, "iterations": 20000},
        "cityscapes": {"scale": [2048, 1024], "crop_size": [512, 1024], "batch_size": 8, "iterations": 40000},
        "ade20k": {"scale": [2048, 512], "crop_size": [512, 512], "batch_size": 16, "iterations": 80000},
    }[dataset]
    splits = {} if dataset == "voc12aug" else {"train_split": "train", "val_split": "val"}
    train = {
        "dataset": dataset,
        **splits,
        **data,
        "optimizer": {**_SGD, "weight_decay": 0.0005},
        "schedule": {"name": "poly", "power": 0.9, "min_lr": 0.0001},
        "loss": _CROSS_ENTROPY,
        "aux_weight": 0.4,
    }
    return {"model": model, "train": train}


def _paddleseg(depth: int, dataset: str) -> dict[str, Any]:
    """PaddleSeg's ANN ResNet``depth``_vd for ``dataset`` (``configs/ann/ann_resnet{depth}_os8_*.yml``): its
    ``model.pdparams`` loads into this model (``annkit convert paddleseg`` / ``from_pretrained``).

    ResNet-vd backbone: deep stem 32-32-64, average-pool shortcut on strided blocks, un-contracted dilation at
    output stride 8 (stage 4 all 2, stage 5 all 4). ANNHead with element-wise dropout 0.05 after each block's fusion
    and none before the classifier; out convs not zero-initialised. PaddleSeg's conv biases before BN (query/key,
    bottleneck, fusions, aux conv) are folded into the BN running means on conversion (exact: BN subtracts the
    mean), hence key_bias: false. Aux head on stage 4 (1024→512, loss weight 0.4). Input: RGB in [0, 1],
    mean = std = 0.5. PaddleSeg's batch_size is per card: multiply by the cards you train on; its crop [1024, 512]
    is (width, height).
    """
    backbone = {"name": "resnet", "depth": depth, "output_stride": 8, "stem": "deep", "weights": None}
    model = {
        "name": f"paddleseg_ann_r{depth}_vd_{dataset}",
        "num_classes": {"voc12aug": 21, "cityscapes": 19}[dataset],
        "backbone": {**backbone, "avg_down": True, "contract_dilation": False},
        "head": {
            **_ANN,
            **{"block_dropout": 0.05, "dropout": 0.0, "dropout_kind": "element"},
            **{"key_bias": False, "zero_init_out": False},
        },
        "aux_head": {**_AUX, "channels": 512, "dropout": 0.05, "dropout_kind": "element"},
        "align_corners": False,
        "mean": [0.5, 0.5, 0.5],
        "std": [0.5, 0.5, 0.5],
        "runtime": _FP32,
    }
    data = {
        "voc12aug": {"dataset": "voc12aug", "crop_size": [512, 512], "batch_size": 4, "iterations": 40000},
        "cityscapes": {**_CITYSCAPES_FOLDER, "crop_size": [512, 1024], "batch_size": 2, "iterations": 80000},
    }[dataset]
    train = {
        **data,
        "optimizer": {**_SGD, "weight_decay": 0.00004},
        "schedule": {"name": "poly", "power": 0.9, "min_lr": {"voc12aug": 0.0, "cityscapes": 0.00001}[dataset]},
        "loss": _CROSS_ENTROPY,
        "aux_weight": 0.4,
    }
    return {"model": model, "train": train}


def _tiny(head: dict[str, Any], name: str) -> dict[str, Any]:
    """A CPU teaching model: the 6-conv ``TinyBackbone`` (output stride 8, receptive field 43 px) + ``head``."""
    model = {
        "name": name,
        "num_classes": 21,
        "backbone": {"name": "tiny", "channels": [32, 32, 64, 64, 128, 128]},
        "head": head,
        "aux_head": None,
        "align_corners": False,
        **_IMAGENET,
        "runtime": _FP32,
    }
    return {"model": model}


@register
def tiny_ann() -> dict[str, Any]:
    """The ANN head at small widths on the TinyBackbone, a CPU teaching model.

    Its convolutions alone cannot relate pixels more than 43 px apart; AFNB/APNB can. Trains in minutes on 2 CPU
    cores at 96×96. Set num_classes to the data set's."""
    head = {"name": "ann", "channels": 64, "key_channels": 32, "value_channels": 32, "pool_sizes": [1, 3, 6, 8]}
    return _tiny({**head, "block_dropout": 0.0, "dropout": 0.1, "key_bias": True}, "tiny_ann")


@register
def tiny_fcn() -> dict[str, Any]:
    """The "no context" baseline of tiny_ann: an FCN head on the TinyBackbone's last feature.

    Every prediction sees at most a 43×43 window. Compare with tiny_ann to see what attention adds."""
    head = {"name": "fcn", "channels": 64, "num_convs": 1, "concat_input": False, "dropout": 0.1, "in_index": -1}
    return _tiny(head, "tiny_fcn")


@register
def voc_ann_r50() -> dict[str, Any]:
    """The paper's recipe on VOC 2012 + SBD with ResNet-50."""
    return _paper(depth=50)


@register
def voc_ann_r101() -> dict[str, Any]:
    """The paper's recipe on VOC 2012 + SBD with ResNet-101 (the paper's backbone)."""
    return _paper(depth=101)


@register
def official_ann_r101_cityscapes() -> dict[str, Any]:
    """The official ANN R-101 on Cityscapes (MendelXu/ANN): its two released checkpoints load into this model.

    Recipe: ``hypes/seg/cityscapes/fs_annn_cityscapes_seg.json``; load with
    ``from_pretrained("ann_official_r101_cityscapes_val")`` or ``annkit convert official``.

    Backbone "deepbase_resnet101_dilated8": 3×3 stem convs 64-64-128, max pool with ceil_mode, dilations 2 / 4
    (multi-grid 1,1,1). Head: AFNB and APNB with Dropout2d(0.05), query/key convs with bias; aux head 3×3
    1024→512, Dropout2d(0.05). The conv biases before BN are folded into the BN running means by the converter.
    Input: BGR, 0–255 minus [102.9801, 115.9465, 122.7717] (B, G, R), std 1 — written here per R, G, B channel of
    [0, 1] images (value / 255); logits resized with align_corners=True. Train: the official recipe (OHEM).
    """
    paper = _paper(depth=101)["model"]
    model = {
        **paper,
        "name": "official_ann_r101_cityscapes",
        "backbone": {"name": "resnet", "depth": 101, "output_stride": 8, "stem": "deep_base", "weights": None},
        "mean": [value / 255 for value in (122.7717, 115.9465, 102.9801)],
        "std": [1 / 255] * 3,
        "channel_order": "BGR",
        **_labels("cityscapes"),
        "runtime": _FP32,
    }
    train = {
        **_CITYSCAPES_FOLDER,
        "crop_size": [769, 769],
        "batch_size": 8,
        "iterations": 40000,
        "optimizer": {**_SGD, "weight_decay": 0.0005},
        "schedule": {"name": "poly", "power": 0.9, "min_lr": 0.0},
        "loss": _OHEM,
        "aux_weight": 0.4,
    }
    return {"model": model, "train": train}


@register
def mmseg_ann_r50_d8_voc12aug() -> dict[str, Any]:
    """mmsegmentation's ANN R-50-D8 on PASCAL VOC 2012 + SBD."""
    return _mmseg(depth=50, dataset="voc12aug")


@register
def mmseg_ann_r50_d8_cityscapes() -> dict[str, Any]:
    """mmsegmentation's ANN R-50-D8 on Cityscapes."""
    return _mmseg(depth=50, dataset="cityscapes")


@register
def mmseg_ann_r50_d8_ade20k() -> dict[str, Any]:
    """mmsegmentation's ANN R-50-D8 on ADE20K."""
    return _mmseg(depth=50, dataset="ade20k")


@register
def mmseg_ann_r101_d8_voc12aug() -> dict[str, Any]:
    """mmsegmentation's ANN R-101-D8 on PASCAL VOC 2012 + SBD."""
    return _mmseg(depth=101, dataset="voc12aug")


@register
def mmseg_ann_r101_d8_cityscapes() -> dict[str, Any]:
    """mmsegmentation's ANN R-101-D8 on Cityscapes."""
    return _mmseg(depth=101, dataset="cityscapes")


@register
def mmseg_ann_r101_d8_ade20k() -> dict[str, Any]:
    """mmsegmentation's ANN R-101-D8 on ADE20K."""
    return _mmseg(depth=101, dataset="ade20k")


@register
def paddleseg_ann_r50_vd_voc12aug() -> dict[str, Any]:
    """PaddleSeg's ANN ResNet50_vd on PASCAL VOC 2012 + SBD."""
    return _paddleseg(depth=50, dataset="voc12aug")


@register
def paddleseg_ann_r50_vd_cityscapes() -> dict[str, Any]:
    """PaddleSeg's ANN ResNet50_vd on Cityscapes."""
    return _paddleseg(depth=50, dataset="cityscapes")


@register
def paddleseg_ann_r101_vd_voc12aug() -> dict[str, Any]:
    """PaddleSeg's ANN ResNet101_vd on PASCAL VOC 2012 + SBD."""
    return _paddleseg(depth=101, dataset="voc12aug")


@register
def paddleseg_ann_r101_vd_cityscapes() -> dict[str, Any]:
    """PaddleSeg's ANN ResNet101_vd on Cityscapes."""
    return _paddleseg(depth=101, dataset="cityscapes")
