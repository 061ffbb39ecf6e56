"""Latency of the browser-side attention explorer: pointer event → finished redraw, in headless Chromium.

    python bench/explorer_latency.py --json bench/explorer_latency.json      # ~1–2 min on 2 CPU cores

For each case a model (random weights: the drawing cost does not depend on them; nothing is downloaded) is
captured once on a random image, written as the self-contained page of ``annkit viz attention --html``, opened in
headless Chromium, and hovered ``--moves`` times at random pixels through Selenium (real input events). The page
records, per event, the time from the event's timestamp to the end of the synchronous redraw of every panel
(back-projection, level grids, top-k boxes and table), and to the next animation frame (when it is painted).
Needs the chromium and chromium-driver packages and selenium (``annkit.viz.browser``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from annkit.models import build
from annkit.viz import capture_attention, write_html
from annkit.viz.browser import browser_paths, headless_chrome, measure_latency, open_explorer

CASES = [  # (name, preset, image size, panels: blocks shown side by side)
    ("tiny_ann 128×128", "tiny_ann", 128, ("head.fusion",)),
    ("tiny_ann 128×128, AFNB | APNB", "tiny_ann", 128, ("head.fusion", "head.context")),
    ("ANN R-50-D8 (mmseg) 512×512", "mmseg_ann_r50_d8_voc12aug", 512, ("head.fusion",)),
    ("ANN R-50-D8 (mmseg) 512×512, AFNB | APNB", "mmseg_ann_r50_d8_voc12aug", 512, ("head.fusion", "head.context")),
]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=120, help="hover events per case (median over these)")
    parser.add_argument("--json", metavar="PATH", help="also write the results here")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    chrome, _ = browser_paths()
    version = subprocess.run([chrome, "--version"], capture_output=True, text=True).stdout.strip()
    results, captures = [], {}
    with tempfile.TemporaryDirectory() as folder, headless_chrome() as driver:
        for name, preset, size, blocks in CASES:
            if preset not in captures:
                model = build(preset, backbone_weights=False).eval()
                start = time.perf_counter()
                captures[preset] = capture_attention(model, torch.rand(3, size, size))
                captured = time.perf_counter() - start
            capture = captures[preset]
            page = Path(folder) / f"{preset}_{len(blocks)}.html"
            write_html(page, *[(capture, block) for block in blocks])
            start = time.perf_counter()
            root = open_explorer(driver, str(page))
            loaded = time.perf_counter() - start
            latency = measure_latency(driver, root, args.moves)
            shape = tuple(capture.blocks[blocks[0]].weights.shape)
            results.append(
                dict(
                    case=name,
                    attention=f"{shape[0]}×{shape[1]} per block",
                    page_mib=page.stat().st_size / 2**20,
                    capture_s=captured,
                    page_load_s=loaded,
                    **latency,
                )
            )
            row = results[-1]
            print(
                f"{name:42} draw median {row['draw']['median_ms']:5.1f} ms (p90 {row['draw']['p90_ms']:5.1f}), "
                f"to next frame {row['frame']['median_ms']:5.1f} ms; {row['draw']['events']} events; "
                f"page {row['page_mib']:.2f} MiB, loads in {loaded:.1f} s",
                flush=True,
            )
    report = dict(
        browser=version,
        python=sys.version.split()[0],
        machine=platform.machine(),
        cpus=os.cpu_count(),
        load_average=os.getloadavg(),
        moves=args.moves,
        results=results,
    )
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
