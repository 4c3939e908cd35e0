"""Training samples from a prepared manifest: SLT / SSA windows over episode keypoints, and ISLR clips.

Window math (architecture §1, §6; 25 fps, ``num_frames`` = 500 = 20 s):

- **SLT**: the window is centred on the sentence midpoint: ``window_start = round(mid * fps) - num_frames // 2``.
  Frames before the episode start or after its end are padded with zeros and masked (``frame_mask`` False).
- **SSA**: the window is centred on the prior's midpoint shifted by ``U(-ssa_shift_seconds, +ssa_shift_seconds)``
  [ours: the paper centres on the prior; the random shift stops the model learning "the answer is in the middle"],
  then moved the least amount that keeps the whole target span inside the window.
- ``target_frames = (first, last)`` of the sentence inside the window, **inclusive**, in ``[0, num_frames - 1]``
  (the SSA target, formatted by the processor as ``"sss eee"``); ``prior_frames`` likewise for the prior (clipped;
  None when absent). Seconds become frames by the one frame convention of ``signllm.processing_signllm``
  (`seconds_to_span`: ``[start, end)`` covers ``round(start * fps)`` … ``round(end * fps) - 1``), which alignment,
  export and the SSA metrics use too.

Sample keys: ``sample_id, episode_id, task, text, pose_values (n, 203, 3) float32, pose_mask (n, 203) bool,
frame_mask (n,) bool (False on padding), window_start, window_end (episode frames, end exclusive), target_frames,
prior_frames`` [+ ``lip_values (n, d), lip_mask (n,)``], plus the aliases ``pose``, ``target``, ``prior`` [, ``lip``]
that `signllm.train.slt.data` reads.

Rows without a prior (How2Sign, YouTube-SL-25, FLEURS-ASL, or BOBSL episodes whose target timing is the audio
alignment itself) cannot make a meaningful SSA sample: with ``ssa_without_prior="skip"`` (default, as the paper
finetunes How2Sign SLT-only) they become SLT samples; ``"ground_truth"`` builds SSA windows around the target span
with the same random shift and no prior in the prompt [ours].

The task of sample ``i`` is drawn from ``np.random.default_rng((seed, epoch, i))``: deterministic for a given seed
and epoch, independent of worker order. Values are **raw** (unnormalised) unless ``normalize=True``, which applies
``signllm.keypoint_layout.normalize_keypoints`` to each window.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from signllm.keypoint_layout import normalize_keypoints
from signllm.processing_signllm import seconds_to_frame, seconds_to_span, window_span

logger = logging.getLogger(__name__)

TASKS = ("slt", "ssa")


@dataclass
class WindowConfig:
    """Sample-construction options.

    Args:
        num_frames (`int`, defaults to 500): window length [paper: 20 s at 25 fps].
        fps (`float`, defaults to 25.0): frame rate of the windows; keypoint files at another rate are resampled.
        ssa_ratio (`float`, defaults to 0.2): probability of an SSA sample [paper: 80 % SLT / 20 % SSA in stage 3].
        ssa_shift_seconds (`float`, defaults to 2.0): max. random shift of the SSA window centre [ours].
        ssa_without_prior (`str`, defaults to "skip"): ``"skip"`` (SLT instead) or ``"ground_truth"``.
        normalize (`bool`, defaults to False): shoulder-normalise each window.
        with_lip (`bool`, defaults to True): load lip features when the row has ``lip_path``.
        cache_episodes (`int`, defaults to 2): episodes kept in memory (consecutive rows share episodes).
        seed (`int`, defaults to 0): base seed of task choice and shifts.
    """

    num_frames: int = 500
    fps: float = 25.0
    ssa_ratio: float = 0.2
    ssa_shift_seconds: float = 2.0
    ssa_without_prior: str = "skip"
    normalize: bool = False
    with_lip: bool = True
    cache_episodes: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        if self.num_frames < 2:
            raise ValueError(f"num_frames must be >= 2, got {self.num_frames}")
        if not 0.0 <= self.ssa_ratio <= 1.0:
            raise ValueError(f"ssa_ratio must be in [0, 1], got {self.ssa_ratio}")
        if self.ssa_without_prior not in ("skip", "ground_truth"):
            raise ValueError(f"ssa_without_prior must be 'skip' or 'ground_truth', got {self.ssa_without_prior!r}")
        if self.ssa_shift_seconds < 0 or self.fps <= 0:
            raise ValueError("ssa_shift_seconds must be >= 0 and fps > 0")


# ---------------------------------------------------------------------------------------------------- window math


def slt_window_start(start_frame: float, end_frame: float, num_frames: int) -> int:
    """First frame of the window centred on the inclusive span ``[start_frame, end_frame]`` (may be negative)."""
    return math.floor((start_frame + end_frame) / 2.0 + 0.5) - num_frames // 2


def ssa_window_start(start_frame: float, end_frame: float, centre_frame: float, num_frames: int) -> int:
    """First frame of the window centred on ``centre_frame``, moved minimally so the span lies inside it.

    When the span is longer than the window it cannot fit; the window is then centred on the span (SLT rule).
    """
    window_start = math.floor(centre_frame + 0.5) - num_frames // 2
    lowest = math.ceil(end_frame) - (num_frames - 1)  # the span's last frame must be <= window_start + n - 1
    highest = math.floor(start_frame)  # the span's first frame must be >= window_start
    if lowest > highest:
        return slt_window_start(start_frame, end_frame, num_frames)
    return min(max(window_start, lowest), highest)


#: inclusive span in episode frames -> inclusive window frames, clipped to ``[0, num_frames - 1]``
frames_in_window = window_span


def cut_window(array: np.ndarray, window_start: int, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """``array[window_start : window_start + num_frames]`` zero-padded where it leaves ``array``.

    Returns the ``(num_frames, ...)`` window and a ``(num_frames,)`` bool mask, True on real frames.
    """
    out = np.zeros((num_frames, *array.shape[1:]), dtype=array.dtype)
    frame_mask = np.zeros(num_frames, dtype=bool)
    source_start, source_end = max(window_start, 0), min(window_start + num_frames, len(array))
    if source_end > source_start:
        out[source_start - window_start : source_end - window_start] = array[source_start:source_end]
        frame_mask[source_start - window_start : source_end - window_start] = True
    return out, frame_mask


# ---------------------------------------------------------------------------------------------------- file access


class EpisodeCache:
    """Small LRU of loaded episodes: path -> (values (t,203,3), mask (t,203)) at the target fps, and lip arrays."""

    def __init__(self, size: int, fps: float):
        self.size = max(1, size)
        self.fps = fps
        self._items: OrderedDict[tuple[str, str], Any] = OrderedDict()

    def _get(self, key: tuple[str, str], load) -> Any:
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = load()
        self._items[key] = value
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return value

    def keypoints(self, path: str) -> tuple[np.ndarray, np.ndarray]:
        from signllm.processing.keypoint_io import read_keypoints

        def load():
            sequence = read_keypoints(path, target_fps=self.fps)
            return sequence.values, sequence.mask

        return self._get(("keypoints", path), load)

    def lip(self, path: str) -> np.ndarray:
        def load():
            if path.endswith(".npz"):
                with np.load(path, allow_pickle=False) as archive:
                    key = next((k for k in ("features", "lip", "values") if k in archive.files), archive.files[0])
                    array = archive[key]
            else:
                array = np.load(path, allow_pickle=False)
            if array.ndim != 2:
                raise ValueError(f"{path}: lip features must be (frames, dim), got {array.shape}")
            return array.astype(np.float32)

        return self._get(("lip", path), load)


# -------------------------------------------------------------------------------------------------------- samples


def _file_span(row: dict[str, Any], start_key: str, end_key: str, fps: float) -> tuple[int, int]:
    """Episode times (s) of a row -> inclusive frames of its keypoint file (which starts at ``keypoints_offset``)."""
    offset = row.get("keypoints_offset") or 0.0
    return seconds_to_span(row[start_key] - offset, row[end_key] - offset, fps)


def make_window_sample(
    row: dict[str, Any], task: str, rng: np.random.Generator, config: WindowConfig, cache: EpisodeCache
) -> dict[str, Any]:
    """Build one SLT or SSA sample from a sentence row (see the module docstring for the keys' meaning)."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if not row.get("keypoints_path"):
        raise ValueError(f"row {row.get('sample_id')!r} has no keypoints_path: prepare the corpus with --keypoints")
    n, fps = config.num_frames, config.fps
    start, end = _file_span(row, "start", "end", fps)  # first and last frame of the sentence (inclusive)
    has_prior = row.get("prior_start") is not None and row.get("prior_end") is not None
    prior = _file_span(row, "prior_start", "prior_end", fps) if has_prior else None
    if task == "ssa":
        centre = (prior[0] + prior[1]) / 2.0 if prior is not None else (start + end) / 2.0
        centre += rng.uniform(-config.ssa_shift_seconds, config.ssa_shift_seconds) * fps
        window_start = ssa_window_start(start, end, centre, n)
    else:
        window_start = slt_window_start(start, end, n)
    values, mask = cache.keypoints(row["keypoints_path"])
    pose_values, frame_mask = cut_window(values, window_start, n)
    pose_mask, _ = cut_window(mask, window_start, n)
    if config.normalize:
        try:
            pose_values, pose_mask = normalize_keypoints(pose_values, pose_mask)
        except ValueError:
            # no person in this window: keep it fully masked instead of crashing a training run
            logger.warning("window of %s has no shoulders: masked out", row.get("sample_id"))
            pose_values = np.zeros_like(pose_values)
            pose_mask = np.zeros_like(pose_mask)
    sample = {
        "sample_id": row["sample_id"],
        "episode_id": row["episode_id"],
        "task": task,
        "text": row["text"],
        "pose_values": pose_values.astype(np.float32),
        "pose_mask": pose_mask,
        "frame_mask": frame_mask,
        "window_start": window_start,
        "window_end": window_start + n,
        "target_frames": frames_in_window(start, end, window_start, n),
        "prior_frames": None if prior is None else frames_in_window(prior[0], prior[1], window_start, n),
    }
    if config.with_lip and row.get("lip_path"):
        lip = cache.lip(row["lip_path"])
        sample["lip_values"], sample["lip_mask"] = cut_window(lip, window_start, n)
    # the names `signllm.train.slt.data` reads (same arrays, no copy)
    sample.update(pose=sample["pose_values"], target=sample["target_frames"], prior=sample["prior_frames"])
    if "lip_values" in sample:
        sample["lip"] = sample["lip_values"]
    return sample


def choose_task(row: dict[str, Any], rng: np.random.Generator, config: WindowConfig) -> str:
    """``"ssa"`` with probability ``ssa_ratio`` when the row supports it, else ``"slt"`` (one draw either way)."""
    wants_ssa = rng.random() < config.ssa_ratio
    has_prior = row.get("prior_start") is not None
    if wants_ssa and (has_prior or config.ssa_without_prior == "ground_truth"):
        return "ssa"
    return "slt"


class SignWindowDataset(torch.utils.data.Dataset):
    """Map-style dataset of SLT/SSA windows over a sentence manifest (``datasets.Dataset`` or list of dicts).

    ``len(ds)`` = number of sentences; ``ds[i]`` builds sample ``i`` (deterministic for a given seed and epoch,
    call `set_epoch` between epochs). Works with ``torch.utils.data.DataLoader`` (numpy arrays; collate them).
    """

    def __init__(self, rows: Sequence[dict[str, Any]], config: WindowConfig | None = None, epoch: int = 0):
        self.rows = rows
        self.config = config or WindowConfig()
        self.epoch = epoch
        self.cache = EpisodeCache(self.config.cache_episodes, self.config.fps)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} sentences")
        index %= len(self)
        row = self.rows[index]
        rng = np.random.default_rng((self.config.seed, self.epoch, index))
        return make_window_sample(row, choose_task(row, rng, self.config), rng, self.config, self.cache)


