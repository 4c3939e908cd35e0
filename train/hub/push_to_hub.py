"""Publish a trained SignLLM checkpoint as a self-contained ``trust_remote_code`` Hub folder.

    # stage a release folder only (no network): config + weights + processor + the modeling_signllm code
    python -m signllm.train.hub.push_to_hub --model-dir runs/stage3/final --repo-id me/signllm-bobsl \
        --local-dir release/signllm-bobsl --no-upload
    # stage and upload (needs `huggingface-cli login`)
    python -m signllm.train.hub.push_to_hub --model-dir runs/stage3/final --repo-id me/signllm-bobsl

The staged folder loads with ``AutoConfig`` / ``AutoModel`` / ``AutoModelForSeq2SeqLM`` / ``AutoProcessor`` and
``pipeline("sign-translation", model=..., trust_remote_code=True)``. Registration happens here, never at import
time of the model code. DoRA adapters are merged by default so inference does not need peft.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from signllm.configuration_signllm import SignLLMConfig
from signllm.modeling_signllm import SignLLMForConditionalGeneration
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
    merge_adapters: bool = True,
    model_card: str | Path | None = None,
) -> Path:
    """Write a complete remote-code folder: weights (safetensors), config with ``auto_map`` + ``custom_pipelines``,
    processor + tokenizer, and the ``modeling_signllm`` source files they import.

    Args:
        merge_adapters: fold DoRA into T5 first (``model.merge_dora()``) so loading needs no peft.
        model_card: optional markdown file copied to ``README.md``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    register_signllm_auto_classes()
    if merge_adapters:
        model.merge_dora()
    pipe = SignTranslationPipeline(model=model, processor=processor, task=PIPELINE_TASK, device=model.device)
    pipe.save_pretrained(folder)  # model (+ auto_map), custom_pipelines, pipeline code
    processor.save_pretrained(folder)  # processor_config.json (+ auto_map), tokenizer, processing code
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
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


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


def push(
    model_dir: str | Path,
    repo_id: str,
    local_dir: str | Path | None = None,
    upload: bool = True,
    private: bool = False,
    revision: str | None = None,
    commit_message: str = "Upload SignLLM",
    merge_adapters: bool = True,
    model_card: str | Path | None = None,
    token: str | None = None,
) -> Path:
    """Stage ``model_dir`` (a training output with model + processor) as a Hub folder and optionally upload it.

    Args:
        local_dir: staging folder (default: a temporary folder); kept after the call.
        upload: False stages only — nothing touches the network.
    Returns:
        the staging folder.
    """
    model = SignLLMForConditionalGeneration.from_pretrained(model_dir)
    processor = SignLLMProcessor.from_pretrained(model_dir)
    staging = Path(local_dir) if local_dir is not None else Path(tempfile.mkdtemp(prefix="signllm-hub-"))
    save_for_hub(model, processor, staging, merge_adapters=merge_adapters, model_card=model_card)
    if upload:
        from huggingface_hub import HfApi

        api = HfApi(token=token)
        api.create_repo(repo_id, private=private, exist_ok=True)
        api.upload_folder(repo_id=repo_id, folder_path=str(staging), revision=revision, commit_message=commit_message)
    return staging


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model-dir", required=True, help="training output with model + processor")
    parser.add_argument("--repo-id", required=True, help="Hub repository, e.g. me/signllm-bobsl")
    parser.add_argument("--local-dir", help="staging folder (default: temporary)")
    parser.add_argument("--no-upload", action="store_true", help="stage only, no network")
    parser.add_argument("--keep-adapters", action="store_true", help="do not merge DoRA (loading then needs peft)")
    parser.add_argument("--private", action="store_true")
    parser.add_argument("--revision")
    parser.add_argument("--model-card", help="markdown file to upload as README.md")


def run(args: argparse.Namespace) -> int:
    staging = push(
        args.model_dir, args.repo_id, local_dir=args.local_dir, upload=not args.no_upload, private=args.private,
        revision=args.revision, merge_adapters=not args.keep_adapters, model_card=args.model_card,
    )  # fmt: skip
    print(f"staged {staging}" + ("" if args.no_upload else f" and uploaded to {args.repo_id}"))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
