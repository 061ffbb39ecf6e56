"""annkit ablation: every variant × seed trained and scored, results in ablation.json, one plot; bad input refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annkit.cli import main as cli
from annkit.data import SynthConfig
from annkit.engine.ablation import VARIANTS, run, run_name
from annkit.errors import ConfigError

TINY = SynthConfig(
    layout="sides",
    size=48,
    cue_size=4,
    cue_distance=6,
    object_min=6,
    object_max=10,
    min_objects=2,
    max_objects=2,
    num_train=16,
    num_val=4,
)


def test_ablation_trains_every_variant_and_seed_and_plots(tmp_path: Path) -> None:
    chosen = ("ANN (1, 3, 6, 8)", "local baseline (FCN)")
    results = run(tmp_path / "out", tmp_path / "data", 2, (0, 1), chosen, workers=2, progress=False, synth=TINY)
    saved = json.loads((tmp_path / "out" / "ablation.json").read_text())
    assert saved == json.loads(json.dumps(results)) and list(saved["variants"]) == list(chosen)
    for label, entry in saved["variants"].items():
        assert len(entry["miou"]) == 2 and entry["min"] <= entry["mean"] <= entry["max"]
        assert entry["preset"] == VARIANTS[label][0]
        for seed in (0, 1):
            config = (tmp_path / "out" / run_name(label, seed) / "config.yaml").read_text()
            assert f"seed: {seed}" in config
    assert saved["set"]["val_local_ceiling"] <= saved["set"]["val_global_ceiling"] <= 1
    assert saved["cost"]["runs"] == 4 and saved["cost"]["cpu_s_per_run"] > 0
    assert (tmp_path / "out" / "ablation.png").stat().st_size > 10_000
    again = run(tmp_path / "out", tmp_path / "data", 2, (0, 1), chosen, workers=2, progress=False, synth=TINY)
    assert again["variants"] == results["variants"]  # finished runs are kept and read back, not trained again
    assert again["cost"]["runs_trained"] == 0 and again["cost"]["cpu_s_per_run"] is None


def test_ablation_variants_change_one_thing_each() -> None:
    """Every ANN variant differs from ANN (1, 3, 6, 8) in one model key; the pyramid sweep holds (1,) and (1,3,6,8)."""
    for label, (preset, change) in VARIANTS.items():
        assert preset == ("tiny_fcn" if "local" in label else "tiny_ann") and len(change) <= 1
    pyramids = [change.get("model.head.pool_sizes") for _, change in VARIANTS.values()]
    assert [1] in pyramids and [1, 2] in pyramids and [2, 4, 8] in pyramids
    assert run_name("S = 1, pyramid (1,)", 2) == "s_1_pyramid_1_seed2"


def test_ablation_refuses_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(ConfigError, match=r"unknown variants \['ANN \(1, 2\)'\]"):
        run(tmp_path, tmp_path, 2, (0,), ("ANN (1, 2)",), progress=False, synth=TINY)
    with pytest.raises(ConfigError, match="needs at least one seed and a sides set"):
        run(tmp_path, tmp_path, 2, (0,), progress=False, synth=SynthConfig())
    assert cli(["ablation", "--out", str(tmp_path), "--variants", "nonsense", "--data-root", str(tmp_path)]) == 2
    assert "unknown variants ['nonsense']" in capsys.readouterr().err
