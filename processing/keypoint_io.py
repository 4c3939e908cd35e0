"""Keypoint files: pose-format ``.pose``, our compact ``.npz``, Kaggle GISLR ``.parquet``; atomic writers.

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
| ``.npz`` (``values``, ``mask``, ``confidence``, ``fps``) | :func:`write_npz` |
| ``.npy``, a plain ``(T, 203 or 543/553/576/586, 3)`` array | — |
| Kaggle GISLR ``.parquet`` (frame, type, landmark_index, x, y, z) | — |

All of them are read by :func:`read_keypoints`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from signllm.keypoint_layout import (
    ARTICULATOR_SLICES,
    FACE_MESH_INDICES,
    FACEMESH_CONTOURS,
    HAND_CONNECTIONS,
    HOLISTIC_LAYOUTS,
    NUM_JOINTS,
    POSE_CONNECTIONS,
    holistic_to_203,
    mask_missing,
    normalize_keypoints,
)

# mediapipe PoseLandmark / HandLandmark names, as pose-format writes them in .pose headers
BODY_POINTS: tuple[str, ...] = (
    "NOSE", "LEFT_EYE_INNER", "LEFT_EYE", "LEFT_EYE_OUTER", "RIGHT_EYE_INNER", "RIGHT_EYE", "RIGHT_EYE_OUTER",
    "LEFT_EAR", "RIGHT_EAR", "MOUTH_LEFT", "MOUTH_RIGHT", "LEFT_SHOULDER", "RIGHT_SHOULDER", "LEFT_ELBOW",
    "RIGHT_ELBOW", "LEFT_WRIST", "RIGHT_WRIST", "LEFT_PINKY", "RIGHT_PINKY", "LEFT_INDEX", "RIGHT_INDEX",
    "LEFT_THUMB", "RIGHT_THUMB", "LEFT_HIP", "RIGHT_HIP", "LEFT_KNEE", "RIGHT_KNEE", "LEFT_ANKLE", "RIGHT_ANKLE",
    "LEFT_HEEL", "RIGHT_HEEL", "LEFT_FOOT_INDEX", "RIGHT_FOOT_INDEX",
)  # fmt: skip
HAND_POINTS: tuple[str, ...] = (
    "WRIST", "THUMB_CMC", "THUMB_MCP", "THUMB_IP", "THUMB_TIP", "INDEX_FINGER_MCP", "INDEX_FINGER_PIP",
    "INDEX_FINGER_DIP", "INDEX_FINGER_TIP", "MIDDLE_FINGER_MCP", "MIDDLE_FINGER_PIP", "MIDDLE_FINGER_DIP",
    "MIDDLE_FINGER_TIP", "RING_FINGER_MCP", "RING_FINGER_PIP", "RING_FINGER_DIP", "RING_FINGER_TIP", "PINKY_MCP",
    "PINKY_PIP", "PINKY_DIP", "PINKY_TIP",
)  # fmt: skip
HOLISTIC_COMPONENTS = ("POSE_LANDMARKS", "FACE_LANDMARKS", "LEFT_HAND_LANDMARKS", "RIGHT_HAND_LANDMARKS")
# pose-format's hand colours (pose_format.utils.openpose.hand_colors), one per hand point
_HAND_COLORS = [
    (232, 232, 232), (192, 0, 0), (227, 35, 35), (262, 70, 70), (297, 105, 105), (192, 192, 0), (227, 227, 35),
    (262, 262, 70), (297, 297, 105), (0, 192, 0), (35, 227, 35), (70, 262, 70), (105, 297, 105), (0, 192, 192),
    (35, 227, 227), (70, 262, 262), (105, 297, 297), (0, 0, 192), (35, 35, 227), (70, 70, 262), (105, 105, 297),
]  # fmt: skip

#: GISLR does not store a frame rate; PopSign phone recordings are ~30 fps (our assumption, override with ``fps=``).
KAGGLE_DEFAULT_FPS = 30.0


class KeypointFileError(ValueError):
    """A keypoint file is missing, unreadable, or not in a layout we can map to the 203 joints."""


@dataclass
class KeypointSequence:
    """Keypoints of one video in the 203-joint layout.

    Args:
        values (`np.ndarray` of shape `(t, 203, 3)`, float32): raw coordinates (see module docstring); 0 where masked.
        mask (`np.ndarray` of shape `(t, 203)`, bool): True where the joint was detected.
        fps (`float`): frame rate.
        confidence (`np.ndarray` of shape `(t, 203)`, *optional*): per-joint confidence in [0, 1] (pose
            visibility; 1.0 for detected face/hand landmarks, which MediaPipe does not score per point).
        width (`int`, *optional*), height (`int`, *optional*): source frame size in pixels.
    """

    values: np.ndarray
    mask: np.ndarray
    fps: float
    confidence: np.ndarray | None = None
    width: int | None = None
    height: int | None = None

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=np.float32)
        self.mask = np.asarray(self.mask, dtype=bool)
        if self.values.ndim != 3 or self.values.shape[1:] != (NUM_JOINTS, 3):
            raise ValueError(f"values must have shape (frames, {NUM_JOINTS}, 3), got {self.values.shape}.")
        if self.mask.shape != self.values.shape[:2]:
            raise ValueError(f"mask must have shape {self.values.shape[:2]}, got {self.mask.shape}.")
        if self.confidence is not None:
            self.confidence = np.asarray(self.confidence, dtype=np.float32)
            if self.confidence.shape != self.values.shape[:2]:
                raise ValueError(f"confidence must have shape {self.values.shape[:2]}, got {self.confidence.shape}.")
        if not self.fps or self.fps <= 0:
            raise ValueError(f"fps must be positive, got {self.fps!r}.")
        self.fps = float(self.fps)

    @property
    def num_frames(self) -> int:
        return int(self.values.shape[0])

    def normalized(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-clip shoulder normalisation -> ``(values (t, 203, 3), mask (t, 203))`` (ValueError if no person)."""
        return normalize_keypoints(self.values, self.mask)

    def detection_rates(self) -> dict[str, float]:
        """Fraction of frames in which each articulator was found (any of its joints valid)."""
        rates = {}
        for name, joints in ARTICULATOR_SLICES.items():
            found = self.mask[:, joints].any(axis=1)
            rates[name] = float(found.mean()) if self.num_frames else 0.0
        return rates


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


