import numpy as np
import pytest

from signllm import keypoint_layout as kl

PAPER_FACE_INDICES = [int(i) for i in (
    "0,7,10,13,14,17,21,33,37,39,40,46,52,53,54,55,58,61,63,65,66,67,70,78,80,81,82,84,87,88,91,93,95,103,105,107,"
    "109,127,132,133,136,144,145,146,148,149,150,152,153,154,155,157,158,159,160,161,162,163,172,173,176,178,181,185,"
    "191,234,246,249,251,263,267,269,270,276,282,283,284,285,288,291,293,295,296,297,300,308,310,311,312,314,317,318,"
    "321,323,324,332,334,336,338,356,361,362,365,373,374,375,377,378,379,380,381,382,384,385,386,387,388,389,390,397,"
    "398,400,402,405,409,415,454,466").split(",")]


def test_layout_sizes_and_face_indices():
    assert kl.NUM_JOINTS == 203
    assert list(kl.FACE_MESH_INDICES) == PAPER_FACE_INDICES
    assert len(kl.FACEMESH_CONTOURS) == 124
    assert len(kl.POSE_CONNECTIONS) == 35 and len(kl.HAND_CONNECTIONS) == 21
    assert len(kl.graph_roots(kl.FACE_CONNECTIONS, 128)) == 9  # lips x2, eyes x2, eyebrows x4, oval
    sizes = [s.stop - s.start for s in kl.ARTICULATOR_SLICES.values()]
    assert sizes == [33, 128, 21, 21]


@pytest.mark.parametrize("articulator", kl.ARTICULATORS)
def test_adjacency_partition(articulator):
    adjacency = kl.articulator_adjacency(articulator)
    num_joints = kl.ARTICULATOR_NUM_JOINTS[articulator]
    assert adjacency.shape == (3, num_joints, num_joints)
    np.testing.assert_array_equal(adjacency[0], np.eye(num_joints))
    for subset in (1, 2):  # column-normalised: every non-empty column sums to 1
        sums = adjacency[subset].sum(axis=0)
        assert np.allclose(sums[sums > 0], 1.0)
    # inward and outward are transposes of each other (before normalisation): same support
    np.testing.assert_array_equal(adjacency[1] > 0, (adjacency[2] > 0).T)
    # every edge appears exactly once, in one direction
    assert int((adjacency[1] > 0).sum()) == len(kl.ARTICULATOR_EDGES[articulator])


def test_hand_root_is_wrist():
    assert kl.graph_roots(kl.HAND_CONNECTIONS, 21) == [0]
    assert (4, 3) in kl.inward_edges(kl.HAND_CONNECTIONS, 21)  # thumb tip points towards the wrist


@pytest.mark.parametrize("num_points,face", [(543, 468), (553, 478), (576, 468), (586, 478)])
def test_holistic_to_203_selects_joints(num_points, face):
    landmarks = np.arange(num_points, dtype=np.float32)[None, :, None].repeat(3, axis=-1).repeat(2, axis=0) + 1
    values, mask = kl.holistic_to_203(landmarks)
    assert values.shape == (2, 203, 3) and mask.shape == (2, 203)
    assert values[0, 40, 0] == 33 + kl.FACE_MESH_INDICES[7] + 1  # face joint 7 of the 128
    assert values[0, 161, 0] == 33 + face + 1  # left wrist
    assert values[0, 182, 0] == 33 + face + 21 + 1  # right wrist
    assert not mask[:, 25:33].any() and (values[:, 25:33] == 0).all()  # legs hidden


def test_missing_landmarks_masked_not_invented():
    landmarks = np.random.default_rng(0).normal(size=(3, 543, 3)).astype(np.float32)
    landmarks[1, 501:522] = np.nan  # no left hand in frame 1 (Kaggle NaN style)
    landmarks[2, 522:543] = 0.0  # no right hand in frame 2 (pose-format zero style)
    values, mask = kl.holistic_to_203(landmarks)
    assert not mask[1, 161:182].any() and mask[0, 161:182].all()
    assert not mask[2, 182:203].any()
    assert np.isfinite(values).all() and (values[1, 161:182] == 0).all()


def test_wrong_joint_count_is_a_clear_error():
    with pytest.raises(ValueError, match="Unsupported number of holistic landmarks"):
        kl.holistic_to_203(np.zeros((4, 200, 3)))


def test_normalisation_centre_and_scale(fake_pose_factory):
    values, mask = fake_pose_factory(8)
    values = values * 3.0 + 7.0
    values[~mask] = 0
    normalised, _ = kl.normalize_keypoints(values, mask)
    shoulder_mid = (normalised[:, 11] + normalised[:, 12]) / 2
    np.testing.assert_allclose(shoulder_mid.mean(0), 0.0, atol=1e-5)
    width = np.linalg.norm(normalised[:, 11] - normalised[:, 12], axis=-1).mean()
    assert width == pytest.approx(1.0, abs=1e-5)
    assert (normalised[~mask] == 0).all()


def test_no_person_is_a_clear_error():
    values = np.zeros((5, 203, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="no person"):
        kl.normalize_keypoints(*kl.mask_missing(values))
