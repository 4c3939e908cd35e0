"""Keypoint files and the landmark -> 203 mapping: synthetic arrays, Kaggle GISLR parquet, real .pose files."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import fake_pose, shared_data_path
from signllm.keypoint_layout import FACE_MESH_INDICES, HIDDEN_BODY_JOINTS, LEFT_SHOULDER, RIGHT_SHOULDER
from signllm.processing.keypoint_io import (
    BODY_POINTS,
    HAND_POINTS,
    KeypointFileError,
    KeypointSequence,
    atomic_path,
    read_keypoints,
    resample_keypoints,
    write_holistic_pose,
    write_npz,
    write_pose,
)

LEFT_HAND = slice(161, 182)
RIGHT_HAND = slice(182, 203)
FACE = slice(33, 161)


def _holistic(num_frames: int = 6, face: int = 468, seed: int = 0) -> np.ndarray:
    """Full holistic landmarks ``(t, 33 + face + 42, 3)`` with every value distinct and non-zero."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0.1, 1.0, size=(num_frames, 33 + face + 42, 3)).astype(np.float32)


@pytest.mark.parametrize("face", [468, 478])
def test_holistic_array_maps_to_203(tmp_path, face):
    landmarks = _holistic(face=face)
    landmarks[2, 33 + face : 33 + face + 21] = np.nan  # frame 2: no left hand (Kaggle style NaN)
    landmarks[3] = 0.0  # frame 3: nobody in frame (MediaPipe style zeros)
    np.save(tmp_path / "landmarks.npy", landmarks)
    seq = read_keypoints(tmp_path / "landmarks.npy")
    assert seq.values.shape == (6, 203, 3) and seq.fps == 25.0
    np.testing.assert_array_equal(seq.values[0, :25], landmarks[0, :25])
    np.testing.assert_array_equal(seq.values[0, FACE], landmarks[0, 33 + np.asarray(FACE_MESH_INDICES)])
    np.testing.assert_array_equal(seq.values[0, LEFT_HAND], landmarks[0, 33 + face : 33 + face + 21])
    np.testing.assert_array_equal(seq.values[0, RIGHT_HAND], landmarks[0, 33 + face + 21 :])
    # masking, not dropping: every frame kept, missing parts masked and zero, legs always hidden
    assert seq.num_frames == 6
    assert not seq.mask[2, LEFT_HAND].any() and seq.mask[2, RIGHT_HAND].all()
    assert not seq.mask[3].any() and (seq.values[3] == 0).all()
    assert not seq.mask[:, list(HIDDEN_BODY_JOINTS)].any()
    assert (seq.values[~seq.mask] == 0).all()
    rates = seq.detection_rates()
    assert rates["left_hand"] == pytest.approx(4 / 6) and rates["body"] == pytest.approx(5 / 6)


def test_world_landmarks_are_ignored(tmp_path):
    landmarks = _holistic(face=468)
    with_world = np.concatenate([landmarks, np.full((6, 33, 3), 7.0, np.float32)], axis=1)  # 576
    np.save(tmp_path / "a.npy", landmarks)
    np.save(tmp_path / "b.npy", with_world)
    np.testing.assert_array_equal(read_keypoints(tmp_path / "a.npy").values, read_keypoints(tmp_path / "b.npy").values)


def test_normalisation_and_no_person(tmp_path):
    values, mask = fake_pose(num_frames=12, seed=3, missing_hand_frames=4)
    seq = KeypointSequence(values * 300 + 50, mask, fps=25.0)  # pixel-like coordinates
    seq.values[~seq.mask] = 0
    normalised, out_mask = seq.normalized()
    shoulders = normalised[:, [LEFT_SHOULDER, RIGHT_SHOULDER]]
    np.testing.assert_allclose(shoulders.mean(axis=(0, 1)), 0.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(shoulders[:, 0] - shoulders[:, 1], axis=-1).mean(), 1.0, rtol=1e-5)
    assert (normalised[:4, LEFT_HAND] == 0).all() and (out_mask == mask).all()
    nobody = KeypointSequence(np.zeros((5, 203, 3)), np.zeros((5, 203), bool), fps=25.0)
    with pytest.raises(ValueError, match="shoulders"):
        nobody.normalized()


def test_sequence_validates_shapes():
    with pytest.raises(ValueError, match="203"):
        KeypointSequence(np.zeros((3, 200, 3)), np.zeros((3, 200), bool), fps=25)
    with pytest.raises(ValueError, match="fps"):
        KeypointSequence(np.zeros((3, 203, 3)), np.zeros((3, 203), bool), fps=0)


