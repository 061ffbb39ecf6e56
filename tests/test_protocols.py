"""Evaluation protocols: stored with the model, applied by the evaluator exactly as mmseg/PaddleSeg define them."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import cityscapes_tree
from torch import nn

from annkit.cli import main
from annkit.config import EvalConfig, ModelConfig
from annkit.config.values import parse, plain
from annkit.data import DATASETS
from annkit.engine.evaluate import inference_size, predict_probabilities
from annkit.engine.metrics import ConfusionMatrix
from annkit.models import CHECKPOINTS, build, load, save
from annkit.protocols import PROTOCOLS, EvalProtocol, protocol


class Recorder(nn.Module):
    """A stand-in segmentor: records each input's (H, W) and returns logits favouring class 1 on the left half."""

    align_corners = False

    def __init__(self, num_classes: int = 2) -> None:
        super().__init__()
        self.num_classes, self.sizes, self.inputs = num_classes, [], []

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.sizes.append(tuple(images.shape[-2:]))
        self.inputs.append(images)
        logits = images.new_zeros(images.shape[0], self.num_classes, *images.shape[-2:])
        logits[:, 1, :, : images.shape[-1] // 2] = 1.0
        return logits


def test_every_protocol_round_trips_and_every_checkpoint_names_one() -> None:
    for item in PROTOCOLS.values():
        assert parse(EvalProtocol, plain(item), "model.protocol") == item
        assert item.dataset in DATASETS or item.dataset == "voc"
    # every mmseg row names its test pipeline; the official rows' protocol is not derived yet (README says so)
    missing = sorted(name for name, entry in CHECKPOINTS.items() if entry.protocol not in PROTOCOLS)
    assert missing == sorted(name for name, entry in CHECKPOINTS.items() if entry.source == "official"), missing
    assert CHECKPOINTS["ann_r101-d8_769x769_40k_cityscapes"].protocol == "mmseg_cityscapes_769x769"
    with pytest.raises(
        ValueError, match="unknown config key 'model.protocol.scale': did you mean model.protocol.scales"
    ):
        parse(EvalProtocol, {"name": "x", "dataset": "voc", "scale": [1, 2]}, "model.protocol")
    with pytest.raises(ValueError, match="slide mode needs crop and stride"):
        EvalProtocol("x", "voc", mode="slide")
    with pytest.raises(ValueError, match="no published multi-scale"):
        protocol("paddleseg_cityscapes").multi_scale()


def test_protocol_is_saved_in_the_model_file_and_read_back(tmp_path: Path) -> None:
    model = build("tiny_ann", num_classes=19, protocol=plain(PROTOCOLS["mmseg_cityscapes_769x769"]))
    save(model, tmp_path / "m.pt")
    assert load(tmp_path / "m.pt").config.protocol == PROTOCOLS["mmseg_cityscapes_769x769"]
    untagged = build("tiny_ann")
    assert untagged.config.protocol is None and ModelConfig.from_dict(untagged.config.to_dict()).protocol is None


def test_mmseg_voc_resizes_portrait_to_fit_2048x512_and_scores_at_original_size() -> None:
    model, config = Recorder(), EvalConfig.from_protocol(protocol("mmseg_voc12aug"))
    probabilities = predict_probabilities(model, torch.zeros(1, 3, 500, 375), config, 2)
    assert model.sizes == [(683, 512)] and probabilities.shape == (1, 2, 500, 375)
    multi = EvalConfig.from_protocol(protocol("mmseg_voc12aug").multi_scale())
    assert [inference_size(500, 375, multi, r) for r in multi.scales] == [
        (341, 256),
        (512, 384),
        (683, 512),
        (853, 640),
        (1024, 768),
        (1195, 896),
    ]  # bound (int(2048r), int(512r))
    assert multi.flip


def test_mmseg_769_slides_over_the_2049x1025_image() -> None:
    model, config = Recorder(), EvalConfig.from_protocol(protocol("mmseg_cityscapes_769x769"))
    assert config.align_corners is True
    predict_probabilities(model, torch.zeros(1, 3, 1024, 2048), config, 2)
    # 1025×2049: rows (1025 − 769 + 512)//513 + 1 = 2, columns (2049 − 769 + 512)//513 + 1 = 4
    assert model.sizes == [(769, 769)] * 8
    whole = Recorder()
    predict_probabilities(
        whole, torch.zeros(1, 3, 1024, 2048), EvalConfig.from_protocol(protocol("mmseg_cityscapes_512x1024")), 2
    )
    assert whole.sizes == [(1024, 2048)]


def test_paddleseg_voc_pads_to_512_with_zeros_and_crops_back() -> None:
    model = Recorder()
    images = torch.ones(1, 3, 300, 400)
    probabilities = predict_probabilities(model, images, EvalConfig.from_protocol(protocol("paddleseg_voc12aug")), 2)
    assert model.sizes == [(512, 512)] and probabilities.shape == (1, 2, 300, 400)
    seen = model.inputs[0]
    assert (seen[..., :300, :400] == 1).all() and (seen[..., 300:, :] == 0).all() and (seen[..., :, 400:] == 0).all()


def test_logits_return_to_the_original_size_with_the_protocols_align_corners() -> None:
    images = torch.zeros(1, 3, 10, 7)
    config = EvalConfig(resize=(40, 20), align_corners=True)  # 10×7 → 20×14
    model = Recorder()
    probabilities = predict_probabilities(model, images, config, 2)
    expected = torch.nn.functional.interpolate(
        model(torch.zeros(1, 3, 20, 14)), size=(10, 7), mode="bilinear", align_corners=True
    ).softmax(1)
    assert torch.allclose(probabilities, expected)


def stored_to_ids(dataset: str, stored: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(DATASETS[dataset].labels(Path("planted.png"), stored.astype(np.uint8)).astype(np.int64))


@pytest.mark.parametrize(
    "dataset, stored, classes",
    [
        ("cityscapes", (7, 8, 11, 0), (0, 1, 2)),  # road, sidewalk, building; label id 0 (unlabeled) → 255
        ("ade20k", (1, 2, 3, 0), (0, 1, 2)),  # wall, building, sky; 0 ("other") → 255
        ("pascal_context_59", (1, 2, 3, 0), (0, 1, 2)),  # aeroplane, bicycle, bird; 0 → 255
        ("pascal_context", (0, 1, 2, 255), (0, 1, 2)),  # background scored; 255 ignored
    ],
)
def test_planted_confusion_matrix_gives_hand_computed_ious(dataset: str, stored: tuple, classes: tuple) -> None:
    a, b, c = classes
    num_classes = DATASETS[dataset].num_classes
    # targets (stored values → ids): 10 px a, 5 px b, 4 px ignored; class c never in the targets
    target_stored = np.array([stored[0]] * 10 + [stored[1]] * 5 + [stored[3]] * 4)
    target = stored_to_ids(dataset, target_stored)
    # predictions: a → 7 a, 2 b, 1 c; b → 5 b; ignored pixels predicted as a (must not count)
    prediction = torch.tensor([a] * 7 + [b] * 2 + [c] + [b] * 5 + [a] * 4)
    matrix = ConfusionMatrix(num_classes)
    matrix.update(prediction.view(1, -1), target.view(1, -1))
    iou = matrix.iou()
    # IoU_a = 7 / (10 + 7 − 7) = 0.7; IoU_b = 5 / (5 + 7 − 5) = 5/7; IoU_c = 0 / (0 + 1 − 0) = 0 (predicted, absent)
    assert iou[a] == pytest.approx(0.7) and iou[b] == pytest.approx(5 / 7) and iou[c] == 0.0
    assert sum(math.isnan(v) for v in iou) == num_classes - 3  # absent from both: NaN, left out of the mean
    summary = matrix.summary(DATASETS[dataset].class_names)
    assert summary["miou"] == pytest.approx((0.7 + 5 / 7 + 0) / 3)
    assert summary["pixel_accuracy"] == pytest.approx(12 / 15)


def test_eval_needs_only_data_for_a_model_with_a_protocol(tmp_path: Path, capsys) -> None:
    cityscapes_tree(tmp_path / "data")
    tiny = EvalProtocol("tiny_cityscapes", "cityscapes", resize=(32, 16), source="test")
    model = build("tiny_ann", num_classes=19, protocol=plain(tiny))
    save(model, tmp_path / "m.pt")
    assert (
        main(
            [
                "eval",
                "--checkpoint",
                str(tmp_path / "m.pt"),
                "--data",
                str(tmp_path / "data"),
                "--device",
                "cpu",
                "--json",
                str(tmp_path / "scores.json"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "(cityscapes val, whole, resize [32, 16]" in out and "protocol tiny_cityscapes: test" in out
    assert "differs from the protocol" not in out
    assert (
        main(
            [
                "eval",
                "--checkpoint",
                str(tmp_path / "m.pt"),
                "--data",
                str(tmp_path / "data"),
                "--device",
                "cpu",
                "eval.max_images=1",
                "eval.flip=true",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "differs from the protocol: eval.flip = True, protocol: False" in out and "first 1 images" in out
