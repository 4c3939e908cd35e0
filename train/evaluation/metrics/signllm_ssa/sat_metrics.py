"""Sign-subtitle alignment metrics, following the SAT protocol (Bull et al. 2021) and MS-TCN's ``eval.py``.

This file is the single definition (numpy only): ``signllm.train.evaluation.ssa_metrics`` re-exports it and the
`evaluate` module beside it (``signllm_ssa.py``) loads it, so the folder works without signllm installed.

Protocol (SAT ``evaluate_sub_alignment.py``, reproduced exactly):

- frames at 25 fps over ``[0, end of the *last* ground-truth subtitle (file order) + 10 s]``: the span depends only
  on the ground truth but still penalises predictions beyond its last subtitle;
- subtitles whose ground-truth text contains both ``[`` and ``]`` (annotator comments such as
  ``[NOT SURE WHERE]``) are excluded, from the prediction as well as from the ground truth;
- each subtitle paints ``frames[round(fps * start) : round(fps * end)]`` with its label (times clipped to the
  span; Python's ``round``, i.e. half to even, as in the reference); later subtitles overwrite earlier ones where
  they overlap; unpainted frames are background. Here background is label 0 and subtitle ``i`` (0-based, file
  order) is label ``i + 1`` (SAT uses -1 and ``i``; only the names differ);
- **frame accuracy** = correct frames / all frames, summed over videos;
- **F1@{0.10, 0.25, 0.50}**: MS-TCN segmental F1 (`f_score`: each predicted segment matched to the best-IoU
  unmatched ground-truth segment of the same label, background excluded), TP/FP/FN summed over videos;
- **CB-Acc** (class-balanced accuracy): mean over the classes present in a video's ground truth (background
  included) of the per-class frame recall, then averaged over videos (= ``sklearn.metrics.balanced_accuracy_score``
  per video).

Predictions and ground truth are paired by position: the i-th predicted cue is the i-th ground-truth cue, in file
order (`Subtitle.index` when read with `read_subtitles`, which sorts by time).

Memory [ours]: `evaluate_video` never builds per-frame arrays. The painted labels are kept as runs (run-length
encoding: the sorted frame boundaries of all cues and one label per run), and every metric is computed from run
lengths; the results are identical to the frame-by-frame reference (tested on random inputs), but a cue at
9999 h costs a few runs instead of 900 million frames. `subtitles_to_frames` expands the runs for callers that
want the frames. Times must be finite and >= 0 (``ValueError`` naming the cue otherwise).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

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
    "seconds_to_frame",
    "subtitles_to_frames",
]

BACKGROUND = 0
FPS = 25
MAX_TIME_PAD_SECONDS = 10.0
OVERLAPS = (0.10, 0.25, 0.50)


@dataclass
class Span:
    """A subtitle's timing in seconds and its text (only the text of the ground truth matters: ``[...]`` lines)."""

    start: float
    end: float
    text: str = ""


def seconds_to_frame(seconds: float, fps: float) -> int:
    """The frame that starts at (or nearest to) ``seconds``: ``round(seconds * fps)`` (half to even, as SAT).

    A standalone copy of the project's one frame convention (``signllm.processing_signllm.seconds_to_frame``), so
    this folder needs no signllm; ``tests/test_properties.py`` checks that the two stay equal.
    """
    return round(seconds * fps)


def _file_position(item) -> int | None:
    """``Subtitle.index`` (0-based position in its file) when the item has an integer one; never a tuple's method."""
    value = getattr(item, "index", None)
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    return None


def _as_spans(subtitles: Sequence, what: str = "subtitle") -> list[Span]:
    """Subtitle objects / Span / (start, end[, text]) sequences -> spans in file order (by ``.index`` when present).

    Raises ValueError naming the cue (1-based, file order) when a time is not finite or is negative.
    """
    items = list(subtitles)
    if items and all(_file_position(item) is not None for item in items):
        items = sorted(items, key=_file_position)
    spans = []
    for number, item in enumerate(items, start=1):
        if hasattr(item, "start") and hasattr(item, "end"):
            start, end, text = item.start, item.end, getattr(item, "text", "")
        else:
            if len(item) not in (2, 3):
                raise ValueError(f"{what} cue {number}: expected (start, end) or (start, end, text), got {item!r}")
            start, end, text = item[0], item[1], item[2] if len(item) == 3 else ""
        start, end = float(start), float(end)
        if not (math.isfinite(start) and math.isfinite(end)):
            raise ValueError(f"{what} cue {number} has a time that is not finite: start={start!r}, end={end!r}")
        if start < 0 or end < 0:
            raise ValueError(f"{what} cue {number} has a negative time: start={start!r}, end={end!r}")
        spans.append(Span(start, end, "" if text is None else str(text)))
    return spans


