"""Trained ANN checkpoints from mmsegmentation's and PaddleSeg's model zoos: download, check, convert, strict load.

``from_pretrained("ann_r50-d8_512x512_20k_voc12aug")`` downloads the checkpoint into the torch hub cache
(``torch.hub.get_dir()/checkpoints``), checks the SHA-256 prefix that ends its file name (the torch hub
convention mmsegmentation follows), converts mmsegmentation's key layout and loads it strictly into the matching
preset. Every ``torch.load`` here uses ``weights_only=True``: a checkpoint can hold tensors and plain containers,
never code. URLs and scores are those of mmsegmentation's ``configs/ann/metafile.yaml`` (mIoU single-scale).

PaddleSeg's four ANN models (``configs/ann/README.md``: URLs and single-scale mIoU) are ``model.pdparams`` files
with no hash in their name and none published: they are cached as ``<name>.pdparams``, read by the restricted
unpickler of ``annkit.models.pdparams`` (numpy arrays only, no code runs) and verified by their structure — every
key converts and the strict load matches every name and shape of the preset.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.error import URLError

import torch
from torch import nn

from annkit.config import ModelConfig
from annkit.models import convert_paddleseg
from annkit.models.convert_mmseg import convert_state_dict, infer_config, mmseg_state_dict
from annkit.models.pdparams import read_pdparams
from annkit.models.presets import build, model_config
from annkit.models.segmentor import Segmentor

_ZOO = "https://download.openmmlab.com/mmsegmentation/v0.5/ann"
_PADDLESEG_ZOO = "https://bj.bcebos.com/paddleseg/dygraph"
FORMAT = "annkit.segmentor/1"


@dataclass(frozen=True)
class Checkpoint:
    """One trained model: where it lives, which preset it fits, the mIoU its publisher measured, whose layout it
    has (``family``: ``"mmseg"`` or ``"paddleseg"``)."""

    url: str
    preset: str
    miou: float
    align_corners: bool = False
    family: str = "mmseg"

    @property
    def hash_prefix(self) -> str | None:
        """The first hex digits of the file's SHA-256, as its name ends (``…-dfcb1c62.pth``); None if unpublished."""
        match = re.search(r"-([0-9a-f]{8,})\.pth$", self.url)
        return match.group(1) if match else None


def _zoo(config: str, stamp: str, preset: str, miou: float, align_corners: bool = False) -> Checkpoint:
    return Checkpoint(f"{_ZOO}/{config}/{config}_{stamp}.pth", preset, miou, align_corners)


def _paddleseg(dataset: str, config: str, preset: str, miou: float) -> Checkpoint:
    return Checkpoint(f"{_PADDLESEG_ZOO}/{dataset}/{config}/model.pdparams", preset, miou, family="paddleseg")


