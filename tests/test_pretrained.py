"""Checkpoint registry, download (simulated: tests never touch the network), hash checks, safe loading, CLI."""

from __future__ import annotations

import re
import shutil
from urllib.error import URLError

import pytest
import torch
from reference_mmseg import mmseg_forward, mmseg_layout

from annkit import models
from annkit.cli import main as cli_main
from annkit.models import modelfile, pretrained
from annkit.models.modelfile import load
from annkit.models.pretrained import download, from_pretrained, sha256_of
from annkit.models.zoo import CHECKPOINTS, Checkpoint
from annkit.presets import preset_names
from annkit.torchfile import load_file

SMALL = dict(channels=64, project=32, aux_channels=32)


def test_registry_covers_the_zoo():
    mmseg = {name: entry for name, entry in CHECKPOINTS.items() if entry.source == "mmseg"}
    assert sum(entry.family == "ann" for entry in mmseg.values()) == 12
    assert {entry.family for entry in mmseg.values()} == {"ann", "fcn", "psp", "deeplabv3", "nonlocal"}
    for name, entry in mmseg.items():
        assert entry.url.startswith("https://download.openmmlab.com/mmsegmentation/v0.5/")
        assert name in entry.url and len(entry.hash_prefix) == 8
        assert entry.preset in preset_names() if entry.family == "ann" else entry.preset is None
        assert entry.align_corners == ("769x769" in name)
        assert entry.dataset in name and entry.crop in name and 30 < entry.miou < 85  # percent, as published
    assert CHECKPOINTS["ann_r50-d8_512x512_20k_voc12aug"].hash_prefix == "dfcb1c62"
    official = [entry for entry in CHECKPOINTS.values() if entry.source == "official"]
    assert len(official) == 2 and all(e.preset in preset_names() and "drive.google.com" in e.url for e in official)


def test_download_without_network_fails_clearly(tmp_path, monkeypatch):
    def offline(url, dst, hash_prefix=None, progress=True):
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(RuntimeError, match=r"could not download https://.*place it at .*dfcb1c62\.pth"):
        from_pretrained("ann_r50-d8_512x512_20k_voc12aug", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown pretrained model 'ann_r7'"):
        from_pretrained("ann_r7")


def test_from_pretrained_downloads_checks_converts_and_loads(tmp_path, monkeypatch, mmseg_r50):
    state, source = mmseg_r50
    prefix = sha256_of(source)[:8]
    calls = []

    def fake_download(url, dst, hash_prefix=None, progress=True):
        calls.append((url, hash_prefix))
        shutil.copyfile(source, dst)

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    monkeypatch.setitem(
        CHECKPOINTS, "fake", Checkpoint(f"https://example.invalid/fake-{prefix}.pth", "mmseg_ann_r50_d8_voc12aug", 0.0)
    )
    model = from_pretrained("fake", cache_dir=tmp_path / "hub", progress=False)
    again = from_pretrained("fake", cache_dir=tmp_path / "hub", progress=False)  # cached: no second download
    assert calls == [(f"https://example.invalid/fake-{prefix}.pth", prefix)]
    images = torch.randn(1, 3, 41, 50)
    with torch.no_grad():
        expected, _ = mmseg_forward(state, images)
        assert (model(images) - expected).abs().max() <= 1e-4
        assert torch.equal(model(images), again(images))
    assert not model.training and model.config.name == "fake"


def test_cached_file_with_wrong_hash_is_rejected(tmp_path):
    (tmp_path / "ann-0123abcd.pth").write_bytes(b"not the checkpoint")
    with pytest.raises(RuntimeError, match="expected a prefix 0123abcd"):
        download("https://example.invalid/ann-0123abcd.pth", "0123abcd", cache_dir=tmp_path)


class _Payload:
    """A pickle that runs a shell command when loaded: what a malicious checkpoint carries."""

    def __init__(self, marker) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


def test_truncated_and_unsafe_files_are_refused(tmp_path):
    good = tmp_path / "good.pth"
    torch.save({"state_dict": {"w": torch.zeros(100)}}, good)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ValueError, match=r"cannot read checkpoint .*truncated\.pth"):
        load_file(truncated)
    marker = tmp_path / "payload-ran"
    unsafe = tmp_path / "unsafe.pth"
    torch.save({"state_dict": {}, "hook": _Payload(marker)}, unsafe)
    for loader in (load_file, load):
        with pytest.raises(ValueError, match=r"holds a Python object \(posix.system\).*never runs code") as error:
            loader(unsafe)
        assert "weights_only=False" not in str(error.value)  # torch's advice to load it unsafely is never shown
    assert not marker.exists(), "the payload ran"
    with pytest.raises(FileNotFoundError):
        load_file(tmp_path / "missing.pth")
    torch.save({"w": torch.zeros(1)}, tmp_path / "plain.pth")
    with pytest.raises(ValueError, match="not an annkit model file"):
        load(tmp_path / "plain.pth")
    with pytest.raises(ValueError, match="not an mmsegmentation segmentor checkpoint"):
        pretrained.convert_mmseg_checkpoint(tmp_path / "plain.pth")


