"""Word-set IoU (stopwords removed, simplemma lemmas, sentence mean, x100) as a local `evaluate` module (no Hub download); see `signllm.train.evaluation.slt_metrics.word_iou`.

Usage::

    import evaluate
    metric = evaluate.load("train/evaluation/metrics/signllm_word_iou")
    metric.compute(predictions=["the cat sat"], references=["the cat sat down"])
"""

import datasets
import evaluate
from signllm.train.evaluation import slt_metrics


class SignllmWordIou(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation="",
            inputs_description="predictions (list[str]); references (list[str] or list[list[str]]).",
            features=[
                datasets.Features({"predictions": datasets.Value("string"),
                                   "references": datasets.Sequence(datasets.Value("string"))}),
                datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
            ],
        )

    def _compute(self, predictions, references):
        mean, per_sentence = slt_metrics.word_iou(predictions, references)
        return {"word_iou": mean, "per_sentence": per_sentence}