def excluded_subtitles(ground_truth: Sequence) -> set[int]:
    """Positions of ground-truth subtitles whose text holds both "[" and "]" (SAT excludes them)."""
    return {i for i, span in enumerate(_as_spans(ground_truth)) if "[" in span.text and "]" in span.text}


# ------------------------------------------------------------------------------------------------- painting


def _painted_runs(
    spans: Sequence[Span], max_time: float, fps: float, exclude: set[int] | frozenset[int]
) -> tuple[np.ndarray, np.ndarray]:
    """SAT ``subs2frames`` as runs: ``(edges (k + 1,), labels (k,))``, run ``i`` covers frames
    ``[edges[i], edges[i + 1])``; ``edges[0] = 0``, ``edges[-1] = round(fps * max_time)``.

    Each subtitle paints its frame range in file order (later ones overwrite), on the compressed axis of all cue
    boundaries, so the cost depends on the number of cues, not on the length of the video.
    """
    total = seconds_to_frame(max_time, fps)
    painted = []
    for position, span in enumerate(spans):
        if position in exclude:
            continue
        start_idx = seconds_to_frame(min(span.start, max_time), fps)
        end_idx = seconds_to_frame(min(span.end, max_time), fps)  # exclusive: last frame = end_idx - 1
        if end_idx > start_idx:
            painted.append((start_idx, end_idx, position + 1))
    edges = np.unique(np.asarray([0, total] + [p for a, b, _ in painted for p in (a, b)], dtype=np.int64))
    labels = np.full(len(edges) - 1, BACKGROUND, dtype=np.int64)
    for start_idx, end_idx, label in painted:
        labels[np.searchsorted(edges, start_idx) : np.searchsorted(edges, end_idx)] = label
    return edges, labels


def subtitles_to_frames(
    subtitles: Sequence, max_time: float, fps: float = FPS, exclude: set[int] | frozenset[int] = frozenset()
) -> np.ndarray:
    """SAT ``subs2frames``: ``(round(fps * max_time),)`` int labels, 0 = background, subtitle i -> i + 1."""
    edges, labels = _painted_runs(_as_spans(subtitles), max_time, fps, exclude)
    return np.repeat(labels, np.diff(edges))


