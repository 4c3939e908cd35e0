"""Sign-subtitle alignment metrics (SAT protocol): frame accuracy, CB-Acc, F1@{0.10, 0.25, 0.50}, edit.

Defined once, in the standalone `evaluate` module folder ``metrics/signllm_ssa/sat_metrics.py`` (numpy only, so the
folder loads without signllm); this module re-exports it. See that file for the protocol.
"""

from __future__ import annotations

from .metrics.signllm_ssa.sat_metrics import (
    BACKGROUND,
    FPS,
    MAX_TIME_PAD_SECONDS,
    OVERLAPS,
    Span,
    balanced_accuracy,
    edit_score,
    evaluate_alignment,
    evaluate_video,
    excluded_subtitles,
    f_score,
    get_labels_start_end_time,
    subtitles_to_frames,
)

__all__ = [
    "BACKGROUND",
    "FPS",
    "MAX_TIME_PAD_SECONDS",
    "OVERLAPS",
    "Span",
    "balanced_accuracy",
    "edit_score",
    "evaluate_alignment",
    "evaluate_video",
    "excluded_subtitles",
    "f_score",
    "get_labels_start_end_time",
    "subtitles_to_frames",
]