def test_npz_and_pose_round_trip(tmp_path):
    values, mask = fake_pose(num_frames=9, seed=1, missing_hand_frames=3)
    confidence = np.where(mask, 0.9, 0.0).astype(np.float32)
    seq = KeypointSequence(values, mask, fps=24.0, confidence=confidence, width=640, height=480)
    write_npz(tmp_path / "a.npz", seq)
    back = read_keypoints(tmp_path / "a.npz")
    np.testing.assert_array_equal(back.values, seq.values)
    np.testing.assert_array_equal(back.mask, seq.mask)
    np.testing.assert_allclose(back.confidence, confidence, atol=1e-3)
    assert (back.fps, back.width, back.height) == (24.0, 640, 480)

    write_pose(tmp_path / "a.pose", seq)
    from pose_format import Pose
    from pose_format.utils.generic import detect_known_pose_format

    pose = Pose.read((tmp_path / "a.pose").read_bytes())  # the community reader
    assert detect_known_pose_format(pose) == "holistic"
    assert pose.body.data.shape == (9, 1, 203, 3) and pose.body.fps == 24.0
    assert [c.name for c in pose.header.components][:2] == ["POSE_LANDMARKS", "FACE_LANDMARKS"]
    back = read_keypoints(tmp_path / "a.pose")
    np.testing.assert_allclose(back.values, seq.values, atol=1e-6)
    np.testing.assert_array_equal(back.mask, seq.mask)
    assert not list(tmp_path.glob(".*partial"))  # no temporary left behind


def test_full_holistic_pose_written_like_pose_format(tmp_path):
    landmarks = _holistic(num_frames=4)
    confidence = np.ones(landmarks.shape[:2], np.float32)
    confidence[1, 33 + 468 : 33 + 468 + 21] = 0  # left hand lost in frame 1
    landmarks[1, 33 + 468 : 33 + 468 + 21] = 0
    write_holistic_pose(tmp_path / "full.pose", landmarks, confidence, fps=25.0, width=320, height=240)
    from pose_format import Pose
    from pose_format.utils.generic import reduce_holistic

    pose = Pose.read((tmp_path / "full.pose").read_bytes())
    assert [len(c.points) for c in pose.header.components] == [33, 468, 21, 21]
    assert pose.header.components[0].points == list(BODY_POINTS)
    assert pose.header.components[2].points == list(HAND_POINTS)
    assert reduce_holistic(pose).body.data.shape[2] == 128 + 42 + 8  # pose-format's own tools accept it
    seq = read_keypoints(tmp_path / "full.pose")
    assert not seq.mask[1, LEFT_HAND].any() and seq.mask[0, LEFT_HAND].all()
    np.testing.assert_allclose(seq.values[0, FACE], landmarks[0, 33 + np.asarray(FACE_MESH_INDICES)], atol=1e-6)


def test_pose_storing_no_frame_rate_is_read_at_25_fps_with_a_warning(tmp_path, caplog):
    write_holistic_pose(tmp_path / "a.pose", _holistic(num_frames=4), np.ones((4, 543), np.float32), fps=30.0,
                        width=320, height=240)
    from pose_format import Pose

    pose = Pose.read((tmp_path / "a.pose").read_bytes())
    pose.body.fps = 0
    with open(tmp_path / "zero.pose", "wb") as file:
        pose.write(file)
    with caplog.at_level("WARNING"):
        assert read_keypoints(tmp_path / "zero.pose").fps == 25.0
    assert "stores a frame rate of 0: read as 25 fps" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        assert read_keypoints(tmp_path / "zero.pose", fps=30).fps == 30.0
        assert read_keypoints(tmp_path / "a.pose").fps == 30.0
    assert "frame rate" not in caplog.text


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.npz"
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        temporary.write_bytes(b"half")
        raise RuntimeError("killed mid-write")
    assert list(tmp_path.iterdir()) == []


def test_resample_keypoints():
    values, mask = fake_pose(num_frames=50, seed=2)
    seq = resample_keypoints(KeypointSequence(values, mask, fps=50.0), 25.0)
    assert seq.num_frames == 25 and seq.fps == 25.0
    np.testing.assert_array_equal(seq.values, values[::2])


def test_bad_files(tmp_path):
    with pytest.raises(KeypointFileError, match="not found"):
        read_keypoints(tmp_path / "nope.pose")
    (tmp_path / "bad.pose").write_bytes(b"\x00\x01garbage")
    with pytest.raises(KeypointFileError, match="pose-format"):
        read_keypoints(tmp_path / "bad.pose")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(KeypointFileError, match="Unsupported"):
        read_keypoints(tmp_path / "x.txt")
    np.save(tmp_path / "odd.npy", np.zeros((3, 100, 3)))
    with pytest.raises(KeypointFileError, match="Wrong joint count 100"):
        read_keypoints(tmp_path / "odd.npy")


