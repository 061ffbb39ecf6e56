"""Reading the weights out of other frameworks' *training* checkpoints without running their pickled code.

``torch.load(weights_only=True)`` admits tensors and plain containers only. mmengine (mmsegmentation 1.x) training
checkpoints also hold the runner's bookkeeping — ``message_hub`` with ``mmengine.logging.HistoryBuffer`` objects,
numpy scalars and arrays, optimizer and scheduler state — so ``weights_only=True`` refuses the whole file, although
the model weights (``state_dict``) are plain tensors. Turning ``weights_only`` off would execute whatever the pickle
names. Instead, ``load_weights_entry`` lists the pickle's unknown globals (``torch.serialization.
get_unsafe_globals_in_checkpoint``, a static scan; for legacy non-zip files, the names ``weights_only`` refuses one
by one), allowlists an **inert stand-in** under each name
(``Opaque``: it records its constructor arguments and pickled state and does nothing else) and loads with
``weights_only=True`` still on. Nothing from the named modules is imported or called; torch's own blocklist
(``os``, ``sys``, …) still refuses those modules outright. The requested entry must then hold tensors only.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

from annkit.errors import MissingFileError

_MAX_STAND_INS = 64


class Opaque:
    """An inert stand-in for an object of a class the loader must not run (named in ``qualname``).

    Pickle may "call" it (REDUCE), create it (NEWOBJ) and set its state (BUILD); it only stores what it is given.
    """

    qualname = "?"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs

    def __setstate__(self, state: Any) -> None:
        self.__dict__["state"] = state

    def __repr__(self) -> str:
        return f"<Opaque stand-in for {self.qualname}>"


def _stand_in(qualname: str) -> type:
    return type(qualname.rsplit(".", 1)[-1], (Opaque,), {"qualname": qualname, "__module__": __name__})


def _load_with_stand_ins(path: Path) -> tuple[Any, list[str]]:
    """``torch.load(weights_only=True)``, with an ``Opaque`` stand-in allowlisted under each global it refuses.

    The names come from a static scan of the pickle for zip files; the legacy (pre-1.6, non-zip) format — the
    official ANN files — has no such scan in torch, so there each refusal names the next global to stand in for.
    """
    replaced: list[str] = []
    if zipfile.is_zipfile(path):
        replaced = list(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    for _ in range(_MAX_STAND_INS):
        try:
            with torch.serialization.safe_globals([(_stand_in(name), name) for name in replaced]):
                return torch.load(path, map_location="cpu", weights_only=True), replaced
        except pickle.UnpicklingError as err:
            refused = re.search(r"GLOBAL (\S+) was not an allowed global", str(err))
            if refused is None:
                raise
            name = refused.group(1) if "." in refused.group(1) else f"builtins.{refused.group(1)}"
            if name in replaced:
                raise
            replaced.append(name)
    raise pickle.UnpicklingError(f"more than {_MAX_STAND_INS} non-weights classes: {replaced[:5]} …")


def _read_error(path: Path, err: Exception) -> ValueError:
    return ValueError(f"cannot read checkpoint {path} as weights (torch.load weights_only=True): {err}")


def load_weights_entry(path: str | Path, entry: str = "state_dict") -> tuple[dict[str, Any], list[str]]:
    """The checkpoint dict of ``path`` with every non-weights object replaced by an ``Opaque`` stand-in, and the
    names of the classes/functions replaced (empty when plain ``weights_only=True`` reads the file).

    ``entry`` (if present; else the top level) must hold tensors only — a ValueError names any key that does not.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"checkpoint {path} does not exist" + ("; it is a folder" if path.is_dir() else ""))
    try:
        checkpoint, replaced = _load_with_stand_ins(path)
    except Exception as err:  # truncated zip, not a torch file, a blocklisted module
        raise _read_error(path, err) from err
    if not isinstance(checkpoint, dict):
        raise ValueError(f"checkpoint {path} holds a {type(checkpoint).__name__}, expected a dict of weights")
    weights = checkpoint.get(entry, checkpoint)
    bad = [k for k, v in weights.items() if not isinstance(v, torch.Tensor)] if isinstance(weights, dict) else [entry]
    if replaced and bad:
        raise ValueError(
            f"checkpoint {path}: {entry!r} holds non-tensor objects at {bad[:5]} (classes "
            f"{replaced[:5]} were not loaded); expected tensors only"
        )
    return checkpoint, replaced
