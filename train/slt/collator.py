"""Batch mixed SLT and SSA samples into padded tensors for ``SignLLMForConditionalGeneration``.

Axis legend: b batch, t frames, k keypoints (203), c coordinates (3), f lip-feature width (768 for Auto-AVSR),
l prompt tokens, m target tokens.

A feature (one sample, as the processor / dataset produce it) is a dict with

* ``pose_values`` ``(t, 203, 3)`` float and ``pose_attention_mask`` ``(t,)`` (1 = frame present),
* optional ``pose_joint_mask`` ``(t, 203)`` bool (per-joint validity, as ``SignLLMProcessor`` returns it),
* optional ``lip_values`` ``(t, f)`` features or ``(t, 1, 88, 88)`` mouth crops, with optional
  ``lip_attention_mask`` ``(t,)`` (defaults to all ones),
* ``input_ids`` ``list[int]`` (the prompt; optional ``attention_mask``), ``labels`` ``list[int]`` (the target),
* ``task_id`` ``int`` (0 = slt, 1 = ssa; ``task_ids`` or a ``task`` name are accepted too).

Arrays may be numpy arrays, torch tensors or nested lists (what ``datasets`` hands back).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from signllm.configuration_signllm import TASK_TO_ID


def _as_float_tensor(value: Any, name: str, index: int) -> torch.Tensor:
    tensor = torch.as_tensor(np.asarray(value, dtype=np.float32))
    if not torch.isfinite(tensor).all():
        raise ValueError(f"feature {index}: {name} contains NaN or inf; mask missing keypoints instead (mask_missing).")
    return tensor


def _task_id(feature: Mapping[str, Any], index: int) -> int:
    for key in ("task_id", "task_ids"):
        if key in feature:
            value = feature[key]
            value = int(value.item() if hasattr(value, "item") else value)
            break
    else:
        if "task" not in feature:
            raise ValueError(f"feature {index} has no task: give task_id (0=slt, 1=ssa) or task ('slt'/'ssa').")
        if feature["task"] not in TASK_TO_ID:
            raise ValueError(f"feature {index}: task {feature['task']!r} is not one of {sorted(TASK_TO_ID)}.")
        value = TASK_TO_ID[feature["task"]]
    if value not in TASK_TO_ID.values():
        raise ValueError(f"feature {index}: task_id {value} is not one of {sorted(TASK_TO_ID.values())}.")
    return value


def _pad_tokens(rows: list[list[int]], pad_value: int, multiple: int | None) -> torch.Tensor:
    length = max(len(row) for row in rows)
    if multiple:
        length = -(-length // multiple) * multiple
    out = torch.full((len(rows), length), pad_value, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.as_tensor(row, dtype=torch.long)
    return out


@dataclass
class SignLLMDataCollator:
    """Pad a list of features into a batch; the output keys are exactly the model's forward arguments.

    Args:
        pad_token_id (`int`, *optional*, defaults to 0): prompt padding (T5's pad id).
        label_pad_token_id (`int`, *optional*, defaults to -100): target padding, ignored by the loss.
        num_frames (`int`, *optional*): pad (never crop) every clip to this many frames, so the number of visual
            tokens is the same in every batch (500 for the paper preset); `None` pads to the longest clip.
        pad_to_multiple_of (`int`, *optional*): round the token lengths up (tensor-core friendly on GPUs).
        return_sample_index (`bool`, *optional*, defaults to `False`): also return the features' ``sample_index`` as
            ``sample_index (b,)`` (bookkeeping for data-order checks; [`SignLLMSeq2SeqTrainer`] removes it).

    Returns (from `__call__`): `pose_values (b, t, 203, 3)` float32, `pose_attention_mask (b, t)` long,
    [`pose_joint_mask (b, t, 203)` bool], [`lip_values (b, t, f)` or `(b, t, 1, 88, 88)`, `lip_attention_mask
    (b, t)`], `input_ids (b, l)`, `attention_mask (b, l)`, [`labels (b, m)` with -100 padding], `task_ids (b,)` long. Missing lip features in some samples of a batch
    are zero-filled and masked out, so SLT samples without lips can share a batch with samples that have them.
    """

    pad_token_id: int = 0
    label_pad_token_id: int = -100
    num_frames: int | None = None
    pad_to_multiple_of: int | None = None
    return_sample_index: bool = False

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        if len(features) == 0:
            raise ValueError("SignLLMDataCollator got an empty list of features.")
        poses, pose_masks, joint_masks, lips, lip_masks = [], [], [], [], []
        for i, feature in enumerate(features):
            if "pose_values" not in feature or "input_ids" not in feature:
                raise ValueError(f"feature {i} needs 'pose_values' and 'input_ids'; got keys {sorted(feature)}.")
            pose = _as_float_tensor(feature["pose_values"], "pose_values", i)
            if pose.ndim != 3 or pose.shape[0] == 0:
                raise ValueError(f"feature {i}: pose_values must be (t, k, c) with t > 0, got {tuple(pose.shape)}.")
            mask = torch.as_tensor(np.asarray(feature.get("pose_attention_mask", np.ones(len(pose))), dtype=np.int64))
            if mask.shape != (pose.shape[0],):
                raise ValueError(f"feature {i}: pose_attention_mask {tuple(mask.shape)} != ({pose.shape[0]},).")
            poses.append(pose)
            pose_masks.append(mask)
            joint_mask = feature.get("pose_joint_mask")
            if joint_mask is not None:
                joint_mask = torch.as_tensor(np.asarray(joint_mask, dtype=bool))
                if joint_mask.shape != pose.shape[:2]:
                    raise ValueError(
                        f"feature {i}: pose_joint_mask {tuple(joint_mask.shape)} != {tuple(pose.shape[:2])}."
                    )
            joint_masks.append(joint_mask)
            lip = feature.get("lip_values")
            if lip is not None:
                lip = _as_float_tensor(lip, "lip_values", i)
                if lip.ndim not in (2, 4) or lip.shape[0] != pose.shape[0]:
                    raise ValueError(
                        f"feature {i}: lip_values must be (t, f) or (t, 1, 88, 88) with the pose's t={pose.shape[0]}, "
                        f"got {tuple(lip.shape)}."
                    )
                lip_mask = feature.get("lip_attention_mask", np.ones(len(lip)))
                lip_masks.append(torch.as_tensor(np.asarray(lip_mask, dtype=np.int64)))
            else:
                lip_masks.append(None)
            lips.append(lip)

        keypoint_shape = poses[0].shape[1:]
        if any(p.shape[1:] != keypoint_shape for p in poses):
            raise ValueError(f"pose_values disagree on (k, c): {sorted({tuple(p.shape[1:]) for p in poses})}.")
        longest = max(p.shape[0] for p in poses)
        if self.num_frames is not None and longest > self.num_frames:
            raise ValueError(f"a clip has {longest} frames, more than num_frames={self.num_frames}; window it first.")
        frames = self.num_frames or longest
        batch = len(features)

        # step 1: pose frames, zero-padded at the end and masked
        pose_values = torch.zeros((batch, frames, *keypoint_shape), dtype=torch.float32)
        pose_attention_mask = torch.zeros((batch, frames), dtype=torch.long)
        for i, (pose, mask) in enumerate(zip(poses, pose_masks)):
            pose_values[i, : len(pose)] = pose
            pose_attention_mask[i, : len(mask)] = mask
        out: dict[str, torch.Tensor] = {"pose_values": pose_values, "pose_attention_mask": pose_attention_mask}
        if any(m is not None for m in joint_masks):  # samples without one: every joint of a present frame is valid
            pose_joint_mask = torch.zeros((batch, frames, keypoint_shape[0]), dtype=torch.bool)
            for i, (joint_mask, mask) in enumerate(zip(joint_masks, pose_masks)):
                pose_joint_mask[i, : len(mask)] = joint_mask if joint_mask is not None else mask.bool()[:, None]
            out["pose_joint_mask"] = pose_joint_mask

        # step 2: lip features (only when at least one sample has them)
        present = [lip for lip in lips if lip is not None]
        if present:
            width = present[0].shape[1:]
            if any(lip.shape[1:] != width for lip in present):
                raise ValueError(
                    f"lip_values disagree on their shape: {sorted({tuple(l.shape[1:]) for l in present})}."
                )
            lip_values = torch.zeros((batch, frames, *width), dtype=torch.float32)
            lip_attention_mask = torch.zeros((batch, frames), dtype=torch.long)
            for i, (lip, mask) in enumerate(zip(lips, lip_masks)):
                if lip is not None:
                    lip_values[i, : len(lip)] = lip
                    lip_attention_mask[i, : len(mask)] = mask
            out["lip_values"] = lip_values
            out["lip_attention_mask"] = lip_attention_mask

        # step 3: prompt tokens and targets
        input_ids = [list(map(int, f["input_ids"])) for f in features]
        if any(len(ids) == 0 for ids in input_ids):
            raise ValueError("a feature has an empty input_ids prompt.")
        out["input_ids"] = _pad_tokens(input_ids, self.pad_token_id, self.pad_to_multiple_of)
        masks = [list(map(int, f.get("attention_mask", [1] * len(ids)))) for f, ids in zip(features, input_ids)]
        out["attention_mask"] = _pad_tokens(masks, 0, self.pad_to_multiple_of)
        has_labels = ["labels" in f and f["labels"] is not None for f in features]
        if any(has_labels):
            if not all(has_labels):
                raise ValueError("either every feature in a batch has labels or none does.")
            out["labels"] = _pad_tokens(
                [list(map(int, f["labels"])) for f in features], self.label_pad_token_id, self.pad_to_multiple_of
            )
        out["task_ids"] = torch.tensor([_task_id(f, i) for i, f in enumerate(features)], dtype=torch.long)
        if self.return_sample_index:
            if any("sample_index" not in f for f in features):
                raise ValueError("return_sample_index=True but a feature has no 'sample_index'.")
            out["sample_index"] = torch.tensor([int(f["sample_index"]) for f in features], dtype=torch.long)
        return out
