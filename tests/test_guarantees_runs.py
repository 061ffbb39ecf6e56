"""Nothing silent: run folders are never reused or shared by accident, diverged weights are never kept or scored,
every config value is checked as it loads, and the CLI answers a user error with one line and exit code 2.
Faults are real: concurrent processes, NaN weights from a real step, real signals to a real quickstart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from helpers import SMALL, as_args, quick_overrides

from annkit import models
from annkit.cli import main as cli
from annkit.engine import ConfigError, TrainingError, parse_overrides, resolve, train
from annkit.engine.distributed import resolve_device
from annkit.engine.rundir import read_metrics
from annkit.presets import preset_yaml

TRAIN = [sys.executable, "-m", "annkit", "train", "--threads", "1", "--no-progress"]


pytestmark = pytest.mark.usefixtures("one_thread")


def _one_line_error(capsys, *fragments: str) -> str:
    """The error line of stderr (after any progress output): exactly one, no traceback, naming each fragment."""
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "annkit: error: " in line]
    assert len(lines) == 1 and lines[0].startswith("annkit: error: ") and err.endswith(lines[0] + "\n"), err
    assert "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], err
    return lines[0]


# --- 2. an existing run is refused; 6. --preset under --resume ------------------------------------------------


def test_a_run_folder_is_never_reused_silently(data_root, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "best.pt").write_bytes(b"a stale best model")
    model_config, config = resolve("tiny_fcn", quick_overrides(data_root, iterations=2, eval_every=2))
    with pytest.raises(
        TrainingError,
        match=r"already holds a run \(best\.pt\); continue it with --resume, replace it "
        r"with --overwrite",
    ):
        train(model_config, config, run, progress=False)
    assert (run / "best.pt").read_bytes() == b"a stale best model"
    assert cli(["train", "--preset", "tiny_fcn", "--out", str(run), *as_args(quick_overrides(data_root))]) == 2
    _one_line_error(capsys, "already holds a run")
    summary = train(model_config, config, run, overwrite=True, progress=False)
    assert models.load(run / "best.pt").config.name == "tiny_fcn"  # the stale file was deleted, then rewritten
    assert summary["best"]["iteration"] == 2 and [r["iteration"] for r in read_metrics(run, "train")] == [1, 2]
    assert cli(["train", "--preset", "tiny_ann", "--out", str(run), "--resume"]) == 2
    _one_line_error(capsys, "--resume continues", "(tiny_fcn)", "--preset tiny_ann names another model")
    assert cli(["train", "--out", str(tmp_path / "empty"), "--resume"]) == 2
    _one_line_error(capsys, "nothing to resume in", "no last.pt")
    assert cli(["train", "--preset", "tiny_fcn", "--out", str(run), "--resume", "--overwrite"]) == 2
    _one_line_error(capsys, "pass one of them")


# --- 7. one training per folder -------------------------------------------------------------------------------


def test_two_trainings_never_share_a_run_folder(data_root, tmp_path):
    run = tmp_path / "run"
    overrides = quick_overrides(data_root, iterations=100_000, eval_every=100_000, checkpoint_every=100_000)
    first = subprocess.Popen(
        TRAIN + ["--preset", "tiny_fcn", "--out", str(run), *as_args(overrides)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 240
        while not (run / "metrics.jsonl").is_file() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert first.poll() is None, "the first training ended early"
        model_config, config = resolve("tiny_fcn", quick_overrides(data_root, iterations=2, eval_every=2))
        with pytest.raises(TrainingError, match=rf"run folder .*run is in use by another training \(pid {first.pid}\)"):
            train(model_config, config, run, overwrite=True, progress=False)
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    train(model_config, config, run, overwrite=True, progress=False)  # the kernel freed the lock of the killed run
    assert [r["iteration"] for r in read_metrics(run, "train")] == [1, 2]


# --- 5. diverged weights --------------------------------------------------------------------------------------


def test_diverged_weights_are_never_kept_as_best_and_never_scored(data_root, tmp_path, capsys):
    # lr and weight decay at float32's largest value: the first step overflows weights to inf while its loss was
    # finite, the path that once evaluated the broken model and saved it as best.pt
    model_config, config = resolve(
        "tiny_fcn",
        quick_overrides(
            data_root,
            iterations=3,
            eval_every=1,
            checkpoint_every=1,
            **{"optimizer.lr": 3.4e38, "optimizer.weight_decay": 3.4e38},
        ),
    )
    with pytest.raises(
        TrainingError,
        match=r"weights became non-finite at iteration 1; training stopped \(no "
        r"checkpoint was written yet\)",
    ):
        train(model_config, config, tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "best.pt").exists() and not (tmp_path / "run" / "last.pt").exists()
    model = models.build("tiny_fcn", num_classes=SMALL.num_classes + 1)
    with torch.no_grad():
        model.head.classifier.weight[0, 0] = float("nan")
    models.save(model, tmp_path / "nan.pt")
    assert cli(["eval", "--checkpoint", str(tmp_path / "nan.pt"), *as_args(quick_overrides(data_root))[:3]]) == 2
    _one_line_error(capsys, "non-finite weights", "head.classifier.weight")


# --- 6, 9. config values checked at load time -----------------------------------------------------------------


@pytest.mark.parametrize(
    "override, message",
    [
        ("grad_clip=-1", "train.grad_clip must be a positive maximum gradient norm, or null"),
        ("flip=maybe", "train.flip must be true or false, got 'maybe'"),
        ("loss.threshold=5", "train.loss.threshold must be a probability in (0, 1], got 5.0"),
        ("crop_size=[0,0]", "train.crop_size must be two positive integers (H, W) or null, got [0, 0]"),
        ("crop_size=[-64,64]", "train.crop_size must be two positive integers"),
        ("batch_size=abc", "train.batch_size must be an integer, got 'abc'"),
        ("iterations=1.5", "train.iterations must be an integer, got 1.5"),
        ("optimizer.lr=fast", "train.optimizer.lr must be a finite number, got 'fast'"),
        ("optimizer.lr=.inf", "train.optimizer.lr must be a finite number, got inf"),
        ("eval.stride=[0,8]", "eval.stride must be two positive integers"),
        ("iteratons=3", "did you mean train.iterations"),
        ("crop_size=[1,", "the value is not valid YAML"),
    ],
)
def test_bad_config_values_are_one_line_errors(override, message, capsys):
    assert cli(["train", "--preset", "tiny_ann", override]) == 2
    _one_line_error(capsys, message)


def test_yaml_1_1_exponents_are_numbers_and_your_own_yaml_file_works(data_root, tmp_path, capsys):
    _, config = resolve("tiny_ann", parse_overrides(["optimizer.lr=1e-3", "schedule.min_lr=5e-05"]))
    assert (config.optimizer.lr, config.schedule.min_lr) == (1e-3, 5e-05)  # YAML 1.1 reads both as strings
    mine = tmp_path / "my.yaml"
    preset = preset_yaml("tiny_fcn")
    mine.write_text(preset + "train:\n  optimizer: {name: adamw, lr: 3e-3}\n  iterations: 7\n")
    model_config, config = resolve(mine)
    assert (model_config.name, config.optimizer.lr, config.iterations) == ("tiny_fcn", 0.003, 7)
    run = tmp_path / "run"
    overrides = quick_overrides(data_root, iterations=1, eval_every=1)
    assert cli(["train", "--config", str(mine), "--out", str(run), *as_args(overrides)]) == 0
    assert models.load(run / "final.pt").config.name == "tiny_fcn"
    capsys.readouterr()
    mine.write_text("model: [unclosed\n")
    assert cli(["train", "--config", str(mine)]) == 2
    _one_line_error(capsys, f"config file {mine} is not valid YAML")
    assert cli(["train", "--config", str(tmp_path / "missing.yaml")]) == 2
    _one_line_error(capsys, "missing.yaml does not exist")
    assert cli(["train", "--preset", "tiny_an"]) == 2
    _one_line_error(capsys, "unknown preset 'tiny_an'; did you mean tiny_ann")


def test_head_and_backbone_options_the_constructors_refuse_are_config_errors():
    with pytest.raises(ConfigError, match=r"model.head \(ann\) has an invalid option: .*'bogus'"):
        models.build(resolve("tiny_ann", {"model.head.pool_mode": "bogus"})[0])
    with pytest.raises(ConfigError, match=r"model.backbone \(resnet\): ResNet depth 7 is not supported"):
        models.build(resolve("voc_ann_r50", {"model.backbone.depth": 7})[0], backbone_weights=False)


def test_an_explicit_num_classes_that_contradicts_the_data_is_an_error(data_root, tmp_path, capsys):
    overrides = quick_overrides(data_root, **{"model.num_classes": 9})
    assert cli(["train", "--preset", "tiny_fcn", "--out", str(tmp_path / "run"), *as_args(overrides)]) == 2
    _one_line_error(capsys, "model.num_classes=9, but the synthetic data set's train split has 5 classes")


# --- 8. devices -----------------------------------------------------------------------------------------------


def test_device_names_are_checked_and_cuda_n_is_honoured(capsys):
    assert cli(["train", "--preset", "tiny_ann", "--device", "bogus", "iterations=1"]) == 2
    _one_line_error(capsys, "--device 'bogus' is not a device; expected cpu, cuda or cuda:N")
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available here"):
            resolve_device("cuda:1")
        return
    count = torch.cuda.device_count()
    assert resolve_device(f"cuda:{count - 1}") == torch.device("cuda", count - 1)
    with pytest.raises(ConfigError, match=rf"this machine has {count} CUDA device"):
        resolve_device(f"cuda:{count}")
    with pytest.raises(ConfigError, match="under torchrun each process uses cuda:LOCAL_RANK"):
        resolve_device("cuda:0", local_rank=0, world_size=2)


# --- 10. one CLI error policy ---------------------------------------------------------------------------------


def test_user_errors_are_one_line_with_exit_code_2_and_bugs_keep_their_traceback(tmp_path, capsys, monkeypatch):
    model = tmp_path / "m.pt"
    models.save(models.build("tiny_ann", num_classes=3), model)
    image = tmp_path / "x.png"
    from PIL import Image

    Image.new("RGB", (40, 40)).save(image)
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    cases = [
        (["predict", str(image), "--checkpoint", str(model), "--stride", "0", "0"], "eval.stride must be two positive"),
        (["predict", str(image), "--checkpoint", str(model), "--scales", "0"], "eval.scales must be positive"),
        (["predict", str(image), "--checkpoint", str(model), "--out", str(blocker / "out")], str(blocker)),
        (
            ["predict", str(tmp_path / "nope.jpg"), "--checkpoint", str(model), "--out", str(tmp_path / "p")],
            "nope.jpg does not exist",
        ),
        (["eval", "--checkpoint", str(model), "--json", str(blocker / "m.json")], "cannot write"),
        (
            [
                "viz",
                "attention",
                "--checkpoint",
                str(model),
                "--image",
                str(image),
                "--point",
                "99",
                "1",
                "--out",
                str(tmp_path / "v.png"),
            ],
            "--point 99 1 is outside the 40×40 image",
        ),
        (
            [
                "viz",
                "attention",
                "--checkpoint",
                str(model),
                "--image",
                str(image),
                "--point",
                "1",
                "1",
                "--out",
                str(blocker / "v.png"),
            ],
            "cannot write",
        ),
        (["data", "synth", "--size", "-1", "--root", str(tmp_path / "s")], "annkit data synth:"),
        (["data", "synth", "--num-train", "1", "--num-val", "1", "--root", str(blocker / "s")], str(blocker)),
        (["convert", "mmseg", str(tmp_path / "none.pth"), str(tmp_path / "o.pth")], "none.pth does not exist"),
        (["convert", "mmseg", str(model), str(tmp_path / "o.pth")], "not an mmsegmentation segmentor checkpoint"),
    ]
    for argv, fragment in cases:
        assert cli(argv) == 2, argv
        _one_line_error(capsys, fragment)
    from annkit.engine import commands

    def bug(args):
        raise KeyError("an internal bug")

    monkeypatch.setitem(commands.COMMANDS, "predict", bug)
    with pytest.raises(KeyError, match="an internal bug"):  # not turned into a one-line "user error"
        cli(["predict", str(image), "--checkpoint", str(model)])


# --- 11. disk full during training ----------------------------------------------------------------------------


def test_disk_full_during_training_names_the_file(data_root, tmp_path, capsys):
    mount = tmp_path / "tiny_fs"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1M", "tmpfs", str(mount)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        assert (
            cli(
                [
                    "train",
                    "--preset",
                    "tiny_ann",
                    "--out",
                    str(mount / "run"),
                    *as_args(quick_overrides(data_root, iterations=2, eval_every=100, checkpoint_every=1)),
                ]
            )
            == 2
        )
        _one_line_error(capsys, "disk full while writing", str(mount / "run"))
        assert not [p for p in (mount / "run").iterdir() if p.name.endswith(".tmp")]
    finally:
        subprocess.run(["umount", str(mount)], check=True)
