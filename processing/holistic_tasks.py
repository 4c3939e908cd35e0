"""Tasks-API backend: ``mediapipe.tasks.python.vision.HolisticLandmarker`` in VIDEO mode (mediapipe >= 0.10.30).

Needs the ``holistic_landmarker.task`` asset (see ``model_assets``). Returns the same full-holistic arrays as the
legacy backend (``holistic_common``): pose 33 (with visibility), face 468/478, hands 21 + 21, 3-D.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import holistic_common
from .extras import import_extract_dependency
from .model_assets import ModelAssetError, resolve_holistic_model, sha256_of
from .video import iter_video_frames


def require_tasks_api() -> None:
    """Raise an ImportError naming ``signllm[extract]`` when MediaPipe's Tasks API is not installed."""
    import_extract_dependency("mediapipe.tasks.python.vision", "The Tasks-API backend (--backend tasks)")


class TasksHolistic:
    """One ``HolisticLandmarker`` (VIDEO running mode); create one per video (tracking state is per stream).

    Args:
        model_asset_path (`str`): path to ``holistic_landmarker.task``.
        min_detection_confidence (`float`, defaults to 0.5): face/pose detection and hand landmark thresholds
            (MediaPipe's defaults, as the legacy graph).
    """

    def __init__(self, model_asset_path: str | os.PathLike, min_detection_confidence: float = 0.5) -> None:
        require_tasks_api()
        from mediapipe.tasks.python.core.base_options import BaseOptions
        from mediapipe.tasks.python.vision import holistic_landmarker
        from mediapipe.tasks.python.vision.core.vision_task_running_mode import VisionTaskRunningMode

        options = holistic_landmarker.HolisticLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(model_asset_path)),
            running_mode=VisionTaskRunningMode.VIDEO,
            min_face_detection_confidence=min_detection_confidence,
            min_pose_detection_confidence=min_detection_confidence,
            min_hand_landmarks_confidence=min_detection_confidence,
        )
        try:
            self._landmarker = holistic_landmarker.HolisticLandmarker.create_from_options(options)
        except (RuntimeError, ValueError, OSError) as error:
            raise ModelAssetError(
                f"MediaPipe could not load {model_asset_path} as a HolisticLandmarker model: {str(error).rstrip('.')}. "
                "Is it the holistic_landmarker.task file (not another task's model, not truncated)?"
            ) from None

    def detect(self, frame: np.ndarray, timestamp_ms: int) -> tuple:
        """``(H, W, 3)`` uint8 RGB -> ``(pose, face, left_hand, right_hand)`` landmark lists (empty when absent)."""
        from mediapipe.tasks.python.vision.core.image import Image, ImageFormat

        image = Image(image_format=ImageFormat.SRGB, data=np.ascontiguousarray(frame))
        result = self._landmarker.detect_for_video(image, timestamp_ms)
        return (result.pose_landmarks, result.face_landmarks, result.left_hand_landmarks,
                result.right_hand_landmarks)

    def close(self) -> None:
        self._landmarker.close()

    def __enter__(self) -> TasksHolistic:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def run_tasks(
    video_path: str | os.PathLike,
    model_asset_path: str | os.PathLike | None = None,
    target_fps: float = 25.0,
    on_frames: Callable[[int], None] | None = None,
    model_sha256: str | None = None,
) -> holistic_common.HolisticLandmarks:
    """Tasks-API holistic over a whole video -> full landmarks (asset resolved as in ``model_assets``)."""
    require_tasks_api()  # before the asset download
    asset = resolve_holistic_model(model_asset_path, sha256=model_sha256)
    frames = iter_video_frames(video_path, target_fps)
    first = next(frames)  # open and decode before loading the model, so bad videos fail fast

    def all_frames():
        yield first
        yield from frames

    with TasksHolistic(asset) as landmarker:
        landmarks, confidence, width, height = holistic_common.run_landmarker(
            landmarker.detect, all_frames(), target_fps, on_frames
        )
    import mediapipe

    extractor = holistic_common.extractor_info(
        "tasks", getattr(mediapipe, "__version__", "unknown"), model_asset=Path(asset).name,
        model_asset_sha256=_asset_sha256(str(asset)), min_detection_confidence=0.5, target_fps=float(target_fps),
    )  # fmt: skip
    return holistic_common.HolisticLandmarks(landmarks, confidence, target_fps, width, height, backend="tasks",
                                             extractor=extractor)  # fmt: skip


@functools.lru_cache(maxsize=4)
def _asset_sha256(path: str) -> str:
    """SHA-256 of the model asset (once per process and file): two ``.task`` files can share a name."""
    return sha256_of(path)
