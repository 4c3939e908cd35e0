"""SignLLM processor: keypoints / lip features → padded model inputs, prompts and SSA targets → token ids.

Axis legend: b batch, t frames, k keypoints (203 after selection), c coordinates (3), f lip feature width.

Accepted pose inputs (architecture §2.1), per clip:
- ``np.ndarray`` / tensor ``(t, 203, 3)`` (already reduced) or ``(t, k, 2|3)`` full MediaPipe Holistic with
  k ∈ {543, 553, 576, 586} (missing landmarks NaN or 0);
- a ``dict`` with ``values`` (and optional ``mask``, ``fps``), e.g. a ``KeypointSequence._asdict()``;
- any object with ``.values`` / ``.mask`` / ``.fps`` attributes (``signllm.processing.keypoint_io.KeypointSequence``);
- a path to a pose-format ``.pose`` file (made from holistic), an ``.npz`` (``values``/``mask``/``fps``), or a Kaggle
  GISLR landmark ``.parquet``; or a Kaggle-style table (``pandas.DataFrame`` with frame/type/landmark_index/x/y/z).

Lip inputs, per clip: features ``(t, f)`` (pre-extracted lip-reader features) or mouth crops ``(t, 1, 88, 88)``
/ ``(t, 88, 88)`` (run through the frozen lip reader inside the model), or ``None`` (modality absent, masked).

Only numpy is needed here; ``pose_format`` / ``pandas`` are imported lazily for the file formats that need them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from transformers import BatchFeature
from transformers.processing_utils import ProcessorMixin

from .keypoint_layout import HOLISTIC_LAYOUTS, NUM_JOINTS, holistic_to_203, mask_missing, normalize_keypoints

TASKS = ("slt", "ssa")
TASK_TO_ID = {task: index for index, task in enumerate(TASKS)}
POSE_SUFFIXES = (".pose", ".npz", ".parquet")
# Kaggle GISLR landmark tables: offset of each landmark type in the canonical 543-point holistic order.
KAGGLE_TYPE_OFFSETS = {"pose": (0, 33), "face": (33, 468), "left_hand": (501, 21), "right_hand": (522, 21)}
# pose-format holistic components, in canonical order.
POSE_FORMAT_COMPONENTS = ("POSE_LANDMARKS", "FACE_LANDMARKS", "LEFT_HAND_LANDMARKS", "RIGHT_HAND_LANDMARKS")


# ------------------------------------------------------------------------------------------------ keypoint loading
def load_keypoints(source: Any, fps: float | None = None) -> tuple[np.ndarray, np.ndarray, float | None]:
    """Turn one clip in any accepted form into raw 203-joint keypoints.

    Returns:
        ``values (t, 203, 3)`` float32 (invalid joints 0), ``mask (t, 203)`` bool (True = valid), and the frame rate
        (``fps`` argument, else the one stored in the source, else ``None``).
    """
    mask = None
    if isinstance(source, (str, os.PathLike)):
        values, mask, stored_fps = _read_keypoint_file(os.fspath(source))
    elif _is_table(source):
        values, stored_fps = _kaggle_table_to_holistic(source), None
    elif isinstance(source, dict):
        key = next((k for k in ("values", "pose_values", "keypoints", "data") if k in source), None)
        if key is None:
            raise ValueError(f"A keypoint dict needs a 'values' entry (t, k, c); got keys {sorted(source)}.")
        values, mask, stored_fps = source[key], source.get("mask"), source.get("fps")
    elif hasattr(source, "values") and hasattr(source, "mask") and not callable(source.values):
        values, mask, stored_fps = source.values, source.mask, getattr(source, "fps", None)
    else:
        values, stored_fps = source, None
    values = _to_numpy(values)
    values, mask = _select_203(values, None if mask is None else _to_numpy(mask).astype(bool))
    return values, mask, float(fps) if fps is not None else (float(stored_fps) if stored_fps else None)


def _select_203(values: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(values, np.ndarray) or values.dtype == object:
        raise ValueError(f"Keypoints must be a numeric array, got {type(values).__name__}.")
    if values.ndim == 4 and values.shape[1] == 1:  # pose-format layout (frames, people=1, points, dims)
        values = values[:, 0]
    if values.ndim != 3:
        raise ValueError(f"Keypoints must have shape (frames, keypoints, coords), got {values.shape}.")
    if values.shape[0] == 0:
        raise ValueError("Empty keypoint sequence (0 frames).")
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
        if mask.shape != valid.shape:
            raise ValueError(f"Keypoint mask shape {mask.shape} does not match keypoints {valid.shape}.")
        valid = valid & mask
        selected[~valid] = 0.0
    return selected, valid


def _to_numpy(array: Any) -> np.ndarray:
    if hasattr(array, "detach"):  # torch tensor
        array = array.detach().cpu().numpy()
    if isinstance(array, np.ma.MaskedArray):
        array = array.astype(np.float32).filled(np.nan)
    return np.asarray(array)


def _is_table(source: Any) -> bool:
    return hasattr(source, "columns") and {"frame", "type", "landmark_index"} <= set(map(str, source.columns))


def _read_keypoint_file(path: str) -> tuple[np.ndarray, np.ndarray | None, float | None]:
    if not os.path.isfile(path):
        raise ValueError(f"Keypoint file not found: {path}")
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".pose":
        values, fps = _read_pose_file(path)
        return values, None, fps
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            key = next((k for k in ("values", "pose_values", "keypoints") if k in data), None)
            if key is None:
                raise ValueError(f"{path}: .npz needs a 'values' array, has {sorted(data.files)}.")
            mask = data["mask"] if "mask" in data else None
            fps = float(data["fps"]) if "fps" in data else None
            return data[key], mask, fps
    if suffix == ".parquet":
        try:
            import pandas as pd
        except ImportError as error:  # pragma: no cover - pandas is a dependency of the package
            raise ImportError("Reading Kaggle .parquet landmark files needs pandas and pyarrow.") from error
        return _kaggle_table_to_holistic(pd.read_parquet(path)), None, None
    raise ValueError(f"Unsupported keypoint file {path!r}: expected one of {', '.join(POSE_SUFFIXES)}.")


def _read_pose_file(path: str) -> tuple[np.ndarray, float]:
    """A pose-format ``.pose`` made from MediaPipe Holistic → ``(t, k, 3)`` with NaN where confidence is 0."""
    try:
        from pose_format import Pose
    except ImportError as error:
        raise ImportError("Reading .pose files needs pose-format: `pip install pose-format`.") from error
    with open(path, "rb") as handle:
        pose = Pose.read(handle.read())
    components = {component.name: component for component in pose.header.components}
    missing = [name for name in POSE_FORMAT_COMPONENTS if name not in components]
    if missing:
        raise ValueError(f"{path}: not a MediaPipe Holistic pose (missing components {missing}).")
    data = np.ma.filled(pose.body.data[:, 0].astype(np.float32), np.nan)  # first person
    data = np.where(pose.body.confidence[:, 0, :, None] > 0, data, np.nan)
    pieces, start = {}, 0
    for component in pose.header.components:
        pieces[component.name] = data[:, start : start + len(component.points), :3]
        start += len(component.points)
    sizes = [pieces[name].shape[1] for name in POSE_FORMAT_COMPONENTS]
    if sizes[0] != 33 or sizes[2:] != [21, 21] or sizes[1] not in (128, 468, 478):
        raise ValueError(
            f"{path}: unsupported holistic layout {dict(zip(POSE_FORMAT_COMPONENTS, sizes))}; expected pose 33, "
            "face 468/478 (or the 128 contour points), hands 21+21. Reduced poses (e.g. 8 body points) are not supported."
        )
    values = np.concatenate([pieces[name] for name in POSE_FORMAT_COMPONENTS], axis=1)
    return values, float(pose.body.fps)


def _kaggle_table_to_holistic(table: Any) -> np.ndarray:
    """Kaggle GISLR long table (frame, type, landmark_index, x, y, z) → ``(t, 543, 3)``, NaN where missing."""
    frames = np.asarray(table["frame"])
    unique_frames, frame_index = np.unique(frames, return_inverse=True)
    types = np.asarray(table["type"]).astype(str)
    landmark = np.asarray(table["landmark_index"]).astype(np.int64)
    unknown = set(np.unique(types)) - set(KAGGLE_TYPE_OFFSETS)
    if unknown:
        raise ValueError(f"Unknown landmark types {sorted(unknown)}; expected {sorted(KAGGLE_TYPE_OFFSETS)}.")
    offsets = np.array([KAGGLE_TYPE_OFFSETS[name][0] for name in types])
    sizes = np.array([KAGGLE_TYPE_OFFSETS[name][1] for name in types])
    if (landmark < 0).any() or (landmark >= sizes).any():
        raise ValueError("Kaggle landmark_index out of range for its type.")
    values = np.full((len(unique_frames), 543, 3), np.nan, dtype=np.float32)
    coords = np.stack([np.asarray(table[axis], dtype=np.float32) for axis in ("x", "y", "z")], axis=-1)
    values[frame_index, offsets + landmark] = coords
    return values


# ----------------------------------------------------------------------------------------------- clip processing
def resample_keypoints(
    values: np.ndarray, mask: np.ndarray, source_fps: float, target_fps: float
) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation in time to ``target_fps``; a joint is valid only if both neighbours are valid."""
    if source_fps <= 0:
        raise ValueError(f"Frame rate must be positive, got {source_fps}.")
    if abs(source_fps - target_fps) < 1e-6:
        return values, mask
    num_frames = values.shape[0]
    duration = num_frames / source_fps
    num_out = max(1, round(duration * target_fps))
    position = np.clip(np.arange(num_out) * source_fps / target_fps, 0, num_frames - 1)
    lower = np.floor(position).astype(np.int64)
    upper = np.minimum(lower + 1, num_frames - 1)
    weight = (position - lower)[:, None, None].astype(np.float32)
    resampled = (1 - weight) * values[lower] + weight * values[upper]
    valid = mask[lower] & (mask[upper] | (weight[..., 0] == 0))
    resampled[~valid] = 0.0
    return resampled.astype(np.float32), valid


