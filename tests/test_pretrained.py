"""Checkpoint registry, download (simulated: tests never touch the network), hash checks, safe loading, CLI."""

from __future__ import annotations

import shutil
from urllib.error import URLError

import pytest
import torch

from annkit.cli import main as cli_main
from annkit.config import preset_names
from annkit.models import pretrained
from annkit.models.pretrained import CHECKPOINTS, Checkpoint, download, from_pretrained, load, load_file, sha256_of
from test_convert_mmseg import mmseg_forward, mmseg_layout

SMALL = dict(channels=64, project=32, aux_channels=32)


def test_registry_covers_the_zoo():
    mmseg = {name: entry for name, entry in CHECKPOINTS.items() if entry.family == "mmseg"}
    assert len(mmseg) == 12
    for name, entry in mmseg.items():
        assert entry.url.startswith("https://download.openmmlab.com/mmsegmentation/v0.5/ann/")
        assert name in entry.url and len(entry.hash_prefix) == 8 and entry.preset in preset_names()
        assert entry.align_corners == ("769x769" in name)
    assert CHECKPOINTS["ann_r50-d8_512x512_20k_voc12aug"].hash_prefix == "dfcb1c62"


def test_download_without_network_fails_clearly(tmp_path, monkeypatch):
    def offline(url, dst, hash_prefix=None, progress=True):
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(RuntimeError, match=r"could not download https://.*place it at .*dfcb1c62\.pth"):
        from_pretrained("ann_r50-d8_512x512_20k_voc12aug", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown pretrained model 'ann_r7'"):
        from_pretrained("ann_r7")


def test_from_pretrained_downloads_checks_converts_and_loads(tmp_path, monkeypatch):
    source = tmp_path / "zoo.pth"
    state = mmseg_layout(50, num_classes=21)
    torch.save({"meta": {"config": "…"}, "state_dict": state}, source)
    prefix = sha256_of(source)[:8]
    calls = []

    def fake_download(url, dst, hash_prefix=None, progress=True):
        calls.append((url, hash_prefix))
        shutil.copyfile(source, dst)

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    monkeypatch.setitem(CHECKPOINTS, "fake", Checkpoint(f"https://example.invalid/fake-{prefix}.pth",
                                                        "mmseg_ann_r50_d8_voc12aug", 0.0))
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


def test_truncated_and_unsafe_files_are_refused(tmp_path):
    good = tmp_path / "good.pth"
    torch.save({"state_dict": {"w": torch.zeros(100)}}, good)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ValueError, match=r"cannot read checkpoint .*truncated\.pth"):
        load_file(truncated)
    unsafe = tmp_path / "unsafe.pth"
    torch.save({"state_dict": {}, "hook": Checkpoint("u", "p", 0.0)}, unsafe)  # an arbitrary class: not weights
    with pytest.raises(ValueError, match="weights_only=True"):
        load_file(unsafe)
    with pytest.raises(FileNotFoundError):
        load_file(tmp_path / "missing.pth")
    torch.save({"w": torch.zeros(1)}, tmp_path / "plain.pth")
    with pytest.raises(ValueError, match="not an annkit model file"):
        load(tmp_path / "plain.pth")
    with pytest.raises(ValueError, match="not an mmsegmentation segmentor checkpoint"):
        pretrained.convert_mmseg_checkpoint(tmp_path / "plain.pth")


def test_cli_convert_mmseg(tmp_path, capsys):
    state = mmseg_layout(18, num_classes=19, **SMALL)
    torch.save({"state_dict": state}, tmp_path / "fcn.pth")
    assert cli_main(["convert", "mmseg", str(tmp_path / "fcn.pth"), str(tmp_path / "out.pth"),
                     "--align-corners"]) == 0
    assert "19 classes, ResNet-18 + ann head" in capsys.readouterr().out
    model = load(tmp_path / "out.pth")
    images = torch.randn(1, 3, 35, 29)
    with torch.no_grad():
        expected, _ = mmseg_forward(state, images, depth=18, align_corners=True)
        assert (model(images) - expected).abs().max() <= 1e-4
    with pytest.raises(ValueError, match=r"mis-shaped .*classifier"):
        cli_main(["convert", "mmseg", str(tmp_path / "fcn.pth"), str(tmp_path / "x.pth"),
                  "--preset", "mmseg_ann_r50_d8_voc12aug"])
