"""The one keypoint path of SignLLM: any accepted input → 203 joints → the model's frame rate.

Training (``signllm.train.slt.data`` windows, ``signllm.train.islr`` clips), evaluation, every CLI command
(``signllm translate`` / ``align``) and the ``"sign-translation"`` pipeline all read keypoints through
:func:`load_keypoints` (host-side tools reach it through ``signllm.processing.keypoint_io``, a thin layer over this
file), then normalise with ``keypoint_layout.normalize_keypoints``. Nothing else reads keypoints.

Axis legend: t frames, k landmarks, c coordinates (3).

Accepted inputs (architecture §2.1):

| input | frame rate when it stores none |
|---|---|
| pose-format ``.pose`` from MediaPipe Holistic: full (543/553/576/586 points) or reduced (any subset of the 4 holistic components, matched by point name; e.g. sign.mt's 178-point files) | — (stored) |
| our ``.npz`` (``values``, ``mask``, ``confidence``, ``fps``, ``extractor``) | 25 fps |
| ``.npy``, a plain ``(t, 203 or 543/553/576/586, 2|3)`` array | 25 fps |
| Kaggle GISLR ``.parquet`` / table (``frame, type, landmark_index, x, y, z``) | 30 fps (PopSign phones) |
| in-memory arrays, ``{"values", "mask", "fps"}`` dicts, objects with ``.values/.mask/.fps`` | the caller's default (the processor: the model rate) |

Resampling rule [ours]: **nearest source frame in time**, ties to the later frame — output frame ``k`` (time
``k / target_fps``) takes source frame ``floor(k * source_fps / target_fps + 0.5)``, and a clip of ``n`` frames
gives ``ceil(n * target_fps / source_fps)`` frames. This is exactly what ``signllm extract`` does when it decodes a
video at the model rate (``processing.video.iter_video_frames``), so a ``.pose`` read at 30 fps and the same video
extracted at 25 fps give the same frames; it never invents poses (no interpolation between two detections) and keeps
each joint's validity mask as detected.

Plausibility checks (bad input is an error, never a silent allocation): the source frame rate must lie in
``[MIN_SOURCE_FPS, MAX_SOURCE_FPS]`` = [1, 240] fps, and the resampled clip may not exceed ``max_frames`` (default
:data:`DEFAULT_MAX_FRAMES`, 4 h at 25 fps). A ``.pose`` file whose body is shorter than its header declares
(a truncated copy) is refused with the frame counts.

Provenance: files written by ``signllm extract`` record the extractor (backend, version, settings): ``.npz`` in an
``extractor`` entry (a JSON string), ``.pose`` in a zero-point header component named ``SIGNLLM_EXTRACTOR:<json>``
(pose-format's header has no free metadata field; a component without points changes neither the body nor any
reader that picks components by name). :attr:`KeypointSequence.extractor` carries it; :func:`extractor_mismatch`
compares it with what a model was trained on.

Only numpy is needed; ``pose_format`` / ``pandas`` are imported lazily for the formats that need them.
"""

from __future__ import annotations

import json
import logging
import math
import os
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np

from .keypoint_layout import (
    ARTICULATOR_SLICES,
    FACE_MESH_INDICES,
    HOLISTIC_LAYOUTS,
    NUM_JOINTS,
    holistic_to_203,
    mask_missing,
    normalize_keypoints,
)

logger = logging.getLogger(__name__)

KEYPOINT_SUFFIXES = (".pose", ".npz", ".npy", ".parquet")
#: frame rate of an ``.npz`` / ``.npy`` that stores none (MediaPipe extraction and the paper run at 25 fps)
DEFAULT_FILE_FPS = 25.0
#: GISLR does not store a frame rate; PopSign phone recordings are ~30 fps (our assumption, override with ``fps=``)
KAGGLE_DEFAULT_FPS = 30.0
#: plausible source frame rates [ours]: below 1 fps there is no signing to see, above 240 fps no camera we know of
MIN_SOURCE_FPS, MAX_SOURCE_FPS = 1.0, 240.0
#: longest clip after resampling [ours]: 4 h at 25 fps (360,000 frames, ~0.9 GB of float32 keypoints)
DEFAULT_MAX_FRAMES = 360_000
#: name prefix of the zero-point ``.pose`` header component that records the extractor
EXTRACTOR_COMPONENT = "SIGNLLM_EXTRACTOR"

