"""Driving `signllm app` in headless Chromium (Debian's ``chromium`` + ``playwright``, no browser download):
shared by tests/test_app.py and tests/benchmarks/bench_app.py."""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
# as the machine probe ran it: no sandbox as root, no background traffic to a network we do not have
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_app(args: list[str], env: dict[str, str], log_path: Path, timeout: float = 120.0) -> Iterator[str]:
    """``signllm app ARGS`` in a subprocess on a free localhost port, as a user starts it; yields its URL."""
    port = free_port()
    with open(log_path, "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "signllm.train.cli", "app", *args, "--port", str(port)],
                                   stdout=log, stderr=subprocess.STDOUT, env=env)  # fmt: skip
        url = f"http://127.0.0.1:{port}/"
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    urllib.request.urlopen(url, timeout=2).close()
                    break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        log.flush()
                        raise RuntimeError(f"the app did not start:\n{log_path.read_text()[-3000:]}") from None
                    time.sleep(0.5)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def launch_chromium(playwright):
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} not found: apt-get install -y chromium (.ci/run does)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def upload(page, box: str, path: Path) -> None:
    """Put a file in the page's ``#box`` file input and wait until the page lists it."""
    page.locator(f"#{box} input[type=file]").set_input_files(str(path))
    page.locator(f'#{box} [aria-label="{path.name}"]').wait_for(timeout=60_000)


def run_and_wait(page, timeout_ms: int = 180_000, expect_progress: bool = True) -> float:
    """Click the run button and wait for the page's result message; returns the seconds it took. With
    ``expect_progress``, a keypoint-extraction progress bar must show on the way."""
    started = time.monotonic()
    page.locator("#signllm-run").click()
    if expect_progress:
        page.get_by_text(re.compile(r"extracting keypoints")).first.wait_for(timeout=60_000)
    page.locator("#signllm-status .sl-message").wait_for(timeout=timeout_ms)
    return time.monotonic() - started


def download_links(page) -> dict[str, str]:
    """File name -> URL of every download the page offers."""
    page.locator("#signllm-downloads a[download]").first.wait_for(timeout=30_000)
    return {link.get_attribute("download"): link.get_attribute("href")
            for link in page.locator("#signllm-downloads a[download]").all()}  # fmt: skip


def submit(browser, url: str, video: Path, subtitles: Path, timeout_ms: int = 180_000):
    """Open the page, upload a video and its subtitles, run, wait: ``(page, seconds from click to results)``."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url, timeout=60_000)
    upload(page, "signllm-input", video)
    upload(page, "signllm-subtitles", subtitles)
    return page, run_and_wait(page, timeout_ms)
