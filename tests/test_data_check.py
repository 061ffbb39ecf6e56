"""``annkit data check``: a good folder passes; a broken one lists every problem by file and exits 1.
``annkit bench data`` reports a throughput."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from helpers import VOC, blocks_mask, make_voc
from PIL import Image

from annkit.cli import main
from annkit.data import save_mask
from annkit.data.check import check_dataset


def test_good_folder_passes(tmp_path: Path, capsys) -> None:
    make_voc(tmp_path, {"train": ["a", "b"], "val": ["c"]})
    report = check_dataset(tmp_path)  # a data root: VOCdevkit/VOC2012 is found inside
    assert report.ok and report.splits == {"train": 2, "val": 1} and report.samples == 3
    assert report.heights == (40, 40) and report.widths == (56, 56)
    assert report.class_pixels.sum() == 3 * 40 * 56 and report.class_pixels[-1] == 3 * 56  # one 255 row each
    assert main(["data", "check", str(tmp_path / VOC)]) == 0
    out = capsys.readouterr().out
    assert "3 distinct samples, 21 classes" in out and "OK: no problems found" in out


def test_broken_folder_lists_every_problem(tmp_path: Path, capsys) -> None:
    voc = make_voc(tmp_path, {"train": ["a", "b", "c", "d", "e", "f"], "val": ["a"]})
    (voc / "SegmentationClass" / "a.png").unlink()  # image without mask
    (voc / "JPEGImages" / "b.jpg").unlink()  # mask without image (listed)
    save_mask(blocks_mask(8, 8, 0), voc / "SegmentationClass" / "orphan.png")  # mask without image (unlisted)
    mask = blocks_mask(40, 56, 2)
    mask[0, 0] = 99
    save_mask(mask, voc / "SegmentationClass" / "c.png")  # value outside the class set
    save_mask(blocks_mask(30, 56, 3), voc / "SegmentationClass" / "d.png")  # size mismatch
    (voc / "JPEGImages" / "e.jpg").write_bytes(b"\xff\xd8 truncated")  # corrupt JPEG
    Image.fromarray(np.zeros((40, 56), np.uint8)).convert("L").save(voc / "JPEGImages" / "f.jpg")  # grey: fine
    (voc / "ImageSets" / "Segmentation" / "empty.txt").write_text("")
    report = check_dataset(voc)
    problems = "\n".join(report.problems)
    assert not report.ok and len(report.problems) == 7, problems
    for expected in [
        "a.jpg has no mask",
        "b.png has no image",
        "orphan.png has no image",
        "c.png: mask values [99]",
        "d.png: mask is 30×56",
        "e.jpg: cannot decode",
        "empty.txt lists no samples",
    ]:
        assert expected in problems
    assert main(["data", "check", str(voc)]) == 1
    assert "problems: 7" in capsys.readouterr().out


def test_missing_folder(tmp_path: Path, capsys) -> None:
    assert main(["data", "check", str(tmp_path / "nothing")]) == 2  # a user error; 1 = problems found
    assert "nothing not found" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    report = check_dataset(tmp_path / "empty")
    assert not report.ok and "JPEGImages" in report.problems[1]


def test_bench_reports_images_per_second(tmp_path: Path, capsys) -> None:
    make_voc(tmp_path, {"train": ["a", "b"]}, size=(100, 120))
    assert main(["bench", "data", "--root", str(tmp_path), "--crop", "64", "--images", "4"]) == 0
    out = capsys.readouterr().out
    assert "VOC 2012 train" in out and "images/s per worker" in out
