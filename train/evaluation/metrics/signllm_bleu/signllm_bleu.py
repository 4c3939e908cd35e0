"""SignLLM BLEU-4 as a local `evaluate` module (no Hub download).

Configurations:
- ``"sacrebleu"`` (default): corpus BLEU-4 with sacreBLEU (13a, mixed case); returns its signature.
- ``"paper"``: the paper-compatible BLEU (PTB-lowercased, punctuation-stripped, pycocoevalcap BleuScorer
  "closest", hypotheses and references swapped as in LiTFiC's code); labelled as such in the output.

Usage::

    import evaluate
    bleu = evaluate.load("train/evaluation/metrics/signllm_bleu")            # or evaluate.load(path, "paper")
    bleu.compute(predictions=["the cat sat"], references=["the cat sat down"])
"""

import datasets
import evaluate
from signllm.train.evaluation import slt_metrics

_CITATION = """\
@inproceedings{post-2018-call, title={A Call for Clarity in Reporting {BLEU} Scores}, author={Post, Matt}, year={2018}}
@article{chen2015microsoft, title={Microsoft COCO Captions: Data Collection and Evaluation Server}, year={2015}}
"""

_KWARGS = """
Args:
    predictions (`list[str]`): one translation per sentence.
    references (`list[str]` or `list[list[str]]`): reference(s) per sentence.
Returns:
    sacrebleu: score, precisions, bp, sys_len, ref_len, signature, label.
    paper: bleu (BLEU-1..4 x100), score (BLEU-4), hyp_len, ref_len, label.
"""


class SignllmBleu(evaluate.Metric):
    def _info(self):
        if self.config_name not in ("default", "sacrebleu", "paper"):
            raise ValueError(f"unknown configuration {self.config_name!r}; use 'sacrebleu' (default) or 'paper'")
        return evaluate.MetricInfo(
            description=__doc__,
            citation=_CITATION,
            inputs_description=_KWARGS,
            features=[
                datasets.Features({"predictions": datasets.Value("string"),
                                   "references": datasets.Sequence(datasets.Value("string"))}),
                datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
            ],
        )

    def _compute(self, predictions, references):
        if self.config_name == "paper":
            result = slt_metrics.paper_bleu(predictions, references)
            return {"score": result.bleu4, "bleu": result.bleu, "hyp_len": result.hyp_len,
                    "ref_len": result.ref_len, "label": result.label}
        result = slt_metrics.sacrebleu_bleu(predictions, references)
        print(f"sacreBLEU signature: {result.signature}")
        return {"score": result.score, "precisions": result.precisions, "bp": result.bp,
                "sys_len": result.sys_len, "ref_len": result.ref_len, "signature": result.signature,
                "label": result.label}
