"""The registry of public trained models annkit loads: one row per checkpoint, a plain table.

Each ``Checkpoint`` says where the file lives, which converter reads it (``source``: ``mmseg``, ``official``, …),
what it is (family, dataset, backbone, training crop) and what its authors published (mIoU single-scale and
multi-scale + flip, on ``split``). ``list_pretrained()`` returns the rows; ``markdown_table()`` is the README's table
(a test keeps the two equal). Sources of the numbers: mmsegmentation's ``configs/<family>/README.md`` (val);
MendelXu/ANN's README (Cityscapes val single-scale 79.9; the train+val model's 81.3 is the test-server score,
multi-scale, from the paper).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

_OPENMMLAB = "https://download.openmmlab.com/mmsegmentation/v0.5"
_PADDLESEG = "https://bj.bcebos.com/paddleseg/dygraph"
_DRIVE = "https://drive.google.com/open?id="


@dataclass(frozen=True)
class Checkpoint:
    """One trained model: where it lives, how to read it, what its authors measured (mIoU, %)."""

    url: str
    preset: str | None  # annkit preset the weights fit; None: architecture read from the weights
    miou: float | None  # published single-scale mIoU on ``split``
    align_corners: bool = False
    family: str = "ann"  # ann | fcn | psp | deeplabv3 | nonlocal
    source: str = "mmseg"  # which converter reads the file
    dataset: str = ""  # voc12aug | cityscapes | ade20k
    backbone: str = ""
    crop: str = ""  # training crop, H×W
    miou_ms: float | None = None  # published multi-scale + flip mIoU
    split: str = "val"
    size_mb: float | None = None  # file size, where published
    sha256: str | None = None  # hash prefix where the URL does not carry one
    protocol: str | None = None  # how ``miou`` was measured: a name in ``annkit.protocols.PROTOCOLS``

    @property
    def hash_prefix(self) -> str | None:
        """The first hex digits of the file's SHA-256: from the name (``…-dfcb1c62.pth``) or ``sha256``; None when
        the publisher gave none."""
        found = re.search(r"-([0-9a-f]{8,})\.pth$", self.url)
        return found.group(1) if found else self.sha256


def _mmseg(
    family: str, config: str, stamp: str, miou: float, miou_ms: float | None, preset: str | None = None
) -> Checkpoint:
    """An mmsegmentation zoo row; dataset, backbone and crop are read from its config name."""
    parts = re.fullmatch(r"[a-z0-9]+_r(\d+)-d8_(\d+x\d+)_\d+k_([a-z0-9]+)", config)
    depth, crop, dataset = parts.groups()
    protocol = f"mmseg_{dataset}" + (f"_{crop}" if dataset == "cityscapes" else "")  # its test pipeline
    return Checkpoint(
        f"{_OPENMMLAB}/{'nonlocal_net' if family == 'nonlocal' else family}/{config}/{config}_{stamp}.pth",
        preset,
        miou,
        "769x769" in crop,
        family,
        "mmseg",
        dataset,
        f"R-{depth}-D8",
        crop,
        miou_ms,
        protocol=protocol,
    )


def _paddleseg(folder: str, config: str, depth: int, miou: float, miou_ms: float) -> Checkpoint:
    """A PaddleSeg zoo row (``configs/ann/README.md``: single scale and ms + flip); the file has no hash."""
    dataset = "cityscapes" if folder == "cityscapes" else "voc12aug"
    crop = "512x1024" if dataset == "cityscapes" else "512x512"  # PaddleSeg writes W×H: 1024×512
    return Checkpoint(
        f"{_PADDLESEG}/{folder}/{config}/model.pdparams",
        f"paddleseg_ann_r{depth}_vd_{dataset}",
        miou,
        False,
        "ann",
        "paddleseg",
        dataset,
        f"R-{depth}-vd",
        crop,
        miou_ms,
        protocol=f"paddleseg_{dataset}",
    )


def _ann(config: str, stamp: str, miou: float, miou_ms: float) -> Checkpoint:
    depth, dataset = re.fullmatch(r"ann_r(\d+)-d8_.*_([a-z0-9]+)", config).groups()
    return _mmseg("ann", config, stamp, miou, miou_ms, f"mmseg_ann_r{depth}_d8_{dataset}")


_ROWS: tuple[Checkpoint, ...] = (
    _ann("ann_r50-d8_512x512_20k_voc12aug", "20200617_222246-dfcb1c62", 74.86, 76.13),
    _ann("ann_r101-d8_512x512_20k_voc12aug", "20200617_222246-2fad0042", 77.47, 78.70),
    _ann("ann_r50-d8_512x512_40k_voc12aug", "20200613_231314-b5dac322", 76.56, 77.51),
    _ann("ann_r101-d8_512x512_40k_voc12aug", "20200613_231314-bd205bbe", 76.70, 78.06),
    _ann("ann_r50-d8_512x1024_40k_cityscapes", "20200605_095211-049fc292", 77.40, 78.57),
    _ann("ann_r101-d8_512x1024_40k_cityscapes", "20200605_095243-adf6eece", 76.55, 78.85),
    _ann("ann_r50-d8_769x769_40k_cityscapes", "20200530_025712-2b46b04d", 78.89, 80.46),
    _ann("ann_r101-d8_769x769_40k_cityscapes", "20200530_025720-059bff28", 79.32, 80.94),
    _ann("ann_r50-d8_512x512_80k_ade20k", "20200615_014818-26f75e11", 41.01, 42.30),
    _ann("ann_r101-d8_512x512_80k_ade20k", "20200615_014818-c0153543", 42.94, 44.18),
    _ann("ann_r50-d8_512x512_160k_ade20k", "20200615_231733-892247bc", 41.74, 42.62),
    _ann("ann_r101-d8_512x512_160k_ade20k", "20200615_231733-955eb1ec", 42.94, 44.06),
    _paddleseg("pascal_voc12", "ann_resnet50_os8_voc12aug_512x512_40k", 50, 80.82, 81.67),
    _paddleseg("pascal_voc12", "ann_resnet101_os8_voc12aug_512x512_40k", 101, 79.62, 80.33),
    _paddleseg("cityscapes", "ann_resnet50_os8_cityscapes_1024x512_80k", 50, 79.09, 79.90),
    _paddleseg("cityscapes", "ann_resnet101_os8_cityscapes_1024x512_80k", 101, 80.61, 81.50),
    Checkpoint(
        f"{_DRIVE}1lw4g41l8tX3XZsdW3WuDGDSxiI77Fw13",
        "official_ann_r101_cityscapes",
        79.9,
        True,
        "ann",
        "official",
        "cityscapes",
        "R-101 deep-base",
        "769x769",
    ),
    Checkpoint(
        f"{_DRIVE}1yNjItS3IREN8Dqn7qB5EK7xpzoPRM8_e",
        "official_ann_r101_cityscapes",
        None,
        True,
        "ann",
        "official",
        "cityscapes",
        "R-101 deep-base",
        "769x769",
        miou_ms=81.3,
        split="test",
    ),
    # the baselines of the paper's comparisons, as mmsegmentation trained them (val mIoU, its README)
    _mmseg("fcn", "fcn_r50-d8_512x512_20k_voc12aug", "20200617_010715-52dc5306", 67.08, 69.94),
    _mmseg("fcn", "fcn_r101-d8_512x512_20k_voc12aug", "20200617_010842-0bb4e798", 71.16, 73.57),
    _mmseg("fcn", "fcn_r50-d8_512x1024_40k_cityscapes", "20200604_192608-efe53f0d", 72.25, 73.36),
    _mmseg("fcn", "fcn_r101-d8_512x1024_40k_cityscapes", "20200604_181852-a883d3a1", 75.45, 76.58),
    _mmseg("psp", "pspnet_r50-d8_512x512_20k_voc12aug", "20200617_101958-ed5dfbd9", 76.78, 77.61),
    _mmseg("psp", "pspnet_r101-d8_512x512_20k_voc12aug", "20200617_102003-4aef3c9a", 78.47, 79.25),
    _mmseg("psp", "pspnet_r50-d8_512x1024_40k_cityscapes", "20200605_003338-2966598c", 77.85, 79.18),
    _mmseg("psp", "pspnet_r101-d8_512x1024_40k_cityscapes", "20200604_232751-467e7cf4", 78.34, 79.74),
    _mmseg("deeplabv3", "deeplabv3_r50-d8_512x512_20k_voc12aug", "20200617_010906-596905ef", 76.17, 77.42),
    _mmseg("deeplabv3", "deeplabv3_r101-d8_512x512_20k_voc12aug", "20200617_010932-8d13832f", 78.70, 79.95),
    _mmseg("deeplabv3", "deeplabv3_r50-d8_512x1024_40k_cityscapes", "20200605_022449-acadc2f8", 79.09, 80.45),
    _mmseg("deeplabv3", "deeplabv3_r101-d8_512x1024_40k_cityscapes", "20200605_012241-7fd3f799", 77.12, 79.61),
    _mmseg("nonlocal", "nonlocal_r50-d8_512x512_20k_voc12aug", "20200617_222613-07f2a57c", 76.20, 77.12),
    _mmseg("nonlocal", "nonlocal_r101-d8_512x512_20k_voc12aug", "20200617_222615-948c68ab", 78.15, 78.86),
    _mmseg("nonlocal", "nonlocal_r50-d8_512x1024_40k_cityscapes", "20200605_210748-c75e81e3", 78.24, None),
    _mmseg("nonlocal", "nonlocal_r101-d8_512x1024_40k_cityscapes", "20200605_210748-d63729fa", 78.66, None),
)
_NAMES = ("ann_official_r101_cityscapes_val", "ann_official_r101_cityscapes_trainval")


def _name(row: Checkpoint) -> str:
    if row.source == "official":
        return _NAMES[row.split == "test"]
    return row.url.rsplit("/", 2)[1]  # mmseg and PaddleSeg: the config name


CHECKPOINTS: dict[str, Checkpoint] = {_name(row): row for row in _ROWS}


def list_pretrained(family: str | None = None, dataset: str | None = None) -> list[dict]:
    """Every registered checkpoint as a dict (name, family, source, dataset, backbone, crop, published mIoU
    single-scale / ms+flip and the split they were measured on, file size, URL), optionally filtered."""
    return [
        {"name": name, **asdict(row)}
        for name, row in CHECKPOINTS.items()
        if (family is None or row.family == family) and (dataset is None or row.dataset == dataset)
    ]


def _cell(value) -> str:
    return "—" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)


def markdown_table(rows: list[dict] | None = None) -> str:
    """The registry as a Markdown table (the README's list of trained models)."""
    header = ("name", "family", "dataset", "backbone", "crop", "mIoU", "ms+flip", "split", "MB", "source")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows if rows is not None else list_pretrained():
        cells = (
            f"`{row['name']}`",
            row["family"],
            row["dataset"],
            row["backbone"],
            row["crop"],
            row["miou"],
            row["miou_ms"],
            row["split"],
            row["size_mb"],
            f"[{row['source']}]({row['url']})",
        )
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)
