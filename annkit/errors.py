"""The errors a user can fix: bad input, a refused request, a full disk. One policy for the whole package.

Every error meant for a user subclasses ``UserError`` (besides the built-in kind that fits, ``ValueError`` for
content of the wrong form, ``FileNotFoundError`` for something missing, so callers may catch either). Its
message names the offending thing and what was expected. The ``annkit`` command prints such an error as one
line, ``annkit: error: …``, and exits with ``EXIT_USER_ERROR`` (2); anything else is a bug and keeps its
traceback. This module imports nothing: every package of annkit may use it.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

EXIT_USER_ERROR = 2  # bad input or a refused request (argparse uses 2 for bad arguments as well)


class UserError(Exception):
    """An error the user can fix; the message says what is wrong and what was expected."""


class ConfigError(UserError, ValueError):
    """A preset, YAML file, override or flag the engine cannot use; the message names the key and what was
    expected."""


class MissingFileError(UserError, FileNotFoundError):
    """A file or folder the user named does not exist (or is not the kind of thing expected)."""


class DiskFullError(UserError, OSError):
    """No space was left on the device while writing a file; the previous version of the file is intact."""


class FileAccessError(UserError, OSError):
    """A file could not be read or written (permissions, read-only file system, a folder where a file should be)."""


class WeightsDownloadError(UserError, RuntimeError):
    """Model weights could not be downloaded (offline, server error) or the file is not the expected one; the
    message says what was being fetched, where it would be cached, and how to go on without it."""


def os_error(error: OSError, path: str | Path, action: str = "writing") -> UserError:
    """The user-facing form of ``error``, raised while ``action`` ``path``: disk full says so and where."""
    path = Path(path)
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        folder = next((p for p in (path, *path.parents) if p.exists()), Path("."))
        free = shutil.disk_usage(folder).free
        return DiskFullError(
            f"disk full while {action} {path} ({free / 2**20:.1f} MiB free on the "
            f"file system of {folder}); free some space or choose another output folder"
        )
    verb = {"writing": "write", "reading": "read"}.get(action, "use")
    return FileAccessError(f"cannot {verb} {path}: {error.strerror or error}")
