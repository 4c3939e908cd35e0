"""Isolated sign recognition accuracy: top-1 / top-5, per instance and per class, as an `evaluate` metric.

Self-contained (numpy, datasets, evaluate): load this folder, or a copy of it, with ``evaluate.load(folder)``.
The computation is ``topk_accuracy.py`` beside this file, the same code ``signllm`` uses.
"""

import datasets
import evaluate
import numpy as np

from .topk_accuracy import islr_accuracy

_DESCRIPTION = """
Top-k accuracy of isolated sign recognition (SignLLM architecture §7). Per instance: fraction of clips whose label
is among the k highest class scores. Per class: mean over the classes present in the references of the per-class
top-k accuracy. Ties count against the prediction (the label's rank is the number of other classes scoring at least
as high). A row of scores holding NaN counts as a miss (with a warning).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[list[float]]`): class scores (logits or probabilities) per clip, shape (n, num_classes).
    references (`list[int]`): the true class id per clip.
    top_k (`list[int]`, *optional*, defaults to [1, 5]): which k to report.
Returns:
    `dict`: "top{k}" and "top{k}_per_class" for every k, each in [0, 1].
Example:
    >>> metric = evaluate.load("path/to/signllm_islr_accuracy")
    >>> metric.compute(predictions=[[0.1, 0.9], [0.8, 0.2]], references=[1, 1], top_k=[1])
    {'top1': 0.5, 'top1_per_class': 0.5}
"""

_CITATION = """
@article{jang2025lost,
  title={Lost in Translation, Found in Embeddings: Sign Language Translation and Alignment},
  author={Jang, Youngjoon and Momeni, Liliane and Jiang, Zifan and Chung, Joon Son and Varol, G{\\"u}l and Zisserman, Andrew},
  journal={arXiv preprint arXiv:2512.08040},
  year={2025}
}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class SignllmIslrAccuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Sequence(datasets.Value("float32")), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions, references, top_k=(1, 5)):
        return islr_accuracy(np.asarray(predictions, dtype=np.float32), np.asarray(references), tuple(top_k))
