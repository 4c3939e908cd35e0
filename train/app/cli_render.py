"""signllm render: the skeleton overlay of a signing video as an .mp4, with subtitles burned in (papers, talks).

Examples::

    signllm render clip.mp4 -o overlay.mp4 --backend legacy                  # extract, draw, encode
    signllm render clip.mp4 -o overlay.mp4 --keypoints clip.pose --subtitles aligned.vtt
    signllm render clip.pose -o skeleton.mp4                                  # keypoints alone: a blank canvas

The overlay is the web app's (`signllm app`): MediaPipe joints and bones per articulator (masked joints, and
bones touching them, are not drawn), a detection strip along the bottom (one row per articulator over the whole
clip: green found, red lost; a white cursor at the current frame) and the subtitles active at each frame. A video
is re-timed to the keypoints' frame rate (25 fps, the extraction's time grid: output frame k shows keypoint
frame k); the output is H.264 (yuv420p), so its sides are rounded to even numbers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_FPS = 25.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="video (.mp4/.mov/.webm/...) or keypoint file (.pose/.npz/...)")
    parser.add_argument("--output", "-o", type=Path, required=True, help="overlay video to write (.mp4)")
    parser.add_argument("--subtitles", type=Path, help="subtitles to burn in (.vtt/.srt), e.g. from `signllm align`")
    parser.add_argument("--keypoints", type=Path,
                        help="keypoints of the video (from `signllm extract`) instead of extracting them again")  # fmt: skip
    parser.add_argument("--backend", choices=("tasks", "legacy"), default=None,
                        help="MediaPipe backend for extraction from a video (default: legacy when $SIGNLLM_LEGACY_PYTHON is set, else the "
                             "Tasks API, as `signllm translate` chooses)")  # fmt: skip
    parser.add_argument("--fps", type=float, default=DEFAULT_FPS, help="frame rate of the keypoints and the output")
    parser.add_argument("--max-size", type=int, default=None,
                        help="longest side of the output in pixels (default: the video's size)")  # fmt: skip
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    from . import backend
    from .overlay import render_overlay

    try:
        if args.output.suffix.lower() != ".mp4":
            raise backend.AppError(f"--output must end in .mp4, got {args.output}")
        if not args.input.is_file():
            raise backend.AppError(f"input not found: {args.input}")
        suffix = args.input.suffix.lower()
        is_video = suffix in backend.VIDEO_SUFFIXES
        if not is_video and suffix not in backend.KEYPOINT_SUFFIXES:
            raise backend.AppError(f"unsupported input {args.input}: expected a video "
                                   f"({', '.join(backend.VIDEO_SUFFIXES)}) or keypoints "
                                   f"({', '.join(backend.KEYPOINT_SUFFIXES)})")  # fmt: skip
        cues = backend.read_subtitle_file(args.subtitles) if args.subtitles else None
        if is_video:
            backend.video_duration(args.input)  # a clear error for an unreadable video before any work
        if is_video and args.keypoints is None:
            sequence = backend.extract_video(args.input, None, args.fps, args.backend)
        else:
            sequence = backend.load_keypoints(args.keypoints or args.input, None, args.fps)
    except backend.AppError as error:
        print(f"signllm render: error: {error}", file=sys.stderr)
        return 2

    bar = None
    if not args.no_progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=sequence.num_frames, desc="render", unit="frame")

    def on_frame(done: int, total: int) -> None:
        if bar is not None:
            bar.update(1)

    frames = backend.frames_of(args.input, args.fps) if is_video else None
    render_overlay(sequence.values, sequence.mask, args.fps,
                   lambda stream, fps: backend.write_overlay_video(args.output, stream, fps), frames=frames,
                   subtitles=cues, max_size=args.max_size, on_frame=on_frame)  # fmt: skip
    if bar is not None:
        bar.close()
    print(f"wrote {args.output} ({sequence.num_frames} keypoint frames at {args.fps:g} fps)")
    return 0
