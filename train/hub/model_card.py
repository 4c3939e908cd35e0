"""Render the Hub model card (``README.md``) of a trained SignLLM folder.

The YAML metadata is built with ``huggingface_hub.ModelCardData`` and ``EvalResult``, so the Hub reads it the way
it reads its own cards: ``pipeline_tag: video-text-to-text`` (keypoint video + prompt → text; one of the Hub's
pipeline types), ``library_name: transformers``, ``base_model`` = the pretrained LM's Hub id (omitted for a random
or local LM), ``datasets`` = the corpora found in the prepared data folders, and a ``model-index`` whose results
name the dataset, split, metric type and which BLEU (sacreBLEU or the paper-compatible one).

The body is ``model_cards/<template>.md``, a ``string.Template`` whose ``${card_data}`` receives that YAML. Every
placeholder must be filled, so a card never ships with a hole in it. ``write_model_card(folder, run_config, ...)``
writes ``<folder>/README.md``.
"""

from __future__ import annotations

import json
import math
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCardData

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "model_cards"
LICENSE = "apache-2.0"
#: the Hub pipeline type: the input is a (keypoint) video of signing plus a text prompt (task, subtitle), the
#: output text. The Hub has no "video-to-text" type; "translation" would say text-to-text.
PIPELINE_TAG = "video-text-to-text"
TAGS = ["sign-language", "sign-language-translation", "subtitle-alignment", "keypoints", "pose", "mediapipe",
        "video", "dora", "signllm", "custom_code"]  # fmt: skip
#: corpus id written by ``signllm data prepare`` (``dataset_info.json``) → display name; ``folder`` (a user's own
#: data) is not a public dataset and never goes into ``datasets:``
PUBLIC_CORPORA = {
    "bobsl": "BOBSL",
    "how2sign": "How2Sign",
    "youtube-sl-25": "YouTube-SL-25",
    "fleurs-asl": "FLEURS-ASL",
    "kaggle-islr": "Google Isolated Sign Language Recognition (Kaggle asl-signs)",
}
TASK_NAMES = {"slt": "Sign language translation", "ssa": "Sign-subtitle alignment"}
TARGET_LANGUAGE_CODES = {"english": "en"}


@dataclass(frozen=True)
class MetricSpec:
    """How one metric key (``eval_<task>_<key>``) appears in ``model-index``."""

    task: str
    type: str  # the ``evaluate`` metric id where one exists
    name: str
    config: str | None = None


PAPER_BLEU = ("paper-compatible: PTB-tokenised, lowercased, pycocoevalcap corpus BLEU with hypotheses and references "
              "swapped as in the predecessor paper's code (not comparable with sacreBLEU)")  # fmt: skip
SACREBLEU_DEFAULT = "sacreBLEU corpus BLEU, 13a tokenisation, mixed case"
METRICS = {  # key after "eval_" → spec; keys not listed (loss, runtime, counts) stay out of model-index
    "slt_bleu4_sacrebleu": MetricSpec("slt", "sacrebleu", "BLEU-4 (sacreBLEU)", SACREBLEU_DEFAULT),
    "slt_bleu4_paper_compatible": MetricSpec("slt", "bleu", "BLEU-4 (paper-compatible)", PAPER_BLEU),
    "slt_bleu1_paper_compatible": MetricSpec("slt", "bleu", "BLEU-1 (paper-compatible)", PAPER_BLEU),
    "slt_rouge_l": MetricSpec("slt", "rouge", "ROUGE-L", "rougeL"),
    "slt_cider_d": MetricSpec("slt", "cider", "CIDEr-D"),
    "slt_word_iou": MetricSpec("slt", "word_iou", "word-set IoU (stopwords removed, lemmatised)"),
    "slt_bleurt": MetricSpec("slt", "bleurt", "BLEURT"),
    "ssa_span_iou": MetricSpec("ssa", "iou", "span IoU (20 s windows)"),
    "ssa_span_iou_at_0.5": MetricSpec("ssa", "accuracy", "spans with IoU >= 0.5 (20 s windows)"),
    "ssa_parse_rate": MetricSpec("ssa", "accuracy", "well-formed span outputs (20 s windows)"),
    "ssa_boundary_error_frames": MetricSpec("ssa", "mae", "boundary error in frames (20 s windows)"),
    "ssa_frame_accuracy": MetricSpec("ssa", "accuracy", "frame accuracy (full videos)"),
    "ssa_cb_accuracy": MetricSpec("ssa", "accuracy", "class-balanced frame accuracy (full videos)"),
    "ssa_f1@0.10": MetricSpec("ssa", "f1", "F1@0.10 (full videos)"),
    "ssa_f1@0.25": MetricSpec("ssa", "f1", "F1@0.25 (full videos)"),
    "ssa_f1@0.50": MetricSpec("ssa", "f1", "F1@0.50 (full videos)"),
}


