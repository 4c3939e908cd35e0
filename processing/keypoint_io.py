"""Keypoint files: writers (pose-format ``.pose``, our compact ``.npz``, atomically) and the readers' public names.

Reading is **one path**, defined in the Hub code (``signllm.keypoint_reading``) so that training, evaluation, the
CLI and the ``"sign-translation"`` pipeline read every file identically; this module re-exports it under its
historical names (``read_keypoints``, ``read_pose_file``, ``read_npz``, ``read_kaggle_parquet``,
``resample_keypoints``, ``KeypointSequence``, ``KeypointFileError``) and adds the writers.

Every reader returns a :class:`KeypointSequence` in the 203-joint layout of ``signllm.keypoint_layout``
(body 33, face 128, left hand 21, right hand 21), raw (unnormalised) coordinates and a per-joint mask.

Coordinates follow pose-format's MediaPipe convention so our files and the community's mix freely:
``x`` and ``y`` in pixels (MediaPipe's normalised x·width, y·height — keeps the aspect ratio), ``z`` as
MediaPipe reports it. Kaggle parquet files stay in MediaPipe's normalised [0, 1] units (they carry no size).
Per-clip normalisation (``normalize_keypoints``) makes both comparable.

| format | write |
|---|---|
| ``.pose``, holistic (any subset of its 4 landmark components, by point name) | :func:`write_pose` (203 joints) |
| ``.pose``, full holistic from ``signllm extract`` | :func:`write_holistic_pose` (543/553 points) |
| ``.npz`` (``values``, ``mask``, ``confidence``, ``fps``, ``extractor``) | :func:`write_npz` |
| ``.npy``, a plain ``(T, 203 or 543/553/576/586, 3)`` array | — |
| Kaggle GISLR ``.parquet`` (frame, type, landmark_index, x, y, z) | — |

All of them are read by :func:`read_keypoints`. Writers record the extractor of a sequence
(:attr:`KeypointSequence.extractor`: backend, version, settings) in the file: the ``.npz`` ``extractor`` entry
and, in ``.pose`` files, a zero-point header component ``SIGNLLM_EXTRACTOR:<json>`` (see ``keypoint_reading``).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from signllm.keypoint_layout import FACE_MESH_INDICES, FACEMESH_CONTOURS, HAND_CONNECTIONS, POSE_CONNECTIONS
from signllm.keypoint_reading import (  # noqa: F401 - the public reading API, re-exported under its old names
    BODY_POINTS,
    DEFAULT_FILE_FPS,
    EXTRACTOR_COMPONENT,
    HAND_POINTS,
    HOLISTIC_COMPONENTS,
    KAGGLE_DEFAULT_FPS,
    KeypointFileError,
    KeypointSequence,
    encode_extractor,
    read_extractor,
    read_kaggle_parquet,
    read_keypoint_file,
    read_npz,
    read_pose_file,
    resample_sequence,
)

# pose-format's hand colours (pose_format.utils.openpose.hand_colors), one per hand point
_HAND_COLORS = [
    (232, 232, 232), (192, 0, 0), (227, 35, 35), (262, 70, 70), (297, 105, 105), (192, 192, 0), (227, 227, 35),
    (262, 262, 70), (297, 297, 105), (0, 192, 0), (35, 227, 35), (70, 262, 70), (105, 297, 105), (0, 192, 192),
    (35, 227, 227), (70, 262, 262), (105, 297, 297), (0, 0, 192), (35, 35, 227), (70, 70, 262), (105, 105, 297),
]  # fmt: skip


# --------------------------------------------------------------------------------------------- atomic writes
@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one step (``os.replace``).

    An exception (or a killed process) never leaves a half-written ``path``: readers and resumable batch
    jobs see either the old file, the complete new one, or nothing. The temporary name starts with ``.``
    and ends with ``.partial``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(handle)
    temporary = Path(temporary)
    try:
        yield temporary
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600 files; outputs are shared like normal files
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# --------------------------------------------------------------------------------------------- .pose
def _component(name: str, points: list[str], limbs, colors, point_format: str = "XYZC"):
    from pose_format.pose_header import PoseHeaderComponent

    return PoseHeaderComponent(name=name, points=list(points), limbs=[(int(a), int(b)) for a, b in limbs],
                               colors=[tuple(c) for c in colors], point_format=point_format)


def holistic_header(width: int, height: int, face_points: int | tuple[int, ...] = 468, extractor: dict | None = None):
    """A pose-format ``PoseHeader`` with MediaPipe Holistic components (as ``pose_format.utils.holistic``).

    Args:
        width, height: frame size in pixels.
        face_points: 468 / 478 for the full face mesh, or a tuple of face-mesh ids for a reduced face
            (``FACE_MESH_INDICES`` gives the 203-joint layout, same as pose-format's ``reduce_holistic``).
        extractor: provenance to record: an extra component ``SIGNLLM_EXTRACTOR:<json>`` with no points
            (pose-format's header has no metadata field; a zero-point component leaves the body unchanged).
    """
    from pose_format.pose_header import PoseHeader, PoseHeaderDimensions

    if isinstance(face_points, int):
        face_ids = tuple(range(face_points))
        face_limbs = FACEMESH_CONTOURS  # mesh ids == local ids; the contours draw a readable face
    else:
        face_ids = tuple(face_points)
        local = {mesh_id: i for i, mesh_id in enumerate(face_ids)}
        face_limbs = [(local[a], local[b]) for a, b in FACEMESH_CONTOURS if a in local and b in local]
    components = [
        _component("POSE_LANDMARKS", BODY_POINTS, POSE_CONNECTIONS, [(255, 0, 0)]),
        _component("FACE_LANDMARKS", [str(i) for i in face_ids], face_limbs, [(128, 0, 0)]),
        _component("LEFT_HAND_LANDMARKS", HAND_POINTS, HAND_CONNECTIONS, _HAND_COLORS),
        _component("RIGHT_HAND_LANDMARKS", HAND_POINTS, HAND_CONNECTIONS, _HAND_COLORS),
    ]
    if extractor:
        components.append(_component(f"{EXTRACTOR_COMPONENT}:{encode_extractor(extractor)}", [], [], []))
    dimensions = PoseHeaderDimensions(width=int(width or 1), height=int(height or 1), depth=0)
    return PoseHeader(version=0.2, dimensions=dimensions, components=components)


def _write_pose_arrays(path, header, data: np.ndarray, confidence: np.ndarray, fps: float) -> None:
    from pose_format import Pose
    from pose_format.numpy import NumPyPoseBody

    data = np.asarray(data, dtype=np.float32)[:, None]  # (t, people=1, k, 3)
    confidence = np.asarray(confidence, dtype=np.float32)[:, None]
    masked = np.ma.masked_array(data, mask=np.repeat((confidence == 0)[..., None], data.shape[-1], axis=-1))
    pose = Pose(header, NumPyPoseBody(fps=float(fps), data=masked, confidence=confidence))
    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        pose.write(handle)


def _pose_confidence(mask: np.ndarray, confidence: np.ndarray | None) -> np.ndarray:
    """pose-format masks a point exactly when its confidence is 0: keep valid points strictly positive."""
    if confidence is None:
        return mask.astype(np.float32)
    return np.where(mask, np.maximum(confidence, 1e-6), 0.0).astype(np.float32)


def write_pose(path: str | os.PathLike, seq: KeypointSequence) -> None:
    """Write the 203 joints as a pose-format ``.pose`` (reduced holistic header, face = 128 contour points).

    Readable by pose-format (``Pose.read``), which sees a holistic pose with 33 + 128 + 21 + 21 points.
    """
    header = holistic_header(seq.width or 1, seq.height or 1, face_points=FACE_MESH_INDICES, extractor=seq.extractor)
    _write_pose_arrays(path, header, seq.values, _pose_confidence(seq.mask, seq.confidence), seq.fps)


def write_holistic_pose(
    path: str | os.PathLike, landmarks: np.ndarray, confidence: np.ndarray, fps: float, width: int, height: int,
    extractor: dict | None = None,
) -> None:
    """Write full MediaPipe Holistic landmarks ``(t, 543|553, 3)`` + ``(t, 543|553)`` confidence as ``.pose``.

    Same components and point names as ``pose_format.utils.holistic.load_holistic`` (without world landmarks),
    plus the extractor record (`holistic_header`) when given.
    """
    landmarks = np.asarray(landmarks, dtype=np.float32)
    if landmarks.ndim != 3 or landmarks.shape[1] not in (543, 553) or landmarks.shape[2] != 3:
        raise ValueError(f"Expected holistic landmarks (frames, 543|553, 3), got {landmarks.shape}.")
    face_size = landmarks.shape[1] - 33 - 42
    header = holistic_header(width, height, face_points=face_size, extractor=extractor)
    _write_pose_arrays(path, header, landmarks, np.asarray(confidence, dtype=np.float32), fps)


# --------------------------------------------------------------------------------------------- .npz / .npy
def write_npz(path: str | os.PathLike, seq: KeypointSequence) -> None:
    """Write the compact array file: ``values`` (t,203,3) float32, ``mask`` (t,203) bool, ``confidence``, ``fps``
    and, when known, ``extractor`` (the provenance as a JSON string)."""
    arrays = {"values": seq.values, "mask": seq.mask, "fps": np.float32(seq.fps),
              "layout": np.array("signllm-203")}
    if seq.extractor:
        arrays["extractor"] = np.array(encode_extractor(seq.extractor))
    if seq.confidence is not None:
        arrays["confidence"] = seq.confidence.astype(np.float16)  # [0, 1] scores: half precision is plenty
    if seq.width and seq.height:
        arrays["size"] = np.array([seq.width, seq.height], dtype=np.int32)
    # a handle: np.savez would append ".npz" to the temporary name
    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        np.savez_compressed(handle, **arrays)


# --------------------------------------------------------------------------------------------- reading
def resample_keypoints(seq: KeypointSequence, target_fps: float = 25.0) -> KeypointSequence:
    """``seq`` at ``target_fps``: the one resampling rule (nearest frame in time, see ``keypoint_reading``)."""
    return resample_sequence(seq, target_fps)


def read_keypoints(
    path: str | os.PathLike, fps: float | None = None, target_fps: float | None = None
) -> KeypointSequence:
    """Read ``.pose`` / ``.npz`` / ``.npy`` / Kaggle ``.parquet`` keypoints into the 203-joint layout.

    Args:
        path: the keypoint file (format chosen by suffix).
        fps: frame rate for formats that do not store one (``.npy``: 25, Kaggle: 30) — overrides the file's.
        target_fps: resample to this rate (nearest frame in time); ``None`` keeps the file's rate.
    Returns:
        :class:`KeypointSequence` with raw (unnormalised) values ``(t, 203, 3)`` and mask ``(t, 203)``.
    Raises:
        KeypointFileError: missing, unreadable, truncated or unsupported file; ValueError: implausible frame rate.
    """
    from signllm.keypoint_reading import load_keypoints

    return load_keypoints(os.fspath(path), target_fps, fps=fps)
