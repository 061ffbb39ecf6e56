"""PaddleSeg's ANN in annkit: the safe ``.pdparams`` reader, ResNet-vd, the converter, registry and CLI.

The equivalence tests run PaddleSeg's own ``ANN`` (ResNet18_vd and ResNet50_vd, random weights, 76×92 input) in
its own virtual environment (``tests/peers/paddleseg_forward.py``; interpreter from ``ANNKIT_PADDLE_PYTHON``,
default ``/work/venvs/paddle/bin/python``, built by ``bash tools/peer_envs.sh paddle``), convert the
``.pdparams`` file it saved and compare main and auxiliary logits: rel-L2 ≤ 1e-5, argmax equal. They skip, saying
why, where that environment is absent. Nothing here touches the network.
"""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from annkit.cli import main as cli_main
from annkit.models import CHECKPOINTS, convert_paddleseg, load, model_config, resnet
from annkit.models.pdparams import NAME_TABLE_KEY, UnsafePickleError, read_pdparams
from annkit.models.pretrained import convert_paddleseg_checkpoint, from_pretrained
from annkit.presets import preset_names

PADDLE_PYTHON = Path(os.environ.get("ANNKIT_PADDLE_PYTHON", "/work/venvs/paddle/bin/python"))
PEER = Path(__file__).parent / "peers" / "paddleseg_forward.py"
BACKBONES = ("ResNet18_vd", "ResNet50_vd")


class _Payload:
    """A pickle that runs ``call(*args)`` when loaded — what a malicious checkpoint would do."""

    def __init__(self, call, *args) -> None:
        self.call, self.args = call, args

    def __reduce__(self):
        return self.call, self.args


def _write(path: Path, obj, protocol: int = 4) -> Path:
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return path


# --- the .pdparams reader -------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [2, 4])
def test_reader_never_runs_pickled_code(tmp_path, protocol):
    victim = tmp_path / "pwned"
    for payload, name in (
        (_Payload(open, str(victim), "w"), r"io\.open"),
        (_Payload(os.system, f"touch {victim}"), r"(posix|os)\.system"),
    ):
        path = _write(tmp_path / "evil.pdparams", {"conv.weight": np.zeros(2, "f4"), "x": payload}, protocol)
        with pytest.raises(UnsafePickleError, match=f"refusing to load global .*{name}"):
            read_pdparams(path)
        assert not victim.exists()


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_reader_reads_numpy_arrays_of_every_protocol(tmp_path, protocol):
    state = {
        "a._conv.weight": np.arange(24, dtype="f4").reshape(2, 3, 2, 2),
        "b._mean": np.ones(3, "f8"),
        "c.steps": np.array([7], "i8"),
        NAME_TABLE_KEY: {"a._conv.weight": "conv2d_0.w_0"},
    }
    loaded = read_pdparams(_write(tmp_path / "m.pdparams", state, protocol))
    assert list(loaded) == ["a._conv.weight", "b._mean", "c.steps"]  # Paddle's name table dropped
    for key, value in loaded.items():
        np.testing.assert_array_equal(value, state[key])
        assert value.dtype == state[key].dtype


