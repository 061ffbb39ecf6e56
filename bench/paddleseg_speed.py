"""annkit vs PaddleSeg's own inference of PaddleSeg's ANN ResNet50_vd, same weights, CPU, fp32, batch 1, 2 threads.

    PYTHONPATH=. OMP_NUM_THREADS=1 python bench/paddleseg_speed.py [--size 512 512] [--rounds 5] [--out bench/NAME]

PaddleSeg's side runs in its own environment (``ANNKIT_PADDLE_PYTHON``, default ``/work/venvs/paddle/bin/python``;
``bash tools/peer_envs.sh paddle`` builds it): it builds ``paddleseg.models.ANN`` on ``ResNet50_vd(output_stride=8)``
as ``configs/ann/ann_resnet50_os8_voc12aug_512x512_40k.yml`` (21 classes, the random weights of
``tests/peers/paddleseg_forward.py``) and saves its
``.pdparams``; annkit converts that file (``convert_paddleseg_checkpoint``) and runs it as its inference does
(``prepare``: eval, BN folded). Each side is a worker process with 2 threads holding its model; this script asks
them in turn, round after round (PaddleSeg with its aux head as its eval forward computes it, annkit, PaddleSeg with
the aux head switched off), so load from other processes hits all sides alike. Times are wall seconds of one
forward (median over rounds, after one warm-up each) and process CPU seconds. The same run checks the outputs:
rel-L2 of annkit's logits against PaddleSeg's main logits.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

THREADS = 2
TAG = "paddleseg-speed: "


def _paddle_worker(folder: Path) -> None:
    """Build PaddleSeg's ANN, save its weights, then answer ``aux`` / ``noaux`` / ``dump`` lines on stdin."""
    import paddle
    from paddleseg.models import ANN
    from paddleseg.models.backbones import ResNet50_vd

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "peers"))
    from paddleseg_forward import randomize  # the equivalence test's well-scaled random weights

    paddle.set_device("cpu")
    paddle.seed(0)
    model = ANN(
        num_classes=21,
        backbone=ResNet50_vd(output_stride=8),
        backbone_indices=(2, 3),
        key_value_channels=256,
        inter_channels=512,
        psp_size=(1, 3, 6, 8),
        enable_auxiliary_loss=True,
        align_corners=False,
    )
    normalized = (np.load(folder / "image.npy") - 0.5) / 0.5
    randomize(model, normalized, np.random.default_rng(0))
    paddle.save(model.state_dict(), str(folder / "model.pdparams"))
    image = paddle.to_tensor(normalized)

    def forward(aux: bool):
        model.head.enable_auxiliary_loss = aux
        with paddle.no_grad():
            return model(image)[0]

    _serve(
        {"aux": lambda: forward(True), "noaux": lambda: forward(False)},
        lambda: np.save(folder / "paddle_logits.npy", forward(True).numpy()),
    )


def _annkit_worker(folder: Path) -> None:
    """Convert PaddleSeg's file and run annkit's inference; answer ``annkit`` / ``dump`` lines on stdin."""
    import torch

    from annkit.config import RuntimeConfig
    from annkit.models import convert_paddleseg_checkpoint, prepare

    torch.set_num_threads(THREADS)
    model = prepare(convert_paddleseg_checkpoint(folder / "model.pdparams"), RuntimeConfig())
    image = model.normalize(torch.from_numpy(np.load(folder / "image.npy")))

    def forward():
        with torch.inference_mode():
            return model(image)

    _serve({"annkit": forward}, lambda: np.save(folder / "annkit_logits.npy", forward().numpy()))


