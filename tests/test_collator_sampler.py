"""SignLLMDataCollator (padding, masks, mixed tasks) and MultitaskSampler (ratio, determinism, DDP sharding)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from conftest import fake_pose
from signllm.train.slt.collator import SignLLMDataCollator
from signllm.train.slt.multitask_sampler import MultitaskSampler, slt_counts_per_batch


def _feature(frames: int, task: int, prompt: int, target: int, lip: bool = False, seed: int = 0) -> dict:
    pose, _ = fake_pose(frames, seed=seed)
    feature = {
        "pose_values": pose,
        "pose_attention_mask": np.ones(frames, dtype=np.int64),
        "input_ids": list(range(3, 3 + prompt)),
        "labels": list(range(10, 10 + target)),
        "task_id": task,
    }
    if lip:
        feature["lip_values"] = np.random.default_rng(seed).normal(size=(frames, 24)).astype(np.float32)
    return feature


def test_collator_pads_and_masks_a_mixed_batch():
    features = [_feature(12, 0, 5, 7, lip=True), _feature(9, 1, 8, 8, lip=False, seed=1)]
    batch = SignLLMDataCollator()(features)
    assert set(batch) == {"pose_values", "pose_attention_mask", "lip_values", "lip_attention_mask", "input_ids",
                          "attention_mask", "labels", "task_ids"}  # fmt: skip
    assert batch["pose_values"].shape == (2, 12, 203, 3)
    assert batch["pose_attention_mask"].tolist() == [[1] * 12, [1] * 9 + [0] * 3]
    assert torch.equal(batch["pose_values"][1, :9], torch.from_numpy(features[1]["pose_values"]))
    assert batch["pose_values"][1, 9:].abs().sum() == 0
    # the SSA sample has no lip features: zero-filled and fully masked, the SLT one keeps its values
    assert batch["lip_values"].shape == (2, 12, 24)
    assert batch["lip_attention_mask"][1].sum() == 0 and batch["lip_attention_mask"][0].sum() == 12
    assert batch["input_ids"].shape == (2, 8) and batch["input_ids"][0, 5:].tolist() == [0, 0, 0]
    assert batch["attention_mask"].tolist() == [[1] * 5 + [0] * 3, [1] * 8]
    assert batch["labels"][0].tolist() == list(range(10, 17)) + [-100]
    assert batch["task_ids"].tolist() == [0, 1]


def test_collator_fixed_frames_task_names_and_no_lip():
    features = [_feature(6, 0, 2, 2), {**_feature(4, 0, 3, 2), "task": "ssa"}]
    del features[1]["task_id"]
    batch = SignLLMDataCollator(num_frames=10, pad_to_multiple_of=4)(features)
    assert "lip_values" not in batch
    assert batch["pose_values"].shape == (2, 10, 203, 3)
    assert batch["input_ids"].shape == (2, 4) and batch["labels"].shape == (2, 4)
    assert batch["task_ids"].tolist() == [0, 1]


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda f: f.update(pose_values=np.full((4, 203, 3), np.nan, np.float32)), "NaN"),
        (lambda f: f.update(pose_values=np.zeros((4, 203), np.float32)), "must be"),
        (lambda f: f.update(pose_attention_mask=np.ones(3)), "pose_attention_mask"),
        (lambda f: f.update(task_id=7), "task_id"),
        (lambda f: f.pop("task_id"), "no task"),
        (lambda f: f.update(lip_values=np.zeros((2, 24), np.float32)), "lip_values"),
        (lambda f: f.update(input_ids=[]), "empty"),
    ],
)
def test_collator_rejects_bad_features(mutate, message):
    feature = _feature(4, 0, 2, 2)
    mutate(feature)
    with pytest.raises(ValueError, match=message):
        SignLLMDataCollator()([feature])


def test_collator_rejects_empty_and_too_long():
    with pytest.raises(ValueError, match="empty"):
        SignLLMDataCollator()([])
    with pytest.raises(ValueError, match="num_frames"):
        SignLLMDataCollator(num_frames=3)([_feature(4, 0, 2, 2)])


def test_slt_counts_track_the_ratio_exactly():
    counts = slt_counts_per_batch(100, 4, 0.8)
    assert set(counts) <= {3, 4} and sum(counts) == 320
    assert slt_counts_per_batch(3, 4, 1.0) == [4, 4, 4]
    assert slt_counts_per_batch(3, 5, 0.0) == [0, 0, 0]


def test_multitask_sampler_mixes_every_batch_at_80_20():
    tasks = [0] * 50 + [1] * 7  # SSA pool smaller than what an epoch draws: it cycles
    sampler = MultitaskSampler(tasks, batch_size=5, slt_fraction=0.8, num_samples=100, seed=3)
    order = list(sampler)
    assert len(order) == len(sampler) == 100
    for start in range(0, 100, 5):
        batch_tasks = Counter(tasks[i] for i in order[start : start + 5])
        assert batch_tasks == Counter({0: 4, 1: 1})
    # every SLT sample is used before any repeats (pool cycling without replacement)
    slt = [i for i in order if tasks[i] == 0]
    assert len(set(slt[:50])) == 50


def test_multitask_sampler_is_deterministic_per_epoch():
    tasks = [0, 1] * 20
    a, b = MultitaskSampler(tasks, 4, 0.75, seed=1), MultitaskSampler(tasks, 4, 0.75, seed=1)
    assert list(a) == list(b)
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first
    b.set_epoch(1)
    assert list(a) == list(b)
    assert list(MultitaskSampler(tasks, 4, 0.75, seed=2)) != first


def test_multitask_sampler_slt_only_and_errors():
    tasks = [0] * 6 + [1] * 6
    order = list(MultitaskSampler(tasks, 4, 1.0))
    assert all(tasks[i] == 0 for i in order) and len(order) == 8
    with pytest.raises(ValueError, match="has none"):
        MultitaskSampler([0, 0, 0], 2, 0.8)
    with pytest.raises(ValueError, match="unknown task"):
        MultitaskSampler([0, 5], 2, 0.8)
    with pytest.raises(ValueError, match="slt_fraction"):
        MultitaskSampler([0, 1], 2, 1.5)


def test_multitask_sampler_batches_survive_ddp_sharding():
    """accelerate gives whole batches to each process: each process's batches keep the mix."""
    from accelerate.data_loader import BatchSamplerShard
    from torch.utils.data import BatchSampler

    tasks = [0] * 40 + [1] * 10
    sampler = MultitaskSampler(tasks, batch_size=5, slt_fraction=0.8, seed=0)
    for rank in range(2):
        shard = BatchSamplerShard(BatchSampler(sampler, 5, drop_last=False), num_processes=2, process_index=rank)
        for batch in shard:
            assert Counter(tasks[i] for i in batch) == Counter({0: 4, 1: 1})


def test_collator_keeps_joint_masks_and_mouth_crops():
    with_mask = {**_feature(5, 0, 2, 2), "pose_joint_mask": np.zeros((5, 203), dtype=bool)}
    with_mask["lip_values"] = np.zeros((5, 1, 88, 88), np.float32)
    without = _feature(3, 0, 2, 2)
    batch = SignLLMDataCollator()([with_mask, without])
    assert batch["pose_joint_mask"].shape == (2, 5, 203)
    assert not batch["pose_joint_mask"][0].any()
    assert batch["pose_joint_mask"][1, :3].all() and not batch["pose_joint_mask"][1, 3:].any()
    assert batch["lip_values"].shape == (2, 5, 1, 88, 88)
