"""Nothing lost: predict never overwrites an input, extraction is all-or-nothing, one image reader (16-bit, EXIF),
a full disk is named and leaves no stray file. Each test recreates the real fault: a real kill -9, a real full
file system (tmpfs), real 16-bit and EXIF-rotated files."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from annkit import models
from annkit.atomic import write_text
from annkit.cli import main as cli
from annkit.data import DownloadError, load_mask, read_image
from annkit.data.download import ARCHIVES, COMPLETE, Archive, download
from annkit.errors import DiskFullError
from annkit.torchfile import atomic_save


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    torch.manual_seed(0)
    models.save(models.build("tiny_fcn", num_classes=3), path)
    return path


def _photo(path: Path, size=(48, 32), seed=0, **save) -> Path:
    rgb = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(rgb).save(path, **save)
    return path


# --- 1. predict -----------------------------------------------------------------------------------------------


def test_predict_never_overwrites_an_input_and_never_collides(model_file, tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    a_jpg, a_png = _photo(photos / "a.jpg", seed=1), _photo(photos / "a.png", seed=2)
    before = {p: p.read_bytes() for p in (a_jpg, a_png)}
    # same stem, --out = the image folder: before, a.png (an input) was overwritten by a mask, "wrote 4 files"
    assert cli(["predict", str(a_jpg), str(a_png), "--checkpoint", str(model_file), "--out", str(photos)]) == 0
    out = capsys.readouterr().out
    assert out.strip().endswith("a_jpg.png, a_jpg_overlay.png, a_png.png, a_png_overlay.png")
    assert {p: p.read_bytes() for p in (a_jpg, a_png)} == before
    assert sorted(p.name for p in photos.iterdir()) == [
        "a.jpg",
        "a.png",
        "a_jpg.png",
        "a_jpg_overlay.png",
        "a_png.png",
        "a_png_overlay.png",
    ]
    assert load_mask(photos / "a_jpg.png").shape == (32, 48)
    # a lone a.png predicted into its own folder would be replaced by its mask: refused, nothing written
    assert cli(["predict", str(a_png), "--checkpoint", str(model_file), "--out", str(photos)]) == 2
    assert "would overwrite the input image(s)" in capsys.readouterr().err and a_png.read_bytes() == before[a_png]
    other = tmp_path / "other"
    other.mkdir()
    _photo(other / "a.jpg", seed=3)
    assert (
        cli(
            [
                "predict",
                str(a_jpg),
                str(other / "a.jpg"),
                "--checkpoint",
                str(model_file),
                "--out",
                str(tmp_path / "pred"),
            ]
        )
        == 2
    )
    assert "would both be written to" in capsys.readouterr().err and not (tmp_path / "pred").exists()


# --- 3. extraction --------------------------------------------------------------------------------------------

# An extraction that SIGKILLs itself after its 100th file: what kill -9 mid-extraction leaves, at a point chosen
# exactly instead of by polling a race.
_EXTRACT = """
import os, signal, sys, tarfile
from pathlib import Path
from annkit.data import download as d
make, made = tarfile.TarFile.makefile, []

def makefile(self, tarinfo, targetpath):
    make(self, tarinfo, targetpath)
    made.append(targetpath)
    if len(made) == 100:
        os.kill(os.getpid(), signal.SIGKILL)