def test_load_says_why_for_a_folder_an_empty_file_and_a_file_without_config(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    models.save(models.build("tiny_fcn", num_classes=3), run / "best.pt")
    with pytest.raises(ValueError, match=r"run is a folder; expected a checkpoint file; this folder holds .*best\.pt"):
        load(run)
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.pt is empty \(0 bytes"):
        load(tmp_path / "empty.pt")
    torch.save({"format": modelfile.FORMAT, "state_dict": {}}, tmp_path / "no_config.pt")
    with pytest.raises(ValueError, match=r"no_config\.pt has no config; expected an annkit model file"):
        load(tmp_path / "no_config.pt")
    for path in (run, tmp_path / "empty.pt", tmp_path / "no_config.pt"):  # the CLI: one line, exit code 2
        assert cli_main(["predict", str(tmp_path / "x.jpg"), "--checkpoint", str(path), "--out", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("annkit: error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_imagenet_weights_offline_say_what_where_and_how_to_do_without(tmp_path, monkeypatch):
    """A real failed connection (a proxy on a closed local port), not a mocked download."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for variable in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(variable, f"http://127.0.0.1:{port}")
    import urllib.request

    monkeypatch.setattr(urllib.request, "_opener", None)  # urlopen's opener keeps the proxy: restored afterwards
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(
        RuntimeError,
        match=r"could not download torchvision's ImageNet weights for ResNet-18 .*"
        r"https://download\.pytorch\.org/models/resnet18-.*place it at .*torch/hub/checkpoints/"
        r"resnet18-.*backbone_weights=False.*model\.backbone\.weights=null",
    ):
        models.build(
            {
                "name": "r18",
                "num_classes": 2,
                "backbone": {"depth": 18, "weights": "IMAGENET1K_V1"},
                "head": {"name": "fcn", "channels": 8},
            },
            backbone_weights=True,
        )


def test_cli_convert_mmseg(tmp_path, capsys):
    state = mmseg_layout(18, num_classes=19, **SMALL)
    torch.save({"state_dict": state}, tmp_path / "fcn.pth")
    assert cli_main(["convert", "mmseg", str(tmp_path / "fcn.pth"), str(tmp_path / "out.pth"), "--align-corners"]) == 0
    assert "19 classes, ResNet-18 + ann head" in capsys.readouterr().out
    model = load(tmp_path / "out.pth")
    images = torch.randn(1, 3, 35, 29)
    with torch.no_grad():
        expected, _ = mmseg_forward(state, images, depth=18, align_corners=True)
        assert (model(images) - expected).abs().max() <= 1e-4
    assert (
        cli_main(
            [
                "convert",
                "mmseg",
                str(tmp_path / "fcn.pth"),
                str(tmp_path / "x.pth"),
                "--preset",
                "mmseg_ann_r50_d8_voc12aug",
            ]
        )
        == 2
    )  # a user error: one line, exit code 2
    assert re.search(r"annkit: error: .*mis-shaped .*classifier", capsys.readouterr().err)
    assert cli_main(["convert", "mmseg", str(tmp_path / "missing.pth"), str(tmp_path / "x.pth")]) == 2
    assert "checkpoint " + str(tmp_path / "missing.pth") + " does not exist" in capsys.readouterr().err