def _write_kaggle(path, landmarks: np.ndarray) -> None:
    """Write ``(t, 543, 3)`` canonical landmarks in Kaggle's row order face, left_hand, pose, right_hand."""
    import pandas as pd

    parts = [("face", 33, 468), ("left_hand", 501, 21), ("pose", 0, 33), ("right_hand", 522, 21)]
    rows = []
    for frame in range(landmarks.shape[0]):
        for kind, start, size in parts:
            for index in range(size):
                x, y, z = landmarks[frame, start + index]
                rows.append((frame + 20, f"{frame + 20}-{kind}-{index}", kind, index, x, y, z))
    pd.DataFrame(rows, columns=["frame", "row_id", "type", "landmark_index", "x", "y", "z"]).to_parquet(path)


def test_kaggle_parquet_reorders_to_canonical(tmp_path):
    landmarks = _holistic(num_frames=3, seed=5)
    landmarks[1, 501:522] = np.nan  # no left hand in frame 1
    _write_kaggle(tmp_path / "k.parquet", landmarks)
    seq = read_keypoints(tmp_path / "k.parquet")
    expected = read_keypoints(_save(tmp_path / "k.npy", landmarks))
    np.testing.assert_allclose(seq.values, expected.values, rtol=1e-6)
    np.testing.assert_array_equal(seq.mask, expected.mask)
    assert seq.fps == 30.0 and read_keypoints(tmp_path / "k.parquet", fps=15).fps == 15


def _save(path, array):
    np.save(path, array)
    return path


def test_real_kaggle_gislr_parquet():
    import pandas as pd

    root = shared_data_path("gislr_asl_signs_subset")
    path = root / "train_landmark_files" / "2044" / "1363780437.parquet"
    table = pd.read_parquet(path)
    frames = table["frame"].nunique()
    seq = read_keypoints(path)
    assert seq.values.shape == (frames, 203, 3)
    # reference: the documented reshape (T, 543, 3) in file order face, left, pose, right -> canonical order
    raw = table[["x", "y", "z"]].to_numpy(np.float32).reshape(frames, 543, 3)
    canonical = np.concatenate([raw[:, 489:522], raw[:, :468], raw[:, 468:489], raw[:, 522:]], axis=1)
    np.testing.assert_allclose(seq.values[:, :25], np.nan_to_num(canonical[:, :25]), rtol=1e-6)
    left_missing = np.isnan(canonical[:, 501:522]).all(axis=(1, 2))
    np.testing.assert_array_equal(seq.mask[:, LEFT_HAND].any(axis=1), ~left_missing)
    assert seq.mask[:, [LEFT_SHOULDER, RIGHT_SHOULDER]].all()
    normalised, _ = seq.normalized()
    assert np.isfinite(normalised).all()


def test_real_pose_files_match_array_mapping():
    from pose_format import Pose
    from signllm.keypoint_layout import holistic_to_203

    folder = shared_data_path("signsuisse_holistic_poses_unlabeled")
    path = sorted(folder.glob("*.pose"))[0]
    pose = Pose.read(path.read_bytes())
    seq = read_keypoints(path)
    assert seq.fps == pose.body.fps and seq.num_frames == pose.body.data.shape[0]
    expected_values, expected_mask = holistic_to_203(np.asarray(pose.body.data.filled(0))[:, 0])
    np.testing.assert_allclose(seq.values, expected_values, atol=1e-6)
    np.testing.assert_array_equal(seq.mask, expected_mask)
    rates = seq.detection_rates()
    assert rates["body"] == 1.0 and 0.3 < rates["left_hand"] < 1.0  # real signing: hands come and go
    assert np.isfinite(seq.normalized()[0]).all()


def test_real_reduced_and_world_pose_files():
    full = read_keypoints(shared_data_path("pose_format_samples", "example_holistic_320x240.pose"))  # 576 points
    assert full.values.shape == (97, 203, 3) and (full.width, full.height) == (320, 240)
    reduced = read_keypoints(shared_data_path("pose_format_samples", "mediapipe.pose"))  # 178: body has 8 joints
    assert reduced.values.shape == (170, 203, 3)
    assert reduced.mask[:, [LEFT_SHOULDER, RIGHT_SHOULDER]].all() and not reduced.mask[:, 0].any()  # no nose
    assert reduced.mask[:, FACE].all()
    with pytest.raises(KeypointFileError, match="not a MediaPipe Holistic"):
        read_keypoints(shared_data_path("pose_format_samples", "openpose.pose"))
