"""annkit.models — the whole ANN network and its baselines (paper Fig. 1 and Sec. 4).

- backbones: dilated ResNet-18/34/50/101 (torchvision or mmsegmentation V1c deep stem), ``TinyBackbone``;
- heads: ``ANNHead`` (AFNB → 3×3 conv → APNB → classifier), ``FCNHead``, ``NonLocalHead``, ``PSPHead``,
  ``ASPPHead``;
- ``Segmentor``: backbone + head + auxiliary head, logits at input size;
- ``build(preset)``: a preset (``annkit.presets``) or config → a model (``annkit.models.build``);
- ``save`` / ``load``: the annkit model file (``annkit.models.modelfile``);
- ``from_pretrained(name)``: trained checkpoints — mmsegmentation's ANN and baselines, PaddleSeg's ANN, the
  official ANN — downloaded, checked, converted and strictly loaded (``annkit.models.pretrained``);
  ``list_pretrained()`` lists them (``annkit.models.zoo``);
- ``prepare`` / ``autocast``: the runtime switches of a config (BN folding, channels_last,
  torch.compile, bf16/fp16).
"""

from annkit.models.backbones import ResNetBackbone, deep_stem, resnet
from annkit.models.build import build, check_heads, model_config
from annkit.models.heads import HEADS, ANNHead, ASPPHead, FCNHead, NonLocalHead, PSPHead
from annkit.models.modelfile import load, save
from annkit.models.pretrained import (
    convert_mmseg_checkpoint,
    convert_official_checkpoint,
    convert_paddleseg_checkpoint,
    from_pretrained,
)
from annkit.models.runtime import autocast, fold_batchnorm, prepare
from annkit.models.segmentor import Segmentor, SegmentorOutput
from annkit.models.tiny import RECEPTIVE_FIELD, TinyBackbone
from annkit.models.zoo import CHECKPOINTS, list_pretrained

__all__ = [
    "CHECKPOINTS",
    "HEADS",
    "autocast",
    "check_heads",
    "convert_mmseg_checkpoint",
    "convert_official_checkpoint",
    "convert_paddleseg_checkpoint",
    "fold_batchnorm",
    "from_pretrained",
    "list_pretrained",
    "load",
    "prepare",
    "save",
    "ANNHead",
    "ASPPHead",
    "FCNHead",
    "NonLocalHead",
    "PSPHead",
    "RECEPTIVE_FIELD",
    "ResNetBackbone",
    "Segmentor",
    "SegmentorOutput",
    "TinyBackbone",
    "build",
    "deep_stem",
    "model_config",
    "resnet",
]