def _serve(steps: dict, dump) -> None:
    """Answer commands on stdin; replies are stdout lines starting with ``TAG`` (libraries print there too)."""
    print(TAG + "ready", flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "dump":
            dump()
            print(TAG + "{}", flush=True)
            continue
        wall, cpu = time.perf_counter(), time.process_time()
        steps[command]()
        print(TAG + json.dumps({"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}), flush=True)


class _Worker:
    def __init__(self, python: str, kind: str, folder: Path) -> None:
        env = {
            **os.environ,
            "OMP_NUM_THREADS": str(THREADS),
            "MKL_NUM_THREADS": str(THREADS),
            "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        }
        self.process = subprocess.Popen(
            [python, __file__, "--worker", kind, "--folder", str(folder)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.kind = kind
        self._reply()

    def _reply(self) -> str:
        for line in self.process.stdout:
            if line.startswith(TAG):
                return line[len(TAG) :]
        raise RuntimeError(f"{self.kind} worker stopped (see its stderr above)")

    def ask(self, command: str) -> dict:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return json.loads(self._reply())

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, nargs=2, default=(512, 512), metavar=("H", "W"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None, help="write OUT.json and OUT.txt")
    parser.add_argument("--worker", choices=["paddle", "annkit"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        (_paddle_worker if args.worker == "paddle" else _annkit_worker)(args.folder)
        return
    paddle_python = os.environ.get("ANNKIT_PADDLE_PYTHON", "/work/venvs/paddle/bin/python")
    if not Path(paddle_python).is_file():
        sys.exit(f"PaddleSeg environment not found at {paddle_python}: run `bash tools/peer_envs.sh paddle`")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        np.save(folder / "image.npy", np.random.default_rng(0).uniform(0, 1, (1, 3, *args.size)).astype("float32"))
        paddle_worker = _Worker(paddle_python, "paddle", folder)  # writes model.pdparams before "ready"
        annkit_worker = _Worker(sys.executable, "annkit", folder)
        order = [(paddle_worker, "aux"), (annkit_worker, "annkit"), (paddle_worker, "noaux")]
        times: dict[str, list[dict]] = {name: [] for _, name in order}
        for round_ in range(args.rounds + 1):  # round 0 is the warm-up
            for worker, name in order:
                result = worker.ask(name)
                if round_:
                    times[name].append(result)
        paddle_worker.ask("dump")
        annkit_worker.ask("dump")
        ours, theirs = np.load(folder / "annkit_logits.npy"), np.load(folder / "paddle_logits.npy")
        paddle_worker.close()
        annkit_worker.close()
    median = {
        name: {key: statistics.median(r[key] for r in runs) for key in ("wall", "cpu")} for name, runs in times.items()
    }
    report = {
        "setup": f"PaddleSeg ANN ResNet50_vd, 21 classes, {args.size[0]}x{args.size[1]}, float32, batch 1, "
        f"{THREADS} threads, CPU, {args.rounds} alternating rounds after 1 warm-up",
        "median_seconds": median,
        "runs": times,
        "ratio_annkit_to_paddleseg": median["annkit"]["wall"] / median["aux"]["wall"],
        "ratio_annkit_to_paddleseg_without_aux": median["annkit"]["wall"] / median["noaux"]["wall"],
        "rel_l2_annkit_vs_paddleseg": float(np.linalg.norm(ours - theirs) / np.linalg.norm(theirs)),
        "argmax_equal_fraction": float((ours.argmax(1) == theirs.argmax(1)).mean()),
    }
    lines = [report["setup"]]
    for name, label in (
        ("aux", "PaddleSeg (eval forward, aux head included)"),
        ("noaux", "PaddleSeg (aux off)"),
        ("annkit", "annkit (converted, BN folded)"),
    ):
        lines.append(f"  {label}: {median[name]['wall']:.3f} s wall, {median[name]['cpu']:.3f} s CPU (median)")
    lines.append(
        f"  annkit / PaddleSeg: {report['ratio_annkit_to_paddleseg']:.3f} "
        f"(vs aux off: {report['ratio_annkit_to_paddleseg_without_aux']:.3f})"
    )
    lines.append(
        f"  same weights, same image: rel-L2 {report['rel_l2_annkit_vs_paddleseg']:.2e}, "
        f"argmax equal on {report['argmax_equal_fraction']:.4%} of pixels"
    )
    print("\n".join(lines))
    if args.out:
        args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
        args.out.with_suffix(".txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