def resample_frames(array: np.ndarray, source_fps: float, target_fps: float) -> np.ndarray:
    """Nearest-frame resampling of per-frame features or crops ``(t, ...)``."""
    if abs(source_fps - target_fps) < 1e-6:
        return array
    num_out = max(1, round(array.shape[0] / source_fps * target_fps))
    index = np.minimum(np.round(np.arange(num_out) * source_fps / target_fps).astype(np.int64), array.shape[0] - 1)
    return array[index]


def crop_or_check_length(num_frames: int, window: int, min_frames: int, truncation: str | None) -> slice:
    """The slice of a clip kept in the window; raises a clear error for clips too short / too long."""
    if num_frames < min_frames:
        raise ValueError(f"Clip too short: {num_frames} frames, the model needs at least {min_frames} (at 25 fps).")
    if num_frames <= window:
        return slice(0, num_frames)
    if truncation is None:
        raise ValueError(
            f"Clip too long: {num_frames} frames but the model window is {window} frames. Split the video into "
            "windows (e.g. one per sentence) or pass truncation='center' / 'start' to crop it."
        )
    if truncation == "start":
        return slice(0, window)
    if truncation == "center":
        start = (num_frames - window) // 2
        return slice(start, start + window)
    raise ValueError(f"truncation={truncation!r} is not supported; allowed values: None, 'center', 'start'.")


