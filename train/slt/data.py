"""Ready-made SLT / SSA windows → model features (the collator's input), and prepared corpora → windows.

The windows (500 frames around a sentence, SSA targets and audio-aligned priors in window frames) are cut by
``signllm.datasets_scripts.windows.SignWindowDataset``; this module turns each one into a feature dict and decides
whether an SSA prompt shows its prior.

A window is a mapping with

* ``pose`` ``(n, 203, 3)`` raw keypoints, optional ``pose_mask`` ``(n, 203)`` and ``frame_mask`` ``(n,)``
  (False on frames padded outside the episode),
* optional ``lip`` ``(n, f)`` features with optional ``lip_mask`` ``(n,)``,
* ``text`` (SLT: the target sentence; SSA: the subtitle to align), ``task`` (``"slt"`` / ``"ssa"``),
* SSA: ``target`` ``(start, end)`` frames in the window, optional ``prior`` ``(start, end)``.

Keypoints are read by the one keypoint path (``signllm.keypoint_reading``, through the sampler) and cleaned and
shoulder-normalised here, once per window, by the processor's own ``clean_keypoints`` (architecture §2.1: the same
plausibility mask and normalisation as ``translate``, ``align`` and the pipeline); a window with no visible person
becomes a fully masked window instead of stopping a long training run.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from signllm.configuration_signllm import TASK_TO_ID, TASKS
from signllm.keypoint_layout import normalize_keypoints
from signllm.keypoint_reading import describe_extractor, extractor_mismatch

logger = logging.getLogger(__name__)


def show_prior(seed: int, epoch: int, index: int, probability: float) -> bool:
    """Whether the SSA prompt of item ``index`` shows its prior this epoch [paper: probability 0.5].

    A hash of ``(seed, epoch, index)`` rather than a global RNG: the decision is the same in every dataloader
    worker and after resuming, and changes from epoch to epoch.
    """
    if probability <= 0:
        return False
    if probability >= 1:
        return True
    digest = hashlib.blake2b(f"{seed}:{epoch}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2**64 < probability


def _task_name(window: Mapping[str, Any], index: int) -> str:
    task = window.get("task")
    if task is None and "task_id" in window:
        task = TASKS[int(window["task_id"])]
    if task not in TASK_TO_ID:
        raise ValueError(f"window {index}: task {task!r} is not one of {list(TASKS)}.")
    return task


def encode_pose(window: Mapping[str, Any], processor: Any = None) -> dict[str, np.ndarray]:
    """Normalised ``pose_values (n, 203, 3)``, ``pose_joint_mask (n, 203)``, ``pose_attention_mask (n,)``.

    With a ``processor``, its ``clean_keypoints`` (implausible joints masked, normalisation as configured) — the
    inference path's own; without one, ``normalize_keypoints`` with its defaults.
    """
    values = np.asarray(window["pose"], dtype=np.float32)
    if values.ndim != 3 or values.shape[0] == 0:
        raise ValueError(f"window pose must be (frames, 203, 3), got {values.shape}.")
    joint_mask = window.get("pose_mask")
    joint_mask = np.any(values != 0, axis=-1) if joint_mask is None else np.asarray(joint_mask, dtype=bool)
    frame_mask = window.get("frame_mask")
    frame_mask = np.ones(len(values), dtype=bool) if frame_mask is None else np.asarray(frame_mask, dtype=bool)
    joint_mask = joint_mask & frame_mask[:, None]
    try:
        if processor is not None and hasattr(processor, "clean_keypoints"):
            values, joint_mask = processor.clean_keypoints(values, joint_mask, window.get("sample_id"))
        else:
            values, joint_mask = normalize_keypoints(values, joint_mask)
    except ValueError:  # nobody in view for the whole window: keep it, fully masked
        logger.warning("window %s has no frame with both shoulders: masked out", window.get("sample_id"))
        values, joint_mask = np.zeros_like(values), np.zeros_like(joint_mask)
        frame_mask = np.zeros_like(frame_mask)
    return {
        "pose_values": np.asarray(values, dtype=np.float32),
        "pose_joint_mask": np.asarray(joint_mask, dtype=bool),
        "pose_attention_mask": frame_mask.astype(np.int64),
    }


class SignLLMWindowDataset(torch.utils.data.Dataset):
    """Map-style dataset of encoded windows for the Trainer.

    Args:
        windows (`Sequence[Mapping]`): ready-made windows (see module docstring), indexable and lazy
            (e.g. a ``SignWindowDataset`` view that loads keypoints on access).
        processor (`SignLLMProcessor`): builds prompts and tokenises targets.
        task_ids (`Sequence[int]`, *optional*): task of every window, known without loading it (0 slt, 1 ssa);
            read from the windows when omitted (in-memory windows).
        ssa_prior_probability (`float`, *optional*, defaults to 0.5): chance an SSA prompt includes the prior when
            the window has one [paper].
        seed (`int`, *optional*, defaults to 0): seed of the prior decisions.

    Items: ``pose_values (n, 203, 3)``, ``pose_attention_mask (n,)``, ``pose_joint_mask (n, 203)``, [``lip_values``,
    ``lip_attention_mask``], ``input_ids``, ``attention_mask``, ``labels`` (lists of ids), ``task_id``,
    ``sample_index`` (position in this dataset, for data-order checks).
    """

    def __init__(
        self,
        windows: Sequence[Mapping[str, Any]],
        processor: Any,
        task_ids: Sequence[int] | None = None,
        ssa_prior_probability: float = 0.5,
        seed: int = 0,
    ):
        if task_ids is None:
            task_ids = [TASK_TO_ID[_task_name(w, i)] for i, w in enumerate(windows)]
        if len(task_ids) != len(windows):
            raise ValueError(f"{len(task_ids)} task ids for {len(windows)} windows.")
        self.windows = windows
        self.task_ids = [int(t) for t in task_ids]
        self.processor = processor
        self.ssa_prior_probability = ssa_prior_probability
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Prior decisions (and the windows' own random shifts) change per epoch."""
        self.epoch = int(epoch)
        if hasattr(self.windows, "set_epoch"):
            self.windows.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        window = self.windows[index]
        task = TASKS[self.task_ids[index]]
        feature: dict[str, Any] = encode_pose(window, self.processor)
        lip = window.get("lip")
        if lip is not None:
            feature["lip_values"] = np.asarray(lip, dtype=np.float32)
            lip_mask = window.get("lip_mask")
            feature["lip_attention_mask"] = (np.ones(len(lip)) if lip_mask is None else np.asarray(lip_mask)).astype(
                np.int64
            )
        processor = self.processor
        if task == "slt":
            prompt, target = processor.build_prompt("slt"), str(window["text"])
        else:
            prior = window.get("prior")
            show = prior is not None and show_prior(self.seed, self.epoch, index, self.ssa_prior_probability)
            prompt = processor.build_prompt("ssa", window["text"], tuple(prior) if show else None)
            target = processor.format_ssa_target(*window["target"])
        tokenizer = processor.tokenizer
        feature["input_ids"] = tokenizer(prompt)["input_ids"]
        feature["attention_mask"] = [1] * len(feature["input_ids"])
        feature["labels"] = tokenizer(text_target=target, truncation=True, max_length=processor.max_target_length)[
            "input_ids"
        ]
        feature["task_id"] = TASK_TO_ID[task]
        feature["sample_index"] = index
        return feature


