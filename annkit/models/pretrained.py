"""Trained checkpoints (the registry in ``annkit.models.zoo``): download, hash check, convert, strict load.

``from_pretrained("ann_r50-d8_512x512_20k_voc12aug")`` downloads the checkpoint into the torch hub cache
(``torch.hub.get_dir()/checkpoints``), checks the SHA-256 prefix that ends its file name (the torch hub
convention mmsegmentation follows), converts the publisher's key layout and loads it strictly into the matching
preset (or the architecture read from the weights). The official ANN files live on Google Drive (no published
hash; ``annkit.models.gdrive``). Every ``torch.load`` here uses ``weights_only=True``: a checkpoint can hold
tensors and plain containers, never code.

PaddleSeg's four ANN models are ``model.pdparams`` files with no hash in their name and none published: they are
cached as ``<name>.pdparams``, read by the restricted unpickler of ``annkit.models.pdparams`` (numpy arrays only,
no code runs) and verified by their structure — every key converts and the strict load matches every name and
shape of the preset.
"""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path
from typing import Any
from urllib.error import URLError

import torch
from torch import nn

from annkit.atomic import atomic_write
from annkit.config import ModelConfig
from annkit.errors import ConfigError, MissingFileError, UserError, WeightsDownloadError
from annkit.models import convert_official, convert_paddleseg
from annkit.models.convert_mmseg import convert_state_dict, infer_config, mmseg_state_dict
from annkit.models.gdrive import download_drive_file, drive_file_id
from annkit.models.pdparams import read_pdparams
from annkit.models.presets import build, model_config
from annkit.models.safe_load import load_weights_entry
from annkit.models.segmentor import Segmentor
from annkit.models.zoo import CHECKPOINTS, Checkpoint, list_pretrained  # noqa: F401  (re-exported)
from annkit.protocols import protocol as lookup_protocol

FORMAT = "annkit.segmentor/1"


