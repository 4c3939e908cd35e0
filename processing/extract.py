"""Video -> MediaPipe Holistic keypoints, with either backend.

``extract_keypoints(video)`` is the library entry point (203-joint :class:`KeypointSequence`);
``extract_holistic(video)`` keeps the full holistic landmarks (543/553 points) for ``.pose`` files and mouth crops.

Backends:

- ``"tasks"`` — the current Tasks API (``HolisticLandmarker``, VIDEO mode); needs ``holistic_landmarker.task``
  (``model_assets.resolve_holistic_model``).
- ``"legacy"`` — ``mediapipe.solutions.holistic`` (models inside the wheel, offline). Runs in this process when
  the legacy wheel is installed here; otherwise in the environment named by ``$SIGNLLM_LEGACY_PYTHON``
  through one long-lived helper process per worker (``holistic_legacy.py --serve``).
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
from signllm.keypoint_layout import FACE_MESH_INDICES

from .holistic_common import NUM_HAND, NUM_POSE, HolisticLandmarks
from .holistic_legacy import LEGACY_INSTALL_HINT, LegacyBackendUnavailable, legacy_available, run_legacy
from .keypoint_io import KeypointSequence
from .process_guard import private_scratch_dir
from .video import DEFAULT_FPS, VideoError, probe_video

BACKENDS = ("tasks", "legacy")
ENV_LEGACY_PYTHON = "SIGNLLM_LEGACY_PYTHON"
LEGACY_SCRIPT = Path(__file__).with_name("holistic_legacy.py")


class ExtractionError(RuntimeError):
    """Keypoint extraction failed for one video (the batch CLI records it and goes on)."""


class NoPersonError(ExtractionError):
    """Nobody (no pose, face or hand) was detected in any frame of the video."""


# ------------------------------------------------------------------------------------ holistic -> 203 joints
def holistic_203_index(num_points: int) -> np.ndarray:
    """Indices of the 203 joints inside a full holistic frame of ``num_points`` (543/553/576/586)."""
    face_size = {543: 468, 553: 478, 576: 468, 586: 478}.get(num_points)
    if face_size is None:
        raise ValueError(f"Unsupported number of holistic landmarks {num_points}.")
    left = NUM_POSE + face_size
    return np.concatenate([np.arange(NUM_POSE), NUM_POSE + np.asarray(FACE_MESH_INDICES),
                           np.arange(left, left + NUM_HAND), np.arange(left + NUM_HAND, left + 2 * NUM_HAND)])


def holistic_to_keypoints(holistic: HolisticLandmarks) -> KeypointSequence:
    """Full landmarks -> 203-joint :class:`KeypointSequence` (mask = detected, legs hidden; confidence kept)."""
    from signllm.keypoint_layout import mask_missing

    index = holistic_203_index(holistic.landmarks.shape[1])
    values = holistic.landmarks[:, index].copy()
    confidence = holistic.confidence[:, index]
    values[confidence <= 0] = 0.0  # undetected parts are zeros already; a zero score means "not there" too
    values, mask = mask_missing(values)
    return KeypointSequence(values=values, mask=mask, fps=holistic.fps, confidence=np.where(mask, confidence, 0.0),
                            width=holistic.width, height=holistic.height, extractor=holistic.extractor)


# ------------------------------------------------------------------------------------ legacy helper process
def legacy_python() -> str | None:
    """The legacy environment's interpreter from ``$SIGNLLM_LEGACY_PYTHON`` (None when unset)."""
    python = os.environ.get(ENV_LEGACY_PYTHON)
    if not python:
        return None
    if not Path(python).exists():
        raise LegacyBackendUnavailable(f"${ENV_LEGACY_PYTHON}={python} does not exist.")
    return python


class LegacyHelper:
    """A ``holistic_legacy.py --serve`` process in the legacy environment, answering one video at a time."""

    def __init__(self, python: str) -> None:
        self.python = python
        self._log = tempfile.TemporaryFile(mode="w+")  # mediapipe's glog chatter; its tail explains crashes
        # the helper dies with this process (process_guard); the kernel's death signal only when started from the
        # main thread (it fires when the starting *thread* exits)
        guard = ["--parent-pid", str(os.getpid())]
        if threading.current_thread() is threading.main_thread():
            guard.append("--parent-death-signal")
        self._process = subprocess.Popen(
            [python, str(LEGACY_SCRIPT), "--serve", *guard], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._log, text=True, bufsize=1,
        )

    def alive(self) -> bool:
        return self._process.poll() is None

    def _stderr_tail(self, limit: int = 800) -> str:
        self._log.seek(0)
        return self._log.read()[-limit:].strip()

    def run(self, video_path: str | os.PathLike, target_fps: float,
            on_frames: Callable[[int], None] | None = None) -> HolisticLandmarks:
        # in this process's private scratch folder: a kill -9 leaves it for the next run to remove (process_guard)
        handle, output = tempfile.mkstemp(suffix=".npz", prefix="job-", dir=private_scratch_dir("legacy"))
        os.close(handle)
        try:
            job = {"video": str(Path(video_path).resolve()), "output": output, "target_fps": target_fps}
            try:
                self._process.stdin.write(json.dumps(job) + "\n")
                self._process.stdin.flush()
            except (BrokenPipeError, OSError):
                raise ExtractionError(f"legacy MediaPipe helper died: {self._stderr_tail()}") from None
            for line in self._process.stdout:
                try:
                    message = json.loads(line)
                except json.JSONDecodeError:
                    continue  # stray output from a native library
                if "progress" in message:
                    if on_frames is not None:
                        on_frames(int(message["progress"]))
                    continue
                if message.get("ok"):
                    with np.load(output) as arrays:
                        extractor = json.loads(str(arrays["extractor"])) if "extractor" in arrays.files else None
                        return HolisticLandmarks(arrays["landmarks"], arrays["confidence"], float(arrays["fps"]),
                                                 int(arrays["width"]), int(arrays["height"]), backend="legacy",
                                                 extractor=extractor or None)  # fmt: skip
                kind, text = message.get("error", "Error"), message.get("message", "")
                if kind == "VideoError":
                    raise VideoError(text)
                if kind == "LegacyBackendUnavailable":
                    raise LegacyBackendUnavailable(f"in {self.python}: {text}")
                raise ExtractionError(f"legacy MediaPipe failed on {video_path}: {kind}: {text}")
            raise ExtractionError(
                f"legacy MediaPipe helper ({self.python}) exited (code {self._process.wait()}) while processing "
                f"{video_path}: {self._stderr_tail()}"
            )
        finally:
            if os.path.exists(output):
                os.unlink(output)

    def kill(self) -> None:
        """End the helper at once (its parent is going away)."""
        if self.alive():
            self._process.kill()

    def close(self) -> None:
        if self.alive():
            self._process.stdin.close()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._log.close()


