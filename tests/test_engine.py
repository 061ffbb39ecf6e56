"""annkit.engine: config checks, OHEM, metrics, schedule, training loop, evaluation, prediction, reliability."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import SMALL, as_args, quick_overrides, run_records, run_weights

from annkit import models
from annkit.cli import main as cli
from annkit.engine import ConfigError, ConfusionMatrix, EvalConfig, TrainingError, read_metrics, resolve, train
from annkit.engine.evaluate import predict_probabilities, slide_logits
from annkit.engine.loss import OhemCrossEntropy
from annkit.engine.schedule import poly_factor

pytestmark = pytest.mark.usefixtures("one_thread")


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


def _ohem_reference(logits, target, threshold, min_kept):
    """OHEM written out the plain way (mmseg's OhemPixelSampler with a threshold): sort the valid pixels by
    p(true class); the threshold rises to the min(min_kept, #valid)-th smallest; average CE where p ≤ it."""
    losses, kept = [], []
    for b, y, x in zip(*torch.nonzero(target != 255, as_tuple=True)):
        p = torch.softmax(logits[b, :, y, x].double(), 0)[target[b, y, x]]
        losses.append(-torch.log(p))
        kept.append(p)
    probabilities = sorted(kept)
    if min_kept > 0:
        threshold = max(threshold, float(probabilities[min(min_kept, len(probabilities)) - 1]))
    chosen = [loss for loss, p in zip(losses, kept) if p <= threshold]
    return torch.stack(chosen).mean()


@pytest.mark.parametrize("min_kept", [0, 1, 30, 59, 60, 61, 100_000])
def test_ohem_equals_the_reference_and_keeps_every_valid_pixel_when_min_kept_exceeds_them(min_kept):
    generator = torch.Generator().manual_seed(min_kept)
    logits = torch.randn(2, 4, 5, 8, generator=generator) * 3  # (B, K, H, W): 80 pixels
    target = torch.randint(0, 4, (2, 5, 8), generator=generator)
    target.view(-1)[torch.randperm(80, generator=generator)[:20]] = 255  # 60 valid pixels
    loss = OhemCrossEntropy(threshold=0.7, min_kept=min_kept)(logits, target)
    assert loss.item() == pytest.approx(_ohem_reference(logits, target, 0.7, min_kept).item(), rel=1e-5)
    if min_kept >= 60:  # every valid pixel kept: plain cross-entropy over the valid pixels
        assert torch.allclose(loss, F.cross_entropy(logits, target, ignore_index=255))


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


# --- the training stream ---------------------------------------------------------------------------------------


def test_train_stream_gives_the_same_batches_with_0_and_2_workers_and_from_a_resume(data_root):
    """The stream is a pure function of (seed, position): worker processes and resuming change nothing."""
    from annkit.engine.data import build_dataset, stream_loader

    batches = {}
    for workers, start in ((0, 0), (2, 0), (2, 2)):
        augmented = dict(flip=True, photometric=True, scale_range=[0.5, 2.0], crop_size=[32, 32], batch_size=3)
        model_config, config = resolve("tiny_ann", quick_overrides(data_root, num_workers=workers, **augmented))
        stream = iter(stream_loader(build_dataset(config, "train", True, model_config), config, start))
        batches[workers, start] = [next(stream) for _ in range(3 - start // 2)]
    serial, parallel, resumed = batches[0, 0], batches[2, 0], batches[2, 2]
    assert [b["name"] for b in serial] != [serial[0]["name"]] * 3  # a shuffled stream, not one batch repeated
    for a, b in zip(serial, parallel):
        assert a["name"] == b["name"] and torch.equal(a["image"], b["image"]) and torch.equal(a["mask"], b["mask"])
    assert resumed[0]["name"] == serial[2]["name"] and torch.equal(resumed[0]["image"], serial[2]["image"])


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
    train(*resolve("tiny_fcn", overrides), whole, progress=False)  # uninterrupted, in this process (one thread)

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
    assert cli([*arguments, "--out", str(broken), "--resume"]) == 0  # the resume that finishes: in this process
    for name, tensor in run_weights(whole / "final.pt").items():
        assert torch.equal(tensor, run_weights(broken / "final.pt")[name]), name
    assert run_records(whole) == run_records(broken)
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
    # forked, not spawned: each rank starts from this process's imports instead of importing torch again (~7 s)
    arguments = (2, port, model_config, config, str(tmp_path / "ddp"))
    torch.multiprocessing.start_processes(_ddp_worker, args=arguments, nprocs=2, start_method="fork")
    single, ddp = run_weights(tmp_path / "single" / "final.pt"), run_weights(tmp_path / "ddp" / "final.pt")
    for name, tensor in single.items():
        assert torch.allclose(tensor, ddp[name], atol=1e-5), name
    losses = [[r["loss"] for r in run_records(tmp_path / run) if r["kind"] == "train"] for run in ("single", "ddp")]
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
