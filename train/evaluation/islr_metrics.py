"""ISLR accuracy (top-k per instance and per class) and the Trainer hook.

The computation is defined once, in the standalone `evaluate` module folder
``metrics/signllm_islr_accuracy/topk_accuracy.py`` (numpy only, so the folder loads without signllm); this module
re-exports it and adds the ``transformers.Trainer`` ``compute_metrics``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .metrics.signllm_islr_accuracy.topk_accuracy import islr_accuracy, topk_hits

__all__ = ["islr_accuracy", "make_compute_metrics", "topk_hits"]


def make_compute_metrics(top_k: Sequence[int] = (1, 5)) -> Callable:
    """A ``compute_metrics`` for ``transformers.Trainer`` on [`SignLLMForSignClassification`] logits.

    Rows of NaN logits count as misses (with a warning), never as correct predictions.
    """

    def compute_metrics(eval_prediction) -> dict[str, float]:
        scores = eval_prediction.predictions
        if isinstance(scores, (tuple, list)):  # extra model outputs beyond the logits come after them
            scores = scores[0]
        return islr_accuracy(scores, eval_prediction.label_ids, top_k)

    return compute_metrics
