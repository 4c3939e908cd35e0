"""ISLR accuracy: top-k per instance and per class (architecture §7), in plain numpy.

This file is the single definition: ``signllm.train.evaluation.islr_metrics`` re-exports it and the `evaluate`
module beside it (``signllm_islr_accuracy.py``) loads it, so the folder works on its own (numpy only).

- per-instance top-k: fraction of clips whose label is among the k highest scores;
- per-class top-k: the mean over classes (those present in the references) of each class's per-instance top-k,
  so rare signs count as much as frequent ones.
With fewer than k classes, top-k is taken over all classes (it is then 1.0, for rows without NaN).

NaN scores [ours]: a row holding any NaN is counted as a **miss** for every k (a model that emits NaN did not
predict the class), and a ``RuntimeWarning`` says how many rows were affected. ``inf`` / ``-inf`` are ordinary
(extreme) scores.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

__all__ = ["islr_accuracy", "topk_hits"]


def topk_hits(scores: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """``(n,)`` bool: is ``labels[i]`` among the ``k`` best of ``scores[i]`` (``scores (n, classes)``).

    Ties count against the prediction (pessimistic): the label's rank is the number of *other* classes scoring
    at least as high, so a model with constant scores gets top-1 = 0, not 1. A row with any NaN is a miss (with a
    ``RuntimeWarning`` giving the count).
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if scores.ndim != 2 or labels.shape != (scores.shape[0],):
        raise ValueError(f"Expected scores (n, classes) and labels (n,), got {scores.shape} and {labels.shape}.")
    if labels.size and (labels.min() < 0 or labels.max() >= scores.shape[1]):
        raise ValueError(f"labels must be class ids in [0, {scores.shape[1]}), got range [{labels.min()}, {labels.max()}].")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}.")
    label_scores = scores[np.arange(len(labels)), labels]
    rank = (scores >= label_scores[:, None]).sum(axis=1) - 1
    broken = np.isnan(scores).any(axis=1)  # NaN compares False everywhere: its rank would be -1, a "hit"
    if broken.any():
        warnings.warn(f"{int(broken.sum())} of {len(labels)} score rows contain NaN; they are counted as misses",
                      RuntimeWarning, stacklevel=2)
    return (rank < k) & ~broken


def islr_accuracy(scores: np.ndarray, labels: np.ndarray, top_k: Sequence[int] = (1, 5)) -> dict[str, float]:
    """``{"top1": ..., "top5": ..., "top1_per_class": ..., "top5_per_class": ...}`` in [0, 1]."""
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size == 0:
        raise ValueError("islr_accuracy needs at least one prediction.")
    results: dict[str, float] = {}
    classes = np.unique(labels)
    for k in top_k:
        hits = topk_hits(scores, labels, k)
        results[f"top{k}"] = float(hits.mean())
        results[f"top{k}_per_class"] = float(np.mean([hits[labels == c].mean() for c in classes]))
    return results