class _TaskView(Sequence):
    """``SignWindowDataset`` restricted to some rows and forced to one task (ratio 0 or 1)."""

    def __init__(self, windows: Any, rows: list[int]):
        self.windows = windows
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.windows[self.rows[index]]

    def set_epoch(self, epoch: int) -> None:
        self.windows.set_epoch(epoch)


class _Concat(Sequence):
    def __init__(self, parts: list[Sequence]):
        self.parts = parts
        self.offsets = np.cumsum([0] + [len(p) for p in parts])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, index: int) -> Any:
        part = int(np.searchsorted(self.offsets, index, side="right") - 1)
        return self.parts[part][index - int(self.offsets[part])]

    def set_epoch(self, epoch: int) -> None:
        for part in self.parts:
            if hasattr(part, "set_epoch"):
                part.set_epoch(epoch)


def windows_from_prepared(
    paths: Sequence[str],
    split: str,
    num_frames: int,
    fps: float,
    tasks: Sequence[str],
    seed: int = 0,
    ssa_without_prior: str = "skip",
) -> tuple[Sequence[dict[str, Any]], list[int]]:
    """Windows of every sentence of ``split`` for each task in ``tasks``, from prepared dataset folders.

    SLT uses every sentence. SSA uses the sentences with an audio-aligned prior (BOBSL-style corpora); with
    ``ssa_without_prior="ground_truth"`` sentences without one also make SSA windows (around the target span,
    randomly shifted, no prior in the prompt — for corpora whose subtitles are already signing-aligned).
    Returns the concatenated windows and their task ids.
    """
    from signllm.datasets_scripts.manifest import load_manifest
    from signllm.datasets_scripts.windows import SignWindowDataset, WindowConfig

    parts, task_ids = [], []
    for path in paths:
        rows = load_manifest(path, "sentences", split)
        for task in tasks:
            ratio = 1.0 if task == "ssa" else 0.0
            config = WindowConfig(num_frames=num_frames, fps=fps, ssa_ratio=ratio, seed=seed, normalize=False,
                                  ssa_without_prior=ssa_without_prior)  # fmt: skip
            dataset = SignWindowDataset(rows, config)
            if task == "ssa" and ssa_without_prior == "skip":
                keep = [i for i, start in enumerate(rows["prior_start"]) if start is not None]
            else:
                keep = list(range(len(rows)))
            if keep:
                parts.append(_TaskView(dataset, keep))
                task_ids += [TASK_TO_ID[task]] * len(keep)
    if not parts:
        raise ValueError(f"no {'/'.join(tasks)} sentences in split {split!r} of {list(paths)}.")
    return _Concat(parts), task_ids