def test_reader_accepts_numpy1_module_names(tmp_path):
    """Files written with numpy 1 name ``numpy.core.multiarray``; numpy 2 writes ``numpy._core.multiarray``."""
    blob = pickle.dumps({"w": np.ones(3, "f4")}, protocol=2)
    assert b"numpy._core.multiarray\n" in blob
    path = tmp_path / "old.pdparams"
    path.write_bytes(blob.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n"))
    np.testing.assert_array_equal(read_pdparams(path)["w"], np.ones(3, "f4"))


def test_reader_rejects_what_is_not_a_state_dict(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pdparams does not exist"):
        read_pdparams(tmp_path / "missing.pdparams")
    with pytest.raises(ValueError, match="holds a list, expected a dict"):
        read_pdparams(_write(tmp_path / "list.pdparams", [np.ones(2)]))
    with pytest.raises(ValueError, match=r"expected numeric arrays.*'names' \(ndarray/object\)"):
        read_pdparams(_write(tmp_path / "obj.pdparams", {"names": np.array([1, "x"], dtype=object)}))
    with pytest.raises(ValueError, match=r"expected numeric arrays.*'lr' \(float\)"):
        read_pdparams(_write(tmp_path / "float.pdparams", {"lr": 0.1}))
    (tmp_path / "junk.pdparams").write_bytes(b"PK\x03\x04 not a pickle")
    with pytest.raises(ValueError, match="cannot read .*junk.pdparams as a Paddle .pdparams pickle"):
        read_pdparams(tmp_path / "junk.pdparams")


# --- ResNet-vd backbone ---------------------------------------------------------------------------------------


def test_resnet_vd_has_avg_pool_shortcuts_and_uncontracted_dilation():
    vd = resnet(50, stem="deep", avg_down=True, contract_dilation=False)
    assert [b.conv2.dilation[0] for b in vd.layer3] == [2] * 6 and [b.conv2.dilation[0] for b in vd.layer4] == [4] * 3
    pool, conv, _ = vd.layer2[0].downsample
    assert isinstance(pool, nn.AvgPool2d) and pool.ceil_mode and not pool.count_include_pad
    assert conv.stride == (1, 1) and vd.layer2[0].conv2.stride == (2, 2)
    assert isinstance(vd.layer3[0].downsample[0], nn.Identity)  # dilated stage: no stride, no pool
    contracted = resnet(50, stem="deep")
    assert [b.conv2.dilation[0] for b in contracted.layer3] == [1] + [2] * 5
    basic = resnet(18, stem="deep", avg_down=True, contract_dilation=False)
    assert basic.layer1[0].downsample is not None  # PaddleSeg's first block always projects
    assert [(b.conv1.dilation[0], b.conv2.dilation[0]) for b in basic.layer4] == [(4, 4), (4, 4)]
    images = torch.randn(1, 3, 77, 93)  # odd sizes: the ceil-mode pool keeps the shortcut aligned
    assert [f.shape[-2:] for f in vd.eval()(images)][-1] == (10, 12)
    with pytest.raises(ValueError, match="avg_down=True or contract_dilation=False"):
        resnet(50, weights="IMAGENET1K_V1", avg_down=True)


# --- registry, presets, offline ----------------------------------------------------------------------------------


def test_registry_has_the_four_paddleseg_models():
    entries = {name: e for name, e in CHECKPOINTS.items() if e.source == "paddleseg"}
    assert {name: (e.url, e.miou) for name, e in entries.items()} == {
        f"ann_resnet{d}_os8_{ds}": (
            f"https://bj.bcebos.com/paddleseg/dygraph/{folder}/ann_resnet{d}_os8_{ds}/model.pdparams",
            miou,
        )
        for d, ds, folder, miou in (
            (50, "cityscapes_1024x512_80k", "cityscapes", 79.09),
            (101, "cityscapes_1024x512_80k", "cityscapes", 80.61),
            (50, "voc12aug_512x512_40k", "pascal_voc12", 80.82),
            (101, "voc12aug_512x512_40k", "pascal_voc12", 79.62),
        )
    }
    for name, entry in entries.items():
        assert entry.preset in preset_names() and entry.hash_prefix is None and not entry.align_corners
        config = model_config(entry.preset)
        assert config.mean == config.std == (0.5, 0.5, 0.5)
        assert config.num_classes == (19 if "cityscapes" in name else 21)


def test_from_pretrained_offline_says_where_to_put_the_file(tmp_path, monkeypatch):
    def offline(url, dst, hash_prefix=None, progress=True):
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    expected = tmp_path / "ann_resnet101_os8_cityscapes_1024x512_80k.pdparams"
    with pytest.raises(RuntimeError, match=f"could not download https://bj.bcebos.com/.*place it at {expected}"):
        from_pretrained("ann_resnet101_os8_cityscapes_1024x512_80k", cache_dir=tmp_path)


# --- against PaddleSeg itself ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def paddleseg_runs(tmp_path_factory) -> dict[str, Path]:
    """PaddleSeg's ANN files per backbone: model.pdparams, image.npy, logits.npy, aux_logits.npy."""
    if not PADDLE_PYTHON.is_file():
        pytest.skip(
            f"PaddleSeg peer environment not found at {PADDLE_PYTHON}: build it with "
            "`bash tools/peer_envs.sh paddle` or point ANNKIT_PADDLE_PYTHON at its python"
        )
    out = tmp_path_factory.mktemp("paddleseg")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [str(PADDLE_PYTHON), str(PEER), "--backbones", *BACKBONES, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert done.returncode == 0, f"PaddleSeg peer failed:\n{done.stderr[-3000:]}"
    return {backbone: out / backbone for backbone in BACKBONES}


def _logits(model, run: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode main and auxiliary logits at input size (PaddleSeg's eval forward returns both)."""
    images = torch.from_numpy(np.load(run / "image.npy"))  # (1, 3, H, W) RGB in [0, 1]
    with torch.no_grad():
        features = model.backbone(model.normalize(images))
        return tuple(
            F.interpolate(head(features), size=images.shape[-2:], mode="bilinear", align_corners=model.align_corners)
            for head in (model.head, model.aux_head)
        )


def _assert_matches(ours: torch.Tensor, run: Path, name: str) -> None:
    theirs = torch.from_numpy(np.load(run / f"{name}.npy"))
    rel = ((ours - theirs).norm() / theirs.norm()).item()
    assert rel <= 1e-5, f"{name}: rel-L2 {rel:.2e} from PaddleSeg"
    assert torch.equal(ours.argmax(1), theirs.argmax(1)), f"{name}: argmax differs from PaddleSeg"


@pytest.mark.parametrize("backbone", BACKBONES)
def test_converted_ann_matches_paddleseg(paddleseg_runs, backbone):
    run = paddleseg_runs[backbone]
    model = convert_paddleseg_checkpoint(run / "model.pdparams")
    main, aux = _logits(model, run)
    _assert_matches(main, run, "logits")
    _assert_matches(aux, run, "aux_logits")
    images = torch.from_numpy(np.load(run / "image.npy"))
    with torch.no_grad():
        assert torch.equal(model(model.normalize(images)), main)  # Segmentor's eval output is the main logits


def test_inferred_config_is_the_preset(paddleseg_runs):
    state = read_pdparams(paddleseg_runs["ResNet50_vd"] / "model.pdparams")
    inferred = convert_paddleseg.infer_config(state, name="x").to_dict()
    assert inferred == {**model_config("paddleseg_ann_r50_vd_voc12aug").to_dict(), "name": "x"}


def test_from_pretrained_loads_a_placed_file(paddleseg_runs, tmp_path, monkeypatch):
    name = "ann_resnet50_os8_voc12aug_512x512_40k"
    run = paddleseg_runs["ResNet50_vd"]
    shutil.copyfile(run / "model.pdparams", tmp_path / f"{name}.pdparams")

    def no_network(*args, **kwargs):
        raise AssertionError("a cached file must not be downloaded again")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    model = from_pretrained(name, cache_dir=tmp_path, progress=False)
    assert model.config.name == name and not model.training
    _assert_matches(_logits(model, run)[0], run, "logits")


def test_cli_convert_paddleseg_writes_a_loadable_file_and_keeps_existing_ones(paddleseg_runs, tmp_path, capsys):
    run = paddleseg_runs["ResNet18_vd"]
    out = tmp_path / "ann_r18_vd.pt"
    assert cli_main(["convert", "paddleseg", str(run / "model.pdparams"), str(out)]) == 0
    assert "ResNet18_vd + ann head" in capsys.readouterr().out
    main, aux = _logits(load(out), run)
    _assert_matches(main, run, "logits")
    _assert_matches(aux, run, "aux_logits")
    before = out.read_bytes()
    assert cli_main(["convert", "paddleseg", str(run / "model.pdparams"), str(out)]) == 2  # a user error
    assert "exists" in capsys.readouterr().err and out.read_bytes() == before


def test_converter_names_what_it_cannot_place(paddleseg_runs):
    state = read_pdparams(paddleseg_runs["ResNet18_vd"] / "model.pdparams")
    twin = "head.context.1.stages.0.f_query._conv.weight"
    with pytest.raises(ValueError, match="APNB's shared query/key projection differs"):
        convert_paddleseg.convert_state_dict({**state, twin: state[twin] + 1})
    extra = "head.context.1.stages.1.f_key._conv.weight"
    with pytest.raises(ValueError, match=f"cannot convert 1 PaddleSeg keys .*{extra}"):
        convert_paddleseg.convert_state_dict({**state, extra: state[twin]})
    with pytest.raises(ValueError, match="not a PaddleSeg ANN checkpoint"):
        convert_paddleseg.infer_config({k: v for k, v in state.items() if not k.startswith("head.cls")})
    with pytest.raises(ValueError, match=r"does not fit the model — missing .*layer1\.0\.conv3"):
        convert_paddleseg_checkpoint(
            paddleseg_runs["ResNet18_vd"] / "model.pdparams", config="paddleseg_ann_r50_vd_voc12aug"
        )