def iter_window_samples(
    rows: Iterable[dict[str, Any]], config: WindowConfig | None = None, epoch: int = 0
) -> Iterator[dict[str, Any]]:
    """Streaming variant: samples from an iterable of rows (e.g. ``load_manifest(..., streaming=True)``)."""
    config = config or WindowConfig()
    cache = EpisodeCache(config.cache_episodes, config.fps)
    for index, row in enumerate(rows):
        rng = np.random.default_rng((config.seed, epoch, index))
        yield make_window_sample(row, choose_task(row, rng, config), rng, config, cache)


class StreamingWindowDataset(torch.utils.data.IterableDataset):
    """``torch`` iterable over a (streaming) manifest: rows are shared out across ``DataLoader`` workers.

    Worker ``w`` of ``W`` takes rows ``i`` with ``i % W == w``; sample ``i`` still draws its task and shift from
    ``(seed, epoch, i)``, so the set of samples does not depend on the number of workers.
    """

    def __init__(self, rows: Iterable[dict[str, Any]], config: WindowConfig | None = None, epoch: int = 0):
        super().__init__()
        self.rows = rows
        self.config = config or WindowConfig()
        self.epoch = epoch

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if hasattr(self.rows, "set_epoch"):
            self.rows.set_epoch(epoch)  # datasets.IterableDataset: reshuffles its shards per epoch

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        cache = EpisodeCache(self.config.cache_episodes, self.config.fps)
        for index, row in enumerate(self.rows):
            if index % workers != worker:
                continue
            rng = np.random.default_rng((self.config.seed, self.epoch, index))
            yield make_window_sample(row, choose_task(row, rng, self.config), rng, self.config, cache)


