"""Mouth-crop geometry (Auto-AVSR protocol) on synthetic faces with a known mouth, and on a real How2Sign clip."""

from __future__ import annotations

import itertools
import subprocess
import sys

import cv2
import numpy as np
import pytest
from conftest import shared_data_path
from signllm.keypoint_layout import FACE_MESH_INDICES, FACE_MESH_INNER_LIPS, FACE_MESH_NOSE_TIP
from signllm.processing import mouth_crops as mc

MOUTH_AXES = (18.0, 7.0)  # half-axes of the drawn mouth in mean-face pixels


def similarity(scale: float, angle_deg: float, shift: tuple[float, float]) -> np.ndarray:
    """`(2, 3)` map from the 256×256 mean face to the image."""
    a = np.deg2rad(angle_deg)
    rotation = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return np.hstack([rotation, np.array(shift, dtype=np.float64)[:, None]])


def synthetic_mesh(transform: np.ndarray, seed: int = 0) -> np.ndarray:
    """A `(468, 3)` face mesh in image pixels whose anchor groups sit exactly on the mapped mean-face points."""
    rng = np.random.default_rng(seed)
    mesh = np.column_stack([rng.uniform(80, 180, (468, 2)), np.zeros(468)])  # other points: anywhere on the face
    right_eye, left_eye, nose, mouth = mc.MEAN_FACE_ANCHORS
    for centre, ids in ((right_eye, mc.RIGHT_EYE_IDS), (left_eye, mc.LEFT_EYE_IDS)):
        angles = 2 * np.pi * np.arange(len(ids)) / len(ids)  # a symmetric contour: its mean is the eye centre
        mesh[list(ids), :2] = centre + np.column_stack([9 * np.cos(angles), 4 * np.sin(angles)])
    mesh[FACE_MESH_NOSE_TIP, :2] = nose
    top, bottom, left, right = (
        FACE_MESH_INNER_LIPS[0],
        FACE_MESH_INNER_LIPS[1],
        FACE_MESH_INNER_LIPS[2],
        FACE_MESH_INNER_LIPS[3],
    )
    mesh[[top, bottom, left, right], :2] = mouth + np.array([[0, -3], [0, 3], [-15, 0], [15, 0]])
    mesh[0, :2] = mouth + np.array([0, -9])  # upper-lip midpoint (part of the nose proxy of the 128-point layout)
    mesh[:, :2] = mesh[:, :2] @ transform[:, :2].T + transform[:, 2]
    return mesh


def synthetic_frame(transform: np.ndarray, size: tuple[int, int] = (480, 640)) -> np.ndarray:
    """Gray background, a dark mouth ellipse at the mapped mouth centre (RGB uint8)."""
    image = np.full((*size, 3), 150, dtype=np.uint8)
    scale = np.hypot(*transform[:, 0])
    angle = np.rad2deg(np.arctan2(transform[1, 0], transform[0, 0]))
    centre = transform[:, :2] @ mc.MEAN_FACE_ANCHORS[3] + transform[:, 2]
    shift = 16  # sub-pixel drawing precision
    cv2.ellipse(image, tuple(round(v * (1 << shift)) for v in centre),
                tuple(round(v * scale * (1 << shift)) for v in MOUTH_AXES), angle, 0, 360,
                (20, 20, 20), -1, cv2.LINE_AA, shift)  # fmt: skip
    return image


