"""Full-video sign language translation: one SLT window per sentence, centred on its midpoint [paper].

Sentence times come from a subtitle file or, without one, from `uniform_segments`; each window is translated with
beam search (`generation.generate_for_windows`) in batches, and segments with no usable output get an empty text.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from signllm.processing_signllm import seconds_to_span

from .alignment import FPS, WINDOW_FRAMES, window_start_for
from .generation import generate_for_windows, predict_in_batches


@dataclass
class SLTWindow:
    """One SLT query: a sentence (``start``/``end`` seconds) and its window, centred on the sentence midpoint."""

    position: int
    start: float
    end: float
    window_start: int
    num_frames: int


@dataclass
class TranslatedSegment:
    start: float
    end: float
    text: str
    confidence: float | None = None


Translate = Callable[[Sequence[SLTWindow]], Sequence["tuple[str, float | None] | None"]]


def uniform_segments(duration: float, segment_seconds: float) -> list[tuple[float, float]]:
    """[ours] Consecutive ``segment_seconds`` segments covering ``[0, duration]`` when no sentence times are given."""
    if segment_seconds <= 0:
        raise ValueError(f"segment_seconds must be > 0, got {segment_seconds}")
    count = max(1, math.ceil(duration / segment_seconds - 1e-9))
    return [(i * segment_seconds, min((i + 1) * segment_seconds, duration)) for i in range(count)]


def make_slt_windows(segments: Sequence[tuple[float, float]], fps: float = FPS,
                     num_frames: int = WINDOW_FRAMES) -> list[SLTWindow]:  # fmt: skip
    """One window per segment, centred on it exactly as training centres SLT windows (`seconds_to_span`)."""
    return [SLTWindow(i, start, end, window_start_for(*seconds_to_span(start, end, fps), num_frames), num_frames)
            for i, (start, end) in enumerate(segments)]  # fmt: skip


def translate_segments(
    segments: Sequence[tuple[float, float]],
    translate: Translate,
    fps: float = FPS,
    num_frames: int = WINDOW_FRAMES,
    batch_size: int = 16,
    progress: bool = True,
) -> list[TranslatedSegment]:
    """SLT per sentence window, in batches; segments with no usable output get an empty text."""
    windows = make_slt_windows(segments, fps, num_frames)
    outputs = predict_in_batches(windows, translate, batch_size, progress)
    return [TranslatedSegment(w.start, w.end, out[0] if out else "", out[1] if out else None)
            for w, out in zip(windows, outputs)]  # fmt: skip


def model_translator(
    model, processor, pose_values: np.ndarray, pose_mask: np.ndarray, lip_values: np.ndarray | None = None,
    num_beams: int = 5, max_new_tokens: int = 64,
) -> Translate:
    """``translate(windows)`` from a SignLLM model + processor (beam search, confidence = exp(sequence score))."""

    def translate(windows: Sequence[SLTWindow]):
        return generate_for_windows(model, processor, windows, pose_values, pose_mask, lip_values, num_beams, max_new_tokens,
                         "slt")

    return translate
