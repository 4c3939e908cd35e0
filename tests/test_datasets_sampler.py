"""SLT / SSA window construction, task mixing and ISLR clips."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import fake_pose, shared_data_path
from signllm.datasets_scripts.windows import (
    IslrClipDataset,
    SignWindowDataset,
    StreamingWindowDataset,
    WindowConfig,
    choose_task,
    cut_window,
    frames_in_window,
    iter_window_samples,
    slt_window_start,
    ssa_window_start,
)
from signllm.processing.keypoint_io import KeypointSequence, write_npz


@pytest.fixture
def episode(tmp_path):
    """A 300-frame (12 s) episode whose x coordinate of joint 0 encodes the frame index."""
    values, mask = fake_pose(300, seed=1)
    values[:, 0, 0] = np.arange(300)
    path = tmp_path / "ep.npz"
    write_npz(path, KeypointSequence(values=values, mask=mask, fps=25.0))
    return str(path), values, mask


def row(path, start, end, prior=None, **extra):
    data = {
        "sample_id": f"ep/{start}",
        "episode_id": "ep",
        "text": "a sentence",
        "start": start,
        "end": end,
        "prior_start": prior[0] if prior else None,
        "prior_end": prior[1] if prior else None,
        "keypoints_path": path,
        "keypoints_offset": 0.0,
    }
    return {**data, **extra}


def test_window_math():
    assert slt_window_start(100, 199, 500) == -100  # centred on frame 149.5 -> 150
    assert frames_in_window(100, 199, -100, 500) == (200, 299)
    assert frames_in_window(-50, 900, 0, 500) == (0, 499)  # clipped
    # centre far from the span: moved just enough to contain it
    assert ssa_window_start(1000, 1100, centre_frame=0, num_frames=500) == 1100 - 499
    assert ssa_window_start(1000, 1100, centre_frame=5000, num_frames=500) == 1000
    assert ssa_window_start(1000, 1100, centre_frame=1050, num_frames=500) == 800
    # a span longer than the window falls back to the centred (SLT) window
    assert ssa_window_start(0, 600, centre_frame=0, num_frames=500) == slt_window_start(0, 600, 500)


def test_cut_window_pads_and_masks():
    array = np.arange(10, dtype=np.float32)[:, None] + 1
    window, valid = cut_window(array, -3, 6)
    assert window[:, 0].tolist() == [0, 0, 0, 1, 2, 3] and valid.tolist() == [False] * 3 + [True] * 3
    window, valid = cut_window(array, 8, 4)
    assert window[:, 0].tolist() == [9, 10, 0, 0] and valid.tolist() == [True, True, False, False]
    window, valid = cut_window(array, 20, 3)
    assert not valid.any() and not window.any()


def test_slt_sample_centred_and_padded(episode):
    path, values, mask = episode
    config = WindowConfig(ssa_ratio=0.0)
    sample = SignWindowDataset([row(path, 4.0, 6.0)], config)[0]
    assert sample["task"] == "slt"
    assert sample["pose_values"].shape == (500, 203, 3) and sample["pose_mask"].shape == (500, 203)
    start = sample["window_start"]
    assert start == 125 - 250 and sample["window_end"] == start + 500  # centre frame 124.5 rounds half up
    valid = sample["frame_mask"]
    assert valid.sum() == 300 and not valid[:-start].any()  # frames before the episode are padding
    np.testing.assert_array_equal(sample["pose_values"][-start : -start + 300], values)
    np.testing.assert_array_equal(sample["pose_mask"][-start : -start + 300], mask)
    assert not sample["pose_mask"][~valid].any()
    first, last = sample["target_frames"]
    assert sample["pose_values"][first, 0, 0] == 100 and sample["pose_values"][last, 0, 0] == 149
    assert sample["prior_frames"] is None
    assert sample["pose"] is sample["pose_values"] and sample["target"] == sample["target_frames"]


def test_ssa_target_inside_window_for_any_shift(episode):
    path, _, _ = episode
    config = WindowConfig(num_frames=100, ssa_ratio=1.0, ssa_shift_seconds=10.0)
    rows = [row(path, 5.0, 7.0, prior=(3.0 + k * 0.1, 5.0 + k * 0.1)) for k in range(40)]
    dataset = SignWindowDataset(rows, config)
    starts = set()
    for i in range(len(dataset)):
        sample = dataset[i]
        assert sample["task"] == "ssa"
        first, last = sample["target_frames"]
        assert 0 <= first <= last <= 99
        assert sample["pose_values"][first, 0, 0] == 125 and sample["pose_values"][last, 0, 0] == 174
        assert sample["prior_frames"] is not None
        starts.add(sample["window_start"])
    assert len(starts) >= 4  # the random shift moves the window (within the range that keeps the target)


def test_ssa_window_centred_on_prior_without_shift(episode):
    path, _, _ = episode
    config = WindowConfig(num_frames=500, ssa_ratio=1.0, ssa_shift_seconds=0.0)
    sample = SignWindowDataset([row(path, 5.0, 7.0, prior=(4.0, 6.0))], config)[0]
    assert sample["window_start"] == 125 - 250
    assert sample["prior_frames"] == (225, 274) and sample["target_frames"] == (250, 299)


def test_task_mix_ratio_and_determinism(episode):
    path, _, _ = episode
    config = WindowConfig(ssa_ratio=0.2, seed=3)
    rows = [row(path, 1.0, 2.0, prior=(1.0, 2.0))] * 2000
    tasks = [choose_task(r, np.random.default_rng((3, 0, i)), config) for i, r in enumerate(rows)]
    assert 0.17 < tasks.count("ssa") / len(tasks) < 0.23
    dataset = SignWindowDataset(rows[:30], config)
    first = [dataset[i]["task"] for i in range(30)]
    assert first == [dataset[i]["task"] for i in range(30)] == tasks[:30]
    dataset.set_epoch(1)
    assert [dataset[i]["task"] for i in range(30)] != first


def test_rows_without_prior(episode):
    path, _, _ = episode
    rows = [row(path, 1.0, 2.0)] * 20
    skip = SignWindowDataset(rows, WindowConfig(ssa_ratio=1.0))
    assert {skip[i]["task"] for i in range(20)} == {"slt"}
    ground_truth = SignWindowDataset(rows, WindowConfig(ssa_ratio=1.0, ssa_without_prior="ground_truth"))
    sample = ground_truth[0]
    assert sample["task"] == "ssa" and sample["prior_frames"] is None


def test_keypoint_offset_resampling_lips_and_normalisation(tmp_path):
    values, mask = fake_pose(100, seed=2)  # 2 s at 50 fps: resampled to 25 fps on load
    values[:, 0, 0] = np.arange(100)
    path = tmp_path / "clip.npz"
    write_npz(path, KeypointSequence(values=values, mask=mask, fps=50.0))
    lip = np.arange(50, dtype=np.float32)[:, None].repeat(8, axis=1)
    np.save(tmp_path / "clip.npy", lip)
    clip_row = row(str(path), 30.6, 31.6, keypoints_offset=30.0, lip_path=str(tmp_path / "clip.npy"))
    sample = SignWindowDataset([clip_row], WindowConfig(num_frames=50, ssa_ratio=0.0))[0]
    first, last = sample["target_frames"]
    # frames 15..39 of the 25 fps timeline are frames 30..78 of the 50 fps file
    assert sample["pose_values"][first, 0, 0] == 30 and sample["pose_values"][last, 0, 0] == 78
    assert sample["lip_values"].shape == (50, 8) and sample["lip_values"][first, 0] == 15
    normalised = SignWindowDataset([clip_row], WindowConfig(num_frames=50, ssa_ratio=0.0, normalize=True))[0]
    shoulders = normalised["pose_values"][normalised["frame_mask"]][:, [11, 12], 0]
    assert len(shoulders) == normalised["frame_mask"].sum() > 40
    np.testing.assert_allclose(shoulders, [[0.5, -0.5]] * len(shoulders), atol=1e-5)


def test_missing_keypoints_is_a_clear_error():
    with pytest.raises(ValueError, match="no keypoints_path"):
        SignWindowDataset([{"sample_id": "x", "start": 0.0, "end": 1.0, "keypoints_path": None}])[0]
    with pytest.raises(ValueError, match="ssa_ratio"):
        WindowConfig(ssa_ratio=1.5)


def test_streaming_samples_match_map_style(episode):
    path, _, _ = episode
    rows = [row(path, 1.0 + k, 2.0 + k, prior=(1.0 + k, 2.5 + k)) for k in range(6)]
    config = WindowConfig(num_frames=100, ssa_ratio=0.5, seed=7)
    streamed = list(iter_window_samples(iter(rows), config))
    mapped = SignWindowDataset(rows, config)
    assert [(s["task"], s["window_start"]) for s in streamed] == [
        (mapped[i]["task"], mapped[i]["window_start"]) for i in range(6)
    ]


def test_islr_clips(episode, tmp_path):
    path, _values, _ = episode
    rows = [
        {
            "sample_id": "a",
            "label": "hello",
            "label_id": 3,
            "keypoints_path": path,
            "start": 2.0,
            "end": 3.0,
            "keypoints_offset": 0.0,
        },
        {"sample_id": "b", "label": "bye", "label_id": 4, "keypoints_path": path, "start": None, "end": None},
    ]
    whole = IslrClipDataset(rows)
    assert whole[0]["pose_values"].shape == (25, 203, 3) and whole[0]["pose_values"][0, 0, 0] == 50
    assert whole[1]["pose_values"].shape == (300, 203, 3) and whole[1]["label_id"] == 4
    fixed = IslrClipDataset(rows, num_frames=24)
    sample = fixed[0]
    assert sample["pose_values"].shape == (24, 203, 3) and sample["frame_mask"].all()
    assert sample["pose_values"][12, 0, 0] == 62  # centred on the clip (frames 50..75)


def test_islr_clip_from_real_kaggle_parquet():
    root = shared_data_path("gislr_asl_signs_subset")
    path = root / "train_landmark_files" / "2044" / "1363780437.parquet"
    sample = IslrClipDataset(
        [
            {
                "sample_id": "k",
                "label": "hello",
                "label_id": 113,
                "keypoints_path": str(path),
                "start": None,
                "end": None,
            }
        ],
        num_frames=24,
        normalize=True,
    )[0]
    assert sample["pose_values"].shape == (24, 203, 3) and np.isfinite(sample["pose_values"]).all()
    assert sample["pose_mask"][sample["frame_mask"]][:, 11].all()  # shoulders found in real frames


def test_streaming_torch_dataset_shares_rows_across_workers(episode, monkeypatch):
    import torch

    path, _, _ = episode
    rows = [row(path, 1.0 + k, 2.0 + k, prior=(1.0 + k, 2.5 + k)) for k in range(7)]
    config = WindowConfig(num_frames=100, ssa_ratio=0.5, seed=1)
    single = [(s["sample_id"], s["task"], s["window_start"]) for s in StreamingWindowDataset(rows, config)]
    assert len(single) == 7
    split = []
    for worker in range(3):
        info = type("Info", (), {"id": worker, "num_workers": 3})()
        monkeypatch.setattr(torch.utils.data, "get_worker_info", lambda info=info: info)
        split += [(s["sample_id"], s["task"], s["window_start"]) for s in StreamingWindowDataset(rows, config)]
    assert sorted(split) == sorted(single)  # same samples whatever the number of workers
    loader = torch.utils.data.DataLoader(SignWindowDataset(rows, config), batch_size=None, collate_fn=lambda s: s)
    monkeypatch.undo()
    assert [s["sample_id"] for s in loader] == [r["sample_id"] for r in rows]
