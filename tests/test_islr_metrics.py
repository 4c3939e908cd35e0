"""ISLR accuracy on hostile scores: NaN never counts as a correct prediction (issue 16.5)."""

from __future__ import annotations

import numpy as np
import pytest
from signllm.train.evaluation.islr_metrics import islr_accuracy, make_compute_metrics, topk_hits
from transformers import EvalPrediction


def test_all_nan_scores_are_misses_with_a_warning():
    scores = np.full((4, 3), np.nan)
    with pytest.warns(RuntimeWarning, match=r"4 of 4 .*NaN.*counted as misses"):
        assert not topk_hits(scores, np.array([0, 1, 2, 0]), 1).any()
    with pytest.warns(RuntimeWarning, match="NaN"):
        result = islr_accuracy(scores, np.array([0, 1, 2, 0]), top_k=(1, 5))
    assert result == {"top1": 0.0, "top1_per_class": 0.0, "top5": 0.0, "top5_per_class": 0.0}


def test_a_nan_anywhere_in_a_row_makes_it_a_miss():
    scores = np.array([[np.nan, 0.9, 0.1], [0.1, 0.9, 0.0], [0.2, 0.3, np.nan]])
    with pytest.warns(RuntimeWarning, match=r"2 of 3"):
        hits = topk_hits(scores, np.array([1, 1, 1]), 1)
    assert hits.tolist() == [False, True, False]


def test_trainer_compute_metrics_counts_nan_logits_as_misses():
    compute_metrics = make_compute_metrics(top_k=(1,))
    logits = np.array([[np.nan, np.nan], [0.0, 1.0]], dtype=np.float32)
    with pytest.warns(RuntimeWarning, match="NaN"):
        result = compute_metrics(EvalPrediction(predictions=(logits,), label_ids=np.array([0, 1])))
    assert result["top1"] == pytest.approx(0.5)


def test_infinite_scores_still_rank():
    scores = np.array([[np.inf, 0.0], [-np.inf, 0.0]])
    assert topk_hits(scores, np.array([0, 1]), 1).tolist() == [True, True]
