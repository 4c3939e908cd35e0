"""SAT-protocol subtitle alignment metrics as a local `evaluate` module; see `signllm.train.evaluation.ssa_metrics`.

One example = one video: ``predictions`` and ``references`` are lists of ``[start, end]`` (seconds, file order,
paired by position); ``reference_texts`` (one list of cue texts per video) marks the ``[...]`` cues to exclude.

Usage::

    import evaluate
    ssa = evaluate.load("train/evaluation/metrics/signllm_ssa")
    ssa.compute(predictions=[[[0.0, 1.0]]], references=[[[0.2, 1.0]]], reference_texts=[["hello"]])
"""

import datasets
import evaluate
from signllm.train.evaluation import ssa_metrics


class SignllmSsa(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation="Bull, Momeni, Varol, Zisserman. Aligning subtitles in sign language videos. ICCV 2021.",
            inputs_description="predictions / references: per video, a list of [start, end] in seconds.",
            features=datasets.Features({
                "predictions": datasets.Sequence(datasets.Sequence(datasets.Value("float64"))),
                "references": datasets.Sequence(datasets.Sequence(datasets.Value("float64"))),
            }),
        )

    def _compute(self, predictions, references, reference_texts=None, fps=ssa_metrics.FPS):
        if reference_texts is None:
            reference_texts = [[""] * len(ref) for ref in references]
        videos = []
        for pred, ref, texts in zip(predictions, references, reference_texts):
            if len(texts) != len(ref):
                raise ValueError("reference_texts must hold one text per reference cue")
            gt = [ssa_metrics.Span(s, e, t) for (s, e), t in zip(ref, texts)]
            videos.append(([ssa_metrics.Span(s, e) for s, e in pred], gt))
        return ssa_metrics.evaluate_alignment(videos, fps=fps)