class IslrClipDataset(torch.utils.data.Dataset):
    """Map-style dataset of ISLR clips from a sign manifest.

    Each sample: ``pose_values (t, 203, 3)`` raw (or normalised), ``pose_mask (t, 203)``, ``frame_mask (t,)``,
    ``label``, ``label_id``. Rows with ``start``/``end`` are cut from their episode; otherwise the whole file is
    used. With ``num_frames`` set, clips are centre-cropped / zero-padded to that length [paper: 24 frames].
    """

    def __init__(
        self,
        rows: Sequence[dict[str, Any]],
        num_frames: int | None = None,
        fps: float = 25.0,
        normalize: bool = False,
        cache_episodes: int = 2,
    ):
        self.rows = rows
        self.num_frames = num_frames
        self.fps = fps
        self.normalize = normalize
        self.cache = EpisodeCache(cache_episodes, fps)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        row = self.rows[index]
        values, mask = self.cache.keypoints(row["keypoints_path"])
        if row.get("start") is not None:
            offset = row.get("keypoints_offset") or 0.0
            first = seconds_to_frame(row["start"] - offset, self.fps)
            last = seconds_to_frame(row["end"] - offset, self.fps)  # exclusive
        else:
            first, last = 0, len(values)
        length = self.num_frames or max(last - first, 1)
        clip_start = (first + last) // 2 - length // 2 if self.num_frames else first
        pose_values, frame_mask = cut_window(values, clip_start, length)
        pose_mask, _ = cut_window(mask, clip_start, length)
        if self.normalize and pose_mask.any():
            try:
                pose_values, pose_mask = normalize_keypoints(pose_values, pose_mask)
            except ValueError:
                logger.warning("clip %s has no shoulders: left unnormalised", row.get("sample_id"))
        return {
            "sample_id": row["sample_id"],
            "label": row["label"],
            "label_id": row["label_id"],
            "pose_values": pose_values.astype(np.float32),
            "pose_mask": pose_mask,
            "frame_mask": frame_mask,
        }