_HELPERS: dict[str, LegacyHelper] = {}


def _legacy_helper(python: str) -> LegacyHelper:
    """One helper per (worker) process and interpreter, restarted if it died (a crash costs one video)."""
    helper = _HELPERS.get(python)
    if helper is None or not helper.alive():
        helper = _HELPERS[python] = LegacyHelper(python)
    return helper


def kill_legacy_helpers() -> None:
    """Kill this process's legacy helpers at once (used when the process must exit immediately)."""
    for helper in _HELPERS.values():
        helper.kill()


@atexit.register
def _close_helpers() -> None:
    for helper in _HELPERS.values():
        helper.close()
    _HELPERS.clear()


# ------------------------------------------------------------------------------------ public API
def extract_holistic(
    video_path: str | os.PathLike,
    backend: str = "tasks",
    model_asset_path: str | os.PathLike | None = None,
    target_fps: float = DEFAULT_FPS,
    on_frames: Callable[[int], None] | None = None,
    model_sha256: str | None = None,
    legacy_python_path: str | None = None,
) -> HolisticLandmarks:
    """Full MediaPipe Holistic landmarks of every frame of a video, resampled to ``target_fps``.

    ``legacy_python_path`` names the legacy environment's interpreter (default ``$SIGNLLM_LEGACY_PYTHON``); it is
    used only when ``mediapipe.solutions`` is not importable here.

    Raises:
        VideoError: missing / empty / corrupt video. ``ModelAssetError``: no Tasks model asset.
        LegacyBackendUnavailable: legacy backend requested but not installed anywhere we can reach.
    """
    if backend not in BACKENDS:
        raise ValueError(f"Unknown backend {backend!r}; expected one of {BACKENDS}.")
    probe_video(video_path)  # fail fast, with a clear message, before loading any model
    if backend == "tasks":
        from .holistic_tasks import run_tasks

        return run_tasks(video_path, model_asset_path, target_fps, on_frames, model_sha256)
    if legacy_available():
        return run_legacy(video_path, target_fps, on_frames)
    python = legacy_python_path or legacy_python()
    if python is None:
        raise LegacyBackendUnavailable(f"The legacy backend is not installed here: {LEGACY_INSTALL_HINT}.")
    return _legacy_helper(python).run(video_path, target_fps, on_frames)


def extract_keypoints(
    video_path: str | os.PathLike,
    backend: str = "tasks",
    model_asset_path: str | os.PathLike | None = None,
    target_fps: float = DEFAULT_FPS,
    require_person: bool = True,
    on_frames: Callable[[int], None] | None = None,
) -> KeypointSequence:
    """Video -> 203-joint keypoints ``values (t, 203, 3)``, ``mask (t, 203)``, ``confidence (t, 203)`` at 25 fps.

    Every decoded frame is kept: frames with no person or no hand are masked, not dropped. ``on_frames(n)`` is
    called as extraction advances (``n`` more frames done, every 25 frames), for progress bars.

    Raises:
        NoPersonError: (``require_person``) nobody was detected in any frame.
        VideoError, ModelAssetError, LegacyBackendUnavailable: see :func:`extract_holistic`.
    """
    holistic = extract_holistic(video_path, backend, model_asset_path, target_fps, on_frames)
    if require_person:
        check_person(holistic, video_path)
    return holistic_to_keypoints(holistic)


def check_person(holistic: HolisticLandmarks, video_path: str | os.PathLike) -> None:
    """Raise :class:`NoPersonError` when no part was found in any frame."""
    if not any(found.any() for found in holistic.part_found().values()):
        raise NoPersonError(
            f"{video_path}: no person detected (no pose, face or hands) in any of its {holistic.num_frames} "
            "frame(s). Is the signer visible? (Use --allow-no-person to write fully masked keypoints anyway.)"
        )
