"""Backend-independent MediaPipe Holistic bookkeeping: per-frame landmark packing and the per-video loop.

Numpy only, so the legacy backend can run it as a standalone script inside its own environment (the legacy
``mediapipe`` wheel and the current one both install a ``mediapipe`` module; see ``holistic_legacy.py``).

Full holistic arrays use pose-format's layout and units: ``(t, 33 + F + 21 + 21, 3)`` for pose, face
(F = 468, or 478 with iris), left hand, right hand; x·width and y·height in pixels, z as MediaPipe gives it.
A part that was not found in a frame is all zeros with confidence 0 (masked, never dropped).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

NUM_POSE = 33
NUM_HAND = 21
FACE_SIZES = (468, 478)

#: ``detect(frame (H, W, 3) uint8 RGB, timestamp_ms) -> (pose, face, left_hand, right_hand)`` where each part is
#: a sequence of landmarks with ``.x .y .z`` (pose also ``.visibility``) or ``None``/empty when not found.
DetectFn = Callable[[np.ndarray, int], tuple]


def pack_part(
    landmarks: Sequence | None, width: int, height: int, size: int, use_visibility: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """One body part's landmarks -> ``((size, 3) pixels, (size,) confidence)``; zeros when not detected.

    MediaPipe scores pose landmarks (``visibility``) but not face or hand points: those get 1.0 when the part
    was detected, 0.0 when not.
    """
    points = np.zeros((size, 3), dtype=np.float32)
    confidence = np.zeros(size, dtype=np.float32)
    if not landmarks:
        return points, confidence
    count = min(size, len(landmarks))
    for i in range(count):
        point = landmarks[i]
        points[i] = (point.x * width, point.y * height, point.z)
        visibility = getattr(point, "visibility", None) if use_visibility else None
        confidence[i] = 1.0 if visibility is None else float(visibility)
    return points, confidence


def pack_frame(parts: tuple, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """``(pose, face, left, right)`` landmark lists -> one frame ``((33 + F + 42, 3), (33 + F + 42,))``.

    ``F`` is 478 when the face model returned iris points, else 468.
    """
    pose, face, left, right = parts
    face_size = 478 if face and len(face) >= 478 else 468
    packed = [
        pack_part(pose, width, height, NUM_POSE, use_visibility=True),
        pack_part(face, width, height, face_size),
        pack_part(left, width, height, NUM_HAND),
        pack_part(right, width, height, NUM_HAND),
    ]
    return np.concatenate([p for p, _ in packed]), np.concatenate([c for _, c in packed])


def _widen_face(points: np.ndarray, confidence: np.ndarray, face_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pad a 468-face frame to ``face_size`` (478) with zero iris points so all frames stack."""
    current = points.shape[0] - NUM_POSE - 2 * NUM_HAND
    if current == face_size:
        return points, confidence
    at = NUM_POSE + current
    extra = face_size - current
    points = np.concatenate([points[:at], np.zeros((extra, 3), np.float32), points[at:]])
    confidence = np.concatenate([confidence[:at], np.zeros(extra, np.float32), confidence[at:]])
    return points, confidence


def run_landmarker(
    detect: DetectFn,
    frames: Iterable[np.ndarray],
    fps: float,
    on_frames: Callable[[int], None] | None = None,
    report_every: int = 25,
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Run ``detect`` on every frame of a stream.

    Returns:
        ``landmarks (t, 33 + F + 42, 3)`` float32, ``confidence (t, 33 + F + 42)`` float32, width, height.
        Frames are consumed one at a time; only the landmarks are kept.
    """
    points_per_frame: list[np.ndarray] = []
    confidence_per_frame: list[np.ndarray] = []
    width = height = 0
    pending = 0
    for index, frame in enumerate(frames):
        height, width = frame.shape[:2]
        timestamp_ms = int(round(index * 1000.0 / fps))
        points, confidence = pack_frame(detect(frame, timestamp_ms), width, height)
        points_per_frame.append(points)
        confidence_per_frame.append(confidence)
        pending += 1
        if on_frames is not None and pending >= report_every:
            on_frames(pending)
            pending = 0
    if on_frames is not None and pending:
        on_frames(pending)
    if not points_per_frame:
        raise ValueError("the video yielded no frames")
    face_size = max(p.shape[0] for p in points_per_frame) - NUM_POSE - 2 * NUM_HAND
    widened = [_widen_face(p, c, face_size) for p, c in zip(points_per_frame, confidence_per_frame, strict=True)]
    landmarks = np.stack([p for p, _ in widened]).astype(np.float32)
    confidence = np.stack([c for _, c in widened]).astype(np.float32)
    return landmarks, confidence, width, height


def extractor_info(backend: str, version: str, **settings) -> dict:
    """The provenance record of an extraction: MediaPipe Holistic, which backend and version, with which settings."""
    return {"name": "mediapipe-holistic", "backend": backend, "version": str(version), "settings": settings}


@dataclass
class HolisticLandmarks:
    """Full MediaPipe Holistic output of one video.

    Args:
        landmarks (`np.ndarray` of shape `(t, 543 | 553, 3)`): pose 33, face 468/478, left hand 21, right hand 21;
            pixels for x/y (pose-format convention); zeros where a part was not found.
        confidence (`np.ndarray` of shape `(t, 543 | 553)`): pose visibility; 1/0 for face and hand points.
        fps (`float`), width (`int`), height (`int`): frame rate and frame size of the decoded video.
        backend (`str`): "tasks" or "legacy".
        extractor (`dict`, *optional*): provenance ``{"name", "backend", "version", "settings"}`` that the keypoint
            files record (`extractor_info`).
    """

    landmarks: np.ndarray
    confidence: np.ndarray
    fps: float
    width: int
    height: int
    backend: str = ""
    extractor: dict | None = None

    @property
    def num_frames(self) -> int:
        return int(self.landmarks.shape[0])

    @property
    def face_size(self) -> int:
        return int(self.landmarks.shape[1]) - NUM_POSE - 2 * NUM_HAND

    def part_found(self) -> dict[str, np.ndarray]:
        """Per-frame detection flags ``(t,)`` bool of each part (pose, face, left_hand, right_hand)."""
        face_end = NUM_POSE + self.face_size
        spans = {"pose": (0, NUM_POSE), "face": (NUM_POSE, face_end),
                 "left_hand": (face_end, face_end + NUM_HAND), "right_hand": (face_end + NUM_HAND, None)}
        return {name: self.confidence[:, start:end].max(axis=1) > 0 for name, (start, end) in spans.items()}

    def detection_rates(self) -> dict[str, float]:
        """Fraction of frames in which each part was found."""
        return {name: float(found.mean()) for name, found in self.part_found().items()}
