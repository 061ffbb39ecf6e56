"""annkit.engine: config checks, OHEM, metrics, schedule, training loop, evaluation, prediction, reliability."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from annkit import models
from annkit.cli import main as cli
from annkit.data import SynthConfig, write_synthetic
from annkit.engine import ConfigError, ConfusionMatrix, EvalConfig, TrainingError, read_metrics, resolve, train
from annkit.engine.evaluate import predict_probabilities, slide_logits
from annkit.engine.loss import OhemCrossEntropy
from annkit.engine.schedule import poly_factor

SMALL = SynthConfig(
    size=48,
    cue_size=6,
    cue_distance=6,
    object_min=6,
    object_max=12,
    min_objects=1,
    max_objects=2,
    num_train=12,
    num_val=3,
)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    """A data root holding a tiny synthetic set (48×48 px, 12 train + 3 val images)."""
    root = tmp_path_factory.mktemp("data")
    write_synthetic(root / "synthetic", SMALL)
    return root


def quick_overrides(data_root: Path, **extra) -> dict:
    """A few-iteration tiny training run on the tiny synthetic set."""
    settings = {
        "dataset": "synthetic",
        "data_root": str(data_root),
        "train_split": "train",
        "crop_size": None,
        "scale_range": None,
        "photometric": False,
        "batch_size": 2,
        "iterations": 4,
        "eval_every": 4,
        "checkpoint_every": 2,
        "log_every": 1,
        "num_workers": 0,
        "loss.min_kept": 500,
    }
    settings.update(extra)
    return {(k if k.startswith("model.") else f"train.{k}"): v for k, v in settings.items()}


def as_args(overrides: dict) -> list[str]:
    return [f"{k}={json.dumps(v)}" for k, v in overrides.items()]


@pytest.fixture(autouse=True)
def one_thread():
    """One CPU thread: small convolutions run several times faster than with 2 on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --- configuration --------------------------------------------------------------------------------------------


def test_misspelt_keys_name_the_closest_valid_keys():
    with pytest.raises(ConfigError, match=r"'train.iteratons'.*did you mean train.iterations"):
        resolve("tiny_ann", {"train.iteratons": 5})
    with pytest.raises(ConfigError, match=r"train.optimizer.lr"):
        resolve("tiny_ann", {"train.optimizer.lrr": 0.1})
    with pytest.raises(ConfigError, match=r"train.loss.name must be one of"):
        resolve("tiny_ann", {"train.loss.name": "focal"})


def test_preset_train_sections_parse_and_overrides_apply():
    model, config = resolve("voc_ann_r50", {"train.optimizer.lr": 0.02, "model.num_classes": 5})
    assert (config.optimizer.momentum, config.schedule.power, config.aux_weight) == (0.9, 0.9, 0.4)
    assert (config.loss.name, config.loss.threshold, config.optimizer.lr) == ("ohem", 0.7, 0.02)
    assert model.num_classes == 5


def test_head_options_can_be_overridden_by_name():
    """Keyword options of the preset's head are valid keys even when the preset leaves them at their defaults."""
    model, _ = resolve("tiny_ann", {"model.head.pool_mode": "max", "model.head.afnb": False})
    head = models.build(model).head
    assert head.fusion is None and head.context.sampler.mode == "max"
    with pytest.raises(ConfigError, match=r"'model.head.pool_mod'.*did you mean model.head.pool_mode"):
        models.check_heads(resolve("tiny_ann", {"model.head.pool_mod": "max"})[0])


def test_cli_reports_unknown_keys_with_exit_code_2(capsys):
    assert cli(["train", "--preset", "tiny_ann", "iteratons=3"]) == 2
    assert "did you mean train.iterations" in capsys.readouterr().err


# --- loss, metrics, schedule ----------------------------------------------------------------------------------


def test_ohem_keeps_hard_pixels_and_at_least_min_kept():
    logits = torch.zeros(1, 2, 1, 4)
    logits[0, 0, 0] = torch.tensor([5.0, 0.0, -5.0, 5.0])  # p(class 0) high, 0.5, low, high
    target = torch.tensor([[[0, 0, 0, 255]]])
    per_pixel = F.cross_entropy(logits, target, ignore_index=255, reduction="none")[0, 0]
    hard = OhemCrossEntropy(threshold=0.7, min_kept=1)(logits, target)  # pixels 1 and 2: p < 0.7
    assert torch.allclose(hard, per_pixel[1:3].mean())
    everything = OhemCrossEntropy(threshold=0.7, min_kept=3)(logits, target)  # min_kept = all valid → plain CE
    assert torch.allclose(everything, F.cross_entropy(logits, target, ignore_index=255))