# ------------------------------------------------------------------------------------------------------ processor
class SignLLMProcessor(ProcessorMixin):
    r"""Keypoint / lip-feature preparation plus the text side (prompts, targets, decoding) for SignLLM.

    The keypoint settings are the processor's own arguments (saved in ``processor_config.json``); the only
    sub-processor is the tokenizer, which keeps ``AutoProcessor`` loading working for remote code.

    Args:
        tokenizer (`PreTrainedTokenizerBase`): the text tokenizer (Flan-T5's, or ``ByT5Tokenizer`` in tests).
        num_frames (`int`, *optional*, defaults to 500): window length in frames (20 s at 25 fps) [paper].
        fps (`float`, *optional*, defaults to 25.0): model frame rate; inputs are resampled to it [paper].
        min_frames (`int`, *optional*, defaults to 25): shorter clips are rejected (1 s, the paper's data filter).
        padding (`str`, *optional*, defaults to `"max_length"`): pad clips to ``num_frames`` or to the ``"longest"``.
        truncation (`str`, *optional*): ``None`` rejects clips longer than the window, ``"center"`` / ``"start"`` crop.
        normalize (`bool`, *optional*, defaults to `True`): per-clip shoulder normalisation.
        lip_feature_size (`int`, *optional*, defaults to 768): width of pre-extracted lip features.
        slt_prompt, ssa_prompt, ssa_prior_template (`str`): prompts (architecture §4), same defaults as the config.
        ssa_digit_separator (`str`, *optional*): text between the digits of a frame index; ``None`` picks ``""`` when
            the tokenizer gives one token per digit in ``"123"`` (byte-level) and ``" "`` otherwise (SentencePiece).
        max_target_length (`int`, *optional*, defaults to 128): label truncation length in tokens.
    """

    def __init__(
        self,
        tokenizer=None,
        num_frames: int = 500,
        fps: float = 25.0,
        min_frames: int = 25,
        padding: str = "max_length",
        truncation: str | None = None,
        normalize: bool = True,
        lip_feature_size: int = 768,
        slt_prompt: str = "Translate the sign language video to English.",
        ssa_prompt: str = "Align the subtitle to the signing: {subtitle}",
        ssa_prior_template: str = " Prior: {start} {end}",
        ssa_digit_separator: str | None = None,
        max_target_length: int = 128,
        **kwargs,
    ):
        if padding not in ("max_length", "longest"):
            raise ValueError(f"padding={padding!r} is not supported; allowed values: 'max_length', 'longest'.")
        self.num_frames = num_frames
        self.fps = fps
        self.min_frames = min_frames
        self.padding = padding
        self.truncation = truncation
        self.normalize = normalize
        self.lip_feature_size = lip_feature_size
        self.slt_prompt = slt_prompt
        self.ssa_prompt = ssa_prompt
        self.ssa_prior_template = ssa_prior_template
        self.ssa_digit_separator = ssa_digit_separator
        self.max_target_length = max_target_length
        self._digit_token_ids: list[int] | None = None
        super().__init__(tokenizer, **kwargs)

    # ------------------------------------------------------------------------------------------------ call
    def __call__(
        self,
        pose: Any = None,
        lip: Any = None,
        text: str | Sequence[str] | None = None,
        task: str | Sequence[str] = "slt",
        subtitle: str | Sequence[str | None] | None = None,
        prior: tuple[int, int] | Sequence[tuple[int, int] | None] | None = None,
        targets: tuple[int, int] | Sequence[tuple[int, int] | None] | None = None,
        fps: float | Sequence[float | None] | None = None,
        truncation: str | None = "default",
        padding: str | None = None,
        return_tensors: str | None = "pt",
        **kwargs,
    ) -> BatchFeature:
        """Prepare a batch.

        Args:
            pose: one clip or a list of clips (see module docstring); ``None`` entries mark a missing pose.
            lip: lip features ``(t, f)`` / mouth crops ``(t, 1, 88, 88)`` per clip, or ``None``.
            text: SLT target sentence(s) → ``labels`` (training).
            task: ``"slt"`` / ``"ssa"``, or one per sample for mixed batches.
            subtitle: the subtitle text to align, per SSA sample.
            prior: optional prior ``(start_frame, end_frame)`` in the window, per SSA sample.
            targets: SSA target ``(start_frame, end_frame)`` → ``labels`` (training).
            fps: frame rate of the inputs when it is not stored with them (defaults to the model rate).
            truncation / padding: override the processor's settings for this call.
        Returns:
            `BatchFeature` with ``pose_values (b, t, 203, 3)``, ``pose_attention_mask (b, t)``,
            ``pose_joint_mask (b, t, 203)``, [``lip_values (b, t, f)`` or ``(b, t, 1, 88, 88)``,
            ``lip_attention_mask (b, t)``], ``input_ids``, ``attention_mask``, ``task_ids (b,)`` and,
            when targets are given, ``labels (b, l)`` padded with -100.
        """
        if pose is None and lip is None:
            raise ValueError("SignLLMProcessor needs `pose` and/or `lip` inputs; both are None.")
        poses = _as_batch(pose, _is_single_clip)
        lips = _as_batch(lip, _is_single_lip)
        batch_size = max(len(poses), len(lips))
        poses = poses if poses else [None] * batch_size
        lips = lips if lips else [None] * batch_size
        if len(poses) != len(lips):
            raise ValueError(f"Got {len(poses)} pose clips but {len(lips)} lip clips.")
        tasks = _broadcast(task, batch_size, "task")
        for name in tasks:
            if name not in TASK_TO_ID:
                raise ValueError(f"task={name!r} is not supported; allowed values: {', '.join(map(repr, TASKS))}.")
        fpss = _broadcast(fps, batch_size, "fps")
        truncation = self.truncation if truncation == "default" else truncation
        padding = padding or self.padding
        if padding not in ("max_length", "longest"):
            raise ValueError(f"padding={padding!r} is not supported; allowed values: 'max_length', 'longest'.")

        # step 1: visual inputs, each clip resampled, normalised and placed in the window
        pose_items = [self._prepare_pose(clip, rate, truncation) if clip is not None else None
                      for clip, rate in zip(poses, fpss)]  # fmt: skip
        lip_items = [self._prepare_lip(clip, rate, truncation) if clip is not None else None
                     for clip, rate in zip(lips, fpss)]  # fmt: skip
        features = self._pad_visual(pose_items, lip_items, padding)

        # step 2: prompts
        subtitles = _broadcast(subtitle, batch_size, "subtitle")
        priors = _broadcast_pairs(prior, batch_size, "prior")
        prompts = [self.build_prompt(name, sub, pri) for name, sub, pri in zip(tasks, subtitles, priors)]
        encoded = self.tokenizer(prompts, padding=True, return_tensors="np")
        features["input_ids"] = encoded["input_ids"]
        features["attention_mask"] = encoded["attention_mask"]
        features["task_ids"] = np.array([TASK_TO_ID[name] for name in tasks], dtype=np.int64)

        # step 3: labels (training only)
        if text is not None or targets is not None:
            features["labels"] = self._labels(tasks, text, targets)
        return BatchFeature(features, tensor_type=return_tensors)

    def _prepare_pose(self, clip: Any, fps: float | None, truncation: str | None) -> tuple[np.ndarray, np.ndarray]:
        values, mask, source_fps = load_keypoints(clip, fps)
        if not mask.any():
            raise ValueError("All keypoints are missing (NaN or zero) in this clip: nothing to translate.")
        values, mask = resample_keypoints(values, mask, source_fps or self.fps, self.fps)
        keep = crop_or_check_length(values.shape[0], self.num_frames, self.min_frames, truncation)
        values, mask = values[keep], mask[keep]
        if self.normalize:
            values, mask = normalize_keypoints(values, mask)
        return values, mask

    def _prepare_lip(self, clip: Any, fps: float | None, truncation: str | None) -> np.ndarray:
        array = _to_numpy(clip).astype(np.float32)
        if array.ndim == 3 and array.shape[1:] == (88, 88):
            array = array[:, None]
        if not (array.ndim == 2 or (array.ndim == 4 and array.shape[1:] == (1, 88, 88))):
            raise ValueError(
                f"Lip input must be features (t, {self.lip_feature_size}) or mouth crops (t, 1, 88, 88); got {array.shape}."
            )
        if array.ndim == 2 and array.shape[1] != self.lip_feature_size:
            raise ValueError(f"Lip features must have width {self.lip_feature_size}, got {array.shape[1]}.")
        if array.shape[0] == 0:
            raise ValueError("Empty lip sequence (0 frames).")
        if not np.isfinite(array).all():
            raise ValueError("Lip input contains NaN or inf values.")
        array = resample_frames(array, fps or self.fps, self.fps)
        keep = crop_or_check_length(array.shape[0], self.num_frames, self.min_frames, truncation)
        return array[keep]

    def _pad_visual(self, pose_items: list, lip_items: list, padding: str) -> dict[str, np.ndarray]:
        lengths = [max(p[0].shape[0] if p is not None else 0, l.shape[0] if l is not None else 0)
                   for p, l in zip(pose_items, lip_items)]  # fmt: skip
        window = self.num_frames if padding == "max_length" else max(lengths)
        batch_size = len(lengths)
        out: dict[str, np.ndarray] = {}
        if any(item is not None for item in pose_items):
            out["pose_values"] = np.zeros((batch_size, window, NUM_JOINTS, 3), dtype=np.float32)
            out["pose_attention_mask"] = np.zeros((batch_size, window), dtype=np.int64)
            out["pose_joint_mask"] = np.zeros((batch_size, window, NUM_JOINTS), dtype=bool)
            for i, item in enumerate(pose_items):
                if item is None:
                    continue  # missing modality for this sample: zeros, fully masked
                values, mask = item
                out["pose_values"][i, : len(values)] = values
                out["pose_attention_mask"][i, : len(values)] = 1
                out["pose_joint_mask"][i, : len(values)] = mask
        present = [item for item in lip_items if item is not None]
        if present:
            shapes = {item.shape[1:] for item in present}
            if len(shapes) > 1:
                raise ValueError(f"Mixed lip input kinds in one batch: {sorted(shapes)} (features vs crops).")
            out["lip_values"] = np.zeros((batch_size, window, *shapes.pop()), dtype=np.float32)
            out["lip_attention_mask"] = np.zeros((batch_size, window), dtype=np.int64)
            for i, item in enumerate(lip_items):
                if item is not None:
                    out["lip_values"][i, : len(item)] = item
                    out["lip_attention_mask"][i, : len(item)] = 1
        return out

    # -------------------------------------------------------------------------------------- prompts / targets
    def build_prompt(self, task: str, subtitle: str | None = None, prior: tuple[int, int] | None = None) -> str:
        """SLT: the fixed instruction. SSA: the instruction with the subtitle text and, optionally, the prior."""
        if task == "slt":
            return self.slt_prompt
        if task != "ssa":
            raise ValueError(f"task={task!r} is not supported; allowed values: {', '.join(map(repr, TASKS))}.")
        if not subtitle or not str(subtitle).strip():
            raise ValueError("SSA needs the subtitle text to align (`subtitle=`).")
        prompt = self.ssa_prompt.format(subtitle=str(subtitle).strip())
        if prior is not None:
            start, end = (self.format_frame_index(value) for value in prior)
            try:
                prompt += self.ssa_prior_template.format(start=start, end=end)
            except ValueError:  # an integer format spec such as the config's "{start:03d}"
                prompt += self.ssa_prior_template.format(start=int(prior[0]), end=int(prior[1]))
        return prompt

    def format_frame_index(self, frame: int) -> str:
        """A frame index in the window as 3 zero-padded digits, joined by the digit separator."""
        frame = int(frame)
        if not 0 <= frame <= 999:
            raise ValueError(f"Frame index {frame} does not fit 3 digits (window of {self.num_frames} frames).")
        return self.digit_separator.join(f"{frame:03d}")

    def format_ssa_target(self, start_frame: int, end_frame: int) -> str:
        """SSA target text ``"sss eee"`` (start / end frame in the window); every digit is one token."""
        if not 0 <= int(start_frame) <= int(end_frame) < self.num_frames:
            raise ValueError(
                f"SSA target ({start_frame}, {end_frame}) must satisfy 0 <= start <= end < {self.num_frames}."
            )
        return f"{self.format_frame_index(start_frame)} {self.format_frame_index(end_frame)}"

    def parse_ssa_output(self, text: str, return_seconds: bool = False) -> tuple[float, float]:
        """Generated SSA text → ``(start, end)`` frame indices in the window (or seconds with ``return_seconds``).

        Raises:
            ValueError: when the text does not contain exactly two 3-digit indices with start <= end < window.
        """
        digits = re.sub(r"\s+", "", str(text))
        if not re.fullmatch(r"\d{6}", digits):
            raise ValueError(f"Unparsable SSA output {text!r}: expected two 3-digit frame indices like '012 345'.")
        start, end = int(digits[:3]), int(digits[3:])
        if not start <= end < self.num_frames:
            raise ValueError(f"Invalid SSA output {text!r}: need start <= end < {self.num_frames}, got {start}, {end}.")
        if return_seconds:
            return start / self.fps, end / self.fps
        return start, end

    @property
    def digit_separator(self) -> str:
        if self.ssa_digit_separator is None:
            self.ssa_digit_separator = "" if self._one_token_per_digit("") else " "
        return self.ssa_digit_separator

    def _one_token_per_digit(self, separator: str) -> bool:
        """True when ``"ddd ddd"`` with this separator tokenises to one token per digit, same id per digit value."""
        seen: dict[str, set[int]] = {}
        for number in ("012", "345", "678", "901", "234", "567", "890"):
            text = separator.join(number)
            ids = self.tokenizer(f"{text} {text}", add_special_tokens=False)["input_ids"]
            digit_ids = [i for i in ids if self.tokenizer.decode([i]).strip() in "0123456789" and
                         self.tokenizer.decode([i]).strip()]  # fmt: skip
            if len(digit_ids) != 6:
                return False
            for char, token in zip(number * 2, digit_ids):
                seen.setdefault(char, set()).add(token)
        return len(seen) == 10 and all(len(tokens) == 1 for tokens in seen.values())

    @property
    def digit_token_ids(self) -> list[int]:
        """Token id of each digit 0–9 as it appears in SSA targets (for the soft-decoding loss)."""
        if self._digit_token_ids is None:
            if not self._one_token_per_digit(self.digit_separator):
                raise ValueError(
                    f"The tokenizer does not give one token per digit with separator {self.digit_separator!r}: SSA "
                    "targets need every digit 0-9 to be one token (missing or merged digits). Try "
                    "ssa_digit_separator=' ' or a tokenizer whose vocabulary has the single digits."
                )
            ids = []
            for digit in "0123456789":
                encoded = self.tokenizer(self.digit_separator.join(digit * 3), add_special_tokens=False)["input_ids"]
                ids.append(next(i for i in encoded if self.tokenizer.decode([i]).strip() == digit))
            self._digit_token_ids = ids
        return self._digit_token_ids

    def ssa_prefix_allowed_tokens_fn(self):
        """A ``prefix_allowed_tokens_fn`` for ``generate`` that only allows valid SSA answers ``"sss eee"`` with
        ``0 <= start <= end < num_frames``: digits where the target has digits (bounded so the numbers stay in
        range), the template's other tokens, then EOS. Decoding then always parses; the model still picks the digits."""
        template = self.tokenizer(self.format_ssa_target(0, 0))["input_ids"]
        digits = list(self.digit_token_ids)
        digit_of = {token: value for value, token in enumerate(digits)}
        slots = [i for i, token in enumerate(template) if token == digits[0]]  # the 6 digit positions
        upper = [int(c) for c in f"{self.num_frames - 1:03d}"]
        end = [self.tokenizer.eos_token_id if self.tokenizer.eos_token_id is not None else template[-1]]

        def allowed_digits(generated: list[int], slot: int) -> list[int]:
            number, k = divmod(slot, 3)
            values = [digit_of.get(token, 0) for token in generated]
            own = values[number * 3 : slot]  # digits of this number so far
            lower = values[:3] if number == 1 else [0, 0, 0]  # end >= start
            low = lower[k] if own == lower[:k] else 0
            high = upper[k] if own == upper[:k] else 9
            return digits[low : high + 1]

        def prefix_allowed_tokens_fn(batch_id: int, decoder_ids) -> list[int]:
            step = len(decoder_ids) - 1  # the decoder start token is not generated
            if step >= len(template):
                return end
            if step in slots:
                generated = [int(decoder_ids[1 + i]) for i in slots if i < step]
                return allowed_digits(generated, slots.index(step))
            return [template[step]]

        return prefix_allowed_tokens_fn

    def _labels(self, tasks: list[str], text: Any, targets: Any) -> np.ndarray:
        texts = _broadcast(text, len(tasks), "text")
        spans = _broadcast_pairs(targets, len(tasks), "targets")
        strings = []
        for i, name in enumerate(tasks):
            if name == "ssa":
                if spans[i] is None:
                    raise ValueError(f"Sample {i} is an SSA sample but has no `targets=(start_frame, end_frame)`.")
                strings.append(self.format_ssa_target(*spans[i]))
            else:
                if texts[i] is None or not str(texts[i]).strip():
                    raise ValueError(f"Sample {i} is an SLT sample but has no target `text`.")
                strings.append(str(texts[i]))
        encoded = self.tokenizer(
            text_target=strings, padding=True, truncation=True, max_length=self.max_target_length, return_tensors="np"
        )
        labels = encoded["input_ids"].astype(np.int64)
        labels[encoded["attention_mask"] == 0] = -100
        return labels

    # ------------------------------------------------------------------------------------------------ decoding
    def batch_decode(self, *args, **kwargs) -> list[str]:
        kwargs.setdefault("skip_special_tokens", True)
        return [text.strip() for text in self.tokenizer.batch_decode(*args, **kwargs)]

    def decode(self, *args, **kwargs) -> str:
        kwargs.setdefault("skip_special_tokens", True)
        return self.tokenizer.decode(*args, **kwargs).strip()

    @property
    def model_input_names(self) -> list[str]:
        return ["pose_values", "pose_attention_mask", "pose_joint_mask", "lip_values", "lip_attention_mask",
                "input_ids", "attention_mask", "task_ids"]  # fmt: skip