CHECKPOINTS: dict[str, Checkpoint] = {c.url.rsplit("/", 2)[1]: c for c in (
    _zoo("ann_r50-d8_512x512_20k_voc12aug", "20200617_222246-dfcb1c62", "mmseg_ann_r50_d8_voc12aug", 74.86),
    _zoo("ann_r101-d8_512x512_20k_voc12aug", "20200617_222246-2fad0042", "mmseg_ann_r101_d8_voc12aug", 77.47),
    _zoo("ann_r50-d8_512x512_40k_voc12aug", "20200613_231314-b5dac322", "mmseg_ann_r50_d8_voc12aug", 76.56),
    _zoo("ann_r101-d8_512x512_40k_voc12aug", "20200613_231314-bd205bbe", "mmseg_ann_r101_d8_voc12aug", 76.70),
    _zoo("ann_r50-d8_512x1024_40k_cityscapes", "20200605_095211-049fc292", "mmseg_ann_r50_d8_cityscapes", 77.40),
    _zoo("ann_r101-d8_512x1024_40k_cityscapes", "20200605_095243-adf6eece", "mmseg_ann_r101_d8_cityscapes", 76.55),
    _zoo("ann_r50-d8_769x769_40k_cityscapes", "20200530_025712-2b46b04d", "mmseg_ann_r50_d8_cityscapes", 78.89,
         True),
    _zoo("ann_r101-d8_769x769_40k_cityscapes", "20200530_025720-059bff28", "mmseg_ann_r101_d8_cityscapes", 79.32,
         True),
    _zoo("ann_r50-d8_512x512_80k_ade20k", "20200615_014818-26f75e11", "mmseg_ann_r50_d8_ade20k", 41.01),
    _zoo("ann_r101-d8_512x512_80k_ade20k", "20200615_014818-c0153543", "mmseg_ann_r101_d8_ade20k", 42.94),
    _zoo("ann_r50-d8_512x512_160k_ade20k", "20200615_231733-892247bc", "mmseg_ann_r50_d8_ade20k", 41.74),
    _zoo("ann_r101-d8_512x512_160k_ade20k", "20200615_231733-955eb1ec", "mmseg_ann_r101_d8_ade20k", 42.94),
    _paddleseg("cityscapes", "ann_resnet50_os8_cityscapes_1024x512_80k", "paddleseg_ann_r50_vd_cityscapes", 79.09),
    _paddleseg("cityscapes", "ann_resnet101_os8_cityscapes_1024x512_80k", "paddleseg_ann_r101_vd_cityscapes", 80.61),
    _paddleseg("pascal_voc12", "ann_resnet50_os8_voc12aug_512x512_40k", "paddleseg_ann_r50_vd_voc12aug", 80.82),
    _paddleseg("pascal_voc12", "ann_resnet101_os8_voc12aug_512x512_40k", "paddleseg_ann_r101_vd_voc12aug", 79.62),
)}


