"""SignLLM translation metrics (BLEU-4 two ways, ROUGE-L, CIDEr-D, word-set IoU) as one `evaluate` module.

Self-contained (datasets, evaluate, sacrebleu, simplemma): load this folder, or a copy of it, with
``evaluate.load(folder)`` or ``evaluate.load(folder, config_name)``. The computation is ``text_metrics.py`` beside
this file, the same code ``signllm evaluate`` uses.
"""

import datasets
import evaluate
import sacrebleu
import simplemma

from .text_metrics import cider_d, paper_bleu, rouge_l, sacrebleu_bleu, text_metrics, word_iou

_DESCRIPTION = """
Sign language translation metrics of SignLLM (architecture §7), each following its reference implementation.
Configurations:
- "default": everything below in one dict, as `signllm evaluate --task slt` reports it;
- "sacrebleu": corpus BLEU-4 with sacreBLEU (13a tokenisation, mixed case) and its signature;
- "paper": the paper-compatible BLEU (PTB-lowercased, punctuation-stripped, pycocoevalcap BleuScorer "closest",
  hypotheses and references swapped as in the predecessor paper's code), labelled as such;
- "rouge_l": pycocoevalcap ROUGE-L (PTB tokens, LCS F-measure beta 1.2, sentence mean, x100);
- "cider_d": pycocoevalcap CIDEr-D (sigma 6, clipping, document frequencies from the test references, x10);
- "word_iou": word-set IoU of lemmatised non-stopword words (sentence mean, x100).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[str]`): one translation per sentence.
    references (`list[str]` or `list[list[str]]`): reference(s) per sentence.
Returns:
    default: bleu4_sacrebleu, sacrebleu_signature, bleu4_paper_compatible, bleu1_paper_compatible, rouge_l, cider_d,
        word_iou, num_sentences.
    sacrebleu: score, precisions, bp, sys_len, ref_len, signature, label.
    paper: score (BLEU-4), bleu (BLEU-1..4), hyp_len, ref_len, label.
    rouge_l / cider_d / word_iou: the corpus score under that name, and per_sentence.
Example:
    >>> rouge = evaluate.load("path/to/signllm_slt", "rouge_l")
    >>> rouge.compute(predictions=["the cat sat"], references=["the cat sat"])["rouge_l"]
    100.0
"""

_CITATION = """
@inproceedings{post-2018-call, title={A Call for Clarity in Reporting {BLEU} Scores}, author={Post, Matt}, year={2018}}
@article{chen2015microsoft, title={Microsoft COCO Captions: Data Collection and Evaluation Server}, year={2015}}
@inproceedings{vedantam2015cider, title={CIDEr: Consensus-based Image Description Evaluation}, year={2015}}
@inproceedings{lin2004rouge, title={ROUGE: A Package for Automatic Evaluation of Summaries}, year={2004}}
"""

CONFIGS = ("default", "sacrebleu", "paper", "rouge_l", "cider_d", "word_iou")
_REQUIREMENTS = (sacrebleu, simplemma)  # imported above so `evaluate.load` names them when they are missing


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class SignllmSlt(evaluate.Metric):
    def _info(self):
        if self.config_name not in CONFIGS:
            raise ValueError(f"unknown configuration {self.config_name!r}; use one of {CONFIGS}")
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=[
                datasets.Features({"predictions": datasets.Value("string"),
                                   "references": datasets.Sequence(datasets.Value("string"))}),
                datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
            ],
        )

    def _compute(self, predictions, references):
        if self.config_name == "paper":
            result = paper_bleu(predictions, references)
            return {"score": result.bleu4, "bleu": result.bleu, "hyp_len": result.hyp_len,
                    "ref_len": result.ref_len, "label": result.label}
        if self.config_name == "sacrebleu":
            result = sacrebleu_bleu(predictions, references)
            return {"score": result.score, "precisions": result.precisions, "bp": result.bp,
                    "sys_len": result.sys_len, "ref_len": result.ref_len, "signature": result.signature,
                    "label": result.label}
        per_metric = {"rouge_l": rouge_l, "cider_d": cider_d, "word_iou": word_iou}
        if self.config_name in per_metric:
            mean, per_sentence = per_metric[self.config_name](predictions, references)
            return {self.config_name: mean, "per_sentence": per_sentence}
        return text_metrics(predictions, references)
