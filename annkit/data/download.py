"""Downloads of Pascal VOC 2012, SBD, ADE20K and VOC 2010: resumable (HTTP Range), MD5-verified, clear when offline.

VOC and SBD addresses and checksums are torchvision's (``torchvision.datasets.VOCSegmentation``, ``SBDataset``), so
there is one source of truth; ADE20K's is the SceneParsing challenge's public zip (MD5 as published with
torchvision's proposed ``ADE20K`` dataset and several segmentation repositories). Cityscapes needs a login and
PASCAL Context a conversion with the Detail API: for those ``download`` raises with the exact steps instead.
Extraction uses ``torchvision.datasets.utils.extract_archive``. torchvision's own
``download_url`` restarts from zero after an interruption, which hurts for 2 GB, hence ``fetch`` here. An
archive is unpacked into a temporary folder and moved into place only when complete (``extract``).
"""

from __future__ import annotations

import shutil
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from torchvision.datasets import SBDataset
from torchvision.datasets.utils import calculate_md5, extract_archive
from torchvision.datasets.voc import DATASET_YEAR_DICT

from annkit.data import cityscapes, pascal_context
from annkit.data.errors import DownloadError
from annkit.errors import ConfigError


@dataclass(frozen=True)
class Archive:
    """A dataset archive: where it lives, its MD5, and the folder it unpacks to (relative to the data root)."""

    url: str
    md5: str
    size: str  # for messages
    extracts_to: str

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


ARCHIVES: dict[str, Archive] = {
    "voc": Archive(DATASET_YEAR_DICT["2012"]["url"], DATASET_YEAR_DICT["2012"]["md5"], "2.0 GB", "VOCdevkit/VOC2012"),
    "sbd": Archive(SBDataset.url, SBDataset.md5, "1.4 GB", "benchmark_RELEASE/dataset"),
    "ade20k": Archive(
        "http://data.csail.mit.edu/places/ADEchallenge/ADEChallengeData2016.zip",
        "7328b3957e407ddae1d3cbf487f149ef",
        "≈ 0.9 GB",
        "ADEChallengeData2016",
    ),
    "voc2010": Archive(
        DATASET_YEAR_DICT["2010"]["url"], DATASET_YEAR_DICT["2010"]["md5"], "1.3 GB", "VOCdevkit/VOC2010"
    ),
}
INSTRUCTIONS: dict[str, str] = {"cityscapes": cityscapes.GET, "pascal_context": pascal_context.GET}


def _offline(url: str, dest: Path, name: str, error: Exception) -> DownloadError:
    return DownloadError(
        f"cannot download {url} ({error}). Are you offline? Fetch the file by other means, put it at {dest}, "
        f"and rerun `annkit data download {name} --root {dest.parent}`: it verifies the MD5 and extracts."
    )


def fetch(url: str, dest: Path, md5: str, name: str = "", chunk_size: int = 1 << 20, progress: bool = True) -> Path:
    """Download ``url`` to ``dest``, resuming a partial ``dest.part``; verify the MD5; return ``dest``.

    A complete ``dest`` with the right MD5 is kept as is. The partial file survives interruptions; if the
    server ignores the Range request (status 200 instead of 206) the download restarts from zero.
    """
    if dest.is_file():
        if calculate_md5(dest) == md5:
            return dest
        raise DownloadError(f"{dest} exists but its MD5 is {calculate_md5(dest)}, expected {md5}; delete it and rerun")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=60)
    except urllib.error.HTTPError as error:
        if error.code != 416:  # 416: nothing left past `have`, the partial file is already complete
            raise DownloadError(f"server answered {error.code} {error.reason} for {url}") from error
    except (urllib.error.URLError, OSError) as error:
        raise _offline(url, dest, name, error) from error
    else:
        with response:
            resumed = have > 0 and response.status == 206
            total = int(response.headers.get("Content-Length") or 0) + (have if resumed else 0)
            bar = None
            if progress:
                from tqdm import tqdm

                bar = tqdm(
                    total=total or None,
                    initial=have if resumed else 0,
                    unit="B",
                    unit_scale=True,
                    desc=dest.name,
                    file=sys.stderr,
                )
            try:
                with open(part, "ab" if resumed else "wb") as out:
                    while chunk := response.read(chunk_size):
                        out.write(chunk)
                        if bar is not None:
                            bar.update(len(chunk))
            except OSError as error:
                raise _offline(url, dest, name, error) from error
            finally:
                if bar is not None:
                    bar.close()
    actual = calculate_md5(part)
    if actual != md5:
        part.unlink()
        raise DownloadError(
            f"{url}: downloaded file has MD5 {actual}, expected {md5}; the partial file was "
            f"removed, rerun to download again"
        )
    part.rename(dest)
    return dest


#: written into an extracted folder as its last step; a folder without it is not trusted as complete
COMPLETE = ".annkit-extracted"


def extract(path: Path, archive: Archive, root: Path) -> Path:
    """Unpack ``path`` into a fresh temporary folder under ``root``, check that ``archive.extracts_to`` is there,
    mark it complete, then move it into place with one rename: an interruption (even ``kill -9``) never leaves a
    partial dataset where a complete one is expected; the next run starts the extraction again."""
    staging = root / f".{archive.filename}.extracting"
    shutil.rmtree(staging, ignore_errors=True)  # left by an interrupted extraction
    extract_archive(str(path), str(staging))
    extracted, target = staging / archive.extracts_to, root / archive.extracts_to
    if not extracted.is_dir():
        shutil.rmtree(staging, ignore_errors=True)
        raise DownloadError(f"{path} extracted, but {archive.extracts_to} is not in it; expected the standard layout")
    (extracted / COMPLETE).write_text(f"{archive.filename} md5 {archive.md5}\n")
    target.parent.mkdir(parents=True, exist_ok=True)
    extracted.rename(target)
    shutil.rmtree(staging, ignore_errors=True)
    return target


def download(name: str, root: str | Path = "data", keep_archive: bool = True, progress: bool = True) -> Path:
    """Download and extract dataset ``name`` (a key of ``ARCHIVES``) under ``root``; returns the extracted folder.
    For a key of ``INSTRUCTIONS`` (Cityscapes, PASCAL Context) it raises a DownloadError that gives the steps."""
    if name in INSTRUCTIONS:
        raise DownloadError(INSTRUCTIONS[name].replace("DATA", str(root)))
    if name not in ARCHIVES:
        raise ConfigError(f"unknown dataset {name!r}; expected one of {sorted(ARCHIVES) + sorted(INSTRUCTIONS)}")
    archive, root = ARCHIVES[name], Path(root)
    target = root / archive.extracts_to
    if (target / COMPLETE).is_file():
        return target
    if target.exists():
        raise DownloadError(
            f"{target} exists but was not completely extracted by annkit (no {COMPLETE} in it: an "
            f"interrupted extraction, or a copy made by hand). Delete it and rerun `annkit data "
            f"download {name} --root {root}`; a copy of your own can be checked with "
            f"`annkit data check {target}`"
        )
    path = fetch(archive.url, root / archive.filename, archive.md5, name=name, progress=progress)
    extract(path, archive, root)
    if not keep_archive:
        path.unlink()
    return target
