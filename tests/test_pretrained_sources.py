"""Registry rows beyond mmseg's ANN: the Google Drive fetch of the official files (simulated confirmation page),
from_pretrained for the official and baseline rows, list_pretrained, the README table and the CLI."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import pytest
import torch
from reference_mmseg import baseline_layout, mmseg_baseline_forward
from reference_official import official_layout

from annkit.cli import main as cli_main
from annkit.models import CHECKPOINTS, gdrive, list_pretrained, load, pretrained
from annkit.models.pretrained import from_pretrained, sha256_of
from annkit.models.zoo import markdown_table

README = Path(__file__).resolve().parents[1] / "README.md"
FILE_ID = "1lw4g41l8tX3XZsdW3WuDGDSxiI77Fw13"
WARNING_PAGE = (
    f'<html><body>Google Drive can\'t scan this file for viruses.<form id="download-form" '
    f'action="https://drive.usercontent.google.com/download" method="get">'
    f'<input type="hidden" name="id" value="{FILE_ID}"><input type="hidden" name="export" '
    f'value="download"><input type="hidden" name="confirm" value="t"><input type="hidden" '
    f'name="uuid" value="abc-123"></form></body></html>'
)


class _Response(io.BytesIO):
    def __init__(self, body: bytes, content_type: str):
        super().__init__(body)
        self.headers = {"Content-Type": content_type}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _fake_drive(payload: bytes, seen: list[str], confirm: bool = True):
    def urlopen(url, timeout=None):
        seen.append(url)
        if "drive.usercontent.google.com" in url and confirm:
            return _Response(payload, "application/octet-stream")
        return _Response(WARNING_PAGE.encode(), "text/html; charset=utf-8")

    return urlopen


def test_drive_download_follows_the_confirmation_form(tmp_path, monkeypatch):
    seen: list[str] = []
    monkeypatch.setattr(gdrive.urllib.request, "urlopen", _fake_drive(b"PK-checkpoint-bytes", seen))
    path = gdrive.download_drive_file(f"https://drive.google.com/open?id={FILE_ID}", tmp_path / "ann.pth")
    assert path.read_bytes() == b"PK-checkpoint-bytes" and not (tmp_path / "ann.pth.part").exists()
    assert seen[0] == f"https://drive.google.com/uc?export=download&id={FILE_ID}"
    assert seen[1].startswith("https://drive.usercontent.google.com/download?") and "confirm=t" in seen[1]
    assert "uuid=abc-123" in seen[1]


def test_drive_failure_says_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(gdrive.urllib.request, "urlopen", _fake_drive(b"", [], confirm=False))
    with pytest.raises(RuntimeError, match=r"answered with a web page.*save it as .*ann_official_r101_cityscapes_val"):
        from_pretrained("ann_official_r101_cityscapes_val", cache_dir=tmp_path)

    def offline(url, timeout=None):
        raise OSError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(gdrive.urllib.request, "urlopen", offline)
    with pytest.raises(RuntimeError, match=r"Without network access, download https://drive\.google\.com/open\?id="):
        from_pretrained("ann_official_r101_cityscapes_trainval", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="not a Google Drive file URL"):
        gdrive.download_drive_file("https://example.invalid/x.pth", tmp_path / "x.pth")


@pytest.fixture(scope="module")
def official_file(tmp_path_factory):
    """A random official R-101 checkpoint (as MendelXu/ANN saves it), written once for this module's tests."""
    path = tmp_path_factory.mktemp("official") / "ann_official_r101_cityscapes_val.pth"
    torch.save({"state_dict": official_layout(101)}, path)
    return path


def test_from_pretrained_official_uses_a_file_placed_by_hand(tmp_path, monkeypatch, official_file):
    shutil.copyfile(official_file, tmp_path / "ann_official_r101_cityscapes_val.pth")
    monkeypatch.setattr(gdrive.urllib.request, "urlopen", lambda *a, **k: pytest.fail("no download expected"))
    model = from_pretrained("ann_official_r101_cityscapes_val", cache_dir=tmp_path)
    assert model.config.name == "ann_official_r101_cityscapes_val" and model.config.channel_order == "BGR"
    assert model.config.classes[0] == "road" and not model.training


def test_from_pretrained_baseline_reads_architecture_and_labels(tmp_path, monkeypatch):
    state = baseline_layout("aspp", num_classes=21)
    torch.save({"state_dict": state}, tmp_path / "src.pth")
    prefix = sha256_of(tmp_path / "src.pth")[:8]
    monkeypatch.setattr(
        torch.hub, "download_url_to_file", lambda url, dst, **kw: shutil.copyfile(tmp_path / "src.pth", dst)
    )
    row = CHECKPOINTS["deeplabv3_r50-d8_512x512_20k_voc12aug"]
    monkeypatch.setitem(
        CHECKPOINTS,
        "deeplabv3_r50-d8_512x512_20k_voc12aug",
        type(row)(**{**row.__dict__, "url": row.url.replace("596905ef", prefix)}),
    )
    model = from_pretrained("deeplabv3_r50-d8_512x512_20k_voc12aug", cache_dir=tmp_path / "hub")
    assert model.config.head.name == "aspp" and model.config.classes[15] == "person"
    images = torch.randn(1, 3, 41, 50)
    with torch.no_grad():
        assert (model(images) - mmseg_baseline_forward(state, images, "aspp")).abs().max() <= 1e-4


def test_list_pretrained_and_readme_table_agree():
    rows = list_pretrained()
    assert {r["name"] for r in rows} == set(CHECKPOINTS)
    assert {r["family"] for r in list_pretrained(dataset="voc12aug")} >= {"ann", "fcn", "psp", "deeplabv3", "nonlocal"}
    readme = README.read_text()
    table = re.search(r"<!-- pretrained-table:start -->\n(.*?)\n<!-- pretrained-table:end -->", readme, re.S)
    assert table is not None, "README lacks the pretrained-table markers"
    assert table.group(1) == markdown_table(), "README's table is stale: paste `annkit models list --markdown`"


def test_cli_models_list(capsys):
    assert cli_main(["models", "list", "--family", "deeplabv3"]) == 0
    out = capsys.readouterr().out
    assert "deeplabv3_r101-d8_512x1024_40k_cityscapes" in out and "ann_r50" not in out
    assert cli_main(["models", "list", "--markdown"]) == 0
    assert capsys.readouterr().out.strip() == markdown_table()


def test_cli_convert_official(tmp_path, capsys, official_file):
    assert cli_main(["convert", "official", str(official_file), str(tmp_path / "out.pth")]) == 0
    assert "19 classes" in capsys.readouterr().out
    assert load(tmp_path / "out.pth").config.channel_order == "BGR"
    assert pretrained.CHECKPOINTS is CHECKPOINTS
