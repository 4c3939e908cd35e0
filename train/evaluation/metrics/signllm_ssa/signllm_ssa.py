"""SAT-protocol subtitle alignment metrics (frame accuracy, CB-Acc, F1@{0.10,0.25,0.50}) as an `evaluate` module.

Self-contained (numpy, datasets, evaluate): load this folder, or a copy of it, with ``evaluate.load(folder)``.
The computation is ``sat_metrics.py`` beside this file, the same code ``signllm`` uses.
"""

import datasets
import evaluate

from .sat_metrics import FPS, evaluate_alignment

_DESCRIPTION = """
Sign-subtitle alignment metrics of the SAT protocol (Bull et al. 2021): subtitles are painted onto 25 fps frames
over [0, last ground-truth end + 10 s] (later cues overwrite earlier ones; cues whose ground-truth text holds both
"[" and "]" are excluded), then frame accuracy, class-balanced accuracy, MS-TCN segmental F1 at IoU 0.10 / 0.25 /
0.50 (TP/FP/FN summed over videos) and the segmental edit score are computed. One example is one video;
predicted and reference cues are paired by position.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[list[list[float]]]`): per video, the predicted [start, end] of every cue, in seconds.
    references (`list[list[list[float]]]`): per video, the ground-truth [start, end] of every cue (same count).
    reference_texts (`list[list[str]]`, *optional*): per video, the ground-truth cue texts (marks "[...]" cues).
    fps (`float`, *optional*, defaults to 25): frame rate of the evaluation.
Returns:
    `dict`: frame_accuracy, cb_accuracy, f1@0.10, f1@0.25, f1@0.50, edit (all 0-100), num_frames, num_subtitles,
    num_videos.
Example:
    >>> ssa = evaluate.load("path/to/signllm_ssa")
    >>> ssa.compute(predictions=[[[0.0, 1.0]]], references=[[[0.0, 2.0]]])["f1@0.50"]
    100.0
"""

_CITATION = """
@inproceedings{bull2021aligning,
  title={Aligning Subtitles in Sign Language Videos},
  author={Bull, Hannah and Afouras, Triantafyllos and Varol, G{\\"u}l and Albanie, Samuel and Momeni, Liliane and Zisserman, Andrew},
  booktitle={ICCV},
  year={2021}
}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class SignllmSsa(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({
                "predictions": datasets.Sequence(datasets.Sequence(datasets.Value("float64"))),
                "references": datasets.Sequence(datasets.Sequence(datasets.Value("float64"))),
            }),
        )

    def _compute(self, predictions, references, reference_texts=None, fps=FPS):
        if reference_texts is None:
            reference_texts = [[""] * len(ref) for ref in references]
        if len(reference_texts) != len(references):
            raise ValueError("reference_texts must hold one list of texts per video")
        videos = []
        for video, (pred, ref, texts) in enumerate(zip(predictions, references, reference_texts), start=1):
            if len(texts) != len(ref):
                raise ValueError(f"video {video}: reference_texts must hold one text per reference cue")
            videos.append((list(pred), [(*cue, text) for cue, text in zip(ref, texts)]))
        return evaluate_alignment(videos, fps=fps)
