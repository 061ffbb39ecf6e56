"""Files written whole or not at all: write ``NAME.tmp``, flush it to disk, rename it over ``NAME``.

A rename within one folder is atomic on POSIX, so a crash (even ``kill -9``) or a full disk leaves either the old
file or the new one, never half of one. A failed write removes its ``.tmp`` and raises the user-facing error
(``annkit.errors.os_error``: a full disk says so and where). Imports nothing of annkit but ``annkit.errors``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import IO

from annkit.errors import os_error


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write(file)`` on ``path.tmp`` (binary), fsync it, then rename it over ``path``."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        tmp.replace(path)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise os_error(error, path) from error
    except BaseException:  # a failed serialisation or Ctrl-C: no stray .tmp either
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write(path, lambda file: file.write(text.encode()))
