"""Training checkpoints with non-weights objects (mmengine's ``message_hub``) are read without running their code,
and DataParallel ``module.`` prefixes are accepted by the mmseg converter."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import torch
from reference_mmseg import mmseg_forward, mmseg_layout

from annkit.models.pretrained import convert_mmseg_checkpoint
from annkit.models.safe_load import Opaque, load_weights_entry

SMALL = dict(channels=64, project=32, aux_channels=32)
RAN: list[str] = []  # what the fake mmengine classes executed


class HistoryBuffer:
    """Named like ``mmengine.logging.history_buffer.HistoryBuffer``; records any code that runs on unpickling."""

    def __init__(self, values):
        self.values = values

    def __setstate__(self, state):
        RAN.append("__setstate__")
        self.__dict__.update(state)

    def __reduce_ex__(self, protocol):
        return (_rebuild, (self.values,))


def _rebuild(values):
    RAN.append("_rebuild")
    return HistoryBuffer(values)


class MessageHub:
    def __setstate__(self, state):
        RAN.append("MessageHub.__setstate__")


@pytest.fixture
def fake_mmengine(monkeypatch):
    """Modules named as mmengine's, holding the classes above, present while saving *and* loading."""
    module = types.ModuleType("mmengine.logging.history_buffer")
    for obj in (HistoryBuffer, _rebuild, MessageHub):
        obj.__module__ = module.__name__
        setattr(module, obj.__name__, obj)
    for name in ("mmengine", "mmengine.logging", module.__name__):
        monkeypatch.setitem(sys.modules, name, module if name == module.__name__ else types.ModuleType(name))
    RAN.clear()
    yield module


def _mmengine_checkpoint(path, state):
    hub = MessageHub()
    hub.log_scalars = {"train/loss": HistoryBuffer(np.array([0.5, 0.4]))}
    torch.save(
        {
            "meta": {"dataset_meta": {"classes": ("a", "b")}, "seed": np.int64(3)},
            "state_dict": state,
            "message_hub": hub,
            "optimizer": {"state": {}, "param_groups": [{"lr": 0.01}]},
        },
        path,
    )


def test_mmengine_training_checkpoint_loads_without_running_its_code(tmp_path, fake_mmengine):
    state = mmseg_layout(18, num_classes=2, **SMALL)
    _mmengine_checkpoint(tmp_path / "iter_40000.pth", state)
    with pytest.raises(Exception, match="weights_only"):  # what a plain safe load says
        torch.load(tmp_path / "iter_40000.pth", weights_only=True)
    checkpoint, replaced = load_weights_entry(tmp_path / "iter_40000.pth")
    assert RAN == []  # neither __setstate__ nor the reduce function of the fake mmengine classes ran
    assert any(name.endswith("HistoryBuffer") or name.endswith("_rebuild") for name in replaced)
    assert isinstance(checkpoint["message_hub"], Opaque)
    assert all(torch.equal(checkpoint["state_dict"][k], v) for k, v in state.items())
    model = convert_mmseg_checkpoint(tmp_path / "iter_40000.pth")
    assert RAN == []
    images = torch.randn(1, 3, 33, 41)
    with torch.no_grad():
        assert (model(images) - mmseg_forward(state, images, depth=18)[0]).abs().max() <= 1e-4


def test_legacy_format_with_numpy_scalars(tmp_path, fake_mmengine):
    """The official ANN files: torch < 1.6 (non-zip) format, numpy scalars in ``runner_state``."""
    state = {"module.w": torch.randn(3)}
    torch.save(
        {"state_dict": state, "runner_state": {"max_performance": np.float64(0.799)}, "hub": HistoryBuffer([1])},
        tmp_path / "legacy.pth",
        _use_new_zipfile_serialization=False,
    )
    checkpoint, replaced = load_weights_entry(tmp_path / "legacy.pth")
    assert RAN == [] and torch.equal(checkpoint["state_dict"]["module.w"], state["module.w"])
    assert isinstance(checkpoint["runner_state"]["max_performance"], Opaque) and len(replaced) >= 2


def test_stand_ins_never_reach_the_weights(tmp_path, fake_mmengine):
    torch.save({"state_dict": {"w": torch.zeros(1), "hook": HistoryBuffer([1])}}, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match=r"non-tensor objects at \['hook'\]"):
        load_weights_entry(tmp_path / "bad.pth")
    assert RAN == []


def test_blocklisted_modules_stay_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            import os

            return (os.getcwd, ())

    torch.save({"state_dict": {}, "x": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(ValueError, match="cannot read checkpoint"):
        load_weights_entry(tmp_path / "evil.pth")


def test_data_parallel_prefix_is_accepted(tmp_path):
    state = mmseg_layout(18, num_classes=3, **SMALL)
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, tmp_path / "dp.pth")
    model = convert_mmseg_checkpoint(tmp_path / "dp.pth")
    images = torch.randn(1, 3, 30, 27)
    with torch.no_grad():
        assert (model(images) - mmseg_forward(state, images, depth=18)[0]).abs().max() <= 1e-4