def holistic_header(width: int, height: int, face_points: int | tuple[int, ...] = 468):
    """A pose-format ``PoseHeader`` with MediaPipe Holistic components (as ``pose_format.utils.holistic``).

    Args:
        width, height: frame size in pixels.
        face_points: 468 / 478 for the full face mesh, or a tuple of face-mesh ids for a reduced face
            (``FACE_MESH_INDICES`` gives the 203-joint layout, same as pose-format's ``reduce_holistic``).
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
    header = holistic_header(seq.width or 1, seq.height or 1, face_points=FACE_MESH_INDICES)
    _write_pose_arrays(path, header, seq.values, _pose_confidence(seq.mask, seq.confidence), seq.fps)


def write_holistic_pose(
    path: str | os.PathLike, landmarks: np.ndarray, confidence: np.ndarray, fps: float, width: int, height: int
) -> None:
    """Write full MediaPipe Holistic landmarks ``(t, 543|553, 3)`` + ``(t, 543|553)`` confidence as ``.pose``.

    Same components and point names as ``pose_format.utils.holistic.load_holistic`` (without world landmarks).
    """
    landmarks = np.asarray(landmarks, dtype=np.float32)
    if landmarks.ndim != 3 or landmarks.shape[1] not in (543, 553) or landmarks.shape[2] != 3:
        raise ValueError(f"Expected holistic landmarks (frames, 543|553, 3), got {landmarks.shape}.")
    face_size = landmarks.shape[1] - 33 - 42
    header = holistic_header(width, height, face_points=face_size)
    _write_pose_arrays(path, header, landmarks, np.asarray(confidence, dtype=np.float32), fps)


def _joint_index_by_name() -> dict[str, dict[str, int]]:
    """Component -> point name -> index in the 203 layout."""
    face = {str(mesh_id): 33 + local for local, mesh_id in enumerate(FACE_MESH_INDICES)}
    return {
        "POSE_LANDMARKS": {name: i for i, name in enumerate(BODY_POINTS)},
        "FACE_LANDMARKS": face,
        "LEFT_HAND_LANDMARKS": {name: 161 + i for i, name in enumerate(HAND_POINTS)},
        "RIGHT_HAND_LANDMARKS": {name: 182 + i for i, name in enumerate(HAND_POINTS)},
    }


def read_pose_file(path: str | os.PathLike) -> KeypointSequence:
    """Read a pose-format ``.pose`` of MediaPipe Holistic landmarks into the 203 layout, by point name.

    Works for full (543/553/576/586 points) and reduced holistic files (e.g. pose-format's 178-point
    ``reduce_holistic`` output: body joints absent from the file are simply masked). Uses the first person.
    """
    from pose_format import Pose

    path = Path(path)
    try:
        pose = Pose.read(path.read_bytes())
    except FileNotFoundError:
        raise KeypointFileError(f"Pose file not found: {path}") from None
    except Exception as error:  # pose-format raises assorted struct/index errors on bad bytes
        raise KeypointFileError(f"Cannot read {path} as a pose-format .pose file: {error!r}") from None
    names = [component.name for component in pose.header.components]
    if not any(name in HOLISTIC_COMPONENTS for name in names):
        raise KeypointFileError(
            f"{path}: not a MediaPipe Holistic pose (components {names}); SignLLM needs holistic landmarks "
            "(POSE_LANDMARKS, FACE_LANDMARKS, LEFT/RIGHT_HAND_LANDMARKS). Re-extract with `signllm extract`."
        )
    data = np.asarray(pose.body.data.filled(0) if np.ma.isMaskedArray(pose.body.data) else pose.body.data)
    confidence = np.asarray(pose.body.confidence, dtype=np.float32)
    num_frames = data.shape[0]
    values = np.zeros((num_frames, NUM_JOINTS, 3), dtype=np.float32)
    joint_conf = np.zeros((num_frames, NUM_JOINTS), dtype=np.float32)
    lookup = _joint_index_by_name()
    offset = 0
    for component in pose.header.components:
        targets = lookup.get(component.name, {})
        dims = min(3, len(component.format) - 1)  # "XYZC" -> 3, "XYC" -> 2
        for local, point in enumerate(component.points):
            if point in targets and num_frames:
                values[:, targets[point], :dims] = data[:, 0, offset + local, :dims]
                joint_conf[:, targets[point]] = confidence[:, 0, offset + local]
        offset += len(component.points)
    values[joint_conf <= 0] = 0.0
    values, mask = mask_missing(values)
    dims = pose.header.dimensions
    return KeypointSequence(values=values, mask=mask, fps=float(pose.body.fps) or 25.0,
                            confidence=np.where(mask, joint_conf, 0.0), width=dims.width, height=dims.height)


# --------------------------------------------------------------------------------------------- .npz / .npy
def write_npz(path: str | os.PathLike, seq: KeypointSequence) -> None:
    """Write the compact array file: ``values`` (t,203,3) float32, ``mask`` (t,203) bool, ``confidence``, ``fps``."""
    arrays = {"values": seq.values, "mask": seq.mask, "fps": np.float32(seq.fps),
              "layout": np.array("signllm-203")}
    if seq.confidence is not None:
        arrays["confidence"] = seq.confidence.astype(np.float16)  # [0, 1] scores: half precision is plenty
    if seq.width and seq.height:
        arrays["size"] = np.array([seq.width, seq.height], dtype=np.int32)
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as handle:  # a handle: np.savez would append ".npz" to the temporary name
            np.savez_compressed(handle, **arrays)


def _from_array(values: np.ndarray, path: Path) -> tuple[np.ndarray, np.ndarray]:
    if values.ndim == 3 and values.shape[1] == NUM_JOINTS and values.shape[2] == 3:
        return mask_missing(values)
    if values.ndim == 3 and values.shape[1] in HOLISTIC_LAYOUTS:
        return holistic_to_203(values)
    raise KeypointFileError(
        f"{path}: array of shape {values.shape} is neither (frames, {NUM_JOINTS}, 3) nor full holistic "
        f"(frames, {'|'.join(map(str, sorted(HOLISTIC_LAYOUTS)))}, 2|3)."
    )


def read_npz(path: str | os.PathLike, fps: float | None = None) -> KeypointSequence:
    """Read our ``.npz`` (or any ``.npz`` with a ``values`` array; a missing ``mask`` is derived from zeros/NaN)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            contents = {key: archive[key] for key in archive.files}
    except FileNotFoundError:
        raise KeypointFileError(f"Keypoint file not found: {path}") from None
    except Exception as error:
        raise KeypointFileError(f"Cannot read {path} as .npz: {error!r}") from None
    if "values" not in contents:
        raise KeypointFileError(f"{path}: no 'values' array (found {sorted(contents)}).")
    values, mask = _from_array(np.asarray(contents["values"], dtype=np.float32), path)
    if "mask" in contents and contents["mask"].shape == mask.shape:
        mask = mask & contents["mask"].astype(bool)
        values[~mask] = 0.0
    confidence = contents.get("confidence")
    width, height = (int(v) for v in contents["size"]) if "size" in contents else (None, None)
    rate = fps or (float(contents["fps"]) if "fps" in contents else 25.0)
    return KeypointSequence(values=values, mask=mask, fps=rate,
                            confidence=None if confidence is None else confidence.astype(np.float32),
                            width=width, height=height)


