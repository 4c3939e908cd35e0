"""Render the Hub model card (``model_cards/<template>.md``) for a trained SignLLM folder.

The template uses ``${name}`` placeholders (``string.Template``); every placeholder must be filled, so a card
never ships with a hole in it. ``write_model_card(folder, ...)`` writes ``README.md`` beside the weights.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "model_cards"
TRANSFORMERS_RANGE = ">=5.0,<6"  # keep in step with pyproject.toml


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


def _yaml_list(items: list[str], fallback: str) -> str:
    return "\n".join(f"- {item}" for item in items) if items else f"- {fallback}"


def _metrics_table(metrics: Mapping[str, float]) -> str:
    if not metrics:
        return "No evaluation was run for this checkpoint (`eval_strategy: no`); evaluate it with `signllm evaluate`."
    rows = ["| metric | value |", "|---|---|"]
    for key, value in sorted(metrics.items()):
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
            lines.append(f"- **{split}**: " + ", ".join(f"`{Path(str(p)).name}`" for p in paths))
    for key, value in (data_summary or {}).items():
        lines.append(f"- {key}: {value}")
    return "\n".join(lines) if lines else "Not recorded."


def render_model_card(
    run_config: Mapping[str, Any],
    metrics: Mapping[str, float] | None = None,
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
) -> str:
    """Fill the template from the resolved run config (``curriculum.resolve_config``), metrics and model facts."""
    metrics = dict(metrics or {})
    base_model = getattr(model_config, "text_model_name_or_path", None) or "a random T5 (no pretrained LM)"
    output_dir = Path(str(run_config.get("output_dir", "signllm")))
    context = {
        "license": "apache-2.0",
        "model_name": repo_id.split("/")[-1] if repo_id else output_dir.name,
        "base_model": base_model,
        "datasets_yaml": _yaml_list(list(datasets or []), "custom"),
        "metrics_yaml": _yaml_list(sorted({k.split("_")[-1] for k in metrics if "bleu" in k.lower()}) or [], "bleu"),
        "stage": run_config.get("stage"),
        "stage_description": stage_description,
        "global_step": global_step,
        "num_parameters": f"{num_parameters:,}",
        "num_trainable_parameters": f"{num_trainable_parameters:,}",
        "transformers_range": TRANSFORMERS_RANGE,
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