def transformers_range() -> str:
    """The transformers versions this install declares (pyproject's ``dependencies``), e.g. ``<6,>=5.10.1``."""
    from importlib.metadata import PackageNotFoundError, requires

    from packaging.requirements import Requirement

    try:
        declared = [Requirement(text) for text in requires("signllm") or []]
    except PackageNotFoundError:
        declared = []
    found = [str(r.specifier) for r in declared if r.name == "transformers" and r.marker is None]
    return found[0] if found else "(see pyproject.toml)"


def load_template(name: str = "signllm") -> string.Template:
    path = Path(name) if Path(name).suffix == ".md" else TEMPLATE_DIR / f"{name}.md"
    if not path.is_file():
        try:  # installed package: model_cards ships as package data
            from importlib.resources import files

            path = Path(str(files("signllm.model_cards").joinpath(path.name)))
        except (ModuleNotFoundError, FileNotFoundError):
            pass
    if not path.is_file():
        raise ValueError(f"model card template {name!r} not found (looked for {path}).")
    return string.Template(path.read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------------------------ metadata
def hub_model_id(name: str | None) -> str | None:
    """``name`` if it is a Hub repo id (``org/model``), None for a local folder, a path or anything else."""
    if not name:
        return None
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    text = str(name)
    if text.startswith((".", "/", "~")) or "\\" in text or Path(text).expanduser().exists():
        return None
    try:
        validate_repo_id(text)
    except HFValidationError:
        return None
    return text


@dataclass(frozen=True)
class Corpus:
    """One prepared data folder: its corpus id (``dataset_info.json``), sign language and folder name."""

    id: str | None
    sign_language: str | None
    folder: str

    @property
    def public(self) -> bool:
        return self.id in PUBLIC_CORPORA

    @property
    def label(self) -> str:
        """The corpus id, or the folder's name for a user's own data (``folder`` builder) or an unrecorded one."""
        return self.id if self.id and self.id != "folder" else self.folder


def read_corpus(path: str | Path) -> Corpus:
    """What ``signllm data prepare`` recorded in ``<path>/dataset_info.json`` (id None when absent)."""
    path = Path(str(path))
    info_path = path / "dataset_info.json"
    info: dict[str, Any] = {}
    if info_path.is_file():
        try:
            info = json.loads(info_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            info = {}
    options = info.get("options") if isinstance(info.get("options"), dict) else {}
    return Corpus(info.get("corpus"), options.get("sign_language"), path.name)


def _unique(items: Sequence[str | None]) -> list[str]:
    return list(dict.fromkeys(item for item in items if item))


def eval_results(
    metrics: Mapping[str, Any],
    eval_corpora: Sequence[Corpus],
    split: str | None,
    sacrebleu_signature: str | None = None,
) -> list[EvalResult]:
    """One ``EvalResult`` per known finite metric; [] when the evaluation data is unknown (never invented).

    The SLT and SSA metrics come from two evaluation sets built from the same corpus (``eval_slt`` / ``eval_ssa``),
    recorded as the dataset config ``slt`` / ``ssa``: ``model-index`` groups results by task type, dataset, config
    and split, so without it the alignment scores would be listed under translation.
    """
    if not eval_corpora:
        return []
    if all(corpus.public for corpus in eval_corpora):
        dataset_type = "+".join(_unique([corpus.id for corpus in eval_corpora]))
        dataset_name = " + ".join(_unique([PUBLIC_CORPORA[corpus.id] for corpus in eval_corpora]))
    else:
        dataset_type = "+".join(_unique([corpus.label for corpus in eval_corpora]))
        dataset_name = f"{dataset_type} (prepared with signllm data prepare; not a public dataset)"
    results = []
    for key, value in sorted(metrics.items()):
        spec = METRICS.get(key.removeprefix("eval_"))
        if spec is None or isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            continue
        config = sacrebleu_signature if spec.type == "sacrebleu" and sacrebleu_signature else spec.config
        results.append(EvalResult(
            task_type=PIPELINE_TAG, task_name=TASK_NAMES[spec.task], dataset_type=dataset_type,
            dataset_name=dataset_name, dataset_config=spec.task, dataset_split=split, metric_type=spec.type, metric_name=spec.name,
            metric_value=round(float(value), 4), metric_config=config,
        ))  # fmt: skip
    return results


def build_card_data(
    run_config: Mapping[str, Any],
    metrics: Mapping[str, Any],
    *,
    model_name: str,
    base_model: str | None,
    datasets: Sequence[str] | None = None,
    eval_split: str | None = None,
    sacrebleu_signature: str | None = None,
) -> ModelCardData:
    """The card's YAML metadata (see the module docstring)."""
    data = run_config.get("data", {}) or {}
    train = [read_corpus(p) for p in data.get("train") or []]
    evaluation = [read_corpus(p) for p in data.get("eval") or []]
    dataset_ids = _unique(list(datasets) if datasets else [c.id for c in train + evaluation if c.public])
    results = eval_results(metrics, evaluation, eval_split or data.get("eval_split"), sacrebleu_signature)
    metric_types = _unique([r.metric_type for r in results])
    target = TARGET_LANGUAGE_CODES.get(str(data.get("target_language", "English")).lower())
    codes = [c.sign_language for c in train + evaluation if re.fullmatch(r"[a-z]{2,3}", c.sign_language or "")]
    languages = _unique([target, *codes])  # ISO 639 codes only (not the demo's "demo" or the folder's "unknown")
    return ModelCardData(
        license=LICENSE, library_name="transformers", pipeline_tag=PIPELINE_TAG, tags=list(TAGS),
        base_model=base_model, datasets=dataset_ids or None, metrics=metric_types or None,
        language=languages or None, model_name=model_name, eval_results=results or None,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------------- body
def _metrics_table(metrics: Mapping[str, Any]) -> str:
    shown_metrics = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
    if not shown_metrics:
        return "No evaluation was run for this checkpoint (`eval_strategy: no`); evaluate it with `signllm evaluate`."
    rows = ["| metric | value |", "|---|---|"]
    for key, value in sorted(shown_metrics.items()):
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        rows.append(f"| {key} | {shown} |")
    return "\n".join(rows)


def _hyperparameters_table(training: Mapping[str, Any], stage: Mapping[str, Any]) -> str:
    keys = ("learning_rate", "lr_scheduler_type", "warmup_steps", "max_steps", "per_device_train_batch_size",
            "gradient_accumulation_steps", "weight_decay", "optim", "seed")  # fmt: skip
    rows = [f"| {key} | {training[key]} |" for key in keys if key in training]
    rows.append(f"| slt_fraction (share of SLT samples per batch) | {stage.get('slt_fraction')} |")
    rows.append(f"| ssa_prior_probability | {stage.get('ssa_prior_probability')} |")
    return "\n".join(rows)


def _training_data(data: Mapping[str, Any], data_summary: Mapping[str, Any] | None) -> str:
    lines = []
    for split in ("train", "eval"):
        paths = data.get(split) or []
        if paths:
            names = []
            for path in paths:
                corpus = read_corpus(path)
                label = PUBLIC_CORPORA.get(corpus.id or "", corpus.id or "corpus not recorded")
                names.append(f"`{corpus.folder}` ({label})")
            lines.append(f"- **{split}**: " + ", ".join(names))
    for key, value in (data_summary or {}).items():
        lines.append(f"- {key}: {value}")
    return "\n".join(lines) if lines else "Not recorded."


def _extractor_text(info: Mapping[str, Any] | None) -> str:
    from signllm.keypoint_reading import describe_extractor

    if not info:
        return "not recorded (keypoints without provenance)"
    return (f"{describe_extractor(dict(info))} — give the model keypoints from the same extractor (`signllm extract` "
            "records it; `translate`, `align` and the pipeline warn when an input's differs)")  # fmt: skip


def _base_model_text(base_model: str | None, name: str | None, revision: str | None) -> str:
    if base_model:
        pinned = f" (revision `{revision}`)" if revision else ""
        return f"[{base_model}](https://huggingface.co/{base_model}){pinned}"
    if name:
        return f"a T5 loaded from the local folder `{Path(str(name)).name}`"
    return "a randomly initialised T5 (no pretrained LM)"


def render_model_card(
    run_config: Mapping[str, Any],
    metrics: Mapping[str, Any] | None = None,
    *,
    stage_description: str = "",
    global_step: int = 0,
    num_parameters: int = 0,
    num_trainable_parameters: int = 0,
    model_config: Any = None,
    data_summary: Mapping[str, Any] | None = None,
    datasets: list[str] | None = None,
    repo_id: str | None = None,
    revision: str = "main",
    template: str = "signllm",
    base_model: str | None = None,
    base_model_revision: str | None = None,
    eval_split: str | None = None,
    sacrebleu_signature: str | None = None,
    keypoint_extractor: Mapping[str, Any] | None = None,
) -> str:
    """Fill the template from the resolved run config (``curriculum.resolve_config``), metrics and model facts.

    Args:
        metrics: ``eval_slt_*`` / ``eval_ssa_*`` numbers (as the trainer reports them); known ones go into
            ``model-index`` (see :data:`METRICS`), all numbers into the body's table.
        datasets: Hub dataset ids for ``datasets:`` (default: the public corpora of ``data.train`` / ``data.eval``).
        base_model: the LM's Hub id (default: ``model_config.text_model_name_or_path`` when it is a Hub id; a local
            folder or a random LM leaves ``base_model`` out). ``base_model_revision`` is shown in the body.
        eval_split: the split the metrics were computed on (default ``data.eval_split``).
        sacrebleu_signature: the sacreBLEU signature, stored as the metric's config in ``model-index``.
        keypoint_extractor: the extractor the training keypoints came from (``SignLLMProcessor.keypoint_extractor``:
            backend, version, settings); the card tells users to feed keypoints from the same one.
    """
    metrics = dict(metrics or {})
    lm_name = getattr(model_config, "text_model_name_or_path", None)
    base_model = hub_model_id(base_model) or hub_model_id(lm_name)
    output_dir = Path(str(run_config.get("output_dir", "signllm")))
    model_name = repo_id.split("/")[-1] if repo_id else output_dir.name
    signature = sacrebleu_signature or next(
        (v for k, v in metrics.items() if k.endswith("sacrebleu_signature") and isinstance(v, str)), None
    )
    card_data = build_card_data(run_config, metrics, model_name=model_name, base_model=base_model,
                                datasets=datasets, eval_split=eval_split, sacrebleu_signature=signature)  # fmt: skip
    context = {
        "card_data": card_data.to_yaml(),
        "model_name": model_name,
        "base_model": _base_model_text(base_model, lm_name, base_model_revision),
        "keypoint_extractor": _extractor_text(keypoint_extractor),
        "stage": run_config.get("stage"),
        "stage_description": stage_description,
        "global_step": global_step,
        "num_parameters": f"{num_parameters:,}",
        "num_trainable_parameters": f"{num_trainable_parameters:,}",
        "transformers_range": transformers_range(),
        "target_language": run_config.get("data", {}).get("target_language", "English"),
        "training_data": _training_data(run_config.get("data", {}), data_summary),
        "dora_r": getattr(model_config, "dora_r", "?"),
        "dora_alpha": getattr(model_config, "dora_alpha", "?"),
        "hyperparameters_table": _hyperparameters_table(run_config.get("training", {}), run_config.get("data", {})),
        "metrics_table": _metrics_table(metrics),
        "repo_id": repo_id or f"your-name/{output_dir.name}",
        "revision": revision,
    }
    try:
        return load_template(template).substitute(context)
    except KeyError as error:
        raise ValueError(f"model card template {template!r} uses an unknown placeholder {error}.") from error


def write_model_card(folder: str | Path, run_config: Mapping[str, Any], **kwargs) -> Path:
    """Render the card and write it as ``<folder>/README.md`` (the Hub shows README.md as the model card)."""
    path = Path(folder) / "README.md"
    path.write_text(render_model_card(run_config, **kwargs), encoding="utf-8")
    return path
