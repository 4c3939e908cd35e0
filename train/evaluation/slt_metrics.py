"""Sign language translation metrics (architecture.md §7): the text metrics, BLEURT and the LLM judge.

The text metrics (sacreBLEU and paper-compatible BLEU, ROUGE-L, CIDEr-D, word-set IoU, the PTB tokenizer) are
defined once, in the standalone `evaluate` module folder ``metrics/signllm_slt/text_metrics.py`` (so that folder
loads without signllm); this module re-exports them and adds the two metrics that need a model checkpoint or a
client: **BLEURT** (`bleurt_score`, optional) and the **LLM judge** (`LLMJudge`, optional, off by default), and
`compute_slt_metrics`, everything in one dict.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from .metrics.signllm_slt.text_metrics import (
    PTB_PUNCTUATIONS,
    STOPWORDS,
    PaperBleuResult,
    References,
    SacreBleuResult,
    cider_d,
    coco_bleu,
    content_words,
    normalize_references,
    paper_bleu,
    ptb_tokenize,
    rouge_l,
    rouge_l_sentence,
    sacrebleu_bleu,
    text_metrics,
    word_iou,
)

__all__ = [
    "PTB_PUNCTUATIONS",
    "STOPWORDS",
    "LLMJudge",
    "PaperBleuResult",
    "References",
    "SacreBleuResult",
    "bleurt_score",
    "cider_d",
    "coco_bleu",
    "compute_slt_metrics",
    "content_words",
    "normalize_references",
    "paper_bleu",
    "ptb_tokenize",
    "rouge_l",
    "rouge_l_sentence",
    "sacrebleu_bleu",
    "text_metrics",
    "word_iou",
]


# ------------------------------------------------------------------------------------------------- BLEURT


def bleurt_score(
    hypotheses: Sequence[str], references: Sequence[str], checkpoint: str | os.PathLike, batch_size: int = 16
) -> tuple[float, list[float]]:
    """Mean BLEURT x100 and per-sentence scores from a local checkpoint (e.g. BLEURT-20); nothing is downloaded.

    Accepts a PyTorch port (``bleurt_pytorch`` package: ``BleurtForSequenceClassification``) or the original
    TensorFlow checkpoint (``bleurt`` package: ``score.BleurtScorer``), whichever is installed and fits the folder.
    """
    checkpoint = Path(checkpoint)
    if not checkpoint.is_dir():
        raise ValueError(f"BLEURT checkpoint folder not found: {checkpoint}")
    refs = normalize_references(hypotheses, references)
    if any(len(group) != 1 for group in refs):
        raise ValueError("BLEURT scores one reference per hypothesis")
    flat_refs = [group[0] for group in refs]
    if (checkpoint / "config.json").is_file():
        try:
            import torch
            from bleurt_pytorch import BleurtForSequenceClassification, BleurtTokenizer
        except ImportError as error:
            raise ImportError("a PyTorch BLEURT checkpoint needs `bleurt-pytorch` "
                              "(pip install git+https://github.com/lucadiliello/bleurt-pytorch)") from error
        model = BleurtForSequenceClassification.from_pretrained(checkpoint).eval()
        tokenizer = BleurtTokenizer.from_pretrained(checkpoint)
        scores: list[float] = []
        with torch.no_grad():
            for start in range(0, len(flat_refs), batch_size):
                inputs = tokenizer(flat_refs[start : start + batch_size], list(hypotheses[start : start + batch_size]),
                                   padding="longest", truncation=True, return_tensors="pt")
                scores.extend(model(**inputs).logits.flatten().tolist())
    else:
        try:
            from bleurt import score as tf_bleurt
        except ImportError as error:
            raise ImportError("a TensorFlow BLEURT checkpoint needs the `bleurt` package "
                              "(pip install git+https://github.com/google-research/bleurt)") from error
        scores = list(tf_bleurt.BleurtScorer(str(checkpoint)).score(references=flat_refs, candidates=list(hypotheses)))
    scores = [100.0 * s for s in scores]
    return sum(scores) / len(scores), scores


# ---------------------------------------------------------------------------------------------- LLM judge

DEFAULT_RUBRIC = Path(__file__).with_name("llm_judge_rubric.txt")


class LLMJudge:
    """LLM-as-judge translation score 0-5 with a pluggable client (off by default; nothing is called unless used).

    Args:
        client (`Callable[[str], str]`): sends one prompt, returns the model's reply (wrap any API or local model).
        rubric_path (`str`, *optional*): prompt template with ``{reference}`` and ``{hypothesis}`` fields;
            defaults to ``train/llm_judge_rubric.txt``. The first integer 0-5 in the reply is the score.
    """

    def __init__(self, client: Callable[[str], str], rubric_path: str | os.PathLike | None = None):
        self.client = client
        self.rubric = Path(rubric_path or DEFAULT_RUBRIC).read_text(encoding="utf-8")
        for field_name in ("{reference}", "{hypothesis}"):
            if field_name not in self.rubric:
                raise ValueError(f"LLM-judge rubric must contain the {field_name} field")

    @staticmethod
    def parse_score(reply: str) -> int:
        match = re.search(r"(?<![\d.])([0-5])(?![\d.])", reply)
        if match is None:
            raise ValueError(f"LLM judge reply has no score 0-5: {reply[:200]!r}")
        return int(match.group(1))

    def __call__(self, hypotheses: Sequence[str], references: Sequence[str]) -> tuple[float, list[int]]:
        refs = normalize_references(hypotheses, references)
        scores = []
        for hyp, group in zip(hypotheses, refs):
            prompt = self.rubric.replace("{reference}", group[0]).replace("{hypothesis}", hyp)
            scores.append(self.parse_score(self.client(prompt)))
        return sum(scores) / len(scores), scores


# ----------------------------------------------------------------------------------------------- summary


def compute_slt_metrics(
    hypotheses: Sequence[str],
    references: References,
    bleurt_checkpoint: str | os.PathLike | None = None,
    llm_judge: LLMJudge | None = None,
) -> dict[str, float | str]:
    """All SLT metrics in one dict (scores x100 except CIDEr-D on its 0-10 scale, LLM judge 0-5): `text_metrics`
    plus BLEURT and the LLM judge when asked for."""
    results = text_metrics(hypotheses, references)
    if bleurt_checkpoint is not None:
        results["bleurt"] = bleurt_score(hypotheses, references, bleurt_checkpoint)[0]
    if llm_judge is not None:
        results["llm_judge"] = llm_judge(hypotheses, references)[0]
    return results