# ------------------------------------------------------------------------------------------------ provenance
def prepared_keypoint_extractor(paths: Sequence[str]) -> dict | None:
    """The extractor the keypoint files of prepared datasets come from (``dataset_info.json``, written by
    ``signllm data prepare`` from what ``signllm extract`` recorded): the one of most files; ``None`` when no file
    records one. Mixed extractors get a warning that names them."""
    counts: dict[str, int] = {}
    for path in paths:
        info_path = Path(path) / "dataset_info.json"
        if not info_path.is_file():
            continue
        for entry in json.loads(info_path.read_text(encoding="utf-8")).get("keypoint_extractors", []):
            if entry.get("extractor"):
                key = json.dumps(entry["extractor"], sort_keys=True)
                counts[key] = counts.get(key, 0) + int(entry.get("files", 0))
    if not counts:
        return None
    ranked = sorted(counts.items(), key=lambda item: -item[1])
    if len(ranked) > 1:
        logger.warning("the training keypoints come from %d extractors: %s; the model records the most common one",
                       len(ranked), "; ".join(f"{describe_extractor(json.loads(k))} ({n} files)" for k, n in ranked))
    return json.loads(ranked[0][0])


def record_keypoint_extractor(processor: Any, paths: Sequence[str]) -> dict | None:
    """Set ``processor.keypoint_extractor`` (saved with the model, read by the model card) to the training data's
    extractor; warn when it replaces a different one (e.g. finetuning on keypoints from another MediaPipe)."""
    found = prepared_keypoint_extractor(paths)
    if found is None:
        return getattr(processor, "keypoint_extractor", None)
    previous = getattr(processor, "keypoint_extractor", None)
    message = extractor_mismatch(found, previous)
    if message:
        logger.warning("training data: %s", message)
    processor.keypoint_extractor = found
    return found
