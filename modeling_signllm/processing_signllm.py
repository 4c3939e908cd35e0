"""SignLLM processor: keypoints / lip features → padded model inputs, prompts and SSA targets → token ids.

Axis legend: b batch, t frames, k keypoints (203 after selection), c coordinates (3), f lip feature width.

Accepted pose inputs (architecture §2.1), per clip — read by the one keypoint path of `keypoint_reading`
(also used by training, evaluation and the CLI):
- ``np.ndarray`` / tensor ``(t, 203, 3)`` (already reduced) or ``(t, k, 2|3)`` full MediaPipe Holistic with
  k ∈ {543, 553, 576, 586} (missing landmarks NaN or 0);
- a ``dict`` with ``values`` (and optional ``mask``, ``fps``, ``extractor``), e.g. a ``KeypointSequence`` as a dict;
- any object with ``.values`` / ``.mask`` / ``.fps`` attributes (`keypoint_reading.KeypointSequence`);
- a path to a pose-format ``.pose`` file (full or reduced holistic), an ``.npz`` / ``.npy``, or a Kaggle GISLR
  landmark ``.parquet``; or a Kaggle-style table (``pandas.DataFrame`` with frame/type/landmark_index/x/y/z).

Lip inputs, per clip: features ``(t, f)`` (pre-extracted lip-reader features) or mouth crops ``(t, 1, 88, 88)``
/ ``(t, 88, 88)`` (run through the frozen lip reader inside the model), or ``None`` (modality absent, masked).

**Frame convention** (one definition, used by the window sampler, the prompts and targets here, alignment, export
and the SSA metrics): a span of subtitle time ``[start, end)`` seconds covers frames ``round(start * fps)`` to
``round(end * fps) - 1`` **inclusive** (`seconds_to_span`; Python's ``round``, half to even, as the SAT metrics);
the SSA target and prior ``"sss eee"`` are those first and last frames relative to the window start, both in
``[0, num_frames - 1]``; back to seconds, a span ``(first, last)`` is ``[first / fps, (last + 1) / fps)``
(`span_to_seconds`). Round trip: within half a frame of the input times.

Only numpy is needed here; ``pose_format`` / ``pandas`` are imported lazily for the file formats that need them.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from transformers import BatchFeature
from transformers.processing_utils import ProcessorMixin

from .keypoint_layout import (
    MAX_KEYPOINT_DISTANCE,
    NUM_JOINTS,
    mask_implausible,
    normalize_keypoints,
    warn_implausible,
)
from .keypoint_reading import (  # noqa: F401 - KeypointFileError, describe_extractor: re-exported for users
    DEFAULT_MAX_FRAMES,
    KEYPOINT_SUFFIXES,
    KeypointFileError,
    KeypointSequence,
    describe_extractor,
    extractor_mismatch,
    load_keypoints,
    resample_frames,
)

logger = logging.getLogger(__name__)

TASKS = ("slt", "ssa")
TASK_TO_ID = {task: index for index, task in enumerate(TASKS)}
POSE_SUFFIXES = KEYPOINT_SUFFIXES
PRIOR_UNITS = ("frames", "seconds")


# ------------------------------------------------------------------------------------------------ frame convention
def seconds_to_frame(seconds: float, fps: float) -> int:
    """The frame that starts at (or nearest to) ``seconds``: ``round(seconds * fps)`` (half to even, as SAT)."""
    return round(seconds * fps)


def seconds_to_span(start: float, end: float, fps: float) -> tuple[int, int]:
    """Time ``[start, end)`` in seconds → ``(first, last)`` frames, **last inclusive** (at least one frame)."""
    first = seconds_to_frame(start, fps)
    return first, max(seconds_to_frame(end, fps) - 1, first)


def span_to_seconds(first: float, last: float, fps: float) -> tuple[float, float]:
    """Inclusive frames ``(first, last)`` → time ``[first / fps, (last + 1) / fps)`` in seconds."""
    return first / fps, (last + 1) / fps


def window_span(first: int, last: int, window_start: int, num_frames: int) -> tuple[int, int]:
    """Inclusive episode frames → inclusive window frames, clipped to ``[0, num_frames - 1]``."""
    def clip(frame: int) -> int:
        return min(max(int(frame) - int(window_start), 0), num_frames - 1)

    return clip(first), clip(last)


def crop_or_check_length(num_frames: int, window: int, min_frames: int, truncation: str | None,
                         fps: float | None = None) -> slice:  # fmt: skip
    """The slice of a clip kept in the window; raises a clear error for clips too short / too long."""
    rate = f" at {fps:g} fps" if fps else ""
    if num_frames < min_frames:
        seconds = f" ({min_frames / fps:.2f} s)" if fps else ""
        raise ValueError(f"Clip too short: {num_frames} frames{rate}, the model needs at least {min_frames}{seconds}.")
    if num_frames <= window:
        return slice(0, num_frames)
    if truncation is None:
        raise ValueError(
            f"Clip too long: {num_frames} frames{rate} but the model window is {window} frames. Split the video into "
            "windows (e.g. one per sentence) or pass truncation='center' / 'start' to crop it."
        )
    if truncation == "start":
        return slice(0, window)
    if truncation == "center":
        start = (num_frames - window) // 2
        return slice(start, start + window)
    raise ValueError(f"truncation={truncation!r} is not supported; allowed values: None, 'center', 'start'.")


def _to_numpy(array: Any) -> np.ndarray:
    if hasattr(array, "detach"):  # torch tensor
        array = array.detach().cpu().numpy()
    return np.asarray(array)


def _is_table(source: Any) -> bool:
    return hasattr(source, "columns") and {"frame", "type", "landmark_index"} <= set(map(str, source.columns))


# ------------------------------------------------------------------------------------------------------ processor
class SignLLMProcessor(ProcessorMixin):
    r"""Keypoint / lip-feature preparation plus the text side (prompts, targets, decoding) for SignLLM.

    The keypoint settings are the processor's own arguments (saved in ``processor_config.json``); the only
    sub-processor is the tokenizer, which keeps ``AutoProcessor`` loading working for remote code.

    Args:
        tokenizer (`PreTrainedTokenizerBase`): the text tokenizer (Flan-T5's, or ``ByT5Tokenizer`` in tests).
        num_frames (`int`, *optional*, defaults to 500): window length in frames (20 s at 25 fps) [paper].
        fps (`float`, *optional*, defaults to 25.0): model frame rate; inputs are resampled to it [paper] with the
            nearest-frame rule of `keypoint_reading` (the same frames ``signllm extract`` takes from a video).
        min_seconds (`float`, *optional*, defaults to 1.0): shorter clips are rejected [paper: 1-20 s data filter];
            in frames at the model rate: ``ceil(min_seconds * fps)`` (`min_frames`). An old ``min_frames=N`` setting
            (frames at 25 fps) is read as ``min_seconds = N / 25``.
        max_frames (`int`, *optional*, defaults to 360000): longest input after resampling (4 h at 25 fps); longer
            inputs (or a wrong, tiny frame rate that would blow one up) are refused before allocating anything.
        padding (`str`, *optional*, defaults to `"max_length"`): pad clips to ``num_frames`` or to the ``"longest"``.
        truncation (`str`, *optional*): ``None`` rejects clips longer than the window, ``"center"`` / ``"start"`` crop.
        normalize (`bool`, *optional*, defaults to `True`): per-clip shoulder normalisation.
        max_keypoint_distance (`float`, *optional*, defaults to 10.0): [ours] plausibility bound in shoulder widths
            from the shoulder centre; farther joints (corrupt values such as 1e30, failed tracking) are masked with a
            warning that counts them, before anything reaches the model (`keypoint_layout.mask_implausible`).
        lip_feature_size (`int`, *optional*, defaults to 768): width of pre-extracted lip features.
        slt_prompt, ssa_prompt, ssa_prior_template (`str`): prompts (architecture §4), same defaults as the config.
        ssa_digit_separator (`str`, *optional*): text between the digits of a frame index; ``None`` picks ``""`` when
            the tokenizer gives one token per digit in ``"123"`` (byte-level) and ``" "`` otherwise (SentencePiece).
        max_subtitle_tokens (`int`, *optional*, defaults to 256): [ours] token budget of the subtitle text in an SSA
            prompt; longer subtitles are cut (with a warning) so one pathological cue cannot blow up memory. 256
            Flan-T5 tokens hold ~190 words, far above the paper's 80-word data filter.
        max_target_length (`int`, *optional*, defaults to 128): label truncation length in tokens.
        keypoint_extractor (`dict`, *optional*): provenance of the keypoints the model was trained on
            (``{"name", "backend", "version", "settings"}``, as ``signllm extract`` records it); inputs from another
            extractor get a warning that says which (`check_extractor`). `describe_extractor` formats it.

    SSA frame convention: see the module docstring (targets and priors are inclusive window frames).
    """

    def __init__(
        self,
        tokenizer=None,
        num_frames: int = 500,
        fps: float = 25.0,
        min_seconds: float = 1.0,
        max_frames: int = DEFAULT_MAX_FRAMES,
        padding: str = "max_length",
        truncation: str | None = None,
        normalize: bool = True,
        max_keypoint_distance: float | None = MAX_KEYPOINT_DISTANCE,
        lip_feature_size: int = 768,
        slt_prompt: str = "Translate the sign language video to English.",
        ssa_prompt: str = "Align the subtitle to the signing: {subtitle}",
        ssa_prior_template: str = " Prior: {start} {end}",
        ssa_digit_separator: str | None = None,
        max_subtitle_tokens: int = 256,
        max_target_length: int = 128,
        keypoint_extractor: dict | None = None,
        min_frames: int | None = None,
        **kwargs,
    ):
        if padding not in ("max_length", "longest"):
            raise ValueError(f"padding={padding!r} is not supported; allowed values: 'max_length', 'longest'.")
        if min_frames is not None:  # processor_config.json from before min_seconds: frames at 25 fps
            min_seconds = min_frames / 25.0
        self.num_frames = num_frames
        self.fps = fps
        self.min_seconds = float(min_seconds)
        self.max_frames = int(max_frames)
        self.padding = padding
        self.truncation = truncation
        self.normalize = normalize
        self.max_keypoint_distance = max_keypoint_distance
        self.lip_feature_size = lip_feature_size
        self.slt_prompt = slt_prompt
        self.ssa_prompt = ssa_prompt
        self.ssa_prior_template = ssa_prior_template
        self.ssa_digit_separator = ssa_digit_separator
        self.max_subtitle_tokens = int(max_subtitle_tokens)
        self.max_target_length = max_target_length
        self.keypoint_extractor = dict(keypoint_extractor) if keypoint_extractor else None
        self._digit_token_ids: list[int] | None = None
        super().__init__(tokenizer, **kwargs)

    @property
    def min_frames(self) -> int:
        """Shortest clip in frames at the model rate: ``ceil(min_seconds * fps)`` (at least 1)."""
        return max(1, math.ceil(self.min_seconds * self.fps - 1e-9))

    # ------------------------------------------------------------------------------------------------ call
    def __call__(
        self,
        pose: Any = None,
        lip: Any = None,
        text: str | Sequence[str] | None = None,
        task: str | Sequence[str] = "slt",
        subtitle: str | Sequence[str | None] | None = None,
        prior: tuple[float, float] | Sequence[tuple[float, float] | None] | None = None,
        targets: tuple[int, int] | Sequence[tuple[int, int] | None] | None = None,
        fps: float | Sequence[float | None] | None = None,
        truncation: str | None = "default",
        padding: str | None = None,
        return_tensors: str | None = "pt",
        prior_unit: str = "frames",
        return_window_start: bool = False,
        **kwargs,
    ) -> BatchFeature:
        """Prepare a batch.

        Args:
            pose: one clip or a list of clips (see module docstring); ``None`` entries mark a missing pose.
            lip: lip features ``(t, f)`` / mouth crops ``(t, 1, 88, 88)`` per clip, or ``None``.
            text: SLT target sentence(s) → ``labels`` (training).
            task: ``"slt"`` / ``"ssa"``, or one per sample for mixed batches.
            subtitle: the subtitle text to align, per SSA sample.
            prior: optional prior per SSA sample. One pair of numbers is one prior (for every sample); a list holds
                one pair (or ``None``) per sample. With ``prior_unit="frames"`` (default): inclusive window frames
                ``(first, last)``; with ``"seconds"``: ``(start, end)`` seconds from the clip's first frame, turned
                into window frames after resampling and cropping (module docstring). NaN / reversed priors are
                errors; a prior partly outside the window is clipped to it with a warning, one entirely outside is
                an error.
            targets: SSA target ``(first_frame, last_frame)`` (inclusive, window frames) → ``labels`` (training).
            fps: frame rate of the inputs when it is not stored with them (defaults to the model rate).
            truncation / padding: override the processor's settings for this call.
            return_window_start: also return ``window_start (b,)``: the input frame (at the model rate) where each
                window starts (non-zero when ``truncation`` cropped the clip).
        Returns:
            `BatchFeature` with ``pose_values (b, t, 203, 3)``, ``pose_attention_mask (b, t)``,
            ``pose_joint_mask (b, t, 203)``, [``lip_values (b, t, f)`` or ``(b, t, 1, 88, 88)``,
            ``lip_attention_mask (b, t)``], ``input_ids``, ``attention_mask``, ``task_ids (b,)`` and,
            when targets are given, ``labels (b, l)`` padded with -100.
        """
        if pose is None and lip is None:
            raise ValueError("SignLLMProcessor needs `pose` and/or `lip` inputs; both are None.")
        if prior_unit not in PRIOR_UNITS:
            raise ValueError(f"prior_unit={prior_unit!r} is not supported; allowed values: 'frames', 'seconds'.")
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
        priors = _broadcast_pairs(prior, batch_size, "prior")  # checked before the (slow) keypoint reading

        # step 1: visual inputs, each clip resampled, cleaned, normalised and placed in the window
        pose_items = [self._prepare_pose(clip, rate, truncation) if clip is not None else None
                      for clip, rate in zip(poses, fpss)]  # fmt: skip
        lip_items = [self._prepare_lip(clip, rate, truncation) if clip is not None else None
                     for clip, rate in zip(lips, fpss)]  # fmt: skip
        features = self._pad_visual([None if item is None else item[:2] for item in pose_items],
                                    [None if item is None else item[0] for item in lip_items], padding)  # fmt: skip
        windows = [(p or l or (0, 0))[-2:] for p, l in zip(pose_items, lip_items)]  # (window start, kept frames)

        # step 2: prompts
        subtitles = _broadcast(subtitle, batch_size, "subtitle")
        if prior_unit == "seconds":
            priors = [None if pri is None else self.prior_seconds_to_frames(pri, start, length)
                      for pri, (start, length) in zip(priors, windows)]  # fmt: skip
        prompts = [self.build_prompt(name, sub, pri) for name, sub, pri in zip(tasks, subtitles, priors)]
        encoded = self.tokenizer(prompts, padding=True, return_tensors="np")
        features["input_ids"] = encoded["input_ids"]
        features["attention_mask"] = encoded["attention_mask"]
        features["task_ids"] = np.array([TASK_TO_ID[name] for name in tasks], dtype=np.int64)
        if return_window_start:
            features["window_start"] = np.array([start for start, _ in windows], dtype=np.int64)

        # step 3: labels (training only)
        if text is not None or targets is not None:
            features["labels"] = self._labels(tasks, text, targets)
        return BatchFeature(features, tensor_type=return_tensors)

    # ------------------------------------------------------------------------------------------ keypoints
    def load_keypoints(self, source: Any, fps: float | None = None) -> KeypointSequence:
        """One clip or whole video in any accepted form → raw 203-joint :class:`KeypointSequence` at the model rate.

        The single reading path (file formats, joint selection, fps checks, resampling, ``max_frames``) shared by
        training, the CLI and the pipeline; warns when the keypoints come from another extractor than the model's.
        """
        sequence = load_keypoints(source, self.fps, fps=fps, default_fps=self.fps, max_frames=self.max_frames)
        self.check_extractor(sequence.extractor, source)
        return sequence

    def clean_keypoints(
        self, values: np.ndarray, mask: np.ndarray, source: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Mask implausible joints (warning with counts) and, with ``normalize``, shoulder-normalise the clip."""
        if self.normalize:
            return normalize_keypoints(values, mask, max_distance=self.max_keypoint_distance,
                                       source=_describe_source(source))  # fmt: skip
        return self.screen_keypoints(values, mask, source)

    def screen_keypoints(
        self, values: np.ndarray, mask: np.ndarray, source: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Mask joints beyond ``max_keypoint_distance`` shoulder widths (warning with counts); no normalisation.
        ``translate`` / ``align`` screen a whole video once this way before cutting it into windows."""
        values, mask, masked = mask_implausible(values, mask, self.max_keypoint_distance)
        if masked:
            warn_implausible(masked, mask.shape, self.max_keypoint_distance, _describe_source(source))
        return values, mask

    def check_extractor(self, extractor: dict | None, source: Any = None) -> str | None:
        """Warn (and return the message) when ``extractor`` differs from the one the model was trained on."""
        message = extractor_mismatch(extractor, self.keypoint_extractor)
        if message:
            where = _describe_source(source)
            logger.warning("%s%s", f"{where}: " if where else "", message)
        return message

    def _prepare_pose(self, clip: Any, fps: float | None, truncation: str | None):
        """``(values (t, 203, 3), mask (t, 203), window start, kept frames)`` of one clip."""
        sequence = self.load_keypoints(clip, fps)
        values, mask = sequence.values, sequence.mask
        if not mask.any():
            raise ValueError("All keypoints are missing (NaN or zero) in this clip: nothing to translate.")
        keep = crop_or_check_length(values.shape[0], self.num_frames, self.min_frames, truncation, self.fps)
        values, mask = self.clean_keypoints(values[keep], mask[keep], clip)
        return values, mask, keep.start, keep.stop - keep.start

    def _prepare_lip(self, clip: Any, fps: float | None, truncation: str | None):
        """``(features or crops (t, ...), window start, kept frames)`` of one clip."""
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
        array = resample_frames(array, self.fps if fps is None else fps, self.fps, self.max_frames)
        keep = crop_or_check_length(array.shape[0], self.num_frames, self.min_frames, truncation, self.fps)
        return array[keep], keep.start, keep.stop - keep.start

    def prior_seconds_to_frames(self, prior: tuple[float, float], window_start: int, length: int) -> tuple[int, int]:
        """A prior in seconds from the clip's first frame → inclusive window frames (module docstring convention).

        A prior partly outside the ``length`` frames the window holds is clipped to them with a warning; one
        entirely outside is an error.
        """
        start, end = prior
        first, last = seconds_to_span(start, end, self.fps)
        first, last = first - window_start, last - window_start
        if last < 0 or first > length - 1:
            low, high = span_to_seconds(window_start, window_start + length - 1, self.fps)
            raise ValueError(
                f"The SSA prior ({start:g}, {end:g}) s lies outside the input's window ({low:g}-{high:g} s): it "
                "must overlap the clip the subtitle is aligned in (prior times are relative to the input's start, "
                "after window_offset)."
            )
        clipped = (min(max(first, 0), length - 1), min(max(last, 0), length - 1))
        if clipped != (first, last):
            low, high = span_to_seconds(window_start + clipped[0], window_start + clipped[1], self.fps)
            logger.warning("SSA prior (%g, %g) s reaches outside the input's window: clipped to (%g, %g) s.",
                           start, end, low, high)  # fmt: skip
        return clipped

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
        """SLT: the fixed instruction. SSA: the instruction with the subtitle text (cut to ``max_subtitle_tokens``)
        and, optionally, the prior ``(first, last)`` in inclusive window frames."""
        if task == "slt":
            return self.slt_prompt
        if task != "ssa":
            raise ValueError(f"task={task!r} is not supported; allowed values: {', '.join(map(repr, TASKS))}.")
        if not subtitle or not str(subtitle).strip():
            raise ValueError("SSA needs the subtitle text to align (`subtitle=`).")
        prompt = self.ssa_prompt.format(subtitle=self.truncate_subtitle(str(subtitle).strip()))
        if prior is not None:
            first, last = self.check_prior_frames(prior)
            start, end = (self.format_frame_index(value) for value in (first, last))
            try:
                prompt += self.ssa_prior_template.format(start=start, end=end)
            except ValueError:  # an integer format spec such as the config's "{start:03d}"
                prompt += self.ssa_prior_template.format(start=first, end=last)
        return prompt

    def truncate_subtitle(self, subtitle: str) -> str:
        """The subtitle cut to ``max_subtitle_tokens`` tokens (warning with the counts when it had to be cut)."""
        if self.max_subtitle_tokens <= 0 or len(subtitle) * 8 <= self.max_subtitle_tokens:
            return subtitle  # short enough for any tokenizer (byte-level: <= 4 tokens per character)
        ids = self.tokenizer(subtitle, add_special_tokens=False)["input_ids"]
        if len(ids) <= self.max_subtitle_tokens:
            return subtitle
        kept = self.tokenizer.decode(ids[: self.max_subtitle_tokens], skip_special_tokens=True).strip()
        logger.warning("SSA subtitle of %d tokens (%d characters) cut to the prompt budget max_subtitle_tokens=%d "
                       "(%d characters kept): %r...", len(ids), len(subtitle), self.max_subtitle_tokens, len(kept),
                       subtitle[:40])  # fmt: skip
        return kept

    def check_prior_frames(self, prior: Any) -> tuple[int, int]:
        """A prior in window frames as ``(first, last)`` ints; NaN / reversed are errors, outside the window is
        clipped to it with a warning."""
        first, last = _finite_pair(prior, "prior")
        if first > last:
            raise ValueError(f"The SSA prior {tuple(prior)} is reversed: start must be <= end.")
        first, last = round(first), round(last)
        clipped = (min(max(first, 0), self.num_frames - 1), min(max(last, 0), self.num_frames - 1))
        if clipped != (first, last):
            logger.warning("SSA prior frames (%d, %d) outside the %d-frame window: clipped to %s.",
                           first, last, self.num_frames, clipped)  # fmt: skip
        return clipped

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
        """Generated SSA text → inclusive ``(first, last)`` window frames, or with ``return_seconds`` the time
        ``[first / fps, (last + 1) / fps)`` from the window start (`span_to_seconds`).

        Raises:
            ValueError: when the text does not contain exactly two 3-digit indices with start <= end < window.
        """
        digits = re.sub(r"\s+", "", str(text))
        if not re.fullmatch(r"[0-9]{6}", digits):  # ASCII digits only (\d also matches Arabic-Indic, fullwidth)
            raise ValueError(f"Unparsable SSA output {text!r}: expected two 3-digit frame indices like '012 345'.")
        start, end = int(digits[:3]), int(digits[3:])
        if not start <= end < self.num_frames:
            raise ValueError(f"Invalid SSA output {text!r}: need start <= end < {self.num_frames}, got {start}, {end}.")
        if return_seconds:
            return span_to_seconds(start, end, self.fps)
        return start, end

    def span_to_seconds(self, first: int, last: int) -> tuple[float, float]:
        """Inclusive frames at the model rate → ``[start, end)`` seconds (module docstring convention)."""
        return span_to_seconds(first, last, self.fps)

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
    """One pair of numbers → the same pair for every sample; a list → one pair (or ``None``) per sample."""
    if value is None:
        return [None] * batch_size
    if _is_number_pair(value):
        return [_finite_pair(value, name)] * batch_size
    if isinstance(value, str) or not hasattr(value, "__len__"):
        raise ValueError(f"`{name}` must be a (start, end) pair or a list of them, got {value!r}.")
    value = list(value)
    if len(value) != batch_size:
        raise ValueError(
            f"`{name}` has {len(value)} entries for a batch of {batch_size}: pass one (start, end) pair, or a list "
            "with one pair (or None) per sample."
        )
    pairs = []
    for item in value:
        if item is not None and not _is_number_pair(item):
            raise ValueError(f"`{name}` entries must be (start, end) pairs of numbers or None, got {item!r}.")
        pairs.append(None if item is None else _finite_pair(item, name))
    return pairs


def _is_number_pair(value: Any) -> bool:
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__len__") or len(value) != 2:
        return False
    return all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in value)


def _finite_pair(value: Any, name: str) -> tuple[float, float]:
    if not _is_number_pair(value):
        raise ValueError(f"`{name}` must be a (start, end) pair of numbers, got {value!r}.")
    start, end = (float(v) for v in value)
    if not (math.isfinite(start) and math.isfinite(end)):
        raise ValueError(f"`{name}` must be two finite numbers (start, end), got {tuple(value)!r}.")
    if start > end:
        raise ValueError(f"`{name}` {tuple(value)!r} is reversed: start must be <= end.")
    return start, end


def _describe_source(source: Any) -> str | None:
    return os.fspath(source) if isinstance(source, (str, os.PathLike)) else None


if __package__ == "signllm":  # installed package only: AutoProcessor finds this class (configuration_signllm.py)
    from transformers import AutoProcessor

    from .configuration_signllm import SignLLMConfig

    AutoProcessor.register(SignLLMConfig, SignLLMProcessor, exist_ok=True)
