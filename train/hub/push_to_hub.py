"""Publish a trained SignLLM folder on the Hub, and the one export path every saved SignLLM folder goes through.

    # stage a release folder only (no network): the stage folder as it is (adapters + base LM by reference)
    python -m signllm.train.hub.push_to_hub --model-dir runs/bobsl/stage3 --repo-id me/signllm-bobsl \
        --local-dir release/signllm-bobsl --no-upload
    # a merged release: DoRA folded into Flan-T5, one full model that loads without peft
    python -m signllm.train.hub.push_to_hub --model-dir runs/bobsl/stage3 --repo-id me/signllm-bobsl --merge
    # stage and upload (needs `huggingface-cli login`)
    python -m signllm.train.hub.push_to_hub --model-dir runs/bobsl/stage3 --repo-id me/signllm-bobsl

`save_for_hub` writes what `signllm train slt` writes for every stage, the demo for its model and this command for
a release: safetensors weights, ``config.json`` with ``auto_map`` (AutoConfig / AutoModel / AutoModelForSeq2SeqLM)
and ``custom_pipelines["sign-translation"]``, the ``modeling_signllm`` code they import, the processor (+ tokenizer),
the generation config and (here or in the recipe) the model card. A model with DoRA adapters on a pretrained base LM
(the curriculum's stages) does not copy the frozen LM: ``model.safetensors`` holds the backbones, the Perceiver and
the adapters, ``config.json`` names the base LM (``text_model_name_or_path`` + ``text_model_revision``,
``text_model_weights: referenced``), and ``language_model/`` holds the adapters in PEFT format
(``adapter_config.json`` + ``adapter_model.safetensors``). ``from_pretrained`` / the pipeline load the base LM from
its id or path and the rest from the folder. ``merge=True`` (``--merge``) folds DoRA in first and writes one full
model. The folder loads with the Auto classes and ``pipeline("sign-translation", model=..., trust_remote_code=True)``.
Registration of the Auto classes for saving happens here, never at import time of the model code.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from signllm.configuration_signllm import SignLLMConfig
from signllm.datasets_scripts.manifest import write_json
from signllm.modeling_signllm import ADAPTER_SUBFOLDER, SignLLMForConditionalGeneration
from signllm.pipeline_signllm import SignTranslationPipeline
from signllm.processing_signllm import SignLLMProcessor
from transformers import AutoModelForSeq2SeqLM
from transformers.pipelines import PIPELINE_REGISTRY

PIPELINE_TASK = "sign-translation"
AUTO_MODEL_CLASSES = ("AutoModel", "AutoModelForSeq2SeqLM")


def register_signllm_auto_classes() -> None:
    """Register config / model / processor with the Auto classes and the pipeline under ``"sign-translation"``."""
    SignLLMConfig.register_for_auto_class()
    SignLLMForConditionalGeneration.register_for_auto_class("AutoModelForSeq2SeqLM")
    SignLLMProcessor.register_for_auto_class("AutoProcessor")
    PIPELINE_REGISTRY.register_pipeline(
        PIPELINE_TASK, pipeline_class=SignTranslationPipeline, pt_model=AutoModelForSeq2SeqLM, type="multimodal"
    )


def save_for_hub(
    model: SignLLMForConditionalGeneration,
    processor: SignLLMProcessor,
    folder: str | Path,
    merge: bool = False,
    model_card: str | Path | None = None,
) -> Path:
    """Write a complete remote-code folder (module docstring): weights (safetensors; the frozen base LM by reference
    when the model has DoRA adapters on a pretrained LM), config with ``auto_map`` + ``custom_pipelines``, processor
    + tokenizer, the ``modeling_signllm`` source files, and the adapters in PEFT format under ``language_model/``.

    Args:
        merge: fold DoRA into T5 first (``model.merge_dora()``, in place) and write one full model that loads
            without peft (a release export).
        model_card: optional markdown file copied to ``README.md``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    register_signllm_auto_classes()
    if merge:
        model.merge_dora()
    pipe = SignTranslationPipeline(model=model, processor=processor, task=PIPELINE_TASK, device=model.device)
    pipe.save_pretrained(folder)  # model (+ auto_map), custom_pipelines, pipeline code
    processor.save_pretrained(folder)  # processor_config.json (+ auto_map), tokenizer, processing code
    adapter = folder / ADAPTER_SUBFOLDER
    if model.save_language_model_adapter(folder) is None and adapter.is_dir():
        shutil.rmtree(adapter)  # a stale PEFT copy from an earlier save of this folder
    _add_auto_model_entries(folder / "config.json")
    check_hub_folder(folder)
    if model_card is not None:
        shutil.copyfile(model_card, folder / "README.md")
    return folder


def _add_auto_model_entries(config_path: Path) -> None:
    # register_for_auto_class keeps one Auto class per model class: expose the head under AutoModel too
    config = json.loads(config_path.read_text())
    auto_map = config.setdefault("auto_map", {})
    target = auto_map["AutoModelForSeq2SeqLM"]
    for name in AUTO_MODEL_CLASSES:
        auto_map[name] = target
    write_json(config_path, config)  # atomic: a crash leaves the folder's config.json whole


