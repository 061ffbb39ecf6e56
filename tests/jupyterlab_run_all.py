"""JupyterLab, for real: open a notebook, Run All, then interact with the attention explorer — in headless Chromium.

    python tests/jupyterlab_run_all.py notebooks/05_inspecting_attention.ipynb [--matplotlib-widget]

The notebook is copied (with ``assets/``) to a temporary folder and served by a private JupyterLab on localhost; the
committed file is never opened by the server. After Run All it checks: every code cell ran (no error output, no
"Error displaying widget"), the explorer rendered live (not its kernel-free copy, which must be hidden), hovering
moves its query and redraws it, and every matplotlib figure shown holds a picture (no blank canvas). Exit 0 when
all hold; else it prints what failed. Slow (a kernel, a Lab and a browser: ~1–2 min), so not part of pytest.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import numpy as np

from annkit.viz.browser import drawn_heat, headless_chrome


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--matplotlib-widget", action="store_true", help="prepend %%matplotlib widget (ipympl)")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args(argv)
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    folder = Path(tempfile.mkdtemp(prefix="annkit-lab-"))
    shutil.copy(args.notebook, folder / args.notebook.name)
    if (args.notebook.parent / "assets").is_dir():
        shutil.copytree(args.notebook.parent / "assets", folder / "assets")
    if args.matplotlib_widget:
        notebook = nbformat.read(folder / args.notebook.name, 4)
        notebook.cells.insert(0, nbformat.v4.new_code_cell("%matplotlib widget"))
        nbformat.write(notebook, folder / args.notebook.name)
    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]), ANNKIT_SMOKE="1")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            f"--port={port}",
            "--ip=127.0.0.1",
            "--allow-root",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={folder}",
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    failures = []
    try:
        with headless_chrome() as driver:
            url = f"http://127.0.0.1:{port}/lab/tree/{args.notebook.name}?token={token}"
            deadline = time.time() + 120
            while True:
                try:
                    driver.get(url)
                    break
                except Exception:
                    if time.time() > deadline or server.poll() is not None:
                        raise
                    time.sleep(2)

            def wait(condition, what, timeout=args.timeout):
                end = time.time() + timeout
                while time.time() < end:
                    value = driver.execute_script(condition)
                    if value:
                        return value
                    time.sleep(1)
                raise TimeoutError(f"timed out waiting for {what}")

            wait("return document.querySelector('.jp-Notebook .jp-Cell') !== null", "the notebook", 180)
            wait(
                "return document.querySelector('.jp-Notebook-ExecutionIndicator[data-status=\"idle\"]') !== null"
                " || document.body.innerText.includes('Idle')",
                "an idle kernel",
                180,
            )
            time.sleep(2)
            driver.find_element(By.XPATH, "//li[contains(@class,'lm-MenuBar-item')][.//div[text()='Run']]").click()
            time.sleep(1)
            driver.find_element(
                By.XPATH, "//li[contains(@class,'lm-Menu-item')][.//div[text()='Run All Cells']]"
            ).click()
            start = time.time()
            cells = driver.execute_script("return document.querySelectorAll('.jp-CodeCell').length")
            wait(
                "const p = Array.from(document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt'))"
                ".map((e) => e.textContent); return p.length && p.every((t) => /\\[\\d+\\]/.test(t));",
                "Run All to finish",
            )
            print(f"Run All: {cells} code cells in {time.time() - start:.0f} s")
            time.sleep(3)  # let widgets render
            text = driver.execute_script(
                "return Array.from(document.querySelectorAll('.jp-OutputArea-output'))"
                ".map((e) => e.innerText).join('\\n')"
            )
            for marker in ("Traceback", "Error displaying widget", "Error:"):
                if marker in text:
                    failures.append(f"an output says {marker!r}")
            live = driver.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output [data-ready]")
            hidden = driver.execute_script(
                "return Array.from(document.querySelectorAll('.annkit-static')).map((e) => getComputedStyle(e).display)"
            )
            print(f"live explorers: {len(live)}; kernel-free copies: {hidden}")
            if not live and "explore_attention" in args.notebook.read_text():
                failures.append("no live explorer rendered")
            if any(state != "none" for state in hidden):
                failures.append("a kernel-free copy is visible beside the live explorer")
            for root in live:
                driver.execute_script("arguments[0].scrollIntoView()", root)
                before = drawn_heat(driver, root).copy()
                stack = root.find_element(By.CSS_SELECTOR, ".ak-stack")
                ActionChains(driver).move_to_element_with_offset(stack, -stack.rect["width"] // 3, 10).perform()
                if np.array_equal(drawn_heat(driver, root), before):
                    failures.append("hovering did not redraw the explorer")
            # one entry per output holding pictures (an ipympl figure is two canvases: the image and a transparent
            # rubber-band layer): blank when every picture in it is one flat colour or an unloaded image
            figures = driver.execute_script("""
                const flat = (e) => {
                  if (e.tagName === 'IMG') return e.naturalWidth === 0;
                  const d = e.getContext('2d').getImageData(0, 0, e.width, e.height).data;
                  for (let i = 4; i < d.length; i += 4) if (d[i] !== d[0] || d[i + 1] !== d[1]) return false;
                  return true;
                };
                return Array.from(document.querySelectorAll('.jp-OutputArea-output'))
                  .filter((o) => !o.querySelector('[data-ready]') && !o.querySelector('.annkit-static'))
                  .map((o) => Array.from(o.querySelectorAll('canvas, img'))).filter((p) => p.length)
                  .map((p) => p.every(flat));""")
            print(f"figures: {len(figures)}, blank: {sum(figures)}")
            if any(figures):
                failures.append(f"{sum(figures)} of {len(figures)} figures are blank")
            driver.save_screenshot(str(folder / "lab.png"))
    finally:
        server.terminate()
        server.wait(30)
    for failure in failures:
        print("FAIL:", failure)
    shutil.rmtree(folder, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