def sha256_of(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(
    url: str,
    hash_prefix: str | None,
    *,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    filename: str | None = None,
) -> Path:
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
            raise WeightsDownloadError(
                f"could not download {url} ({err}). Without network access, fetch the "
                f"file elsewhere and place it at {path}"
            ) from err
    if hash_prefix is None:
        return path
    digest = sha256_of(path)
    if not digest.startswith(hash_prefix):
        raise WeightsDownloadError(
            f"{path} has SHA-256 {digest[:12]}…, expected a prefix {hash_prefix}: the "
            "file is corrupt or not this checkpoint; delete it to download again"
        )
    return path


class CheckpointError(UserError, ValueError):
    """A checkpoint file that cannot be used: empty, truncated, not weights, or missing what annkit needs."""


def _unreadable_reason(error: Exception) -> str:
    """Why torch.load refused a file, in one line, without torch's advice to load it unsafely."""
    unsafe = re.search(r"GLOBAL ([\w.]+)", str(error))
    if unsafe:
        return (
            f"it holds a Python object ({unsafe.group(1)}), not only tensors and plain containers; annkit "
            "loads weights only and never runs code stored in a file (save model.state_dict() instead)"
        )
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines and "weights_only" not in lines[0] else f"{type(error).__name__}, not a torch file"


def load_file(path: str | Path) -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` on CPU, with errors that name the file and say what is wrong."""
    path = Path(path)
    if path.is_dir():
        inside = [path / name for name in ("best.pt", "final.pt", "last.pt") if (path / name).is_file()]
        hint = f"; this folder holds {', '.join(str(p) for p in inside)}" if inside else ""
        raise CheckpointError(f"checkpoint {path} is a folder; expected a checkpoint file{hint}")
    if not path.is_file():
        raise MissingFileError(f"checkpoint {path} does not exist")
    if path.stat().st_size == 0:
        raise CheckpointError(
            f"checkpoint {path} is empty (0 bytes; an interrupted copy or download?); "
            "expected a file written by torch.save"
        )
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, not a torch file, or a pickle of non-weights objects
        raise CheckpointError(f"cannot read checkpoint {path} as weights: {_unreadable_reason(err)}") from None
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(checkpoint).__name__}, expected a dict of weights")
    return checkpoint


def load_state_dict_strict(model: nn.Module, state: dict[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Load ``state`` into ``model`` only if names and shapes match exactly; else a ValueError listing the missing,
    unexpected and mis-shaped keys (architecture or class-count mismatch)."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    misshaped = [
        f"{k}: {tuple(state[k].shape)} in {source}, {tuple(expected[k].shape)} in the model"
        for k in sorted(set(state) & set(expected))
        if state[k].shape != expected[k].shape
    ]
    if missing or unexpected or misshaped:
        parts = [
            f"{label} ({len(keys)}): {keys[:8]}{' …' if len(keys) > 8 else ''}"
            for label, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped))
            if keys
        ]
        raise CheckpointError(f"{source} does not fit the model — " + "; ".join(parts))
    model.load_state_dict(state, strict=True)


def convert_mmseg_checkpoint(
    src: str | Path,
    dst: str | Path | None = None,
    *,
    config: str | ModelConfig | None = None,
    align_corners: bool = False,
    protocol: str | None = None,
) -> Segmentor:
    """Convert an mmsegmentation checkpoint file into an annkit ``Segmentor`` (and save it to ``dst``, if given).

    ``config`` (a preset name or ModelConfig) fixes the architecture; without it, it is inferred from the weights
    (``convert_mmseg.infer_config``). ``protocol`` names the evaluation protocol stored with the model
    (``annkit.protocols.PROTOCOLS``). The conversion is checked by a strict load.
    """
    state = mmseg_state_dict(load_weights_entry(src)[0])  # mmengine training files: bookkeeping left unloaded
    config = model_config(config) if config is not None else infer_config(state, name=Path(src).stem)
    if align_corners:
        config = model_config(config, align_corners=True)
    if protocol is not None:
        config = model_config(config, protocol=lookup_protocol(protocol))
    model = build(config, backbone_weights=False)
    load_state_dict_strict(model, convert_state_dict(state), source=str(src))
    if dst is not None:
        save(model, dst)
    return model.eval()


def convert_paddleseg_checkpoint(
    src: str | Path, dst: str | Path | None = None, *, config: str | ModelConfig | None = None
) -> Segmentor:
    """Convert a PaddleSeg ANN ``.pdparams`` file into an annkit ``Segmentor`` (and save it to ``dst``, if given).

    The file is read without executing pickled code (``pdparams.read_pdparams``). ``config`` (a preset name or
    ModelConfig) fixes the architecture; without it, it is inferred from the weights
    (``convert_paddleseg.infer_config``). The conversion is checked by a strict load.
    """
    state = read_pdparams(src)
    config = model_config(config) if config is not None else convert_paddleseg.infer_config(state, name=Path(src).stem)
    model = build(config, backbone_weights=False)
    load_state_dict_strict(model, convert_paddleseg.convert_state_dict(state), source=str(src))
    if dst is not None:
        save(model, dst)
    return model.eval()


def atomic_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to ``path.tmp``, flushed to disk, then renamed over ``path`` (``annkit.atomic``): a crash,
    even ``kill -9``, or a full disk leaves the old file or the new one, never half of one."""
    buffer = io.BytesIO()  # serialised in memory: a full disk then fails in a plain write, which names ENOSPC
    torch.save(obj, buffer)
    atomic_write(path, lambda file: file.write(buffer.getbuffer()))


def save(model: Segmentor, path: str | Path) -> None:
    """Write ``{format, config, state_dict}`` atomically; ``load`` rebuilds the model from it."""
    if not hasattr(model, "config"):
        raise ValueError("save needs a Segmentor made by annkit.models.build (it stores model.config)")
    atomic_save({"format": FORMAT, "config": model.config.to_dict(), "state_dict": model.state_dict()}, path)


def load(path: str | Path) -> Segmentor:
    """Rebuild a Segmentor saved by ``save`` (or ``annkit convert mmseg``), strictly, in eval mode."""
    checkpoint = load_file(path)
    if checkpoint.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not an annkit model file (format {checkpoint.get('format')!r}, expected "
            f"{FORMAT!r}); convert mmsegmentation checkpoints with `annkit convert mmseg`"
        )
    missing = [key for key in ("config", "state_dict") if not isinstance(checkpoint.get(key), dict)]
    if missing:
        raise CheckpointError(
            f"{path} has no {' or '.join(missing)}; expected an annkit model file written by "
            "annkit.models.save (a run's best.pt / final.pt)"
        )
    try:
        config = ModelConfig.from_dict(checkpoint["config"])
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: its model config is not valid ({err})") from err
    model = build(config, backbone_weights=False)
    load_state_dict_strict(model, checkpoint["state_dict"], source=str(path))
    return model.eval()


def convert_official_checkpoint(
    src: str | Path, dst: str | Path | None = None, *, config: str | ModelConfig = "official_ann_r101_cityscapes"
) -> Segmentor:
    """Convert an official ANN checkpoint (MendelXu/ANN) into an annkit ``Segmentor`` (saved to ``dst`` if given).

    The model is ``config`` (default: the official Cityscapes R-101 preset, BGR input, align_corners=True) with the
    file's class count; the conversion is checked by a strict load.
    """
    state = convert_official.official_state_dict(load_weights_entry(src)[0])
    config = model_config(config)
    if config.num_classes != convert_official.num_classes(state):
        config = model_config(config, num_classes=convert_official.num_classes(state), classes=None, palette=None)
    model = build(config, backbone_weights=False)
    load_state_dict_strict(model, convert_official.convert_state_dict(state), source=str(src))
    if dst is not None:
        save(model, dst)
    return model.eval()


def fetch(name: str, *, cache_dir: str | Path | None = None, progress: bool = True) -> Path:
    """The local file of registered checkpoint ``name``: downloaded once into the cache (hash-checked where the
    publisher gave a hash), or — for Google Drive files that cannot be fetched — an error saying where to put it."""
    if name not in CHECKPOINTS:
        raise ConfigError(f"unknown pretrained model {name!r}; expected one of {sorted(CHECKPOINTS)}")
    entry = CHECKPOINTS[name]
    if entry.source == "paddleseg":  # every file is called model.pdparams: cache it under its registry name
        return download(entry.url, None, cache_dir=cache_dir, progress=progress, filename=f"{name}.pdparams")
    if drive_file_id(entry.url) is None:
        return download(entry.url, entry.hash_prefix, cache_dir=cache_dir, progress=progress)
    directory = Path(cache_dir) if cache_dir is not None else Path(torch.hub.get_dir()) / "checkpoints"
    path = directory / f"{name}.pth"
    if not path.exists():
        download_drive_file(entry.url, path)
    return path


def from_pretrained(name: str, *, cache_dir: str | Path | None = None, progress: bool = True) -> Segmentor:
    """A trained model from the registry (``annkit.models.list_pretrained()``), in eval mode, carrying its input
    contract (``model.normalize`` turns RGB images in [0, 1] into what it was trained on)."""
    path = fetch(name, cache_dir=cache_dir, progress=progress)
    entry = CHECKPOINTS[name]
    if entry.source == "official":
        return convert_official_checkpoint(path, config=model_config(entry.preset, name=name))
    if entry.source == "paddleseg":
        model = convert_paddleseg_checkpoint(path, config=model_config(entry.preset, name=name))
        model.config = model_config(model.config, protocol=lookup_protocol(entry.protocol))
        return model
    if entry.source != "mmseg":
        raise ValueError(f"checkpoint {name!r} has source {entry.source!r}; no converter is registered for it")
    if entry.preset is not None:
        config = model_config(entry.preset, name=name, align_corners=entry.align_corners)
        return convert_mmseg_checkpoint(path, config=config, protocol=entry.protocol)
    model = convert_mmseg_checkpoint(
        path,
        align_corners=entry.align_corners,  # architecture read from weights
        protocol=entry.protocol,
    )
    labels = model_config(f"mmseg_ann_r50_d8_{entry.dataset}")  # same dataset: same class names and colours
    model.config = model_config(model.config, name=name, classes=labels.classes, palette=labels.palette)
    return model