# --------------------------------------------------------------------------------------------- Kaggle parquet
def read_kaggle_parquet(path: str | os.PathLike, fps: float | None = None) -> KeypointSequence:
    """Read a Kaggle GISLR landmark parquet (rows ``frame, type, landmark_index, x, y, z``).

    The files list each frame's landmarks as face 468, left_hand 21, pose 33, right_hand 21; rows are placed
    by ``type`` and ``landmark_index`` into the canonical holistic order (pose, face, left, right), so row
    order does not matter. Missing landmarks are NaN there and become masked zeros here.
    """
    import pandas as pd

    path = Path(path)
    try:
        table = pd.read_parquet(path, columns=["frame", "type", "landmark_index", "x", "y", "z"])
    except FileNotFoundError:
        raise KeypointFileError(f"Landmark file not found: {path}") from None
    except Exception as error:
        raise KeypointFileError(f"Cannot read {path} as a Kaggle landmark parquet: {error!r}") from None
    known = {"face", "left_hand", "pose", "right_hand"}
    unknown = set(table["type"].unique()) - known
    if unknown:
        raise KeypointFileError(f"{path}: unknown landmark types {sorted(unknown)}; expected {sorted(known)}.")
    face_rows = table["type"] == "face"
    face_size = 478 if face_rows.any() and table.loc[face_rows, "landmark_index"].max() >= 468 else 468
    offsets = {"pose": 0, "face": 33, "left_hand": 33 + face_size, "right_hand": 33 + face_size + 21}
    frames, frame_row = np.unique(table["frame"].to_numpy(), return_inverse=True)
    column = table["type"].map(offsets).to_numpy() + table["landmark_index"].to_numpy()
    landmarks = np.full((len(frames), 33 + face_size + 42, 3), np.nan, dtype=np.float32)
    landmarks[frame_row, column] = table[["x", "y", "z"]].to_numpy(dtype=np.float32)
    values, mask = holistic_to_203(landmarks)
    return KeypointSequence(values=values, mask=mask, fps=fps or KAGGLE_DEFAULT_FPS,
                            confidence=mask.astype(np.float32))