def check_hub_folder(folder: str | Path) -> None:
    """Raise ``ValueError`` when the folder misses anything remote-code loading needs."""
    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text())
    missing = [name for name in ("AutoConfig", *AUTO_MODEL_CLASSES) if name not in config.get("auto_map", {})]
    if missing:
        raise ValueError(f"{folder}/config.json auto_map lacks {missing}.")
    if PIPELINE_TASK not in config.get("custom_pipelines", {}):
        raise ValueError(f"{folder}/config.json lacks custom_pipelines[{PIPELINE_TASK!r}].")
    processor_config = json.loads((folder / "processor_config.json").read_text())
    if "AutoProcessor" not in processor_config.get("auto_map", {}):
        raise ValueError(f"{folder}/processor_config.json lacks auto_map.AutoProcessor.")
    code = [config["auto_map"][name].split(".")[0] + ".py" for name in ("AutoConfig", "AutoModelForSeq2SeqLM")]
    code.append(processor_config["auto_map"]["AutoProcessor"].split(".")[0] + ".py")
    code.append(config["custom_pipelines"][PIPELINE_TASK]["impl"].split(".")[0] + ".py")
    absent = [name for name in code if not (folder / name).is_file()]
    if absent:
        raise ValueError(f"{folder} lacks the code files {absent}.")
    if config.get("text_model_weights") == "referenced":
        if not config.get("text_model_name_or_path"):
            raise ValueError(f"{folder}/config.json references its base language model but names none.")
        adapter = folder / ADAPTER_SUBFOLDER
        absent = [name for name in ("adapter_config.json", "adapter_model.safetensors") if not (adapter / name).is_file()]
        if absent:
            raise ValueError(f"{folder}/{ADAPTER_SUBFOLDER} lacks the PEFT adapter files {absent}.")


def push(
    model_dir: str | Path,
    repo_id: str,
    local_dir: str | Path | None = None,
    upload: bool = True,
    private: bool = False,
    revision: str | None = None,
    commit_message: str = "Upload SignLLM",
    merge: bool = False,
    model_card: str | Path | None = None,
    token: str | None = None,
    trust_remote_code: bool = False,
) -> Path:
    """Stage ``model_dir`` (a training output with model + processor) as a Hub folder and optionally upload it.

    A folder that is already Hub-ready (every ``signllm train slt`` stage) is staged as it is, without loading it
    (the base LM stays a reference); an older folder, or ``merge=True``, is loaded and re-exported by `save_for_hub`.
    Its ``README.md`` model card is kept unless ``model_card`` names another.

    Args:
        local_dir: staging folder (default: a temporary folder); kept after the call.
        upload: False stages only — nothing touches the network.
        trust_remote_code: allow the tokenizer saved in ``model_dir`` to run its own code.
    Returns:
        the staging folder.
    """
    model_dir = Path(model_dir)
    staging = Path(local_dir) if local_dir is not None else Path(tempfile.mkdtemp(prefix="signllm-hub-"))
    card = model_card if model_card is not None else (model_dir / "README.md" if (model_dir / "README.md").is_file()
                                                      else None)  # fmt: skip
    try:
        check_hub_folder(model_dir)
        ready = not merge
    except (ValueError, OSError, KeyError):
        ready = False
    if ready:
        _copy_folder(model_dir, staging)
        if model_card is not None:
            shutil.copyfile(model_card, staging / "README.md")
    else:
        model = SignLLMForConditionalGeneration.from_pretrained(model_dir)
        processor = SignLLMProcessor.from_pretrained(model_dir, trust_remote_code=trust_remote_code)
        save_for_hub(model, processor, staging, merge=merge, model_card=card)
    if upload:
        from huggingface_hub import HfApi

        api = HfApi(token=token)
        api.create_repo(repo_id, private=private, exist_ok=True)
        api.upload_folder(repo_id=repo_id, folder_path=str(staging), revision=revision, commit_message=commit_message,
                          ignore_patterns=HUB_IGNORE)  # fmt: skip
    return staging


#: what a training folder holds that is not for the Hub: resume checkpoints, logs, TensorBoard runs
HUB_IGNORE = ["checkpoints/*", "checkpoints/**", "*.jsonl", "runs/*"]


def _copy_folder(source: Path, target: Path) -> None:
    from huggingface_hub.utils import filter_repo_objects

    files = [p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file()]
    for name in filter_repo_objects(files, ignore_patterns=HUB_IGNORE):
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / name, target / name)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model-dir", required=True, help="training output with model + processor")
    parser.add_argument("--repo-id", required=True, help="Hub repository, e.g. me/signllm-bobsl")
    parser.add_argument("--local-dir", help="staging folder (default: temporary)")
    parser.add_argument("--no-upload", action="store_true", help="stage only, no network")
    parser.add_argument("--merge", action="store_true", help="release export: fold DoRA into the base LM and write "
                        "one full model that loads without peft (default: adapters + the base LM by reference)")
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="let the tokenizer saved in --model-dir run its own code (off: only installed classes)")
    parser.add_argument("--private", action="store_true")
    parser.add_argument("--revision")
    parser.add_argument("--model-card", help="markdown file to upload as README.md")


def run(args: argparse.Namespace) -> int:
    staging = push(
        args.model_dir, args.repo_id, local_dir=args.local_dir, upload=not args.no_upload, private=args.private,
        revision=args.revision, merge=args.merge, model_card=args.model_card, trust_remote_code=args.trust_remote_code,
    )  # fmt: skip
    print(f"staged {staging}" + ("" if args.no_upload else f" and uploaded to {args.repo_id}"))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
