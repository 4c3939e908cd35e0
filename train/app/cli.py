"""signllm app: a local web page to look at what the model sees, translate and align (Gradio).

Examples::

    signllm app --model runs/bobsl/stage3                  # http://127.0.0.1:7860, the model fixed
    signllm app                                           # the page asks for a model folder or Hub id
    signllm app --model me/signllm-bobsl --backend legacy --port 8080
    signllm app --write-space space/ --model me/signllm-bobsl   # stage a Hugging Face Space folder, then upload it

Upload a video (mp4 / mov / webm, portrait too) or keypoints (.pose / .npz), optionally subtitles (.vtt / .srt)
and a manually aligned reference: the page shows the video with the MediaPipe skeleton drawn (lost joints are not
drawn) and a per-articulator detection timeline, the alignment lanes (prior, prediction, aligned after the DTW,
reference) and the translations with confidences (click a cue to jump there), and offers aligned VTT / SRT, ELAN
.eaf, translations (VTT + JSON), keypoints (.pose), alignment JSON and metrics JSON for download. Results are the
files `signllm align` / `signllm translate` write for the same input. Needs the app extra: pip install "signllm[app]".
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .analysis import DEFAULT_MAX_SECONDS

SPACE_MAX_SECONDS = 60.0  # a Space on CPU Basic: 2 vCPU for everyone who opens it


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", "-m", help="model folder or Hugging Face Hub id (default: typed in the page)")
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=int, default=7860, help="port to serve on")
    parser.add_argument("--backend", choices=("tasks", "legacy"), default=None,
                        help="MediaPipe backend for video input (default: legacy when $SIGNLLM_LEGACY_PYTHON is set, else the "
                             "Tasks API, as `signllm translate` chooses)")  # fmt: skip
    parser.add_argument("--max-seconds", type=float, default=None,
                        help=f"longest input the page accepts, in seconds (0: no limit; default {DEFAULT_MAX_SECONDS:g}, "
                             f"{SPACE_MAX_SECONDS:g} in a --write-space Space)")  # fmt: skip
    parser.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    parser.add_argument("--write-space", type=Path, metavar="DIR",
                        help="write a Hugging Face Space folder for --model (app.py, requirements.txt, README.md) "
                             "and exit")  # fmt: skip
    parser.add_argument("--space-requirement", metavar="REQ",
                        help="with --write-space: install signllm from this pip requirement (e.g. "
                             "'signllm[app] @ git+https://github.com/me/signllm') instead of copying its source")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # the page does not report usage unless asked to
    try:
        import gradio  # noqa: F401
    except ImportError:
        print('signllm app: error: the web app needs Gradio: pip install "signllm[app]"', file=sys.stderr)
        return 2
    if args.write_space is not None:
        from .space import write_space

        if not args.model:
            print("signllm app: error: --write-space needs --model (the Hub id the Space serves)", file=sys.stderr)
            return 2
        folder = write_space(args.write_space, args.model, requirement=args.space_requirement,
                             extraction_backend=args.backend or "tasks",  # a Space has no legacy environment
                             max_seconds=SPACE_MAX_SECONDS if args.max_seconds is None else args.max_seconds)  # fmt: skip
        print(f"wrote the Space to {folder}; upload it with: huggingface-cli upload --repo-type space "
              f"<you>/<space-name> {folder}")  # fmt: skip
        return 0
    from .ui import build_app

    limit = DEFAULT_MAX_SECONDS if args.max_seconds is None else args.max_seconds
    from signllm.pipeline_signllm import video_extract_kwargs

    chosen = video_extract_kwargs(args.backend, None)["backend"]  # the backend `signllm translate video.mp4` uses
    demo = build_app(model=args.model, extraction_backend=chosen, max_seconds=limit or None, device=args.device)
    demo.queue().launch(server_name=args.host, server_port=args.port)
    return 0