def sha256_of(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(url: str, hash_prefix: str | None, *, cache_dir: str | Path | None = None, progress: bool = True,
             filename: str | None = None) -> Path:
    """Fetch ``url`` into the torch hub cache (once) as ``filename`` (default: the URL's last part) and return its
    path; the file's SHA-256 must start with ``hash_prefix`` (checked on download and on every reuse of the cached
    file; ``None`` where the publisher gives no hash — the caller then checks the file's structure)."""
    directory = Path(cache_dir) if cache_dir is not None else Path(torch.hub.get_dir()) / "checkpoints"
    path = directory / (filename or url.rsplit("/", 1)[1])
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        try:
            torch.hub.download_url_to_file(url, str(path), hash_prefix=hash_prefix, progress=progress)
        except (URLError, OSError, TimeoutError) as err:
            raise RuntimeError(f"could not download {url} ({err}). Without network access, fetch the file "
                               f"elsewhere and place it at {path}") from err
    if hash_prefix is None:
        return path
    digest = sha256_of(path)
    if not digest.startswith(hash_prefix):
        raise RuntimeError(f"{path} has SHA-256 {digest[:12]}…, expected a prefix {hash_prefix}: the file is "
                           "corrupt or not this checkpoint; delete it to download again")
    return path


def load_file(path: str | Path) -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` on CPU, with errors that name the file and say what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, not a torch file, or a pickle of non-weights objects
        raise ValueError(f"cannot read checkpoint {path} as weights (torch.load weights_only=True): {err}") from err
    if not isinstance(checkpoint, dict):
        raise ValueError(f"checkpoint {path} holds a {type(checkpoint).__name__}, expected a dict of weights")
    return checkpoint


def load_state_dict_strict(model: nn.Module, state: dict[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Load ``state`` into ``model`` only if names and shapes match exactly; else a ValueError listing the missing,
    unexpected and mis-shaped keys (architecture or class-count mismatch)."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    misshaped = [f"{k}: {tuple(state[k].shape)} in {source}, {tuple(expected[k].shape)} in the model"
                 for k in sorted(set(state) & set(expected)) if state[k].shape != expected[k].shape]
    if missing or unexpected or misshaped:
        parts = [f"{label} ({len(keys)}): {keys[:8]}{' …' if len(keys) > 8 else ''}"
                 for label, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped))
                 if keys]
        raise ValueError(f"{source} does not fit the model — " + "; ".join(parts))
    model.load_state_dict(state, strict=True)


def convert_mmseg_checkpoint(src: str | Path, dst: str | Path | None = None, *,
                             config: str | ModelConfig | None = None, align_corners: bool = False) -> Segmentor:
    """Convert an mmsegmentation checkpoint file into an annkit ``Segmentor`` (and save it to ``dst``, if given).

    ``config`` (a preset name or ModelConfig) fixes the architecture; without it, it is inferred from the weights
    (``convert_mmseg.infer_config``). The conversion is checked by a strict load.
    """
    state = mmseg_state_dict(load_file(src))
    config = model_config(config) if config is not None else infer_config(state, name=Path(src).stem)
    if align_corners:
        config = model_config(config, align_corners=True)
    model = build(config, backbone_weights=False)
    load_state_dict_strict(model, convert_state_dict(state), source=str(src))
    if dst is not None:
        save(model, dst)
    return model.eval()


def convert_paddleseg_checkpoint(src: str | Path, dst: str | Path | None = None, *,
                                 config: str | ModelConfig | None = None) -> Segmentor:
    """Convert a PaddleSeg ANN ``.pdparams`` file into an annkit ``Segmentor`` (and save it to ``dst``, if given).

    The file is read without executing pickled code (``pdparams.read_pdparams``). ``config`` (a preset name or
    ModelConfig) fixes the architecture; without it, it is inferred from the weights
    (``convert_paddleseg.infer_config``). The conversion is checked by a strict load.
    """
    state = read_pdparams(src)
    config = model_config(config) if config is not None else \
        convert_paddleseg.infer_config(state, name=Path(src).stem)
    model = build(config, backbone_weights=False)
    load_state_dict_strict(model, convert_paddleseg.convert_state_dict(state), source=str(src))
    if dst is not None:
        save(model, dst)
    return model.eval()


def atomic_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to ``path.tmp``, flush to disk, then rename over ``path`` (atomic on POSIX): a crash, even
    ``kill -9``, leaves the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as file:
        torch.save(obj, file)
        file.flush()
        os.fsync(file.fileno())
    tmp.replace(path)


def save(model: Segmentor, path: str | Path) -> None:
    """Write ``{format, config, state_dict}`` atomically; ``load`` rebuilds the model from it."""
    if not hasattr(model, "config"):
        raise ValueError("save needs a Segmentor made by annkit.models.build (it stores model.config)")
    atomic_save({"format": FORMAT, "config": model.config.to_dict(), "state_dict": model.state_dict()}, path)


def load(path: str | Path) -> Segmentor:
    """Rebuild a Segmentor saved by ``save`` (or ``annkit convert mmseg``), strictly, in eval mode."""
    checkpoint = load_file(path)
    if checkpoint.get("format") != FORMAT:
        raise ValueError(f"{path} is not an annkit model file (format {checkpoint.get('format')!r}, expected "
                         f"{FORMAT!r}); convert mmsegmentation checkpoints with `annkit convert mmseg`")
    model = build(ModelConfig.from_dict(checkpoint["config"]), backbone_weights=False)
    load_state_dict_strict(model, checkpoint["state_dict"], source=str(path))
    return model.eval()


def from_pretrained(name: str, *, cache_dir: str | Path | None = None, progress: bool = True) -> Segmentor:
    """A trained ANN from mmsegmentation's or PaddleSeg's zoo (``CHECKPOINTS``), in eval mode, ready for RGB input
    normalised with its own ``model.mean`` / ``model.std``."""
    if name not in CHECKPOINTS:
        raise ValueError(f"unknown pretrained model {name!r}; expected one of {sorted(CHECKPOINTS)}")
    entry = CHECKPOINTS[name]
    config = model_config(entry.preset, name=name, align_corners=entry.align_corners)
    if entry.family == "paddleseg":
        path = download(entry.url, None, cache_dir=cache_dir, progress=progress, filename=f"{name}.pdparams")
        return convert_paddleseg_checkpoint(path, config=config)
    path = download(entry.url, entry.hash_prefix, cache_dir=cache_dir, progress=progress)
    return convert_mmseg_checkpoint(path, config=config)