# ----------------------------------------------------------------------------------------------------- helpers
def _is_single_clip(value: Any) -> bool:
    if isinstance(value, (str, os.PathLike, dict)) or _is_table(value):
        return True
    if hasattr(value, "values") and hasattr(value, "mask") and not callable(value.values):
        return True
    if hasattr(value, "ndim"):
        return value.ndim == 3 or (value.ndim == 4 and value.shape[1] == 1 and value.shape[2] != 88)
    return False


def _is_single_lip(value: Any) -> bool:
    if hasattr(value, "ndim"):
        return value.ndim == 2 or (value.ndim == 3 and tuple(value.shape[1:]) == (88, 88)) or (
            value.ndim == 4 and tuple(value.shape[1:]) == (1, 88, 88))  # fmt: skip
    return False


def _as_batch(value: Any, is_single) -> list:
    if value is None:
        return []
    if is_single(value):
        return [value]
    if hasattr(value, "ndim"):  # stacked batch array
        return list(value)
    if isinstance(value, (list, tuple)):
        if len(value) == 0:
            raise ValueError("Empty batch: got an empty list of clips.")
        return list(value)
    raise ValueError(f"Unsupported input of type {type(value).__name__}.")


def _broadcast(value: Any, batch_size: int, name: str) -> list:
    if value is None or isinstance(value, (str, int, float)):
        return [value] * batch_size
    value = list(value)
    if len(value) != batch_size:
        raise ValueError(f"`{name}` has {len(value)} entries for a batch of {batch_size}.")
    return value


def _broadcast_pairs(value: Any, batch_size: int, name: str) -> list:
    if value is None:
        return [None] * batch_size
    if len(value) == 2 and all(isinstance(v, (int, np.integer)) for v in value):
        return [tuple(int(v) for v in value)] * batch_size
    return _broadcast(value, batch_size, name)


if __package__ == "signllm":  # installed package only: AutoProcessor finds this class (configuration_signllm.py)
    from transformers import AutoProcessor

    from .configuration_signllm import SignLLMConfig

    AutoProcessor.register(SignLLMConfig, SignLLMProcessor, exist_ok=True)