def _on_common_edges(
    first: tuple[np.ndarray, np.ndarray], second: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two run sequences over the same frames -> ``(lengths, labels_first, labels_second)`` on their joint runs."""
    edges = np.union1d(first[0], second[0])
    starts = edges[:-1]
    return (np.diff(edges), first[1][np.searchsorted(first[0], starts, side="right") - 1],
            second[1][np.searchsorted(second[0], starts, side="right") - 1])  # fmt: skip


def _segments(edges: np.ndarray, labels: np.ndarray, bg_class: Sequence[int] = (BACKGROUND,)):
    """MS-TCN `get_labels_start_end_time` on runs: maximal same-label stretches, background skipped."""
    new = np.ones(len(labels), dtype=bool)
    new[1:] = labels[1:] != labels[:-1]
    first = np.flatnonzero(new)
    seg_labels = labels[first]
    seg_starts = edges[first]
    seg_ends = np.append(edges[first[1:]], edges[-1])
    keep = ~np.isin(seg_labels, np.asarray(bg_class))
    return seg_labels[keep].tolist(), seg_starts[keep].tolist(), seg_ends[keep].tolist()


# -------------------------------------------------------------------------------------------------- MS-TCN


def get_labels_start_end_time(frame_wise_labels: Sequence[int], bg_class: Sequence[int] = (BACKGROUND,)):
    """MS-TCN: contiguous runs of equal labels -> (labels, starts, ends), ends exclusive, background skipped."""
    labels, starts, ends = [], [], []
    if len(frame_wise_labels) == 0:
        return labels, starts, ends
    last_label = frame_wise_labels[0]
    if frame_wise_labels[0] not in bg_class:
        labels.append(frame_wise_labels[0])
        starts.append(0)
    for i in range(len(frame_wise_labels)):
        if frame_wise_labels[i] != last_label:
            if frame_wise_labels[i] not in bg_class:
                labels.append(frame_wise_labels[i])
                starts.append(i)
            if last_label not in bg_class:
                ends.append(i)
            last_label = frame_wise_labels[i]
    if last_label not in bg_class:
        ends.append(len(frame_wise_labels))
    return labels, starts, ends


def _segment_f_score(predicted, truth, overlap: float) -> tuple[float, float, float]:
    """(TP, FP, FN) of ``predicted`` vs ``truth`` segments, each ``(labels, starts, ends)``."""
    p_label, p_start, p_end = predicted
    y_label, y_start, y_end = truth
    if not y_label:
        return 0.0, float(len(p_label)), 0.0
    y_label_arr = np.asarray(y_label)
    y_start_arr = np.asarray(y_start, dtype=np.float64)
    y_end_arr = np.asarray(y_end, dtype=np.float64)
    tp, fp = 0, 0
    hits = np.zeros(len(y_label))
    for j in range(len(p_label)):
        intersection = np.minimum(p_end[j], y_end_arr) - np.maximum(p_start[j], y_start_arr)
        union = np.maximum(p_end[j], y_end_arr) - np.minimum(p_start[j], y_start_arr)
        iou = (1.0 * intersection / union) * (y_label_arr == p_label[j])
        idx = int(np.array(iou).argmax())
        if iou[idx] >= overlap and not hits[idx]:
            tp += 1
            hits[idx] = 1
        else:
            fp += 1
    fn = len(y_label) - hits.sum()
    return float(tp), float(fp), float(fn)


def f_score(
    recognized: Sequence[int], ground_truth: Sequence[int], overlap: float, bg_class: Sequence[int] = (BACKGROUND,)
) -> tuple[float, float, float]:
    """MS-TCN ``f_score`` on frame-wise labels: (TP, FP, FN) of predicted segments at an IoU threshold.

    IoU uses the reference's "union" ``max(ends) - min(starts)`` (the hull, equal to the union whenever the two
    segments overlap); a segment is a TP when its best same-label IoU reaches ``overlap`` and that GT segment is
    not already matched. With no ground-truth segment every prediction is a FP (the reference would crash).
    """
    return _segment_f_score(get_labels_start_end_time(list(recognized), bg_class),
                            get_labels_start_end_time(list(ground_truth), bg_class), overlap)  # fmt: skip


def _levenshtein_score(p: Sequence[int], y: Sequence[int]) -> float:
    """(1 - Levenshtein(p, y) / max length) x100; 100 when both are empty."""
    if not p and not y:
        return 100.0
    table = np.zeros((len(p) + 1, len(y) + 1))
    table[:, 0] = np.arange(len(p) + 1)
    table[0, :] = np.arange(len(y) + 1)
    for j in range(1, len(y) + 1):
        for i in range(1, len(p) + 1):
            if y[j - 1] == p[i - 1]:
                table[i, j] = table[i - 1, j - 1]
            else:
                table[i, j] = min(table[i - 1, j], table[i, j - 1], table[i - 1, j - 1]) + 1
    return (1 - table[-1, -1] / max(len(p), len(y))) * 100


def edit_score(recognized: Sequence[int], ground_truth: Sequence[int], bg_class: Sequence[int] = (BACKGROUND,)) -> float:
    """MS-TCN segmental edit score: (1 - Levenshtein(segment labels) / max length) x100."""
    p, _, _ = get_labels_start_end_time(list(recognized), bg_class)
    y, _, _ = get_labels_start_end_time(list(ground_truth), bg_class)
    return _levenshtein_score(p, y)


def balanced_accuracy(predicted: np.ndarray, ground_truth: np.ndarray) -> float:
    """Mean per-class recall over the classes present in ``ground_truth`` (background included)."""
    lengths = np.ones(len(ground_truth), dtype=np.int64)
    return _balanced_accuracy_runs(lengths, np.asarray(predicted), np.asarray(ground_truth))


def _balanced_accuracy_runs(lengths: np.ndarray, predicted: np.ndarray, ground_truth: np.ndarray) -> float:
    recalls = []
    for label in np.unique(ground_truth[lengths > 0]):
        of_label = ground_truth == label
        recalls.append(int(lengths[of_label & (predicted == label)].sum()) / int(lengths[of_label].sum()))
    return float(np.mean(recalls))


# ---------------------------------------------------------------------------------------------- evaluation


def evaluate_video(predicted: Sequence, ground_truth: Sequence, fps: float = FPS) -> dict[str, float]:
    """Counts for one video: correct/total frames, TP/FP/FN per overlap, CB-Acc, edit, #evaluated subtitles."""
    gt = _as_spans(ground_truth, "ground truth")
    pred = _as_spans(predicted, "prediction")
    if not gt:
        raise ValueError("ground truth has no subtitles; the SAT protocol needs at least one")
    if len(pred) != len(gt):
        raise ValueError(f"expected as many predicted subtitles ({len(pred)}) as ground-truth ones ({len(gt)}); "
                         "they are paired by position in file order")
    max_time = gt[-1].end + MAX_TIME_PAD_SECONDS
    if seconds_to_frame(max_time, fps) < 1:
        raise ValueError(f"fps={fps!r} leaves no frame in the {max_time:g} s evaluation span")
    exclude = excluded_subtitles(gt)
    pred_runs = _painted_runs(pred, max_time, fps, exclude)
    gt_runs = _painted_runs(gt, max_time, fps, exclude)
    lengths, pred_labels, gt_labels = _on_common_edges(pred_runs, gt_runs)
    pred_segments, gt_segments = _segments(*pred_runs), _segments(*gt_runs)
    counts: dict[str, float] = {
        "correct": float(lengths[pred_labels == gt_labels].sum()),
        "total": float(gt_runs[0][-1]),
        "num_subtitles": float(len(gt) - len(exclude)),
        "cb_accuracy": 100.0 * _balanced_accuracy_runs(lengths, pred_labels, gt_labels),
        "edit": _levenshtein_score(pred_segments[0], gt_segments[0]),
    }
    for overlap in OVERLAPS:
        tp, fp, fn = _segment_f_score(pred_segments, gt_segments, overlap)
        counts[f"tp@{overlap:.2f}"], counts[f"fp@{overlap:.2f}"], counts[f"fn@{overlap:.2f}"] = tp, fp, fn
    return counts