# Kaggle GISLR landmark tables: landmark types and sizes (face 478 when the table holds iris points)
KAGGLE_TYPES = ("pose", "face", "left_hand", "right_hand")
HOLISTIC_COMPONENTS = ("POSE_LANDMARKS", "FACE_LANDMARKS", "LEFT_HAND_LANDMARKS", "RIGHT_HAND_LANDMARKS")
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


class KeypointFileError(ValueError):
    """A keypoint file is missing, unreadable, truncated, or not in a layout we can map to the 203 joints."""


@dataclass
class KeypointSequence:
    """Keypoints of one video in the 203-joint layout.

    Args:
        values (`np.ndarray` of shape `(t, 203, 3)`, float32): raw coordinates (pose-format convention: x, y in
            pixels, z as MediaPipe gives it; Kaggle files in MediaPipe's [0, 1] units); 0 where masked.
        mask (`np.ndarray` of shape `(t, 203)`, bool): True where the joint was detected.
        fps (`float`): frame rate.
        confidence (`np.ndarray` of shape `(t, 203)`, *optional*): per-joint confidence in [0, 1] (pose
            visibility; 1.0 for detected face/hand landmarks, which MediaPipe does not score per point).
        width (`int`, *optional*), height (`int`, *optional*): source frame size in pixels.
        extractor (`dict`, *optional*): provenance, ``{"name", "backend", "version", "settings"}`` (module docstring).
    """

    values: np.ndarray
    mask: np.ndarray
    fps: float
    confidence: np.ndarray | None = None
    width: int | None = None
    height: int | None = None
    extractor: dict | None = None

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
        if not self.fps or not math.isfinite(self.fps) or self.fps <= 0:
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


# ------------------------------------------------------------------------------------------------ the one path
def load_keypoints(
    source: Any,
    target_fps: float | None,
    fps: float | None = None,
    default_fps: float | None = None,
    max_frames: int = DEFAULT_MAX_FRAMES,
) -> KeypointSequence:
    """Read any accepted input (module docstring) into 203 raw joints at ``target_fps``.

    Args:
        source: a keypoint file path, an array / dict / table / ``KeypointSequence``-like object.
        target_fps: the model frame rate; ``None`` keeps the source rate.
        fps: the source frame rate, overriding the stored one (for files that store a wrong one).
        default_fps: rate of in-memory inputs that carry none (the processor passes the model rate).
        max_frames: refuse clips longer than this after resampling (see module docstring).
    Raises:
        KeypointFileError: unreadable / truncated / unsupported files. ValueError: bad arrays, implausible fps.
    """
    sequence = read_keypoints(source, fps=fps, default_fps=default_fps)
    return resample_sequence(sequence, target_fps, max_frames) if target_fps else sequence


def read_keypoints(source: Any, fps: float | None = None, default_fps: float | None = None) -> KeypointSequence:
    """Any accepted input → :class:`KeypointSequence` at its own frame rate (203 raw joints, mask, provenance)."""
    if fps is not None:
        fps = check_source_fps(fps, "the given fps")
    if isinstance(source, (str, os.PathLike)):
        sequence = read_keypoint_file(source, fps=fps)
    elif _is_table(source):
        values, mask = holistic_to_203(kaggle_table_to_holistic(source))
        sequence = KeypointSequence(values, mask, fps or KAGGLE_DEFAULT_FPS, confidence=mask.astype(np.float32))
    else:
        values, mask, stored_fps, extra = _unpack_in_memory(source)
        values, mask = keypoints_from_array(values, mask)
        rate = next((r for r in (fps, stored_fps, default_fps) if r is not None), None)
        if rate is None:
            raise ValueError("The keypoints carry no frame rate: pass fps=... (frames per second of the input).")
        sequence = KeypointSequence(values, mask, check_source_fps(rate, "the keypoints' frame rate"), **extra)
    check_source_fps(sequence.fps, "the keypoints' frame rate")
    return sequence


def check_source_fps(fps: Any, what: str = "fps") -> float:
    """``fps`` as a float inside ``[MIN_SOURCE_FPS, MAX_SOURCE_FPS]``, else a ValueError that names the range."""
    try:
        rate = float(fps)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {fps!r}.") from None
    if not (math.isfinite(rate) and MIN_SOURCE_FPS <= rate <= MAX_SOURCE_FPS):
        raise ValueError(
            f"Implausible frame rate: {what} is {fps!r}, expected {MIN_SOURCE_FPS:g}-{MAX_SOURCE_FPS:g} frames per "
            "second. Pass the real rate (fps=... / --keypoint-fps)."
        )
    return rate


