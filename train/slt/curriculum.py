"""The paper's SLT/SSA curriculum (architecture §5) as named stages, and the run-config files that drive them.

| stage      | trainable                                                        | data                     |
|------------|------------------------------------------------------------------|--------------------------|
| 1          | Sliding Perceiver (+ language_projection) + DoRA adapters         | SLT                      |
| 2          | + pose / lip backbones (Conformers, AGCNs)                        | SLT                      |
| 3          | same as 2                                                         | 80 % SLT / 20 % SSA      |
| finetune   | same as 2, on a target dataset                                    | multitask, or SLT only   |

"Everything trainable" in the paper means everything that has a training signal *and* is meant to move:
the base Flan-T5 weights stay frozen under DoRA in every stage (only the DoRA magnitude / low-rank adapters
train, as PEFT intends), and the Auto-AVSR lip reader stays frozen in every stage (architecture §2.2).
Without DoRA (``use_dora=False``, an ablation) the LM is frozen in stage 1 and trained from stage 2 on [ours].

Each stage starts from the previous stage's final checkpoint (``previous``); stage 1 starts from a fresh model
whose backbones are loaded from ISLR pretraining (``model.backbones``, ``--backbones``; random frozen backbones only
with ``--random-backbones``).

Run configs are nanoGPT-style layers: code defaults (``DEFAULTS``) ← ``configs/stage<N>.yaml`` ← user
``--config`` files ← ``--set key=value`` overrides.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..run_config import deep_update, load_config_layer, parse_override

CONFIG_DIR = Path(__file__).resolve().parent / "configs"

ADAPTER_MARKERS = ("lora_",)  # PEFT names DoRA parameters lora_A / lora_B / lora_magnitude_vector
ALWAYS_FROZEN_MARKERS = ("lip_reader",)  # the frozen Auto-AVSR encoder, wherever the model mounts it
PERCEIVER_MODULES = ("resampler", "language_projection")
BACKBONE_MODULES = ("pose_encoder", "lip_encoder")


@dataclass(frozen=True)
class Stage:
    """One curriculum stage.

    Args:
        name: ``"1"``, ``"2"``, ``"3"`` or ``"finetune"``.
        train_backbones: pose / lip backbones trainable (stages 2+).
        slt_fraction: default share of SLT samples per batch (1.0 = SLT only).
        previous: the stage whose checkpoint this one starts from (``None``: fresh model).
    """

    name: str
    description: str
    train_backbones: bool
    slt_fraction: float
    previous: str | None

    @property
    def config_file(self) -> Path:
        return CONFIG_DIR / f"stage{self.name}.yaml" if self.name.isdigit() else CONFIG_DIR / f"{self.name}.yaml"


STAGES: dict[str, Stage] = {
    "1": Stage("1", "Sliding Perceiver + DoRA on SLT, backbones frozen", False, 1.0, None),
    "2": Stage("2", "full model on SLT", True, 1.0, "1"),
    "3": Stage("3", "full model, multitask 80 % SLT / 20 % SSA", True, 0.8, "2"),
    "finetune": Stage("finetune", "full model on a target dataset (multitask or SLT only)", True, 0.8, "3"),
}


def get_stage(name: str | int) -> Stage:
    key = str(name)
    if key not in STAGES:
        raise ValueError(f"unknown stage {name!r}; choose one of {', '.join(STAGES)}.")
    return STAGES[key]


# ----------------------------------------------------------------------------------------------------------------
# which parameters train


def parameter_group(name: str) -> str:
    """Curriculum group of a parameter name: adapter / perceiver / backbone / frozen_lip_reader / language_model."""
    if any(marker in name for marker in ALWAYS_FROZEN_MARKERS):
        return "frozen_lip_reader"
    if any(marker in name for marker in ADAPTER_MARKERS):
        return "adapter"
    root = name.split(".", 1)[0]
    if root in PERCEIVER_MODULES:
        return "perceiver"
    if root in BACKBONE_MODULES:
        return "backbone"
    if root == "language_model":
        return "language_model"
    return "other"


def _has_adapters(model: torch.nn.Module) -> bool:
    return any(parameter_group(n) == "adapter" for n, _ in model.named_parameters())


def should_train(name: str, stage: Stage, has_adapters: bool) -> bool:
    """Whether parameter ``name`` trains in ``stage`` (the curriculum table above)."""
    group = parameter_group(name)
    if group in ("adapter", "perceiver"):
        return True
    if group == "backbone":
        return stage.train_backbones
    if group == "language_model":
        return not has_adapters and stage.train_backbones  # DoRA keeps the base LM frozen in every stage
    if group == "other":
        return stage.train_backbones
    return False


def apply_stage(model: torch.nn.Module, stage: Stage | str) -> dict[str, tuple[int, int]]:
    """Set ``requires_grad`` of every parameter for ``stage``; return ``{group: (trainable, total)}`` counts."""
    stage = stage if isinstance(stage, Stage) else get_stage(stage)
    adapters = _has_adapters(model)
    for name, param in model.named_parameters():
        param.requires_grad_(should_train(name, stage, adapters))
    return trainable_report(model)


def freeze_frozen_module_state(model: torch.nn.Module) -> None:
    """Put fully frozen backbones (and the lip reader) in eval mode: a frozen module must not drift through its
    BatchNorm running statistics either, and its dropout would only add noise. Called after every ``model.train()``."""
    for name in (*BACKBONE_MODULES, "lip_reader"):
        module = getattr(model, name, None)
        if module is not None and not any(p.requires_grad for p in module.parameters()):
            module.eval()


def trainable_report(model: torch.nn.Module) -> dict[str, tuple[int, int]]:
    """``{group: (trainable parameters, total parameters)}`` over the model."""
    report: dict[str, list[int]] = {}
    for name, param in model.named_parameters():
        counts = report.setdefault(parameter_group(name), [0, 0])
        counts[0] += param.numel() if param.requires_grad else 0
        counts[1] += param.numel()
    return {group: (c[0], c[1]) for group, c in sorted(report.items())}


def check_stage(model: torch.nn.Module, stage: Stage | str) -> None:
    """Raise ``ValueError`` naming the first parameters whose ``requires_grad`` disagrees with the stage."""
    stage = stage if isinstance(stage, Stage) else get_stage(stage)
    adapters = _has_adapters(model)
    wrong = [n for n, p in model.named_parameters() if p.requires_grad != should_train(n, stage, adapters)]
    if wrong:
        raise ValueError(f"stage {stage.name}: {len(wrong)} parameters have the wrong requires_grad, e.g. {wrong[:5]}.")
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError(f"stage {stage.name}: no parameter is trainable.")


# ----------------------------------------------------------------------------------------------------------------
# run configs

DEFAULTS: dict[str, Any] = {
    "stage": None,
    "run_dir": "runs/signllm",  # stage N writes <run_dir>/stage<N>; stage N+1 starts from there
    "output_dir": None,  # default <run_dir>/stage<N>
    "model": {
        "preset": "paper",  # SignLLMConfig.from_preset name
        "overrides": {},  # keyword overrides for from_preset (nested dicts merge into sub-configs)
        "init_from": None,  # checkpoint folder; default: the previous stage's output_dir
        # stage 1 (fresh model): the ISLR-pretrained backbones, one `signllm train islr-export` file (--backbones);
        # None: <run_dir>/backbones.safetensors when it exists, else stage 1 refuses to start ...
        "backbones": None,
        "random_backbones": False,  # ... unless asked to train on random frozen backbones (--random-backbones)
        "tokenizer": "google/flan-t5-xl",  # name/folder, or "byt5" (no files needed: tests, tiny runs)
        # "bfloat16": hold the frozen base LM and lip reader in bf16 (with mixed_precision bf16); None: as loaded
        "frozen_weights_dtype": None,
    },
    "data": {
        "train": [],  # prepared sample folders (datasets_scripts output)
        "eval": [],
        "eval_split": "val",  # split of the eval folders (prepared corpora name it val; How2Sign also has test)
        "slt_fraction": None,  # None: the stage's default (1.0 for stages 1-2, 0.8 for 3 / finetune)
        "ssa_prior_probability": 0.5,  # [paper] audio-aligned prior in the SSA prompt, when one exists
        "ssa_without_prior": "skip",  # sentences without a prior: no SSA window ("skip") or one around the truth
        "max_eval_samples": None,
        "max_target_tokens": 128,  # ~80 words [paper filter] in T5 sentencepiece tokens
    },
    "training": {  # Seq2SeqTrainingArguments keywords
        "learning_rate": 1.0e-4,
        "weight_decay": 0.01,
        "optim": "adamw_torch",  # AdamW [paper]
        "lr_scheduler_type": "cosine",  # one-cycle cosine: linear warm-up, cosine decay to 0 [paper]
        "warmup_steps": 2000,  # [paper]
        "max_steps": 100000,  # [paper] per stage
        "per_device_train_batch_size": 4,  # [paper] batch 4 per 48 GB GPU (sliding Conformer)
        "per_device_eval_batch_size": 4,
        "gradient_accumulation_steps": 2,  # [paper]
        "max_grad_norm": 1.0,
        "logging_steps": 50,
        "eval_strategy": "steps",
        "eval_steps": 5000,
        "save_strategy": "steps",
        "save_steps": 5000,
        "save_total_limit": 3,
        "seed": 42,
        "data_seed": 42,
        "dataloader_num_workers": 4,
        "report_to": "none",
        "mixed_precision": "auto",  # ours: bf16 on GPUs that have it, else fp16 on GPU, fp32 on CPU
    },
    "generation": {"num_beams": 5, "max_new_tokens": 64},  # [paper] beam 5
    "push_to_hub": {"repo_id": None, "private": True},  # repo_id also names the model card's loading example
}


def load_yaml(path: str | Path) -> dict[str, Any]:
    """An SLT config layer; a bare name resolves to ``slt/configs/<name>.yaml`` (keys checked against ``DEFAULTS``)."""
    return load_config_layer(path, allowed_keys=DEFAULTS, config_dir=CONFIG_DIR)


def resolve_config(
    stage: Stage | str | None,
    config_files: list[str | Path] = (),
    overrides: list[str] = (),
) -> dict[str, Any]:
    """Layer the defaults, the stage file, the user's config files and ``key=value`` overrides into one dict."""
    layers = [load_yaml(f) for f in config_files] + [parse_override(o) for o in overrides]
    name = stage.name if isinstance(stage, Stage) else stage
    for layer in layers:  # a config file may name its stage when the command line does not
        if name is None and layer.get("stage") is not None:
            name = str(layer["stage"])
    if name is None:
        raise ValueError("no stage given: pass --stage 1|2|3|finetune or put `stage:` in the config file.")
    stage = get_stage(name)
    config = deep_update(DEFAULTS, load_yaml(stage.config_file))
    for layer in layers:
        config = deep_update(config, layer)
    config["stage"] = stage.name
    if config["data"]["slt_fraction"] is None:
        config["data"]["slt_fraction"] = stage.slt_fraction
    if config["output_dir"] is None:
        config["output_dir"] = str(Path(config["run_dir"]) / f"stage{stage.name}")
    if config["model"]["init_from"] is None and stage.previous is not None:
        config["model"]["init_from"] = str(Path(config["run_dir"]) / f"stage{stage.previous}")
    return config
