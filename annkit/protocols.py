"""Evaluation protocols as data: how each published checkpoint's number was measured, stored with the model.

A segmentation score depends on more than the weights: the test-time resize (mmseg fits every image into a
keep-ratio bound, e.g. (2048, 512), before inference), whole-image vs sliding-window inference, the window and
stride, how logits are resampled (``align_corners``) and the scales/flips averaged. Each ``EvalProtocol`` writes one
implementation's setting for one dataset down, citing its config; ``ModelConfig.protocol`` carries it inside every
model file annkit writes (as a mapping: ``annkit.config.values``), and ``annkit eval`` applies it, so ``annkit eval
--pretrained NAME --data ROOT`` needs no other flag. Scores are always computed at the image's original resolution
(logits resized back), as mmseg and PaddleSeg do.

Keep-ratio ``resize`` follows mmcv's ``rescale_size`` (``annkit.data.geometric``): with bound (a, b), the long edge
≤ max(a, b) and the short edge ≤ min(a, b). Multi-scale ratios r multiply the bound (mmseg's ``img_ratios``:
bound (int(a·r), int(b·r))) or, without ``resize``, the image (PaddleSeg: int(edge·r + 0.5)).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

MODES = ("whole", "slide")
MMSEG_MS_SCALES = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)  # mmseg's img_ratios for its "ms+flip" columns


@dataclass(frozen=True)
class EvalProtocol:
    """One published evaluation setting (see the module docstring)."""

    name: str
    dataset: str  # voc | cityscapes | ade20k | pascal_context_59 | pascal_context (annkit's dataset names)
    split: str = "val"
    resize: tuple[int, int] | None = None  # keep-ratio bound (mmseg's ``scale``), None = the original size
    keep_ratio: bool = True  # False: resize to exactly (W, H) = resize
    pad: tuple[int, int] | None = None  # pad (H, W) at the bottom/right before inference (PaddleSeg's VOC val)
    mode: str = "whole"  # whole image, or ``slide`` windows of ``crop`` every ``stride`` px (H, W)
    crop: tuple[int, int] | None = None
    stride: tuple[int, int] | None = None
    align_corners: bool = False  # logits resized back to the original size with this setting
    scales: tuple[float, ...] = (1.0,)  # single-scale evaluation: (1.0,)
    flip: bool = False
    ms_scales: tuple[float, ...] = ()  # the published multi-scale setting (empty: none published / not stated)
    ms_flip: bool = True
    source: str = ""  # where the setting is written
    notes: tuple[str, ...] = ()  # differences from the original evaluation that remain in annkit

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"protocol {self.name!r}: mode must be one of {MODES}, got {self.mode!r}")
        if self.mode == "slide" and (self.crop is None or self.stride is None):
            raise ValueError(f"protocol {self.name!r}: slide mode needs crop and stride (H, W)")
        if not self.scales or any(s <= 0 for s in self.scales):
            raise ValueError(f"protocol {self.name!r}: scales must be positive ratios, got {self.scales}")

    def multi_scale(self) -> EvalProtocol:
        """The published multi-scale (+ flip) variant; a ValueError when none is published."""
        if not self.ms_scales:
            raise ValueError(f"protocol {self.name!r} has no published multi-scale setting")
        return dataclasses.replace(self, scales=self.ms_scales, flip=self.ms_flip)


_RESAMPLING = (
    "images are resized in float after normalisation; mmseg resizes the uint8 image with OpenCV "
    "(11-bit fixed point): values can differ by one grey level"
)
_DECODE = "images are decoded with PIL, mmseg decodes with OpenCV; both use libjpeg/libpng"

PROTOCOLS: dict[str, EvalProtocol] = {
    p.name: p
    for p in (
        EvalProtocol(
            "mmseg_voc12aug",
            "voc",
            resize=(2048, 512),
            ms_scales=MMSEG_MS_SCALES,
            source="mmseg configs/_base_/datasets/pascal_voc12.py (test: Resize (2048, 512) keep_ratio; whole)",
            notes=(_RESAMPLING, _DECODE),
        ),
        EvalProtocol(
            "mmseg_cityscapes_512x1024",
            "cityscapes",
            resize=(2048, 1024),
            ms_scales=MMSEG_MS_SCALES,
            source="mmseg configs/_base_/datasets/cityscapes.py (test: Resize (2048, 1024) keep_ratio; whole)",
            notes=(_DECODE,),
        ),
        EvalProtocol(
            "mmseg_cityscapes_769x769",
            "cityscapes",
            resize=(2049, 1025),
            mode="slide",
            crop=(769, 769),
            stride=(513, 513),
            align_corners=True,
            ms_scales=MMSEG_MS_SCALES,
            source="mmseg configs/_base_/datasets/cityscapes_769x769.py (test: Resize (2049, 1025) keep_ratio: "
            "2048×1024 → 2049×1025) + configs/ann/*769x769* (slide 769 / 513, align_corners=True)",
            notes=(_RESAMPLING, _DECODE),
        ),
        EvalProtocol(
            "mmseg_ade20k",
            "ade20k",
            resize=(2048, 512),
            ms_scales=MMSEG_MS_SCALES,
            source="mmseg configs/_base_/datasets/ade20k.py (test: Resize (2048, 512) keep_ratio; whole)",
            notes=(_RESAMPLING, _DECODE),
        ),
        EvalProtocol(
            "mmseg_pascal_context_59",
            "pascal_context_59",
            resize=(520, 520),
            mode="slide",
            crop=(480, 480),
            stride=(320, 320),
            ms_scales=MMSEG_MS_SCALES,
            source="mmseg configs/_base_/datasets/pascal_context_59.py (test: Resize (520, 520) keep_ratio) + its "
            "480x480 Context-59 model configs (slide 480 / 320); mmseg has no ANN checkpoint on Context",
            notes=(_RESAMPLING, _DECODE),
        ),
        EvalProtocol(
            "paddleseg_cityscapes",
            "cityscapes",
            source="PaddleSeg configs/_base_/cityscapes.yml (val: Normalize only; whole image, 2048×1024)",
            notes=(
                "PaddleSeg's README reports flip and ms+flip columns without stating their scales; "
                "annkit stores none for them",
            ),
        ),
        EvalProtocol(
            "paddleseg_voc12aug",
            "voc",
            pad=(512, 512),
            source="PaddleSeg configs/_base_/pascal_voc12.yml (val: Padding to 512×512 at the bottom/right, "
            "then Normalize; whole)",
            notes=(
                "PaddleSeg pads with 127.5 before its (x/255 − 0.5)/0.5 normalisation, i.e. 0 after it: "
                "annkit pads the normalised image with 0, the same",
                "PaddleSeg's README reports flip and ms+flip columns without stating their scales; "
                "annkit stores none for them",
            ),
        ),
    )
}


def protocol(name: str) -> EvalProtocol:
    """The shipped protocol ``name``; a ValueError lists the known ones."""
    if name not in PROTOCOLS:
        raise ValueError(f"unknown evaluation protocol {name!r}; expected one of {sorted(PROTOCOLS)}")
    return PROTOCOLS[name]