tarfile.TarFile.makefile = makefile
d.ARCHIVES["voc"] = d.Archive("https://example.invalid/voc.tar", sys.argv[2], "", "VOCdevkit/VOC2012")
d.download("voc", Path(sys.argv[1]), progress=False)
"""


def test_a_killed_extraction_is_never_trusted(tmp_path, monkeypatch):
    source = tmp_path / "src" / "VOCdevkit" / "VOC2012" / "JPEGImages"
    source.mkdir(parents=True)
    for i in range(300):
        (source / f"{i:05d}.jpg").write_bytes(os.urandom(1024))
    root = tmp_path / "data"
    root.mkdir()
    archive = root / "voc.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(tmp_path / "src" / "VOCdevkit", arcname="VOCdevkit")
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    monkeypatch.setitem(ARCHIVES, "voc", Archive("https://example.invalid/voc.tar", md5, "", "VOCdevkit/VOC2012"))
    staging = root / ".voc.tar.extracting" / "VOCdevkit" / "VOC2012" / "JPEGImages"
    killed = subprocess.run([sys.executable, "-c", _EXTRACT, str(root), md5], capture_output=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    assert len(os.listdir(staging)) == 100, "the extraction was not cut mid-way"
    assert not (root / "VOCdevkit" / "VOC2012").exists()  # nothing half-done where the data set belongs
    target = download("voc", root, progress=False)  # the rerun extracts again, completely
    assert len(os.listdir(target / "JPEGImages")) == 300 and (target / COMPLETE).is_file()
    assert not (root / ".voc.tar.extracting").exists()
    (target / COMPLETE).unlink()  # a folder annkit did not finish (e.g. an older annkit killed mid-way)
    with pytest.raises(DownloadError, match=r"exists but was not completely extracted.*Delete it and rerun"):
        download("voc", root, progress=False)


# --- 4. one image reader --------------------------------------------------------------------------------------


def test_sixteen_bit_pngs_are_rescaled_not_clipped_everywhere(model_file, tmp_path):
    values = np.linspace(0, 65535, 40 * 24).reshape(24, 40).astype(np.uint16)  # (H, W)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    assert Image.open(path).mode.startswith("I")  # really 16-bit on disk
    image = read_image(path)  # (3, H, W) uint8
    expected = torch.from_numpy(np.round(values / 257).astype(np.uint8))
    assert (image[0].int() - expected.int()).abs().max() <= 1 and torch.equal(image[0], image[2])
    assert (image == 255).float().mean() < 0.01  # before: 99.6 % of pixels clipped to white


def test_exif_rotated_photos_are_read_upright_by_loaders_and_predict(model_file, tmp_path, capsys):
    raw = np.zeros((32, 48, 3), dtype=np.uint8)  # stored landscape: left half red, right half blue
    raw[:, :24, 0], raw[:, 24:, 2] = 255, 255
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: viewers turn it 90° clockwise, to a 48-high portrait
    path = tmp_path / "portrait.jpg"
    Image.fromarray(raw).save(path, exif=exif, quality=95)
    image = read_image(path)
    assert tuple(image.shape) == (3, 48, 32)
    assert image[0, :20].float().mean() > 200 and image[2, 28:].float().mean() > 200  # red on top, blue below
    assert cli(["predict", str(path), "--checkpoint", str(model_file), "--out", str(tmp_path / "pred")]) == 0
    assert load_mask(tmp_path / "pred" / "portrait.png").shape == (48, 32)  # lines up with the upright photo


# --- 11. disk full --------------------------------------------------------------------------------------------


@pytest.fixture
def full_disk(tmp_path):
    """A real 1 MiB tmpfs (needs root / CAP_SYS_ADMIN; skipped otherwise), unmounted afterwards."""
    mount = tmp_path / "tiny_fs"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1M", "tmpfs", str(mount)], capture_output=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({result.stderr.decode().strip() or 'not permitted'})")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_disk_full_is_named_keeps_the_old_file_and_leaves_no_tmp(full_disk):
    atomic_save({"w": torch.ones(100_000)}, full_disk / "last.pt")  # 400 kB fits
    with pytest.raises(DiskFullError, match=r"disk full while writing .*tiny_fs/last\.pt \(.* MiB free"):
        atomic_save({"w": torch.zeros(200_000)}, full_disk / "last.pt")  # 800 kB does not fit beside it
    assert torch.equal(torch.load(full_disk / "last.pt", weights_only=True)["w"], torch.ones(100_000))
    with pytest.raises(DiskFullError):
        write_text(full_disk / "big.txt", "x" * 2_000_000)
    assert sorted(p.name for p in full_disk.iterdir()) == ["last.pt"]  # no stray .tmp
