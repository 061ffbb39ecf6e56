"""Errors raised for bad dataset input. Each names the offending file or folder and what was expected.

They subclass ``annkit.errors.UserError`` (the ``annkit`` command prints them as one line, exit code 2) and the
built-in errors that fit (``FileNotFoundError`` for something missing, ``ValueError`` for content of the wrong
form), so callers can catch either the precise or the general kind.
"""

from __future__ import annotations

from annkit.errors import UserError


class DatasetNotFoundError(UserError, FileNotFoundError):
    """A dataset root, split file or listed file is missing; the message says how to get it."""


class UnpairedFileError(UserError, FileNotFoundError):
    """An image has no mask, or a mask has no image."""


class CorruptFileError(UserError, ValueError):
    """An image or mask file cannot be decoded, or decodes to something other than expected."""


class MaskValueError(UserError, ValueError):
    """A mask holds a value that is neither a class id of the dataset nor 255 (ignore)."""


class SizeMismatchError(UserError, ValueError):
    """An image and its mask differ in height or width."""


class EmptySplitError(UserError, ValueError):
    """A split file lists no samples."""


class DownloadError(UserError, ConnectionError):
    """A download failed (offline, server error) or its checksum does not match."""
