"""Mouth crops for the lip reader, following Auto-AVSR's MediaPipe preprocessing (architecture §2.2).

Auto-AVSR (`preparation/detectors/mediapipe/video_process.py`, `datamodule/transforms.py`):

1. four face points per frame: right eye, left eye, nose tip, mouth centre (image pixels);
2. frames without a face get landmarks linearly interpolated from their neighbours (held at both ends);
3. each frame's points are averaged over ±6 frames (`window_margin` 12, the window shrinks at the ends) and the
   average is shifted back onto the frame's own centroid;
4. a similarity transform (`cv2.estimateAffinePartial2D`, LMEDS) maps them onto a 256×256 mean face whose
   points are `MEAN_FACE_ANCHORS`; the frame is warped (grayscale, bilinear, black border) and a 96×96 patch
   centred on the warped mouth centre is cut out;
5. model input: /255, centre crop 88, grayscale, normalise (mean 0.421, std 0.165) → `(t, 1, 88, 88)`.

Our points come from the MediaPipe face mesh, not from MediaPipe's face detector: eye centre = mean of the
FACEMESH_RIGHT_EYE / FACEMESH_LEFT_EYE contour points, nose tip = mesh point 1, mouth centre = mean of the inner
lip corners and midpoints 13, 14, 78, 308. With the full mesh (468 / 478 points) all four exist.

**Choice [ours]: a nose proxy for the 203-joint layout.** Our stored keypoints keep only the 128
FACEMESH_CONTOURS points: eye contours and inner lips are there, the nose is not. We stand in for the nose tip
with the mean of three kept points around it, the inner eye corners 133 / 362 and the upper-lip midpoint 0
(`NOSE_PROXY_IDS`), and still fit all four points to the four reference points. Against Auto-AVSR's fit with the
real nose tip, on 120 frames of 3 How2Sign clips (face mesh from the legacy holistic model): crop centre within
1.1 px (mean 0.5), scale within 2.5 % (mean 1.1 %), rotation within 2.4° (mean 1.8°). Fitting only the three
remaining points instead (eyes, mouth) is much further off: scale up to 12.4 % (mean 6.0 %), rotation up to 9.1°
(mean 4.7°), because LMEDS then settles on a different pair of points. tests/test_mouth_crops.py re-checks this on
a real clip when the legacy backend is installed.

Crops are produced directly at 96×96 by composing the similarity with the crop offset (the same pixels as
warping to 256×256 and slicing, the crop offset being an integer).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
from signllm.keypoint_layout import (
    ARTICULATOR_SLICES,
    FACE_MESH_INDICES,
    FACE_MESH_INNER_LIPS,
    FACE_MESH_NOSE_TIP,
    FACEMESH_LEFT_EYE,
    FACEMESH_RIGHT_EYE,
)

from .extras import import_extract_dependency

cv2 = import_extract_dependency("cv2", "Mouth crops for lip features (signllm extract --lip-reader)")

#: Auto-AVSR mean-face points in its 256×256 reference frame: right eye, left eye, nose tip, mouth centre.
MEAN_FACE_ANCHORS = np.array([[102.07, 94.27], [156.36, 93.58], [129.00, 135.90], [129.31, 157.82]], dtype=np.float64)
REFERENCE_SIZE = 256
CROP_SIZE = 96
WINDOW_MARGIN = 12
MODEL_INPUT_SIZE = 88
PIXEL_MEAN = 0.421
PIXEL_STD = 0.165
# Auto-AVSR rejects a frame whose warped mouth lies more than crop/2 + 5 px from the reference image centre.
_MAX_MOUTH_BIAS = CROP_SIZE // 2 + 5

RIGHT_EYE_IDS = tuple(sorted({i for edge in FACEMESH_RIGHT_EYE for i in edge}))
LEFT_EYE_IDS = tuple(sorted({i for edge in FACEMESH_LEFT_EYE for i in edge}))
#: Stand-in for the nose tip when only the 128 contour points exist: inner eye corners and upper-lip midpoint.
NOSE_PROXY_IDS = (133, 362, 0)
_MESH_TO_KEPT = {mesh_id: local for local, mesh_id in enumerate(FACE_MESH_INDICES)}


def face_anchor_points(face: np.ndarray, valid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Auto-AVSR anchor points of every frame from face-mesh landmarks in pixels.

    Args:
        face: `(t, n, c)` landmarks in image pixels (c ≥ 2, only x, y used); n = 468 / 478 (full mesh) or
            128 (the kept FACEMESH_CONTOURS points, in `FACE_MESH_INDICES` order; nose tip from `NOSE_PROXY_IDS`).
        valid: `(t, n)` or `(t,)` bool, False where a point / frame was not detected; NaN points count as missing.

    Returns:
        anchors `(t, 4, 2)` float64 (right eye, left eye, nose, mouth; NaN where the frame is invalid), the
        reference points `(4, 2)` and `(t,)` bool frame validity (all anchor source points present).
    """
    face = np.asarray(face, dtype=np.float64)
    if face.ndim != 3 or face.shape[-1] < 2:
        raise ValueError(f"face landmarks must be (frames, points, coords>=2) in pixels, got {face.shape}.")
    num_points = face.shape[1]
    if num_points in (468, 478):
        groups = [RIGHT_EYE_IDS, LEFT_EYE_IDS, (FACE_MESH_NOSE_TIP,), FACE_MESH_INNER_LIPS]
        reference = MEAN_FACE_ANCHORS
    elif num_points == len(FACE_MESH_INDICES):
        mesh_groups = (RIGHT_EYE_IDS, LEFT_EYE_IDS, NOSE_PROXY_IDS, FACE_MESH_INNER_LIPS)
        groups = [[_MESH_TO_KEPT[i] for i in ids] for ids in mesh_groups]
        reference = MEAN_FACE_ANCHORS
    else:
        raise ValueError(
            f"face landmarks must have 468 or 478 face-mesh points, or the {len(FACE_MESH_INDICES)} kept contour "
            f"points of the 203-joint layout; got {num_points}."
        )
    xy = face[..., :2]
    present = np.isfinite(xy).all(axis=-1)
    if valid is not None:
        valid = np.asarray(valid, dtype=bool)
        present &= valid if valid.ndim == 2 else valid[:, None]
    anchors = np.stack([xy[:, list(ids)].mean(axis=1) for ids in groups], axis=1)
    frame_valid = np.stack([present[:, list(ids)].all(axis=1) for ids in groups], axis=1).all(axis=1)
    anchors[~frame_valid] = np.nan
    return anchors, reference.copy(), frame_valid