def test_confusion_matrix_gives_iou_and_pixel_accuracy():
    matrix = ConfusionMatrix(3)
    target = torch.tensor([0, 0, 1, 1, 255])
    matrix.update(torch.tensor([0, 1, 1, 1, 2]), target)
    summary = matrix.summary(("a", "b", "c"))
    assert summary["iou"]["a"] == pytest.approx(0.5) and summary["iou"]["b"] == pytest.approx(2 / 3)
    assert math.isnan(summary["iou"]["c"])  # absent from targets and predictions: not averaged
    assert summary["miou"] == pytest.approx((0.5 + 2 / 3) / 2)
    assert summary["pixel_accuracy"] == pytest.approx(0.75)


def test_poly_schedule():
    assert poly_factor(0, 100, 0.9, 0.01, 0.0) == 1.0
    assert poly_factor(50, 100, 0.9, 0.01, 0.0) == pytest.approx(0.5**0.9)
    assert poly_factor(100, 100, 0.9, 0.01, 1e-4) == pytest.approx(1e-2)


# --- evaluation and prediction --------------------------------------------------------------------------------


def test_sliding_window_and_augmented_inference():
    model = models.build("tiny_fcn", num_classes=3).eval()
    images = torch.randn(1, 3, 40, 56)
    with torch.no_grad():
        whole = model(images)
        one_window = slide_logits(model, images, (64, 64), (32, 32), 3)  # window ≥ image: one window
        assert torch.allclose(one_window, whole, atol=1e-5)
        windows = slide_logits(model, images, (32, 32), (16, 16), 3)
        assert windows.shape == whole.shape and torch.isfinite(windows).all()
        probabilities = predict_probabilities(model, images, EvalConfig(scales=(0.75, 1.0), flip=True), 3)
    assert torch.allclose(probabilities.sum(1), torch.ones(1, 40, 56), atol=1e-5)


# --- training -------------------------------------------------------------------------------------------------


def test_train_writes_a_run_that_eval_and_predict_can_use(data_root, tmp_path, capsys):
    model_config, config = resolve("tiny_ann", quick_overrides(data_root, eval_every=2, grad_clip=1.0))
    summary = train(model_config, config, tmp_path / "run", progress=False)
    run = tmp_path / "run"
    records = read_metrics(run)
    assert [r["iteration"] for r in records if r["kind"] == "train"] == [1, 2, 3, 4]
    assert read_metrics(run, "eval") == [r for r in records if r["kind"] == "eval"]
    assert [r["iteration"] for r in records if r["kind"] == "eval"] == [2, 4]
    assert records[0]["lr"] == pytest.approx(config.optimizer.lr)
    assert summary["best"]["miou"] == max(r["miou"] for r in records if r["kind"] == "eval")
    assert models.load(run / "best.pt").config.num_classes == SMALL.num_classes + 1  # taken from the data set
    assert (
        cli(["eval", "--checkpoint", str(run / "final.pt"), "eval.flip=true", "--json", str(tmp_path / "m.json")]) == 0
    )
    assert "mIoU" in capsys.readouterr().out and "miou" in json.loads((tmp_path / "m.json").read_text())
    image = data_root / "synthetic" / "JPEGImages" / "val_000000.jpg"
    assert cli(["predict", str(image), "--checkpoint", str(run / "best.pt"), "--out", str(tmp_path / "pred")]) == 0
    assert {p.name for p in (tmp_path / "pred").iterdir()} == {"val_000000.png", "val_000000_overlay.png"}


def test_unwritable_output_directory_fails_before_training(data_root, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    model_config, config = resolve("tiny_ann", quick_overrides(data_root))
    with pytest.raises(TrainingError, match=r"output directory .*a_file/run is not writable"):
        train(model_config, config, blocker / "run", progress=False)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(data_root, tmp_path):
    model_config, config = resolve(
        "tiny_fcn",
        quick_overrides(data_root, iterations=30, checkpoint_every=1, eval_every=100, **{"optimizer.lr": 1e18}),
    )
    with pytest.raises(TrainingError, match=r"(loss|weights) became .*at iteration \d+.*last good checkpoint"):
        train(model_config, config, tmp_path / "run", progress=False)
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["state_dict"]


def _records(run: Path) -> list[dict]:
    """metrics.jsonl without the wall-clock field."""
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "images_per_s"} for line in lines]


