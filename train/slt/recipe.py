"""``signllm train slt``: the SLT/SSA curriculum (stages 1 → 2 → 3 → finetune) with ``Seq2SeqTrainer``.

    # the paper's curriculum on a prepared corpus (datasets_scripts), each stage starting from the previous one
    signllm train islr-export runs/islr_pose/final runs/islr_lip/final -o runs/bobsl/backbones.safetensors
    signllm train slt --stage 1 --run-dir runs/bobsl --train data/bobsl --eval data/bobsl \
        --backbones runs/bobsl/backbones.safetensors
    signllm train slt --stage 2 --run-dir runs/bobsl --train data/bobsl --eval data/bobsl
    signllm train slt --stage 3 --run-dir runs/bobsl --train data/bobsl --eval data/bobsl
    signllm train slt --stage finetune --config finetune_how2sign --run-dir runs/bobsl --train data/how2sign \
        --eval data/how2sign --push-to-hub me/signllm-how2sign --merge

    # 4 GPUs (DDP), or DeepSpeed ZeRO-3 / FSDP for Flan-T5-XL on smaller cards
    accelerate launch --config_file train/accelerate_configs/ddp_4gpu.yaml -m signllm.train.cli train slt --stage 1 ...

    # a tiny random model on CPU, same code path (seconds)
    signllm train slt --stage 1 --config tiny_debug --run-dir /tmp/run --train data/demo --random-backbones

Configs are layers (train/slt/curriculum.py): code defaults ← configs/stage<N>.yaml ← --config files ← --set key=value
← the flags below. Stage 1 loads the ISLR-pretrained backbones (--backbones, or <run-dir>/backbones.safetensors) and
says what it loaded; it refuses to train on random frozen backbones unless --random-backbones is given.

Stage N writes <run-dir>/stage<N>, a Hub-ready folder (signllm.train.hub.push_to_hub.save_for_hub: config.json with
auto_map and custom_pipelines, remote code, processor, generation_config.json, README.md model card). With DoRA on a
pretrained LM it does not copy the frozen Flan-T5: model.safetensors holds the backbones, the Perceiver and the
adapters, config.json names the base LM (text_model_name_or_path, text_model_revision), and language_model/ holds the
adapters in PEFT format (adapter_config.json + adapter_model.safetensors); from_pretrained and the pipeline load the
base LM from its id or path. --merge also writes <output-dir>-merged, DoRA folded in: one full model that loads
without peft (what --push-to-hub then uploads). <run-dir>/stage<N>/checkpoints/ holds the Trainer checkpoints (also
without the frozen LM): rerunning the same command after an interruption continues from the last complete
checkpoint (same step, same data order, same weights).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
import yaml
from signllm.configuration_signllm import TASK_TO_ID
from signllm.train.slt.curriculum import (
    STAGES,
    Stage,
    apply_stage,
    check_stage,
    get_stage,
    resolve_config,
    trainable_report,
)

logger = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
RUN_CONFIG_FILE = "signllm_run.yaml"


# ------------------------------------------------------------------------------------------------------ CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stage", choices=list(STAGES), help="curriculum stage (or `stage:` in a config file)")
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="YAML",
        help="override file(s), applied in order; a bare name looks in train/slt/configs/",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="one override, value parsed as YAML, e.g. --set training.max_steps=500",
    )
    parser.add_argument("--run-dir", help="stage N writes <run-dir>/stage<N> and starts from <run-dir>/stage<N-1>")
    parser.add_argument("--output-dir", help="write this stage here instead of <run-dir>/stage<N>")
    parser.add_argument("--init-from", help="start from this checkpoint folder instead of the previous stage")
    parser.add_argument("--backbones", metavar="FILE", help="stage 1: the ISLR-pretrained backbones "
                        "(`signllm train islr-export` output); default <run-dir>/backbones.safetensors when it exists")
    parser.add_argument("--random-backbones", action="store_true", help="stage 1: allow training on randomly "
                        "initialised frozen backbones (an ablation / a smoke test) when no --backbones are given")
    parser.add_argument("--train", nargs="+", metavar="DATASET", help="prepared dataset folder(s) for training")
    parser.add_argument("--eval", nargs="+", metavar="DATASET", help="prepared dataset folder(s) for evaluation")
    parser.add_argument("--max-steps", type=int, help="shortcut for --set training.max_steps=N")
    parser.add_argument("--no-resume", action="store_true", help="ignore existing checkpoints and start over")
    parser.add_argument(
        "--push-to-hub",
        metavar="REPO_ID",
        help="upload the finished folder with huggingface_hub (without checkpoints/)",
    )
    parser.add_argument("--hub-token", default=None, help="token for --push-to-hub (default: the cached login)")
    parser.add_argument("--merge", action="store_true", help="also write <output-dir>-merged: DoRA folded into the "
                        "base LM, one full model that loads without peft (uploaded instead by --push-to-hub)")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    parser.add_argument("--data-order-log", help=argparse.SUPPRESS)  # tests: record the indices of every batch
    parser.add_argument("--kill-at-step", type=int, help=argparse.SUPPRESS)  # tests: SIGKILL itself mid-run


def run(args: argparse.Namespace) -> int:
    overrides = list(args.overrides)
    flags = {"run_dir": args.run_dir, "output_dir": args.output_dir, "model.init_from": args.init_from,
             "model.backbones": args.backbones, "model.random_backbones": args.random_backbones or None,
             "data.train": args.train, "data.eval": args.eval, "training.max_steps": args.max_steps}  # fmt: skip
    overrides += [f"{key}={json.dumps(value)}" for key, value in flags.items() if value is not None]
    config = resolve_config(args.stage, args.config, overrides)
    if args.print_config:
        print(yaml.safe_dump(config, sort_keys=False))
        return 0
    train_stage(
        config,
        resume=not args.no_resume,
        push_to_hub=args.push_to_hub,
        hub_token=args.hub_token,
        merge=args.merge,
        data_order_log=args.data_order_log,
        kill_at_step=args.kill_at_step,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m signllm.train.slt.recipe ...`` (same options as ``signllm train slt``)."""
    parser = argparse.ArgumentParser(prog="signllm train slt", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    add_arguments(parser)
    return run(parser.parse_args(argv))


# ------------------------------------------------------------------------------------------- model / processor
def build_processor(config: dict[str, Any], model_config: Any, init_from: str | None = None):
    """The checkpoint's processor when there is one, else a fresh one around the configured tokenizer."""
    from signllm.processing_signllm import SignLLMProcessor

    if init_from and (Path(init_from) / "processor_config.json").is_file():
        # the installed class; a tokenizer class that only the folder's own code defines is refused, not run
        return SignLLMProcessor.from_pretrained(init_from, trust_remote_code=False)
    name = config["model"]["tokenizer"]
    if name == "byt5":
        from transformers import ByT5Tokenizer

        tokenizer = ByT5Tokenizer()  # no files needed; one token per digit
    else:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(name)
    return SignLLMProcessor(
        tokenizer,
        num_frames=model_config.num_frames,
        fps=model_config.fps,
        lip_feature_size=model_config.lip_config.feature_size,
        slt_prompt=model_config.slt_prompt,
        ssa_prompt=model_config.ssa_prompt,
        ssa_prior_template=model_config.ssa_prior_template,
        max_target_length=config["data"]["max_target_tokens"],
    )


BACKBONES_FILE = "backbones.safetensors"  # where stage 1 looks in the run folder when --backbones is not given
BACKBONE_PREFIXES = {"pose": "pose_encoder.", "lip": "lip_encoder."}  # keys of an `islr-export` file


def build_model(config: dict[str, Any], stage: Stage):
    """Stage 1: a fresh model (the pretrained LM, the ISLR backbones: `backbone_file`); later stages: the previous
    stage's folder."""
    from signllm.configuration_signllm import SignLLMConfig
    from signllm.modeling_signllm import SignLLMForConditionalGeneration

    model = config["model"]
    retired = [key for key in ("pose_encoder_from", "lip_encoder_from") if model.get(key)]
    if retired:
        raise ValueError(f"model.{retired[0]} is gone: give stage 1 the `signllm train islr-export` file with "
                         "--backbones FILE (model.backbones).")  # fmt: skip
    init_from = model["init_from"]
    if init_from:
        if not (Path(init_from) / "config.json").is_file():
            hint = f"; run stage {stage.previous} first" if stage.previous else ""
            raise ValueError(f"stage {stage.name} starts from {init_from}, which holds no trained model{hint}.")
        return SignLLMForConditionalGeneration.from_pretrained(init_from)
    model_config = SignLLMConfig.from_preset(model["preset"], **model["overrides"])
    backbones = backbone_file(config)
    fresh = SignLLMForConditionalGeneration.from_components(model_config)
    wanted = [m for m in BACKBONE_PREFIXES if getattr(fresh, f"{m}_encoder") is not None]
    loaded = load_backbones(fresh, backbones) if backbones else {}
    random = [m for m in wanted if m not in loaded]
    for modality, source in loaded.items():
        _say(f"stage {stage.name}: {modality} backbone loaded from {backbones} ({source})")
    if random and not model["random_backbones"]:
        where = f"{backbones} holds no {' / '.join(random)} backbone" if backbones else "no backbones were given"
        raise ValueError(
            f"stage {stage.name} trains on frozen backbones, but {where}: pass the ISLR-pretrained ones with "
            f"--backbones FILE (`signllm train islr-export ... -o FILE`, or put it at <run-dir>/{BACKBONES_FILE}), "
            "or --random-backbones to train on randomly initialised backbones (an ablation or a smoke test)."
        )
    for modality in random:
        _say(f"stage {stage.name}: {modality} backbone randomly initialised (--random-backbones)")
    return fresh


def backbone_file(config: dict[str, Any]) -> Path | None:
    """``model.backbones`` (``--backbones``), else ``<run_dir>/backbones.safetensors`` when it exists."""
    if config["model"]["backbones"]:
        path = Path(config["model"]["backbones"])
        if not path.is_file():
            raise ValueError(f"--backbones {path}: file not found (write it with `signllm train islr-export`).")
        return path
    default = Path(config["run_dir"]) / BACKBONES_FILE
    return default if default.is_file() else None


def load_backbones(model: Any, path: str | Path) -> dict[str, str]:
    """Load every backbone of an ``islr-export`` file that the model has; returns ``{modality: description}``."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        keys, metadata = list(handle.keys()), handle.metadata() or {}
    loaded = {}
    for modality, prefix in BACKBONE_PREFIXES.items():
        count = sum(key.startswith(prefix) for key in keys)
        if count and getattr(model, f"{modality}_encoder") is not None:
            model.load_backbone(path, modality, prefix=prefix)
            source = metadata.get(f"{modality}_source")
            loaded[modality] = f"{count} tensors" + (f", ISLR checkpoint {source}" if source else "")
    return loaded


def _say(message: str) -> None:
    print(message, flush=True)
    logger.info(message)


def mixed_precision(choice: str) -> dict[str, bool]:
    """``auto``: bf16 where the GPU supports it, else fp16 on GPU, fp32 on CPU (T5's ``wo`` stays fp32)."""
    if choice not in ("auto", "no", "bf16", "fp16"):
        raise ValueError(f"training.mixed_precision={choice!r}; allowed: 'auto', 'no', 'bf16', 'fp16'.")
    if choice == "auto":
        if not torch.cuda.is_available():
            return {"bf16": False, "fp16": False}
        choice = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return {"bf16": choice == "bf16", "fp16": choice == "fp16"}


def training_arguments(config: dict[str, Any], output_dir: Path, has_eval: bool):
    from transformers import Seq2SeqTrainingArguments

    training = dict(config["training"])
    training.update(mixed_precision(training.pop("mixed_precision", "auto")))
    # no accelerator: say so, or a torchrun/accelerate launch of several processes stays single-process
    # (accelerate only builds a gloo process group when asked for CPU)
    training.setdefault("use_cpu", not (torch.cuda.is_available() or torch.backends.mps.is_available()))
    if not has_eval:
        training["eval_strategy"] = "no"
    return Seq2SeqTrainingArguments(
        output_dir=str(output_dir / CHECKPOINTS),
        remove_unused_columns=False,  # the collator emits exactly the model inputs (+ bookkeeping it removes)
        label_names=["labels"],
        predict_with_generate=True,
        save_only_model=False,  # optimizer / scheduler / RNG states are needed to resume exactly
        **training,
    )


# ----------------------------------------------------------------------------------------------------- data
def build_datasets(config: dict[str, Any], processor: Any, train_windows=None, eval_windows=None):
    """Train dataset (SLT + SSA windows when the stage mixes tasks) and per-task eval datasets."""
    from signllm.train.slt.data import SignLLMWindowDataset, record_keypoint_extractor, windows_from_prepared

    data = config["data"]
    seed = int(config["training"].get("seed", 42))
    tasks = ("slt", "ssa") if data["slt_fraction"] < 1 else ("slt",)
    frames, fps = processor.num_frames, processor.fps
    if train_windows is not None:
        train_ids = None
    elif data["train"]:
        train_windows, train_ids = windows_from_prepared(
            data["train"], "train", frames, fps, tasks, seed, data["ssa_without_prior"]
        )
        record_keypoint_extractor(processor, data["train"])  # saved with the model: inputs from others get a warning
    else:
        raise ValueError("no training data: pass --train DATASET (or data.train in a config file).")
    train = SignLLMWindowDataset(train_windows, processor, train_ids, data["ssa_prior_probability"], seed)

    evals = {}
    if eval_windows is None and data["eval"]:
        eval_windows, eval_ids = windows_from_prepared(
            data["eval"], data["eval_split"], frames, fps, tasks, seed, data["ssa_without_prior"]
        )
    elif eval_windows is not None:
        eval_ids = SignLLMWindowDataset(eval_windows, processor).task_ids
    for task in tasks:  # one eval set per task, so each gets its own metrics (eval_slt_*, eval_ssa_*)
        keep = [i for i, t in enumerate(eval_ids) if t == TASK_TO_ID[task]] if eval_windows is not None else []
        keep = keep[: data["max_eval_samples"]] if data["max_eval_samples"] else keep
        if keep:
            view = [eval_windows[i] for i in keep] if isinstance(eval_windows, list) else _Subset(eval_windows, keep)
            # evaluation shows the prior whenever one exists, as inference does (windows centred on it)
            evals[task] = SignLLMWindowDataset(view, processor, [TASK_TO_ID[task]] * len(keep), 1.0, seed)
    return train, evals


class _Subset:
    def __init__(self, items, indices: list[int]):
        self.items, self.indices = items, indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int):
        return self.items[self.indices[index]]


class _KillAtStep:
    """Test hook: SIGKILL the process at the end of a given optimizer step, as a pre-empted job would die."""

    def __init__(self, step: int):
        self.step = step

    def __call__(self):  # built lazily so importing this module does not import transformers
        from transformers import TrainerCallback

        step = self.step

        class KillCallback(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                if state.global_step >= step:
                    os.kill(os.getpid(), signal.SIGKILL)

        return KillCallback()


# ------------------------------------------------------------------------------------------------- training
def train_stage(
    config: dict[str, Any],
    train_windows: list | None = None,
    eval_windows: list | None = None,
    resume: bool = True,
    push_to_hub: str | None = None,
    hub_token: str | None = None,
    data_order_log: str | None = None,
    kill_at_step: int | None = None,
    hub_api: Any = None,
    merge: bool = False,
) -> dict[str, Any]:
    """Run one curriculum stage end to end; returns the final metrics. ``train_windows`` / ``eval_windows``
    bypass ``config["data"]`` (Python API: any sequence of ready-made windows)."""
    from signllm.train.run_config import last_complete_checkpoint
    from signllm.train.slt.collator import SignLLMDataCollator
    from signllm.train.slt.trainer import SignLLMSeq2SeqTrainer, slt_metric_function, ssa_metric_function
    from transformers import set_seed

    stage = get_stage(config["stage"])
    output_dir = Path(config["output_dir"])
    seed = int(config["training"].get("seed", 42))
    set_seed(seed)  # identical initialisation of fresh modules on every process and every rerun

    # step 1: model at the stage's starting point, parameters frozen as the stage says
    model = build_model(config, stage)
    processor = build_processor(config, model.config, config["model"]["init_from"])
    try:
        model.config.ssa_digit_token_ids = list(processor.digit_token_ids)  # soft-decoding loss needs them
    except ValueError:
        if config["data"]["slt_fraction"] < 1:
            raise
    apply_stage(model, stage)
    check_stage(model, stage)
    if config["model"]["frozen_weights_dtype"] is not None:  # a run setting: also for stages loaded from a folder
        model.config.frozen_weights_dtype = config["model"]["frozen_weights_dtype"]
    model.cast_frozen_weights()  # no-op unless config.frozen_weights_dtype is set
    generation = config["generation"]
    model.generation_config.num_beams = generation["num_beams"]
    model.generation_config.max_new_tokens = generation["max_new_tokens"]

    # step 2: data — ready-made windows → encoded features; evaluation per task
    train_dataset, eval_datasets = build_datasets(config, processor, train_windows, eval_windows)

    # step 3: Seq2SeqTrainer with the multitask sampler; resume from the last checkpoint when there is one
    args = training_arguments(config, output_dir, has_eval=bool(eval_datasets))
    callbacks = [_KillAtStep(kill_at_step)()] if kill_at_step else []
    trainer = SignLLMSeq2SeqTrainer(
        model=model,
        args=args,
        train_dataset=train_dataset,
        eval_dataset=eval_datasets or None,
        data_collator=SignLLMDataCollator(pad_token_id=processor.tokenizer.pad_token_id or 0, return_sample_index=True),
        processing_class=processor,
        slt_fraction=config["data"]["slt_fraction"],
        metric_functions={"slt": slt_metric_function(processor), "ssa": ssa_metric_function(processor)},
        data_order_log=data_order_log,
        callbacks=callbacks,
    )
    checkpoint_dir = output_dir / CHECKPOINTS
    last = last_complete_checkpoint(checkpoint_dir) if resume else None  # skips a half-written last one
    if last:
        logger.info("resuming stage %s from %s", stage.name, last)
    result = trainer.train(resume_from_checkpoint=last)
    metrics = dict(result.metrics)
    if eval_datasets:
        metrics.update(trainer.evaluate())

    # step 4: the Hub-ready folder (every rank gathers sharded weights; rank 0 writes; everybody waits)
    with whole_model_for_export(trainer) as model:
        if trainer.is_world_process_zero():
            export_folder(trainer, model, processor, config, stage, metrics, push_to_hub, hub_token, hub_api, merge)
    trainer.accelerator.wait_for_everyone()
    return metrics


@contextmanager
def whole_model_for_export(trainer) -> Iterator[torch.nn.Module]:
    """The unwrapped model with every parameter whole on rank 0, for writing the stage folder.

    A collective: every rank must enter. FSDP v1 (``fsdp_flan_t5_xl.yaml``): ``summon_full_params`` with
    ``rank0_only`` and ``writeback=False`` (``--merge`` folds DoRA into the gathered copy only). DeepSpeed ZeRO-3
    (``deepspeed_zero3.yaml``): ``deepspeed.zero.GatheredParameters`` [untested here: it needs GPUs]. Without
    sharding (one process, DDP) the model is yielded as it is. Unwrapping alone would write rank 0's shard.
    """
    from torch.distributed.fsdp import FullyShardedDataParallel

    wrapped = trainer.model_wrapped if trainer.model_wrapped is not None else trainer.model
    model = trainer.accelerator.unwrap_model(trainer.model)
    if isinstance(wrapped, FullyShardedDataParallel):
        offload = next(model.parameters()).device.type != "cpu"  # gather the ~12 GB XL copy in host memory
        with FullyShardedDataParallel.summon_full_params(wrapped, writeback=False, rank0_only=True,
                                                         offload_to_cpu=offload):  # fmt: skip
            yield model
    elif getattr(trainer, "is_deepspeed_enabled", False) and any(hasattr(p, "ds_id") for p in model.parameters()):
        import deepspeed

        with deepspeed.zero.GatheredParameters(list(model.parameters()), modifier_rank=None):
            yield model
    else:
        yield model


def export_folder(trainer, model, processor, config, stage: Stage, metrics, push_to_hub=None, hub_token=None,
                  hub_api=None, merge: bool = False) -> Path:
    """The stage folder through the one export path (`save_for_hub`: weights without the frozen base LM, config with
    auto_map + custom_pipelines, remote code, processor, PEFT adapters) + model card, run config, metrics and the
    trainer state; with ``merge``, also ``<output_dir>-merged`` (DoRA folded in). ``model``: the unwrapped model with
    whole parameters (:func:`whole_model_for_export`). Returns the folder to publish."""
    from signllm.train.hub.push_to_hub import save_for_hub

    output_dir = Path(config["output_dir"])
    save_for_hub(model, processor, output_dir)
    _write_run_files(output_dir, trainer, model, config, stage, metrics, push_to_hub)
    published = output_dir
    if merge:  # last: merging changes the model in place
        published = merged_folder(output_dir)
        save_for_hub(model, processor, published, merge=True)
        _write_run_files(published, trainer, model, config, stage, metrics, push_to_hub)
    if push_to_hub:
        push_folder(published, push_to_hub, token=hub_token, private=config["push_to_hub"]["private"], api=hub_api)
    return published


def merged_folder(output_dir: str | Path) -> Path:
    """Where ``--merge`` writes the release export of a stage: beside it, ``<output_dir>-merged``."""
    output_dir = Path(output_dir)
    return output_dir.with_name(f"{output_dir.name}-merged")


def _write_run_files(folder: Path, trainer, model, config, stage: Stage, metrics, push_to_hub) -> None:
    from signllm.datasets_scripts.manifest import write_json
    from signllm.train.hub.model_card import write_model_card

    counts = trainable_report(model)
    card_metrics = {
        k: v for k, v in metrics.items() if isinstance(v, (int, float)) and k.startswith(("eval_", "train_loss"))
    }
    write_model_card(
        folder,
        config,
        metrics=card_metrics,
        stage_description=stage.description,
        global_step=trainer.state.global_step,
        num_parameters=sum(total for _, total in counts.values()),
        num_trainable_parameters=sum(trainable for trainable, _ in counts.values()),
        model_config=model.config,
        repo_id=push_to_hub or config["push_to_hub"]["repo_id"],
        keypoint_extractor=getattr(trainer.processing_class, "keypoint_extractor", None),
    )
    (folder / RUN_CONFIG_FILE).write_text(yaml.safe_dump(config, sort_keys=False))
    write_json(folder / "all_results.json", metrics)
    write_json(folder / "trainable_parameters.json", counts, sort_keys=False)
    trainer.state.save_to_json(str(folder / "trainer_state.json"))  # loss curve + step, beside the weights


def push_folder(folder: str | Path, repo_id: str, token: str | None = None, private: bool = True, api: Any = None):
    """Upload a finished stage folder (not its resume checkpoints) with ``huggingface_hub``."""
    from signllm.train.hub.push_to_hub import HUB_IGNORE

    if api is None:
        from huggingface_hub import HfApi

        api = HfApi(token=token)
    api.create_repo(repo_id=repo_id, repo_type="model", private=private, exist_ok=True)
    return api.upload_folder(
        folder_path=str(folder),
        repo_id=repo_id,
        repo_type="model",
        commit_message=f"SignLLM {Path(folder).name}",
        ignore_patterns=HUB_IGNORE,
    )


if __name__ == "__main__":
    raise SystemExit(main())