def face_landmarks_from_keypoints(
    values: np.ndarray,
    mask: np.ndarray | None = None,
    width: int | None = None,
    height: int | None = None,
    units: str = "auto",
) -> tuple[np.ndarray, np.ndarray]:
    """The 128 face points of raw 203-joint keypoints, in image pixels.

    Args:
        values: `(t, 203, c)` raw keypoints. Our `.pose` / `.npz` files store x, y in pixels (pose-format's
            convention); Kaggle parquet and bare MediaPipe output are image fractions in [0, 1].
        mask: `(t, 203)` bool, True where detected (optional).
        width, height: frame size, needed for fractions.
        units: `"pixels"`, `"fractions"` or `"auto"` (fractions when every detected face coordinate is ≤ 2:
            no real face fits in 2 pixels).

    Returns `(t, 128, 2)` pixel coordinates and their `(t, 128)` validity.
    """
    values = np.asarray(values)
    if values.ndim != 3 or values.shape[1] != 203 or values.shape[2] < 2:
        raise ValueError(f"keypoints must be (frames, 203, coords) raw holistic values, got {values.shape}.")
    if units not in ("auto", "pixels", "fractions"):
        raise ValueError(f"units must be one of 'auto', 'pixels', 'fractions', got {units!r}.")
    face = values[:, ARTICULATOR_SLICES["face"], :2].astype(np.float64)
    valid = np.ones(face.shape[:2], dtype=bool)
    if mask is not None:
        valid = np.asarray(mask, dtype=bool)[:, ARTICULATOR_SLICES["face"]].copy()
    valid &= np.isfinite(face).all(axis=-1)
    if units == "auto":
        units = "fractions" if valid.any() and np.abs(face[valid]).max() <= 2.0 else "pixels"
    if units == "fractions":
        if not width or not height:
            raise ValueError("keypoints are image fractions: width and height of the frames are needed.")
        face = face * np.array([width, height], dtype=np.float64)
    return face, valid


