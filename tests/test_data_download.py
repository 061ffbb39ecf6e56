"""Downloads against a local HTTP server on 127.0.0.1 (never the network): resume, checksum, offline."""

from __future__ import annotations

import hashlib
import socket
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from annkit.cli import main
from annkit.data import DownloadError
from annkit.data import download as download_module
from annkit.data.download import Archive, download, fetch

PAYLOAD = bytes(range(256)) * 40  # 10 KiB
MD5 = hashlib.md5(PAYLOAD).hexdigest()


class Handler(BaseHTTPRequestHandler):
    """Serves ``server.files[path]``; honours ``Range: bytes=N-`` unless ``server.honour_range`` is off."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.server.ranges.append(self.headers.get("Range"))
        data = self.server.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        start = int(self.headers["Range"][6:-1]) if self.headers.get("Range") and self.server.honour_range else None
        if start is not None and start >= len(data):
            self.send_response(416)
            self.end_headers()
            return
        body = data if start is None else data[start:]
        self.send_response(200 if start is None else 206)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.files, httpd.ranges, httpd.honour_range = {"/file.bin": PAYLOAD}, [], True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_fetch_downloads_and_verifies(server, tmp_path: Path) -> None:
    dest = fetch(f"{server.url}/file.bin", tmp_path / "file.bin", MD5, progress=False)
    assert dest.read_bytes() == PAYLOAD and not (tmp_path / "file.bin.part").exists()
    assert fetch(f"{server.url}/file.bin", dest, MD5, progress=False) == dest and len(server.ranges) == 1  # cached


def test_fetch_resumes_a_partial_download(server, tmp_path: Path) -> None:
    (tmp_path / "file.bin.part").write_bytes(PAYLOAD[:3000])
    dest = fetch(f"{server.url}/file.bin", tmp_path / "file.bin", MD5, progress=False)
    assert server.ranges == ["bytes=3000-"] and dest.read_bytes() == PAYLOAD


def test_fetch_restarts_when_the_server_ignores_range(server, tmp_path: Path) -> None:
    server.honour_range = False
    (tmp_path / "file.bin.part").write_bytes(b"x" * 3000)  # stale bytes: must not survive
    assert fetch(f"{server.url}/file.bin", tmp_path / "file.bin", MD5, progress=False).read_bytes() == PAYLOAD


def test_fetch_accepts_a_complete_partial_file(server, tmp_path: Path) -> None:
    (tmp_path / "file.bin.part").write_bytes(PAYLOAD)  # interrupted just before the rename: server says 416
    assert fetch(f"{server.url}/file.bin", tmp_path / "file.bin", MD5, progress=False).read_bytes() == PAYLOAD


def test_checksum_mismatch_is_an_error_and_drops_the_partial_file(server, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=rf"file\.bin: downloaded file has MD5 {MD5}, expected 0+"):
        fetch(f"{server.url}/file.bin", tmp_path / "file.bin", "0" * 32, progress=False)
    assert not list(tmp_path.iterdir())
    (tmp_path / "file.bin").write_bytes(b"wrong")
    with pytest.raises(DownloadError, match=r"file\.bin exists but its MD5 is .* delete it"):
        fetch(f"{server.url}/file.bin", tmp_path / "file.bin", MD5, progress=False)


def test_http_error_names_the_status(server, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=r"server answered 404 .*missing\.bin"):
        fetch(f"{server.url}/missing.bin", tmp_path / "missing.bin", MD5, progress=False)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_offline_message_says_what_to_do(tmp_path: Path, monkeypatch, capsys) -> None:
    url = f"http://127.0.0.1:{closed_port()}/VOCtrainval_11-May-2012.tar"
    monkeypatch.setitem(download_module.ARCHIVES, "voc", Archive(url, MD5, "10 KiB", "VOCdevkit/VOC2012"))
    with pytest.raises(
        DownloadError, match=r"Are you offline\?.*VOCtrainval_11-May-2012\.tar.*annkit data download voc"
    ):
        download("voc", tmp_path, progress=False)
    assert main(["data", "download", "voc", "--root", str(tmp_path)]) == 2
    assert "Are you offline?" in capsys.readouterr().err


def test_download_extracts_the_standard_layout(server, tmp_path: Path, monkeypatch) -> None:
    source = tmp_path / "src" / "benchmark_RELEASE" / "dataset"
    source.mkdir(parents=True)
    (source / "train.txt").write_text("e\n")
    archive = tmp_path / "benchmark.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "src" / "benchmark_RELEASE", arcname="benchmark_RELEASE")
    server.files["/benchmark.tgz"] = archive.read_bytes()
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    monkeypatch.setitem(
        download_module.ARCHIVES,
        "sbd",
        Archive(f"{server.url}/benchmark.tgz", md5, "1 KiB", "benchmark_RELEASE/dataset"),
    )
    target = download("sbd", tmp_path / "data", keep_archive=False, progress=False)
    assert (target / "train.txt").read_text() == "e\n" and not (tmp_path / "data" / "benchmark.tgz").exists()
    assert download("sbd", tmp_path / "data", progress=False) == target  # already there: nothing fetched
    assert len(server.ranges) == 1


def test_archives_are_torchvisions() -> None:
    assert download_module.ARCHIVES["voc"].filename == "VOCtrainval_11-May-2012.tar"
    assert download_module.ARCHIVES["voc"].md5 == "6cd6e144f989b92b3379bac3b3de84fd"
    assert download_module.ARCHIVES["sbd"].filename == "benchmark.tgz"
    with pytest.raises(ValueError, match="unknown dataset 'coco'"):
        download("coco")


def test_ade20k_download_extracts_a_loadable_layout(server, tmp_path: Path, monkeypatch) -> None:
    import zipfile

    import numpy as np
    from PIL import Image

    from annkit.data import load_dataset

    source = tmp_path / "src"
    for folder, name in (
        ("images/validation", "ADE_val_00000001.jpg"),
        ("annotations/validation", "ADE_val_00000001.png"),
    ):
        (source / folder).mkdir(parents=True)
        array = np.full((4, 5, 3), 90, np.uint8) if name.endswith(".jpg") else np.full((4, 5), 3, np.uint8)
        Image.fromarray(array).save(source / folder / name)
    (source / "images" / "training").mkdir()
    archive = tmp_path / "ADEChallengeData2016.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in sorted(source.rglob("*")):
            bundle.write(path, "ADEChallengeData2016/" + path.relative_to(source).as_posix())
    server.files["/ADEChallengeData2016.zip"] = archive.read_bytes()
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    monkeypatch.setitem(
        download_module.ARCHIVES,
        "ade20k",
        Archive(f"{server.url}/ADEChallengeData2016.zip", md5, "1 KiB", "ADEChallengeData2016"),
    )
    target = download("ade20k", tmp_path / "data", progress=False)
    assert target == tmp_path / "data" / "ADEChallengeData2016"
    assert load_dataset("ade20k", tmp_path / "data", "val")[0]["mask"].unique().tolist() == [2]  # 3 → class 2


def test_ade20k_and_voc2010_archives() -> None:
    assert download_module.ARCHIVES["ade20k"].filename == "ADEChallengeData2016.zip"
    assert download_module.ARCHIVES["ade20k"].md5 == "7328b3957e407ddae1d3cbf487f149ef"
    assert download_module.ARCHIVES["voc2010"].filename == "VOCtrainval_03-May-2010.tar"
    with pytest.raises(DownloadError, match="Detail API"):
        download("pascal_context")