def resample_index(num_frames: int, source_fps: float, target_fps: float) -> np.ndarray:
    """Source frame of every output frame under the nearest-frame-in-time rule (module docstring)."""
    num_out = max(1, math.ceil(num_frames * target_fps / source_fps - 1e-6))
    source = np.floor(np.arange(num_out) * (source_fps / target_fps) + 0.5).astype(np.int64)
    return np.minimum(source, num_frames - 1)


def resampled_length(num_frames: int, source_fps: float, target_fps: float) -> int:
    """Frames after resampling ``num_frames`` (same rule as :func:`resample_index`)."""
    if abs(source_fps - target_fps) < 1e-6:
        return num_frames
    return max(1, math.ceil(num_frames * target_fps / source_fps - 1e-6))


def check_resampled_length(num_frames: int, source_fps: float, target_fps: float, max_frames: int) -> int:
    """The resampled length, or a ValueError naming the limit before anything is allocated."""
    length = resampled_length(num_frames, source_fps, target_fps)
    if length > max_frames:
        raise ValueError(
            f"Clip too long: {num_frames} frames at {source_fps:g} fps become {length} frames at {target_fps:g} fps, "
            f"more than the limit max_frames={max_frames} ({max_frames / target_fps / 3600:.1f} h). Split the input, "
            "check its frame rate, or raise the processor's max_frames."
        )
    return length


def resample_sequence(
    sequence: KeypointSequence, target_fps: float, max_frames: int = DEFAULT_MAX_FRAMES
) -> KeypointSequence:
    """``sequence`` at ``target_fps`` (nearest frame in time; mask and confidence follow their frames)."""
    source_fps = check_source_fps(sequence.fps, "the keypoints' frame rate")
    check_resampled_length(sequence.num_frames, source_fps, target_fps, max_frames)
    if abs(source_fps - target_fps) < 1e-6 or sequence.num_frames == 0:
        return sequence
    index = resample_index(sequence.num_frames, source_fps, target_fps)
    return KeypointSequence(
        values=sequence.values[index], mask=sequence.mask[index], fps=float(target_fps),
        confidence=None if sequence.confidence is None else sequence.confidence[index],
        width=sequence.width, height=sequence.height, extractor=sequence.extractor,
    )  # fmt: skip


def resample_frames(array: np.ndarray, source_fps: float, target_fps: float, max_frames: int = DEFAULT_MAX_FRAMES):
    """Per-frame features or crops ``(t, ...)`` at ``target_fps``, by the same rule as the keypoints."""
    source_fps = check_source_fps(source_fps, "the lip input's frame rate")
    check_resampled_length(len(array), source_fps, target_fps, max_frames)
    if abs(source_fps - target_fps) < 1e-6:
        return array
    return array[resample_index(len(array), source_fps, target_fps)]


