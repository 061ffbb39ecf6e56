"""The model hub: trained checkpoints (the registry in ``annkit.models.zoo``) downloaded, hash-checked, converted
and strictly loaded. (Reading and writing the files themselves: ``annkit.torchfile``, ``annkit.models.modelfile``.)

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
from pathlib import Path
from urllib.error import URLError

import torch

from annkit.config import ModelConfig
from annkit.errors import ConfigError, WeightsDownloadError
from annkit.models import convert_official, convert_paddleseg
from annkit.models.build import build, model_config
from annkit.models.convert_mmseg import convert_state_dict, infer_config, mmseg_state_dict
from annkit.models.gdrive import download_drive_file, drive_file_id
from annkit.models.modelfile import load_state_dict_strict, save
from annkit.models.pdparams import read_pdparams
from annkit.models.safe_load import load_weights_entry
from annkit.models.segmentor import Segmentor
from annkit.models.zoo import CHECKPOINTS
from annkit.protocols import protocol as lookup_protocol


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