# --------------------------------------------------------------------------------------------- dispatch
def resample_keypoints(seq: KeypointSequence, target_fps: float = 25.0) -> KeypointSequence:
    """Nearest-frame-in-time resampling to ``target_fps`` (same rule as ``video.iter_video_frames``)."""
    if abs(seq.fps - target_fps) < 1e-6 or seq.num_frames == 0:
        return seq
    num_out = max(1, int(np.ceil(seq.num_frames * target_fps / seq.fps - 1e-6)))
    source = np.floor(np.arange(num_out) / target_fps * seq.fps + 0.5).astype(int).clip(0, seq.num_frames - 1)
    return KeypointSequence(values=seq.values[source], mask=seq.mask[source], fps=target_fps,
                            confidence=None if seq.confidence is None else seq.confidence[source],
                            width=seq.width, height=seq.height)


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
    """
    path = Path(path)
    if not path.exists():
        raise KeypointFileError(f"Keypoint file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".pose":
        seq = read_pose_file(path)
        if fps:
            seq.fps = float(fps)
    elif suffix == ".npz":
        seq = read_npz(path, fps=fps)
    elif suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except Exception as error:
            raise KeypointFileError(f"Cannot read {path} as .npy: {error!r}") from None
        values, mask = _from_array(np.asarray(array, dtype=np.float32), path)
        seq = KeypointSequence(values=values, mask=mask, fps=fps or 25.0)
    elif suffix == ".parquet":
        seq = read_kaggle_parquet(path, fps=fps)
    else:
        raise KeypointFileError(f"Unsupported keypoint file {path}: expected .pose, .npz, .npy or .parquet.")
    return resample_keypoints(seq, target_fps) if target_fps else seq