# ------------------------------------------------------------------------------------------------ in-memory inputs
def keypoints_from_array(values: Any, mask: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """``(t, 203, 2|3)`` or full holistic ``(t, 543|553|576|586, 2|3)`` (or pose-format ``(t, 1, k, c)``) → the
    203 joints ``(t, 203, 3)`` float32 (invalid joints 0) and their ``(t, 203)`` mask (NaN / all-zero = missing)."""
    values = _to_numpy(values)
    if not isinstance(values, np.ndarray) or values.dtype == object or not np.issubdtype(values.dtype, np.number):
        raise ValueError(f"Keypoints must be a numeric array, got {type(values).__name__}.")
    if values.ndim == 4 and values.shape[1] == 1:  # pose-format layout (frames, people=1, points, dims)
        values = values[:, 0]
    if values.ndim != 3:
        raise ValueError(f"Keypoints must have shape (frames, keypoints, coords), got {values.shape}.")
    if values.shape[0] == 0:
        raise ValueError("Empty keypoint sequence (0 frames).")
    if values.shape[2] not in (2, 3):
        raise ValueError(f"Keypoints must have 2 or 3 coordinates per joint, got {values.shape[2]}.")
    if values.shape[1] == NUM_JOINTS:
        if values.shape[2] == 2:
            values = np.concatenate([values, np.zeros_like(values[..., :1])], axis=-1)
        selected, valid = mask_missing(values)
    elif values.shape[1] in HOLISTIC_LAYOUTS:
        selected, valid = holistic_to_203(values)
        mask = None  # a caller mask refers to the full holistic layout; holistic_to_203 recomputes it
    else:
        raise ValueError(
            f"Wrong joint count {values.shape[1]}: expected {NUM_JOINTS} (SignLLM layout) or a full MediaPipe "
            f"Holistic layout with {sorted(HOLISTIC_LAYOUTS)} landmarks."
        )
    if mask is not None:
        mask = _to_numpy(mask).astype(bool)
        if mask.shape != valid.shape:
            raise ValueError(f"Keypoint mask shape {mask.shape} does not match keypoints {valid.shape}.")
        valid = valid & mask
        selected[~valid] = 0.0
    return selected, valid


def _unpack_in_memory(source: Any) -> tuple[Any, Any, float | None, dict]:
    """``(values, mask, stored fps, other KeypointSequence fields)`` of a dict / object / array input."""
    if isinstance(source, dict):
        key = next((k for k in ("values", "pose_values", "keypoints", "data") if k in source), None)
        if key is None:
            raise ValueError(f"A keypoint dict needs a 'values' entry (t, k, c); got keys {sorted(source)}.")
        return source[key], source.get("mask"), source.get("fps"), {"extractor": source.get("extractor")}
    if hasattr(source, "values") and hasattr(source, "mask") and not callable(source.values):
        extra = {"extractor": getattr(source, "extractor", None), "width": getattr(source, "width", None),
                 "height": getattr(source, "height", None)}  # fmt: skip
        return source.values, source.mask, getattr(source, "fps", None), extra
    return source, None, None, {}


def _to_numpy(array: Any) -> Any:
    if hasattr(array, "detach"):  # torch tensor
        array = array.detach().cpu().numpy()
    if isinstance(array, np.ma.MaskedArray):
        array = array.astype(np.float32).filled(np.nan)
    return np.asarray(array) if isinstance(array, (list, tuple, np.ndarray, np.generic)) else array


def _is_table(source: Any) -> bool:
    return hasattr(source, "columns") and {"frame", "type", "landmark_index"} <= set(map(str, source.columns))


# ------------------------------------------------------------------------------------------------ files
def read_keypoint_file(path: str | os.PathLike, fps: float | None = None) -> KeypointSequence:
    """A ``.pose`` / ``.npz`` / ``.npy`` / Kaggle ``.parquet`` file → :class:`KeypointSequence` (format by suffix).

    ``fps`` overrides the stored rate (``.npy`` stores none: 25; Kaggle: 30).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise KeypointFileError(f"Keypoint file not found: {path}")
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".pose":
        return read_pose_file(path, fps=fps)
    if suffix == ".npz":
        return read_npz(path, fps=fps)
    if suffix == ".npy":
        return read_npy(path, fps=fps)
    if suffix == ".parquet":
        return read_kaggle_parquet(path, fps=fps)
    raise KeypointFileError(f"Unsupported keypoint file {path}: expected {', '.join(KEYPOINT_SUFFIXES)}.")


def _joint_index_by_name() -> dict[str, dict[str, int]]:
    """Component -> point name -> index in the 203 layout."""
    face = {str(mesh_id): 33 + local for local, mesh_id in enumerate(FACE_MESH_INDICES)}
    return {
        "POSE_LANDMARKS": {name: i for i, name in enumerate(BODY_POINTS)},
        "FACE_LANDMARKS": face,
        "LEFT_HAND_LANDMARKS": {name: 161 + i for i, name in enumerate(HAND_POINTS)},
        "RIGHT_HAND_LANDMARKS": {name: 182 + i for i, name in enumerate(HAND_POINTS)},
    }


def read_pose_file(path: str | os.PathLike, fps: float | None = None) -> KeypointSequence:
    """A pose-format ``.pose`` of MediaPipe Holistic landmarks → the 203 layout, by point name (first person).

    Full files (543/553/576/586 points) and reduced ones (any subset of the holistic components and points, e.g.
    pose-format's 178-point ``reduce_holistic`` output: body joints absent from the file are masked) both work.
    ``fps`` overrides the stored rate; a stored rate of 0 / NaN / negative without an override is read as
    ``DEFAULT_FILE_FPS`` with a warning that says so. Raises :class:`KeypointFileError` for unreadable,
    non-holistic or truncated files.
    """
    try:
        from pose_format import Pose
    except ImportError as error:  # pragma: no cover - pose-format is a dependency of the signllm package
        raise ImportError("Reading .pose files needs pose-format: `pip install pose-format`.") from error
    path = os.fspath(path)
    try:
        with open(path, "rb") as handle:
            buffer = handle.read()
    except FileNotFoundError:
        raise KeypointFileError(f"Pose file not found: {path}") from None
    check_pose_body_size(buffer, path)
    try:
        pose = Pose.read(buffer)
    except Exception as error:  # noqa: BLE001 - pose-format raises assorted struct/index errors on bad bytes
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
    values[~(joint_conf > 0)] = 0.0  # also drops NaN confidences
    values, mask = mask_missing(values)
    dims = pose.header.dimensions
    rate = fps
    if rate is None:  # as read_npz: the caller's rate, else the stored one
        stored = float(pose.body.fps)
        rate = stored if math.isfinite(stored) and stored > 0 else DEFAULT_FILE_FPS
        if rate != stored:
            logger.warning("%s stores a frame rate of %g: read as %g fps (pass fps=... if the recording's rate "
                           "differs).", path, stored, rate)
    return KeypointSequence(values=values, mask=mask, fps=float(rate),
                            confidence=np.where(mask, joint_conf, 0.0), width=dims.width, height=dims.height,
                            extractor=_pose_header_extractor(pose.header))  # fmt: skip


def check_pose_body_size(buffer: bytes, path: str = "<buffer>") -> None:
    """Refuse a ``.pose`` whose body is shorter than its header declares (a truncated copy).

    pose-format itself reads such a file without a word: version 0.1 bodies derive the frame count from the bytes
    left, so a file cut in half loads with fewer frames, its confidences read from the coordinates.
    """
    try:
        from pose_format.pose_header import PoseHeader
        from pose_format.utils.reader import BufferReader, ConstStructs
    except ImportError:  # pragma: no cover - pose-format is a dependency of the signllm package
        return
    try:
        reader = BufferReader(buffer)
        header = PoseHeader.read(reader)
        version = round(float(header.version), 3)
        if version < 0.1:
            return  # v0.0 bodies are self-delimiting per frame; pose-format checks them as it reads
        if version < 0.2:
            _, declared = reader.unpack(ConstStructs.double_ushort)
        else:
            reader.unpack(ConstStructs.float)
            declared = reader.unpack(ConstStructs.uint)
        people = reader.unpack(ConstStructs.ushort)
    except Exception as error:  # noqa: BLE001 - a header that does not parse (struct / unicode / index errors)
        raise KeypointFileError(f"Cannot read {path} as a pose-format .pose file: {error!r}") from None
    points = sum(len(component.points) for component in header.components)
    frame_bytes = people * points * (header.num_dims() + 1) * 4  # float32 coordinates + confidence
    body_bytes = len(buffer) - reader.read_offset
    if frame_bytes == 0:
        return
    complete, remainder = divmod(body_bytes, frame_bytes)
    if version < 0.2:  # the header stores the count as uint16 (pose-format: "sometimes not enough")
        truncated = remainder != 0 or complete % 65536 != declared
    else:
        truncated = complete < declared or (complete == declared and remainder != 0)
    if truncated:
        raise KeypointFileError(
            f"{path}: truncated .pose file: its header declares {declared} frames ({declared * frame_bytes} body "
            f"bytes) but the body holds {body_bytes} bytes ({complete} complete frames, {remainder} bytes left "
            "over). Copy or extract the file again."
        )


def read_npz(path: str | os.PathLike, fps: float | None = None) -> KeypointSequence:
    """Our ``.npz`` (or any ``.npz`` with a ``values`` array; a missing ``mask`` is derived from zeros/NaN)."""
    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            contents = {key: archive[key] for key in archive.files}
    except FileNotFoundError:
        raise KeypointFileError(f"Keypoint file not found: {path}") from None
    except Exception as error:  # noqa: BLE001 - EOFError (empty), BadZipFile (truncated), zlib, pickled arrays
        raise KeypointFileError(f"Cannot read {path} as .npz: {error!r}") from None
    key = next((k for k in ("values", "pose_values", "keypoints") if k in contents), None)
    if key is None:
        raise KeypointFileError(f"{path}: no 'values' array (found {sorted(contents)}).")
    mask = contents.get("mask")
    try:
        usable_mask = mask if _same_frames(mask, contents[key]) else None
        values, mask = keypoints_from_array(contents[key].astype(np.float32), usable_mask)
    except ValueError as error:
        raise KeypointFileError(f"{path}: {error}") from None
    confidence = contents.get("confidence")
    if confidence is not None and confidence.shape != mask.shape:
        confidence = None  # a holistic-layout confidence: the 203-joint mask is what matters
    width, height = (int(v) for v in contents["size"]) if "size" in contents else (None, None)
    rate = fps if fps is not None else (float(contents["fps"]) if "fps" in contents else DEFAULT_FILE_FPS)
    return KeypointSequence(values=values, mask=mask, fps=check_source_fps(rate, f"{path}: fps"),
                            confidence=None if confidence is None else confidence.astype(np.float32),
                            width=width, height=height, extractor=_decode_extractor(contents.get("extractor")))  # fmt: skip


def _same_frames(mask: Any, values: np.ndarray) -> bool:
    return mask is not None and mask.ndim == 2 and values.ndim >= 2 and mask.shape[:2] == values.shape[:2]


def read_npy(path: str | os.PathLike, fps: float | None = None) -> KeypointSequence:
    """A plain ``(t, 203 | 543/553/576/586, 2|3)`` array file at ``fps`` (default 25)."""
    path = os.fspath(path)
    try:
        array = np.load(path, allow_pickle=False)
    except Exception as error:  # noqa: BLE001 - EOFError, ValueError (pickled / bad header), OSError
        raise KeypointFileError(f"Cannot read {path} as .npy: {error!r}") from None
    try:
        values, mask = keypoints_from_array(np.asarray(array, dtype=np.float32))
    except ValueError as error:
        raise KeypointFileError(f"{path}: {error}") from None
    return KeypointSequence(values=values, mask=mask, fps=fps or DEFAULT_FILE_FPS)


def read_kaggle_parquet(path: str | os.PathLike, fps: float | None = None) -> KeypointSequence:
    """A Kaggle GISLR landmark parquet (rows ``frame, type, landmark_index, x, y, z``) at ``fps`` (default 30).

    Rows are placed by ``type`` and ``landmark_index`` into the canonical holistic order (pose, face, left, right),
    so the files' own row order (face, left_hand, pose, right_hand) does not matter. NaN = missing → masked.
    """
    try:
        import pandas as pd
    except ImportError as error:  # pragma: no cover - pandas is a dependency of the signllm package
        raise ImportError("Reading Kaggle .parquet landmark files needs pandas and pyarrow.") from error
    path = os.fspath(path)
    try:
        table = pd.read_parquet(path, columns=["frame", "type", "landmark_index", "x", "y", "z"])
    except FileNotFoundError:
        raise KeypointFileError(f"Landmark file not found: {path}") from None
    except Exception as error:  # noqa: BLE001 - ArrowInvalid (corrupt / empty), missing columns
        raise KeypointFileError(f"Cannot read {path} as a Kaggle landmark parquet: {error!r}") from None
    try:
        landmarks = kaggle_table_to_holistic(table)
    except ValueError as error:
        raise KeypointFileError(f"{path}: {error}") from None
    values, mask = holistic_to_203(landmarks)
    return KeypointSequence(values=values, mask=mask, fps=fps or KAGGLE_DEFAULT_FPS, confidence=mask.astype(np.float32))


def kaggle_table_to_holistic(table: Any) -> np.ndarray:
    """Kaggle GISLR long table → ``(t, 543 | 553, 3)`` canonical holistic landmarks, NaN where missing."""
    if len(table) == 0:
        raise ValueError("Empty landmark table (0 rows).")
    types = np.asarray(table["type"]).astype(str)
    unknown = set(np.unique(types)) - set(KAGGLE_TYPES)
    if unknown:
        raise ValueError(f"Unknown landmark types {sorted(unknown)}; expected {sorted(KAGGLE_TYPES)}.")
    landmark = np.asarray(table["landmark_index"]).astype(np.int64)
    face_rows = types == "face"
    face_size = 478 if face_rows.any() and landmark[face_rows].max() >= 468 else 468
    sizes = {"pose": 33, "face": face_size, "left_hand": 21, "right_hand": 21}
    offsets = {"pose": 0, "face": 33, "left_hand": 33 + face_size, "right_hand": 33 + face_size + 21}
    size = np.array([sizes[name] for name in types])
    if (landmark < 0).any() or (landmark >= size).any():
        raise ValueError("Kaggle landmark_index out of range for its type.")
    frames, frame_row = np.unique(np.asarray(table["frame"]), return_inverse=True)
    column = np.array([offsets[name] for name in types]) + landmark
    landmarks = np.full((len(frames), 33 + face_size + 42, 3), np.nan, dtype=np.float32)
    coords = np.stack([np.asarray(table[axis], dtype=np.float32) for axis in ("x", "y", "z")], axis=-1)
    landmarks[frame_row, column] = coords
    return landmarks


# ------------------------------------------------------------------------------------------------ provenance
def encode_extractor(info: dict) -> str:
    """Provenance dict → the JSON text stored in files (``.npz`` ``extractor`` entry, ``.pose`` component name)."""
    return json.dumps(info, sort_keys=True, allow_nan=False)


def _decode_extractor(value: Any) -> dict | None:
    if value is None:
        return None
    try:
        info = json.loads(str(np.asarray(value).item()) if not isinstance(value, str) else value)
    except (ValueError, TypeError):
        return None  # an unreadable record is no record; the keypoints themselves are fine
    return info if isinstance(info, dict) else None


def _pose_header_extractor(header: Any) -> dict | None:
    for component in header.components:
        if component.name.startswith(EXTRACTOR_COMPONENT + ":"):
            return _decode_extractor(component.name[len(EXTRACTOR_COMPONENT) + 1 :])
    return None


def read_extractor(path: str | os.PathLike) -> dict | None:
    """The extractor recorded in a keypoint file, reading as little as possible (``None`` when it records none)."""
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    try:
        if suffix == ".npz":
            with zipfile.ZipFile(path) as archive:
                if "extractor.npy" not in archive.namelist():
                    return None
                with archive.open("extractor.npy") as stream:
                    return _decode_extractor(np.lib.format.read_array(stream, allow_pickle=False))
        if suffix == ".pose":
            try:
                from pose_format.pose_header import PoseHeader
                from pose_format.utils.reader import BufferReader
            except ImportError:  # pragma: no cover - pose-format is a dependency of the signllm package
                return None
            with open(path, "rb") as handle:
                return _pose_header_extractor(PoseHeader.read(BufferReader(handle.read())))
    except Exception:  # noqa: BLE001 - provenance is informative; reading the keypoints reports real damage
        return None
    return None


def describe_extractor(info: dict | None) -> str:
    """One line for logs and model cards, e.g. ``mediapipe-holistic legacy 0.10.21 (model_complexity=1, ...)``."""
    if not info:
        return "unknown extractor"
    settings = info.get("settings") or {}
    details = ", ".join(f"{key}={value}" for key, value in sorted(settings.items()))
    head = " ".join(str(info[key]) for key in ("name", "backend", "version") if info.get(key) not in (None, ""))
    return f"{head or 'unknown extractor'}" + (f" ({details})" if details else "")


#: settings that do not change the landmarks themselves (the model resamples to its own rate anyway)
_IGNORED_SETTINGS = frozenset({"target_fps"})


def extractor_mismatch(keypoints: dict | None, model: dict | None) -> str | None:
    """How an input's extractor differs from the one a model was trained on; ``None`` when they agree or either
    is unknown (files from other tools record nothing)."""
    if not keypoints or not model:
        return None
    differences = [key for key in ("name", "backend", "version") if keypoints.get(key) != model.get(key)]
    mine, theirs = keypoints.get("settings") or {}, model.get("settings") or {}
    differences += sorted(key for key in set(mine) & set(theirs) - _IGNORED_SETTINGS if mine[key] != theirs[key])
    if not differences:
        return None
    return (
        f"keypoints extracted with {describe_extractor(keypoints)}, but the model was trained on keypoints from "
        f"{describe_extractor(model)} (differs in: {', '.join(differences)}); predictions may degrade "
        "(extractor drift). Re-extract with the model's extractor for best results."
    )
