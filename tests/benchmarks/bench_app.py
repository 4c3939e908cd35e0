"""`signllm app`: seconds from upload to results for a 10 s real signing clip, and where they go.

    python tests/benchmarks/bench_app.py                       # tiny random model, legacy MediaPipe, 2 threads
    python tests/benchmarks/bench_app.py --model runs/bobsl/stage3 --seconds 10 --threads 2

Builds a clip of ``--seconds`` from real How2Sign clips (``../shared/data``, concatenated), writes subtitles with
one cue per 2.5 s, starts ``signllm app`` as a user does, uploads both in headless Chromium (Debian ``chromium``
+ playwright) and times click → results on the page (the first run of a fresh app, so model loading counts).
Then the same request runs once more without the browser (``analysis.analyse``, model already loaded) to split
the time into keypoint extraction, inference (alignment + translation) and drawing/encoding the overlay video.
The 1-minute load average and a large fp32 matmul's GFLOP/s are printed alongside: the build machine is shared.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the browser helpers

REPO_ROOT = Path(__file__).resolve().parents[2]
CLIPS = REPO_ROOT.parent / "shared" / "data" / "how2sign_samples" / "clips_train_unlabeled"
SOURCES = ("_2u0MkRqpjA_4-5-rgb_front.mp4", "_5keJZsmTh0_1-5-rgb_front.mp4")  # 8.2 s + 7.5 s, 1280x720


def make_clip(path: Path, seconds: float) -> Path:
    """``seconds`` of real signing: How2Sign clips one after the other (25 fps, 1280x720, H.264)."""
    from signllm.processing.video import iter_video_frames, write_video

    frames = []
    for name in SOURCES:
        for frame in iter_video_frames(CLIPS / name, 25.0):
            frames.append(frame)
            if len(frames) >= round(seconds * 25):
                return write_video(path, frames, fps=25.0)
    raise ValueError(f"the sample clips hold less than {seconds} s")


def tiny_model(folder: Path) -> Path:
    import torch
    from signllm.configuration_signllm import SignLLMConfig
    from signllm.modeling_signllm import SignLLMForConditionalGeneration
    from signllm.processing_signllm import SignLLMProcessor
    from transformers import ByT5Tokenizer

    torch.manual_seed(0)
    config = SignLLMConfig.from_preset("tiny")
    SignLLMForConditionalGeneration(config).save_pretrained(folder)
    SignLLMProcessor(ByT5Tokenizer(), num_frames=config.num_frames, min_frames=4).save_pretrained(folder)
    return folder


def matmul_gflops(size: int = 2048, repeats: int = 3) -> float:
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - started) / 1e9


def browser_seconds(model: Path, clip: Path, subtitles: Path, backend: str, env: dict, log: Path) -> float:
    from app_browser import launch_chromium, running_app, submit
    from playwright.sync_api import sync_playwright

    with running_app(["--model", str(model), "--backend", backend], env, log) as url, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page, seconds = submit(browser, url, clip, subtitles, timeout_ms=600_000)
            kind = page.locator("#signllm-status .sl-message").get_attribute("data-kind")
            if kind != "info":
                raise RuntimeError(page.locator("#signllm-status").inner_text())
            return seconds
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="model folder (default: a tiny random model)")
    parser.add_argument("--seconds", type=float, default=10.0, help="clip length")
    parser.add_argument("--backend", choices=("legacy", "tasks"), default="legacy")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the app's and this process's)")
    parser.add_argument("--no-browser", action="store_true", help="only the in-process breakdown")
    args = parser.parse_args(argv)

    import torch
    from signllm.datasets_scripts.subtitles import Subtitle, write_subtitles
    from signllm.train.app.analysis import Request, analyse, cached_model

    torch.set_num_threads(args.threads)
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "OMP_NUM_THREADS": str(args.threads)}
    if args.backend == "legacy" and not os.environ.get("SIGNLLM_LEGACY_PYTHON"):
        env["SIGNLLM_LEGACY_PYTHON"] = os.environ["SIGNLLM_LEGACY_PYTHON"] = str(REPO_ROOT.parent / "venv-legacy" /
                                                                               "bin" / "python")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-app-") as tmp:
        root = Path(tmp)
        model = args.model or tiny_model(root / "model")
        clip = make_clip(root / "clip.mp4", args.seconds)
        cues = [Subtitle(t, min(t + 2.5, args.seconds), f"Sentence number {k + 1}.")
                for k, t in enumerate(x * 2.5 for x in range(int(args.seconds // 2.5)))]  # fmt: skip
        write_subtitles(cues, root / "clip.vtt")
        print(f"clip: {args.seconds:g} s of How2Sign signing (1280x720), {len(cues)} subtitles; model: "
              f"{args.model or 'tiny random'}; backend: {args.backend}; {args.threads} threads")
        print(f"load average (1 min): {os.getloadavg()[0]:.2f}; large fp32 matmul: {matmul_gflops():.0f} GFLOP/s")
        if not args.no_browser:
            seconds = browser_seconds(model, clip, root / "clip.vtt", args.backend, env, root / "app.log")
            print(f"browser: upload → results (fresh app, model load included): {seconds:.1f} s")
        request = Request(input_path=clip, model=str(model), subtitles_path=root / "clip.vtt", backend=args.backend)
        cached_model(str(model), None)  # loaded once, as the app keeps it
        result = analyse(request, root / "run")
        timings = result.timings
        print(f"in process, model loaded: total {timings['total']:.1f} s = keypoints {timings['keypoints']:.1f} s + "
              f"inference {timings['inference']:.1f} s + overlay {timings['render']:.1f} s")  # fmt: skip
        print(f"load average (1 min) after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
