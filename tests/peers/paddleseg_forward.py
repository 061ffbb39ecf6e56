"""PaddleSeg's own ANN forward pass, for annkit's equivalence test (run with the peer venv's python, not annkit's).

    $ANNKIT_PADDLE_PYTHON tests/peers/paddleseg_forward.py --backbones ResNet18_vd ResNet50_vd --out DIR

Builds ``paddleseg.models.ANN`` (its configs' arguments: key/value 256, inter 512, psp (1, 3, 6, 8), aux head,
align_corners False) on ``paddleseg.models.backbones.<backbone>(output_stride=8)``, gives every parameter and BN
statistic random values (zero-initialised conv biases and unit BN statistics would hide a wrong mapping), saves
``DIR/<backbone>/model.pdparams`` the way PaddleSeg's trainer does (``paddle.save(model.state_dict(), …)``), runs
the eval-mode forward on a random RGB image in [0, 1] normalised with mean = std = 0.5, and writes
``DIR/<backbone>/image.npy`` (1, 3, H, W) in [0, 1], ``logits.npy`` and ``aux_logits.npy`` (1, K, H, W).
"""

import argparse
import math
import re
from pathlib import Path

import numpy as np
import paddle
from paddleseg.models import ANN, backbones


def randomize(model: "paddle.nn.Layer", image: np.ndarray, rng: np.random.Generator) -> None:
    """Random weights that keep activations in range and make every part matter.

    He-scaled conv weights, conv biases and BN β ~ N(0, 0.1²), BN γ in [0.3, 1] — [1, 2] on the attention's
    query/key projections, so the softmax over the anchors is far from uniform. BN statistics are those of this
    random network on ``image`` (one train-mode pass with momentum 0: running stats = batch stats), then jittered.
    """
    basic = "backbone.bb_0_0.conv2._conv.weight" not in model.state_dict()
    for name, param in model.state_dict().items():
        shape = tuple(param.shape)
        if name.endswith("_batch_norm.weight"):
            if ".f_key." in name or ".f_query." in name:
                value = rng.uniform(1.0, 2.0, shape)
            elif re.search(r"bb_\d+_\d+\.conv1\._batch_norm" if basic else r"bb_\d+_\d+\.conv2\._batch_norm", name):
                value = rng.uniform(0.05, 0.15, shape)  # each residual branch's last BN: blocks start near identity
            else:
                value = rng.uniform(0.3, 1.0, shape)
        elif len(shape) == 4:
            value = rng.normal(0.0, math.sqrt(2.0 / (shape[1] * shape[2] * shape[3])), shape)
        else:  # conv biases, BN β (μ and σ² are set below)
            value = rng.normal(0.0, 0.1, shape)
        param.set_value(value.astype("float32"))
    norms = [layer for layer in model.sublayers() if isinstance(layer, paddle.nn.BatchNorm2D)]
    for norm in norms:
        norm._momentum = 0.0  # Paddle: running = momentum · running + (1 − momentum) · batch
    model.train()
    with paddle.no_grad():
        model(paddle.to_tensor(image))
    model.eval()
    for norm in norms:
        norm._momentum = 0.9
        mean, variance = norm._mean.numpy(), norm._variance.numpy()
        norm._mean.set_value((mean + rng.normal(0.0, 0.1, mean.shape) * np.sqrt(variance)).astype("float32"))
        norm._variance.set_value((variance * rng.uniform(0.8, 1.25, variance.shape)).astype("float32"))


def run(backbone: str, num_classes: int, size: tuple[int, int], seed: int, out: Path) -> None:
    """Build, randomise, save and run one ANN; write its files under ``out``."""
    paddle.seed(seed)
    rng = np.random.default_rng(seed)
    model = ANN(
        num_classes=num_classes,
        backbone=getattr(backbones, backbone)(output_stride=8),
        backbone_indices=(2, 3),
        key_value_channels=256,
        inter_channels=512,
        psp_size=(1, 3, 6, 8),
        enable_auxiliary_loss=True,
        align_corners=False,
    )
    image = rng.uniform(0.0, 1.0, (1, 3, *size)).astype("float32")  # RGB in [0, 1]
    normalized = (image - 0.5) / 0.5
    randomize(model, normalized, rng)
    out.mkdir(parents=True, exist_ok=True)
    paddle.save(model.state_dict(), str(out / "model.pdparams"))
    with paddle.no_grad():
        logits, aux_logits = model(paddle.to_tensor(normalized))
    np.save(out / "image.npy", image)
    np.save(out / "logits.npy", logits.numpy())
    np.save(out / "aux_logits.npy", aux_logits.numpy())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--backbones",
        nargs="+",
        default=["ResNet50_vd"],
        help="PaddleSeg ResNet-vd backbones (ResNet18_vd, ResNet50_vd, …); one folder each",
    )
    parser.add_argument("--num-classes", type=int, default=21)
    parser.add_argument("--size", type=int, nargs=2, default=(76, 92), metavar=("H", "W"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    paddle.set_device("cpu")
    for backbone in args.backbones:
        run(backbone, args.num_classes, tuple(args.size), args.seed, args.out / backbone)


if __name__ == "__main__":
    main()
