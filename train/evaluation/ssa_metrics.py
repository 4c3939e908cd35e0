"""Sign-subtitle alignment metrics, following the SAT protocol (Bull et al. 2021) and MS-TCN's ``eval.py``.

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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from signllm.processing_signllm import seconds_to_frame

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


def _as_spans(subtitles: Sequence) -> list[Span]:
    """Subtitle objects / Span / (start, end[, text]) tuples -> spans in file order (by ``.index`` when present)."""
    items = list(subtitles)
    if items and all(getattr(item, "index", None) is not None for item in items):
        items = sorted(items, key=lambda item: item.index)
    spans = []
    for item in items:
        if isinstance(item, (tuple, list)):
            spans.append(Span(float(item[0]), float(item[1]), str(item[2]) if len(item) > 2 else ""))
        else:
            spans.append(Span(float(item.start), float(item.end), str(getattr(item, "text", ""))))
    return spans


def excluded_subtitles(ground_truth: Sequence) -> set[int]:
    """Positions of ground-truth subtitles whose text holds both "[" and "]" (SAT excludes them)."""
    return {i for i, span in enumerate(_as_spans(ground_truth)) if "[" in span.text and "]" in span.text}


def subtitles_to_frames(
    subtitles: Sequence, max_time: float, fps: float = FPS, exclude: set[int] | frozenset[int] = frozenset()
) -> np.ndarray:
    """SAT ``subs2frames``: ``(round(fps * max_time),)`` int labels, 0 = background, subtitle i -> i + 1."""
    frames = np.full(round(fps * max_time), BACKGROUND, dtype=np.int64)
    for position, span in enumerate(_as_spans(subtitles)):
        if position in exclude:
            continue
        start_idx = seconds_to_frame(min(span.start, max_time), fps)  # the project's one frame convention
        end_idx = seconds_to_frame(min(span.end, max_time), fps)  # exclusive: last frame = end_idx - 1
        if end_idx > start_idx:
            frames[start_idx:end_idx] = position + 1
    return frames


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


def f_score(
    recognized: Sequence[int], ground_truth: Sequence[int], overlap: float, bg_class: Sequence[int] = (BACKGROUND,)
) -> tuple[float, float, float]:
    """MS-TCN ``f_score``: (TP, FP, FN) of predicted segments at an IoU threshold.

    IoU uses the reference's "union" ``max(ends) - min(starts)`` (the hull, equal to the union whenever the two
    segments overlap); a segment is a TP when its best same-label IoU reaches ``overlap`` and that GT segment is
    not already matched. With no ground-truth segment every prediction is a FP (the reference would crash).
    """
    p_label, p_start, p_end = get_labels_start_end_time(list(recognized), bg_class)
    y_label, y_start, y_end = get_labels_start_end_time(list(ground_truth), bg_class)
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


def edit_score(recognized: Sequence[int], ground_truth: Sequence[int], bg_class: Sequence[int] = (BACKGROUND,)) -> float:
    """MS-TCN segmental edit score: (1 - Levenshtein(segment labels) / max length) x100."""
    p, _, _ = get_labels_start_end_time(list(recognized), bg_class)
    y, _, _ = get_labels_start_end_time(list(ground_truth), bg_class)
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


def balanced_accuracy(predicted: np.ndarray, ground_truth: np.ndarray) -> float:
    """Mean per-class recall over the classes present in ``ground_truth`` (background included)."""
    recalls = [float(np.mean(predicted[ground_truth == label] == label)) for label in np.unique(ground_truth)]
    return float(np.mean(recalls))


def evaluate_video(predicted: Sequence, ground_truth: Sequence, fps: float = FPS) -> dict[str, float]:
    """Counts for one video: correct/total frames, TP/FP/FN per overlap, CB-Acc, edit, #evaluated subtitles."""
    gt = _as_spans(ground_truth)
    pred = _as_spans(predicted)
    if not gt:
        raise ValueError("ground truth has no subtitles; the SAT protocol needs at least one")
    if len(pred) != len(gt):
        raise ValueError(f"expected as many predicted subtitles ({len(pred)}) as ground-truth ones ({len(gt)}); "
                         "they are paired by position in file order")
    max_time = gt[-1].end + MAX_TIME_PAD_SECONDS
    exclude = excluded_subtitles(gt)
    pred_frames = subtitles_to_frames(pred, max_time, fps, exclude)
    gt_frames = subtitles_to_frames(gt, max_time, fps, exclude)
    counts: dict[str, float] = {
        "correct": float(np.sum(pred_frames == gt_frames)),
        "total": float(len(gt_frames)),
        "num_subtitles": float(len(gt) - len(exclude)),
        "cb_accuracy": 100.0 * balanced_accuracy(pred_frames, gt_frames),
        "edit": edit_score(pred_frames.tolist(), gt_frames.tolist()),
    }
    for overlap in OVERLAPS:
        tp, fp, fn = f_score(pred_frames.tolist(), gt_frames.tolist(), overlap)
        counts[f"tp@{overlap:.2f}"], counts[f"fp@{overlap:.2f}"], counts[f"fn@{overlap:.2f}"] = tp, fp, fn
    return counts


def _f1(tp: float, fp: float, fn: float) -> float:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return 100.0 * 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def evaluate_alignment(videos: Sequence[tuple[Sequence, Sequence]], fps: float = FPS) -> dict[str, float]:
    """SAT metrics over a set of videos given as ``(predicted subtitles, ground-truth subtitles)`` pairs.

    Returns ``frame_accuracy``, ``cb_accuracy``, ``f1@0.10``, ``f1@0.25``, ``f1@0.50`` (all x100), ``edit``,
    ``num_frames``, ``num_subtitles`` and ``num_videos``.
    """
    if not videos:
        raise ValueError("no videos to evaluate")
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
