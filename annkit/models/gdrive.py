"""Download a publicly shared Google Drive file (the official ANN checkpoints live there).

Drive answers a direct download of a large file with an HTML page ("can't scan this file for viruses") whose form
carries the parameters of the real download (``id``, ``export``, ``confirm``, ``uuid``). ``download_drive_file``
reads that form and follows it once; if Drive still answers with HTML (quota exceeded, file removed, a new page
layout), it stops with an error that says where to place a manually downloaded copy.
"""

from __future__ import annotations

import re
import shutil
import urllib.parse
import urllib.request
from pathlib import Path

DIRECT = "https://drive.google.com/uc?export=download&id={}"
USER_CONTENT = "https://drive.usercontent.google.com/download"


def drive_file_id(url: str) -> str | None:
    """The file id of a Drive sharing URL (``…open?id=ID``, ``…/file/d/ID/…``, ``…uc?id=ID``), else None."""
    found = re.search(r"[?&]id=([\w-]{20,})", url) or re.search(r"/file/d/([\w-]{20,})", url)
    return found.group(1) if found else None


def _confirm_url(page: str) -> str | None:
    """The real download URL in Drive's virus-scan warning page (its form's action + hidden inputs), or None."""
    form = re.search(r'<form[^>]*action="([^"]+)"[^>]*>(.*?)</form>', page, re.S)
    if not form:
        return None
    fields = dict(re.findall(r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form.group(2)))
    return form.group(1).replace("&amp;", "&") + "?" + urllib.parse.urlencode(fields) if fields else None


def download_drive_file(url: str, path: str | Path, *, timeout: float = 60.0) -> Path:
    """Fetch the Drive file shared at ``url`` to ``path`` (via ``path.part``, renamed when complete)."""
    path = Path(path)
    file_id = drive_file_id(url)
    if file_id is None:
        raise ValueError(f"{url!r} is not a Google Drive file URL (expected …?id=ID or …/file/d/ID)")
    manual = (
        f"download {url} in a browser (confirm Drive's warning page) and save it as {path}; annkit then uses that file"
    )
    part = path.with_name(path.name + ".part")
    path.parent.mkdir(parents=True, exist_ok=True)
    target = DIRECT.format(file_id)
    for _ in range(2):  # the direct link, then the confirmed one
        try:
            with urllib.request.urlopen(target, timeout=timeout) as response:
                if "text/html" not in response.headers.get("Content-Type", ""):
                    with open(part, "wb") as file:
                        shutil.copyfileobj(response, file, 1 << 20)
                    part.replace(path)
                    return path
                page = response.read().decode("utf-8", "replace")
        except OSError as err:  # URLError, timeouts, refused connections
            raise RuntimeError(f"could not download {url} ({err}). Without network access, {manual}") from err
        target = _confirm_url(page)
        if target is None:
            break
    raise RuntimeError(
        f"Google Drive did not hand out {url} (it answered with a web page: quota exceeded, "
        f"removed, or a changed page). Instead, {manual}"
    )
