"""Read PaddlePaddle ``.pdparams`` files (what ``paddle.save(model.state_dict(), path)`` writes) without Paddle,
and without running any code the file names.

A ``.pdparams`` file is a pickle of a dict ``{structured name: numpy array}`` plus one bookkeeping entry,
``"StructuredToParameterName@@"`` (structured name → Paddle's internal parameter name). Python's pickle can call
any importable function while loading, so a downloaded pickle is a program. ``torch.load(weights_only=True)``
cannot read these files (it admits torch's types, not numpy's), and plain ``pickle.load`` would run whatever the
file asks for. This reader's unpickler resolves exactly the globals that numpy's own pickling of arrays needs and
refuses every other one, naming it:

- ``numpy._core.multiarray._reconstruct`` (numpy ≥ 2; ``numpy.core.multiarray`` in files written with numpy 1),
  ``numpy.ndarray``, ``numpy.dtype`` — an array pickled with protocol 2–4;
- ``numpy._core.numeric._frombuffer`` (or ``numpy.core.numeric``) — an array pickled with protocol 5;
- ``_codecs.encode`` — how protocol 2 (Paddle's older ``save_dygraph``) stores the array's raw bytes.
Each of them only builds an array or a bytes object from data. After loading, every value must be a numeric
array (object arrays are refused), so what comes out is data only.
"""

from __future__ import annotations

import codecs
import pickle
from pathlib import Path

import numpy as np

#: the bookkeeping entry ``paddle.save`` adds to a state dict (not a parameter)
NAME_TABLE_KEY = "StructuredToParameterName@@"

_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]  # numpy's array re-builder, whatever module holds it
_FROMBUFFER = np.zeros(1).__reduce_ex__(5)[0]  # the protocol-5 re-builder

#: (module, name) in the pickle → the object it may resolve to; nothing else is importable from a .pdparams file
_ALLOWED = {
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy.core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,
}


class UnsafePickleError(pickle.UnpicklingError):
    """A ``.pdparams`` file asked for a global outside the numpy-array allowlist."""


class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler whose ``find_class`` is the allowlist above: any other global is an error, never imported."""

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[module, name]
        except KeyError:
            raise UnsafePickleError(
                f"refusing to load global {module}.{name}: a .pdparams file may only hold numpy arrays "
                f"(allowed: {', '.join(sorted(f'{m}.{n}' for m, n in _ALLOWED))})"
            ) from None

    def persistent_load(self, pid):
        raise UnsafePickleError(f"refusing persistent id {pid!r}: a .pdparams file holds plain numpy arrays")


def read_pdparams(path: str | Path) -> dict[str, np.ndarray]:
    """The parameters of a Paddle ``.pdparams`` file: {structured name: numeric numpy array}.

    Drops Paddle's ``StructuredToParameterName@@`` table. Raises ``UnsafePickleError`` (naming the global) for a
    file that asks for anything but numpy's array re-builders, ValueError for a file that is not a pickled dict of
    numeric arrays, FileNotFoundError for a missing file. No code from the file runs.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Paddle parameter file {path} does not exist")
    with open(path, "rb") as file:
        try:
            state = _ArrayUnpickler(file).load()
        except UnsafePickleError as err:
            raise UnsafePickleError(f"{path}: {err}") from None
        except Exception as err:  # truncated file, not a pickle, …
            raise ValueError(f"cannot read {path} as a Paddle .pdparams pickle: {err}") from err
    if not isinstance(state, dict):
        raise ValueError(
            f"{path} holds a {type(state).__name__}, expected a dict of arrays (paddle.save of a state_dict)"
        )
    state.pop(NAME_TABLE_KEY, None)
    bad = [
        f"{key!r} ({type(value).__name__}{'/' + str(value.dtype) if isinstance(value, np.ndarray) else ''})"
        for key, value in state.items()
        if not isinstance(key, str) or not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf"
    ]
    if bad:
        raise ValueError(
            f"{path} is not a plain Paddle state dict: expected numeric arrays under string names, got {bad[:5]}"
        )
    return state