def _f1(tp: float, fp: float, fn: float) -> float:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return 100.0 * 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def evaluate_alignment(videos: Sequence[tuple[Sequence, Sequence]], fps: float = FPS) -> dict[str, float]:
    """SAT metrics over a set of videos given as ``(predicted subtitles, ground-truth subtitles)`` pairs.

    Subtitles are `Subtitle`/`Span`-like objects (``start``, ``end`` in seconds, ``text``) or ``(start, end)`` /
    ``(start, end, text)`` sequences. Returns ``frame_accuracy``, ``cb_accuracy``, ``f1@0.10``, ``f1@0.25``,
    ``f1@0.50`` (all x100), ``edit``, ``num_frames``, ``num_subtitles`` and ``num_videos``.
    """
    if not videos:
        raise ValueError("no videos to evaluate")
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    per_video = [evaluate_video(pred, gt, fps) for pred, gt in videos]
    total = sum(v["total"] for v in per_video)
    results = {
        "frame_accuracy": 100.0 * sum(v["correct"] for v in per_video) / total,
        "cb_accuracy": float(np.mean([v["cb_accuracy"] for v in per_video])),
    }
    for overlap in OVERLAPS:
        key = f"{overlap:.2f}"
        results[f"f1@{key}"] = _f1(*(sum(v[f"{kind}@{key}"] for v in per_video) for kind in ("tp", "fp", "fn")))
    results["edit"] = float(np.mean([v["edit"] for v in per_video]))
    results["num_frames"] = total
    results["num_subtitles"] = sum(v["num_subtitles"] for v in per_video)
    results["num_videos"] = float(len(per_video))
    return results