def dark_blob(crop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centroid (x, y) and extent (width, height) of the pixels darker than the background."""
    weight = np.clip(150.0 - crop.astype(np.float64), 0, None)
    ys, xs = np.nonzero(weight > 65)
    centroid = np.array(
        [(weight.sum(0) * np.arange(crop.shape[1])).sum(), (weight.sum(1) * np.arange(crop.shape[0])).sum()]
    )
    return centroid / weight.sum(), np.array([np.ptp(xs) + 1, np.ptp(ys) + 1])


# Where the mouth centre lands in the 96×96 crop: reference mouth minus the rounded crop offset.
EXPECTED_MOUTH = mc.MEAN_FACE_ANCHORS[3] - np.round(mc.MEAN_FACE_ANCHORS[3] - mc.CROP_SIZE // 2)


@pytest.mark.parametrize("points", ["full_mesh", "kept_203_layout"])
@pytest.mark.parametrize(
    ("scale", "angle", "shift"), [(1.6, 0.0, (100.0, 40.0)), (1.1, 17.0, (260.0, 90.0)), (2.3, -25.0, (40.0, 20.0))]
)
def test_crop_is_centred_on_the_mouth_and_undoes_scale_and_rotation(points, scale, angle, shift):
    transform = similarity(scale, angle, shift)
    mesh = synthetic_mesh(transform)[None]
    face = mesh if points == "full_mesh" else mesh[:, list(FACE_MESH_INDICES)]
    anchors, reference = mc.prepare_anchors(face)
    assert anchors.shape == (1, 4, 2)
    crop = mc.crop_mouth(synthetic_frame(transform), anchors[0], reference)
    assert crop.shape == (96, 96) and crop.dtype == np.uint8
    centroid, extent = dark_blob(crop)
    np.testing.assert_allclose(centroid, EXPECTED_MOUTH, atol=0.5)
    np.testing.assert_allclose(extent, 2 * np.array(MOUTH_AXES), atol=2.5)  # back to mean-face size, upright
    # the face-mesh lip points map to the crop centre as well
    matrix = mc.mouth_crop_transform(anchors[0], reference)
    lips = mesh[0, list(FACE_MESH_INNER_LIPS), :2] @ matrix[:, :2].T + matrix[:, 2]
    np.testing.assert_allclose(lips.mean(0), EXPECTED_MOUTH, atol=1e-3)


def test_direct_crop_equals_auto_avsr_warp_then_slice():
    transform = similarity(1.4, 9.0, (180.0, 60.0))
    frame = synthetic_frame(transform)
    frame[::7] = 90  # texture so a misplaced pixel shows
    anchors, reference = mc.prepare_anchors(synthetic_mesh(transform)[None])
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    matrix = cv2.estimateAffinePartial2D(anchors[0], reference, method=cv2.LMEDS)[0]
    warped = cv2.warpAffine(gray, matrix, (256, 256), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    centre_x, centre_y = matrix[:, :2] @ anchors[0, 3] + matrix[:, 2]
    y0, x0 = round(centre_y - 48), round(centre_x - 48)
    np.testing.assert_array_equal(mc.crop_mouth(frame, anchors[0], reference), warped[y0 : y0 + 96, x0 : x0 + 96])


def test_keypoints_in_image_fractions_are_scaled_to_pixels():
    width, height = 640, 480
    transform = similarity(1.5, 5.0, (170.0, 50.0))
    kept = synthetic_mesh(transform)[list(FACE_MESH_INDICES)]
    values = np.zeros((3, 203, 3), dtype=np.float32)
    values[:, 33:161, :2] = kept[:, :2] / [width, height]
    mask = np.ones((3, 203), dtype=bool)
    mask[1, 33 + FACE_MESH_INDICES.index(13)] = False  # inner upper lip lost: no mouth centre in frame 1
    face, valid = mc.face_landmarks_from_keypoints(values, mask, width, height)
    np.testing.assert_allclose(face[0], kept[:, :2], atol=1e-3)
    anchors, _, frame_valid = mc.face_anchor_points(face, valid)
    assert frame_valid.tolist() == [True, False, True]
    assert np.isnan(anchors[1]).all()
    smoothed, reference = mc.prepare_anchors(face, valid)
    crop = mc.crop_mouth(synthetic_frame(transform, size=(height, width)), smoothed[1], reference)
    np.testing.assert_allclose(dark_blob(crop)[0], EXPECTED_MOUTH, atol=0.5)  # interpolated frame still centred
    values[:, 33:161, :2] = kept[:, :2]  # our .pose / .npz files store pixels: used as they are
    np.testing.assert_allclose(mc.face_landmarks_from_keypoints(values, mask)[0][0], kept[:, :2], atol=1e-3)
    with pytest.raises(ValueError, match="width and height"):
        mc.face_landmarks_from_keypoints(values / 1000, mask)


def test_missing_frames_are_interpolated_and_held_at_the_ends():
    points = np.zeros((6, 2, 2))
    points[:, :, 0] = np.arange(6)[:, None] * 10.0
    valid = np.array([False, True, False, False, True, False])
    filled = mc.interpolate_landmarks(np.where(valid[:, None, None], points, np.nan), valid)
    np.testing.assert_allclose(filled[:, 0, 0], [10, 10, 20, 30, 40, 40])
    with pytest.raises(ValueError, match="no frame has a detected face"):
        mc.interpolate_landmarks(points, np.zeros(6, dtype=bool))


def test_smoothing_keeps_each_frame_centroid_and_damps_scale_jitter():
    rng = np.random.default_rng(0)
    shape = np.array([[-30.0, 0.0], [30.0, 0.0], [0.0, 40.0]])
    scales = 1.0 + rng.normal(0, 0.05, 40)
    centres = np.cumsum(rng.normal(0, 3, (40, 2)), axis=0) + 300
    points = scales[:, None, None] * shape + centres[:, None]
    smoothed = mc.smooth_landmarks(points)
    np.testing.assert_allclose(smoothed.mean(1), points.mean(1))
    width = smoothed[:, 1, 0] - smoothed[:, 0, 0]
    assert np.std(width[6:-6] / 60) < 0.5 * np.std(scales[6:-6])
    np.testing.assert_allclose(smoothed[0], points[0])  # window shrinks to the frame itself at the ends
    still = np.repeat(points[:1], 5, axis=0)
    np.testing.assert_allclose(mc.smooth_landmarks(still), still)


def test_model_input_transform_matches_auto_avsr():
    crops = np.full((2, 96, 96), 107, dtype=np.uint8)  # 107 / 255 ≈ 0.42 = the mean
    crops[:, 4, 4] = 255  # first pixel kept by the centre crop
    crops[:, 3, :] = 0  # dropped
    x = mc.crops_to_model_input(crops)
    assert x.shape == (2, 1, 88, 88) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, 0, 0, 0], (1.0 - 0.421) / 0.165, rtol=1e-5)
    np.testing.assert_allclose(x[0, 0, 5, 5], (107 / 255 - 0.421) / 0.165, atol=1e-5)
    rgb = np.repeat(crops[..., None], 3, axis=-1)
    np.testing.assert_allclose(mc.crops_to_model_input(rgb), x, atol=1e-3)
    with pytest.raises(ValueError, match="at least 88"):
        mc.crops_to_model_input(np.zeros((1, 64, 64), dtype=np.uint8))


def test_bad_landmarks_raise_value_error():
    with pytest.raises(ValueError, match="468 or 478"):
        mc.face_anchor_points(np.zeros((2, 100, 2)))
    with pytest.raises(ValueError, match="frames, points"):
        mc.face_anchor_points(np.zeros((100, 2)))
    with pytest.raises(ValueError, match="raw holistic"):
        mc.face_landmarks_from_keypoints(np.zeros((2, 543, 3)), None, 640, 480)


# --- real clip: face mesh from the legacy MediaPipe backend (a separate Python environment) -------------------------

_LEGACY_SCRIPT = """
import sys, numpy as np, mediapipe as mp
frames = np.load(sys.argv[1])
out = np.full((len(frames), 468, 3), np.nan, np.float32)
with mp.solutions.holistic.Holistic(static_image_mode=False, model_complexity=1) as holistic:
    for i, frame in enumerate(frames):
        result = holistic.process(frame)
        if result.face_landmarks:
            out[i] = [[p.x, p.y, p.z] for p in result.face_landmarks.landmark]
np.save(sys.argv[2], out)
"""


def test_real_clip_crop_is_centred_on_the_face_mesh_lips(tmp_path, legacy_python):
    clip = min(shared_data_path("how2sign_samples", "clips_train_unlabeled").glob("*.mp4"))
    python = legacy_python
    from signllm.processing.video import iter_video_frames

    frames = np.stack(list(itertools.islice(iter_video_frames(clip), 8)))
    np.save(tmp_path / "frames.npy", frames)
    subprocess.run([python, "-c", _LEGACY_SCRIPT, str(tmp_path / "frames.npy"), str(tmp_path / "mesh.npy")],
                   check=True, capture_output=True, timeout=120)  # fmt: skip
    height, width = frames.shape[1:3]
    mesh = np.load(tmp_path / "mesh.npy")[..., :2] * [width, height]  # MediaPipe x, y are image fractions
    assert np.isfinite(mesh).all(), "holistic found a face in every frame of this clip before"
    full, full_reference = mc.prepare_anchors(mesh)
    kept, kept_reference = mc.prepare_anchors(mesh[:, list(FACE_MESH_INDICES)])
    lips = mesh[:, list(FACE_MESH_INNER_LIPS)]
    for i, frame in enumerate(frames):
        for anchors, reference in ((full, full_reference), (kept, kept_reference)):
            matrix = mc.mouth_crop_transform(anchors[i], reference)
            lip_centre = (lips[i] @ matrix[:, :2].T + matrix[:, 2]).mean(0)
            assert np.abs(lip_centre - 48).max() < 3.0  # smoothing moves points a little; the mouth stays central
        crop = mc.crop_mouth(frame, full[i], full_reference)
        assert crop.shape == (96, 96) and crop.std() > 10  # a face, not the black border
    # effect of the nose proxy (203-joint layout) against the real nose tip: scale, rotation, crop centre
    for i in range(len(frames)):
        a = mc.mouth_crop_transform(full[i], full_reference)
        b = mc.mouth_crop_transform(kept[i], kept_reference)
        assert abs(np.hypot(*a[:, 0]) / np.hypot(*b[:, 0]) - 1) < 0.04
        assert abs(np.degrees(np.arctan2(a[1, 0], a[0, 0]) - np.arctan2(b[1, 0], b[0, 0]))) < 4.0
        centre = mesh[i, list(FACE_MESH_INNER_LIPS)].mean(0)
        assert np.abs((a[:, :2] @ centre + a[:, 2]) - (b[:, :2] @ centre + b[:, 2])).max() < 2.0


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
