"""Metrics for the three tasks, as plain functions, as `evaluate` modules and as ``signllm evaluate``.

| module         | what                                                                                   |
|----------------|----------------------------------------------------------------------------------------|
| `slt_metrics`  | BLEU-4 (sacreBLEU and paper-compatible), ROUGE-L, CIDEr-D, BLEURT, word IoU, LLM judge |
| `ssa_metrics`  | SAT protocol: frame accuracy, CB-Acc, F1@{0.10, 0.25, 0.50}                            |
| `islr_metrics` | top-k accuracy per instance and per class                                              |
| `cli`          | ``signllm evaluate --task slt|ssa|islr``                                               |
| `metrics/`     | standalone `evaluate` modules, each the single definition of its metric code:          |
|                | ``signllm_slt`` (configs default/sacrebleu/paper/rouge_l/cider_d/word_iou),             |
|                | ``signllm_ssa``, ``signllm_islr_accuracy``; ``evaluate.load(str(METRICS_DIR / name))``  |
|                | works on the folder or a copy of it without signllm (each has a README metric card)    |
"""

from pathlib import Path

METRICS_DIR = Path(__file__).resolve().parent / "metrics"