def interpolate_landmarks(points: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Fill frames without a face: linear between detected neighbours, nearest detection at both ends.

    `points (t, k, 2)`, `valid (t,)` → `(t, k, 2)`. ValueError when no frame has a face.
    """
    valid = np.asarray(valid, dtype=bool)
    if points.shape[0] != valid.shape[0]:
        raise ValueError(f"points ({points.shape[0]} frames) and valid ({valid.shape[0]}) disagree.")
    if not valid.any():
        raise ValueError("no frame has a detected face: cannot place mouth crops.")
    frames = np.arange(points.shape[0])
    flat = points.reshape(points.shape[0], -1)
    filled = np.stack([np.interp(frames, frames[valid], flat[valid, j]) for j in range(flat.shape[1])], axis=1)
    return filled.reshape(points.shape)


def smooth_landmarks(points: np.ndarray, window_margin: int = WINDOW_MARGIN) -> np.ndarray:
    """Auto-AVSR temporal smoothing: mean over ±window_margin//2 frames (fewer at the ends), re-centred per frame.

    `(t, k, 2)` → `(t, k, 2)`. Re-centring keeps each frame's centroid, so only shape/scale/rotation are smoothed.
    """
    num_frames = points.shape[0]
    cumulative = np.concatenate([np.zeros((1, *points.shape[1:])), np.cumsum(points, axis=0)])
    smoothed = np.empty_like(points, dtype=np.float64)
    for i in range(num_frames):
        margin = min(window_margin // 2, i, num_frames - 1 - i)
        smoothed[i] = (cumulative[i + margin + 1] - cumulative[i - margin]) / (2 * margin + 1)
    smoothed += points.mean(axis=1, keepdims=True) - smoothed.mean(axis=1, keepdims=True)
    return smoothed


def prepare_anchors(
    face: np.ndarray, valid: np.ndarray | None = None, window_margin: int = WINDOW_MARGIN
) -> tuple[np.ndarray, np.ndarray]:
    """Face-mesh landmarks in pixels `(t, n, c)` → interpolated, smoothed anchors `(t, 4, 2)` and reference `(4, 2)`."""
    anchors, reference, frame_valid = face_anchor_points(face, valid)
    anchors = interpolate_landmarks(anchors, frame_valid)
    return smooth_landmarks(anchors, window_margin), reference


def mouth_crop_transform(anchors: np.ndarray, reference: np.ndarray, crop_size: int = CROP_SIZE) -> np.ndarray:
    """The `(2, 3)` affine map from image pixels to the mouth crop of one frame (`anchors (k, 2)`, mouth last)."""
    matrix, _ = cv2.estimateAffinePartial2D(
        np.asarray(anchors, np.float64).reshape(-1, 1, 2),
        np.asarray(reference, np.float64).reshape(-1, 1, 2),
        method=cv2.LMEDS,
    )
    if matrix is None or not np.isfinite(matrix).all():
        raise ValueError(f"could not fit a similarity transform to the face points {anchors.tolist()}.")
    mouth = matrix[:, :2] @ anchors[-1] + matrix[:, 2]  # warped mouth centre in the 256×256 reference frame
    if np.abs(mouth - REFERENCE_SIZE / 2).max() > _MAX_MOUTH_BIAS:
        raise ValueError(f"warped mouth centre {mouth.round(1).tolist()} is too far from the mean-face centre.")
    half = crop_size // 2
    offset = np.round(mouth - half)  # integer offset: identical pixels to Auto-AVSR's warp-then-slice
    crop_matrix = matrix.copy()
    crop_matrix[:, 2] -= offset
    return crop_matrix


def crop_mouth(
    frame: np.ndarray, anchors: np.ndarray, reference: np.ndarray, crop_size: int = CROP_SIZE, grayscale: bool = True
) -> np.ndarray:
    """One `(H, W, 3)` RGB uint8 frame → its `(crop, crop)` gray (or `(crop, crop, 3)` RGB) uint8 mouth crop."""
    frame = np.asarray(frame)
    if frame.ndim not in (2, 3):
        raise ValueError(f"frame must be (H, W, 3) RGB or (H, W) gray, got {frame.shape}.")
    if grayscale and frame.ndim == 3:
        frame = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    matrix = mouth_crop_transform(anchors, reference, crop_size)
    return cv2.warpAffine(frame, matrix, (crop_size, crop_size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)  # fmt: skip


def iter_mouth_crops(
    frames: Iterable[np.ndarray], anchors: np.ndarray, reference: np.ndarray, grayscale: bool = True
) -> Iterator[np.ndarray]:
    """Stream mouth crops: frame `i` is cut with `anchors[i]` (prepared by `prepare_anchors`); stops at the shorter."""
    for frame, points in zip(frames, anchors):
        yield crop_mouth(frame, points, reference, grayscale=grayscale)


def crops_to_model_input(crops: np.ndarray) -> np.ndarray:
    """Auto-AVSR test transform: `(t, 96, 96)` gray or `(t, 96, 96, 3)` RGB uint8 → `(t, 1, 88, 88)` float32.

    /255, centre crop 88, grayscale (torchvision weights, for RGB crops), normalise (0.421, 0.165).
    """
    crops = np.asarray(crops)
    if crops.ndim == 4 and crops.shape[-1] == 3:
        x = crops.astype(np.float32) / 255.0
        x = x @ np.array([0.2989, 0.587, 0.114], dtype=np.float32)  # torchvision rgb_to_grayscale
    elif crops.ndim == 3:
        x = crops.astype(np.float32) / 255.0
    else:
        raise ValueError(f"crops must be (t, h, w) gray or (t, h, w, 3) RGB, got {crops.shape}.")
    height, width = x.shape[1:3]
    if min(height, width) < MODEL_INPUT_SIZE:
        raise ValueError(f"crops must be at least {MODEL_INPUT_SIZE}×{MODEL_INPUT_SIZE}, got {height}×{width}.")
    top = round((height - MODEL_INPUT_SIZE) / 2.0)  # torchvision CenterCrop rounding
    left = round((width - MODEL_INPUT_SIZE) / 2.0)
    x = x[:, top : top + MODEL_INPUT_SIZE, left : left + MODEL_INPUT_SIZE]
    return ((x - PIXEL_MEAN) / PIXEL_STD)[:, None].astype(np.float32)