# A training that SIGKILLs itself in the middle of a write: the state on disk is exactly what a kill -9 at that
# moment leaves (half a metrics line; half of last.pt.tmp), at a point chosen exactly instead of by luck.
_KILL_MID_WRITE = """
import io, json, os, signal, sys
from pathlib import Path
from annkit.engine import rundir
from annkit import torchfile

kind, at = os.environ["KILL_AT"].split(":")
at = int(at)

def die_writing(path, data):
    with open(path, "ab") as file:
        file.write(data[: len(data) // 2])
        file.flush()
        os.fsync(file.fileno())
    os.kill(os.getpid(), signal.SIGKILL)

if kind == "metrics":
    original_write = rundir.MetricLog.write

    def write(self, record):
        if record["kind"] == "train" and record["iteration"] == at:
            die_writing(self.path, (json.dumps(record) + "\\n").encode())
        original_write(self, record)

    rundir.MetricLog.write = write
else:
    original_atomic_write, saves = torchfile.atomic_write, []

    def atomic_write(path, write):
        saves.append(Path(path).name)
        if saves.count("last.pt") == at and Path(path).name == "last.pt":
            buffer = io.BytesIO()
            write(buffer)
            die_writing(Path(str(path) + ".tmp"), buffer.getvalue())
        original_atomic_write(path, write)

    torchfile.atomic_write = atomic_write
from annkit.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_kill_9_mid_write_then_resume_equals_an_uninterrupted_run(data_root, tmp_path):
    overrides = quick_overrides(
        data_root,
        iterations=10,
        eval_every=5,
        checkpoint_every=3,
        num_workers=1,
        flip=True,
        **{"model.head.dropout": 0.1},
    )
    arguments = ["train", "--preset", "tiny_fcn", "--threads", "1", "--no-progress"]
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    subprocess.run(
        [sys.executable, "-m", "annkit", *arguments, "--out", str(whole), *as_args(overrides)],
        check=True,
        capture_output=True,
    )

    def killed_at(point: str, *extra: str) -> None:
        process = subprocess.run(
            [sys.executable, "-c", _KILL_MID_WRITE, *arguments, "--out", str(broken), *extra],
            env={**os.environ, "KILL_AT": point},
            capture_output=True,
        )
        assert process.returncode == -signal.SIGKILL, process.stderr.decode()[-2000:]

    killed_at("metrics:5", *as_args(overrides))  # killed while writing iteration 5's metrics line
    assert not (broken / "metrics.jsonl").read_text().endswith("\n")  # a torn last line
    assert torch.load(broken / "last.pt", weights_only=True)["iteration"] == 3
    killed_at("save:1", "--resume")  # resumed at 3, killed while writing iteration 6's last.pt
    assert (broken / "last.pt.tmp").is_file()  # half a checkpoint beside the intact one
    assert torch.load(broken / "last.pt", weights_only=True)["iteration"] == 3
    subprocess.run(
        [sys.executable, "-m", "annkit", *arguments, "--out", str(broken), "--resume"], check=True, capture_output=True
    )
    for name, tensor in _weights(whole / "final.pt").items():
        assert torch.equal(tensor, _weights(broken / "final.pt")[name]), name
    assert _records(whole) == _records(broken)
    assert not (broken / "last.pt.tmp").exists()


def _ddp_worker(rank: int, world_size: int, port: int, model_config, config, out: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size)
    )
    torch.set_num_threads(1)
    train(model_config, config, out, progress=False, device="cpu")


def test_two_gloo_processes_match_one_process_with_the_same_global_batch(data_root, tmp_path):
    # frozen BN statistics (norm_eval), no dropout, plain CE: each sample's gradient is independent of the others
    model_config, config = resolve(
        "tiny_fcn",
        quick_overrides(
            data_root,
            iterations=3,
            eval_every=3,
            batch_size=4,
            norm_eval=True,
            flip=True,
            **{"loss.name": "cross_entropy", "model.head.dropout": 0.0},
        ),
    )
    train(model_config, config, tmp_path / "single", progress=False, device="cpu")
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    torch.multiprocessing.spawn(_ddp_worker, args=(2, port, model_config, config, str(tmp_path / "ddp")), nprocs=2)
    single, ddp = _weights(tmp_path / "single" / "final.pt"), _weights(tmp_path / "ddp" / "final.pt")
    for name, tensor in single.items():
        assert torch.allclose(tensor, ddp[name], atol=1e-5), name
    losses = [[r["loss"] for r in _records(tmp_path / run) if r["kind"] == "train"] for run in ("single", "ddp")]
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)  # logged losses are global-batch means


class NumpyNoise(torch.utils.data.Dataset):
    """A data set that draws from NumPy's global RNG, as user code may."""

    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int) -> dict:
        return {"noise": float(np.random.rand())}


def test_stream_loader_seeds_numpy_per_worker_and_repeats():
    from annkit.config import TrainConfig
    from annkit.engine.data import stream_loader

    def noise() -> list[float]:
        batches = iter(stream_loader(NumpyNoise(), TrainConfig(batch_size=2, num_workers=2, seed=3), start=0))
        return [next(batches)["noise"].tolist() for _ in range(4)]  # workers 0, 1, 0, 1

    first = noise()
    assert first[0] != first[1]  # forked workers would otherwise share the parent's NumPy state
    assert noise() == first  # and the seeds repeat from run to run
