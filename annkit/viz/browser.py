"""Drive the explorer in a real browser: headless Chromium through Selenium, for tests and the latency benchmark.

Needs the Debian packages ``chromium`` and ``chromium-driver`` (or any Chrome + matching chromedriver, given by the
``ANNKIT_CHROME`` / ``ANNKIT_CHROMEDRIVER`` variables) and the ``selenium`` package; ``BrowserUnavailable`` says
which is missing. No network: the pages are local files and the browser runs with its background services off.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

CHROME_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1500,1100",
    "--force-device-scale-factor=1",
)


class BrowserUnavailable(RuntimeError):
    """Raised when Chromium, chromedriver or selenium is missing."""


def browser_paths() -> tuple[str, str]:
    """(chromium, chromedriver) executables, or ``BrowserUnavailable`` naming what to install."""
    if importlib.util.find_spec("selenium") is None:
        raise BrowserUnavailable("selenium is not installed (pip install selenium)")
    chrome = os.environ.get("ANNKIT_CHROME") or shutil.which("chromium") or shutil.which("google-chrome")
    driver = os.environ.get("ANNKIT_CHROMEDRIVER") or shutil.which("chromedriver")
    if not chrome or not driver:
        raise BrowserUnavailable(
            "headless Chromium needs the chromium and chromium-driver packages "
            f"(found browser: {chrome}, driver: {driver})"
        )
    return chrome, driver


@contextmanager
def headless_chrome() -> Iterator:
    """A Selenium WebDriver on headless Chromium with a fresh, temporary profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chrome, driver_path = browser_paths()
    profile = tempfile.mkdtemp(prefix="annkit-chrome-")
    options = webdriver.ChromeOptions()
    options.binary_location = chrome
    for flag in (*CHROME_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def open_explorer(driver, url: str, timeout: float = 60.0):
    """Load a page holding the explorer (a file path or URL) and wait until it has drawn; returns its element.
    In an exported notebook the explorer lives in an iframe: the driver is switched into it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(Path(url).resolve().as_uri() if "://" not in url else url)
    frames = driver.find_elements(By.CSS_SELECTOR, ".annkit-static iframe")
    if frames:
        driver.switch_to.frame(frames[0])
    WebDriverWait(driver, timeout).until(
        lambda d: d.execute_script("const e = document.querySelector('[data-ready]'); return e && e.dataset.ready")
    )
    return driver.find_element(By.CSS_SELECTOR, "[data-ready]")


def hover(driver, root, x: float, y: float, panel: int = 0, view: int = 0) -> None:
    """Move the pointer over image pixel (x, y) of one view (0: back-projection, 1: top-k) of one panel."""
    from selenium.webdriver.common.action_chains import ActionChains

    stack = root.find_elements("css selector", ".ak-panel")[panel].find_elements("css selector", ".ak-stack")[view]
    box = stack.rect
    width, height = driver.execute_script("const d = arguments[0].annkitExplorer; return [d.width, d.height];", root)
    dx = (x + 0.5) / width * box["width"] - box["width"] / 2  # Selenium offsets are from the element's centre
    dy = (y + 0.5) / height * box["height"] - box["height"] / 2
    ActionChains(driver, duration=0).move_to_element_with_offset(stack, round(dx), round(dy)).perform()


def drawn_heat(driver, root, panel: int = 0) -> np.ndarray:
    """The back-projection canvas of one panel as drawn: (h, w, 3) uint8, one pixel per key-map cell."""
    width, height, pixels = driver.execute_script(
        "const c = arguments[0].querySelectorAll('.ak-heat')[arguments[1]];"
        "return [c.width, c.height, Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)];",
        root,
        panel,
    )
    return np.asarray(pixels, dtype=np.uint8).reshape(height, width, 4)[..., :3]


def colour_indices(pixels: np.ndarray, colormap) -> np.ndarray:
    """Invert the colour map: each drawn RGB → the index (0..255) of its nearest colour-map entry."""
    lut = np.asarray(colormap, dtype=np.int64)  # (256, 3)
    distance = ((pixels.reshape(-1, 1, 3).astype(np.int64) - lut[None]) ** 2).sum(-1)
    return distance.argmin(1).reshape(pixels.shape[:-1])


def measure_latency(driver, root, moves: int = 120, seed: int = 0) -> dict:
    """Median (and spread) of the time from a pointer event to the end of the explorer's redraw, in ms, over
    ``moves`` hover events at random image pixels; also to the next animation frame (when it is painted)."""
    width, height = driver.execute_script("const d = arguments[0].annkitExplorer; return [d.width, d.height];", root)
    rng = np.random.default_rng(seed)
    hover(driver, root, width / 2, height / 2)  # warm up
    driver.execute_script("const l = arguments[0].annkitExplorer.latency; l.draw.length = 0; l.frame.length = 0;", root)
    for x, y in zip(rng.uniform(0, width - 1, moves), rng.uniform(0, height - 1, moves)):
        hover(driver, root, x, y)
    driver.execute_script("return new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));")
    draw, frame = driver.execute_script(
        "const l = arguments[0].annkitExplorer.latency; return [l.draw, l.frame];", root
    )
    summary = {}
    for name, values in (("draw", draw), ("frame", frame)):
        values = sorted(values)
        summary[name] = dict(
            events=len(values),
            median_ms=statistics.median(values),
            p90_ms=values[int(0.9 * (len(values) - 1))],
            max_ms=values[-1],
        )
    return summary
