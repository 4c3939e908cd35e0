"""End-to-end SLT/SSA curriculum through the CLI on a tiny model: stages 1 → 2 → 3 → finetune, freezing,
checkpoint chaining, loss going down, Hub-ready export, kill + resume, and plain-Trainer finetuning."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import pytest
import torch
from safetensors.torch import load_file
from signllm.train.cli import main as signllm
from signllm.train.slt.curriculum import parameter_group
from slt_training_helpers import fast_overrides, make_folder_corpus, prepare_corpus

REPO = Path(__file__).resolve().parents[1]



def _stage_args(stage: str, run_dir: Path, data: Path, *extra: str, max_steps: int = 4) -> list[str]:
    args = ["--stage", stage, "--config", "tiny_debug", "--run-dir", str(run_dir), "--train", str(data),
            "--eval", str(data)]  # fmt: skip
    for value in fast_overrides(max_steps=max_steps):
        args += ["--set", value]
    return args + list(extra)


def _train(stage: str, run_dir: Path, data: Path, *extra: str, max_steps: int = 4) -> Path:
    assert signllm(["train", "slt", *_stage_args(stage, run_dir, data, *extra, max_steps=max_steps)]) == 0
    return run_dir / f"stage{stage}"


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def _losses(folder: Path) -> list[float]:
    history = json.loads((folder / "trainer_state.json").read_text())["log_history"]
    return [entry["loss"] for entry in history if "loss" in entry]


def _changed(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], group: str) -> tuple[int, int]:
    names = [n for n in a if parameter_group(n) == group and a[n].is_floating_point()]
    return sum(not torch.equal(a[n], b[n]) for n in names), len(names)


class LocalHub:
    """``huggingface_hub.HfApi``'s two calls used by ``--push-to-hub``, writing to a local folder (never the network)."""

    calls: ClassVar[list[tuple]] = []

    def __init__(self, root: Path):
        self.root = root

    def create_repo(self, repo_id, repo_type, private, exist_ok):
        LocalHub.calls.append(("create_repo", repo_id, private))
        (self.root / repo_id).mkdir(parents=True, exist_ok=exist_ok)

    def upload_folder(self, folder_path, repo_id, repo_type, commit_message, ignore_patterns):
        from huggingface_hub.utils import filter_repo_objects

        LocalHub.calls.append(("upload_folder", repo_id))
        files = [p.relative_to(folder_path).as_posix() for p in Path(folder_path).rglob("*") if p.is_file()]
        for name in filter_repo_objects(files, ignore_patterns=ignore_patterns):
            target = self.root / repo_id / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((Path(folder_path) / name).read_bytes())
        return commit_message


@pytest.fixture(scope="module")
def curriculum(tmp_path_factory):
    root = tmp_path_factory.mktemp("slt")
    data = prepare_corpus(make_folder_corpus(root / "corpus"), root / "prepared")
    run_dir = root / "run"
    stages = {}
    stages["1"] = _train("1", run_dir, data, "--data-order-log", str(root / "order"), max_steps=6)
    stages["2"] = _train("2", run_dir, data, max_steps=2)
    stages["3"] = _train("3", run_dir, data, max_steps=2)
    new_language = prepare_corpus(make_folder_corpus(root / "new_language", seed=7), root / "new_prepared")
    with pytest.MonkeyPatch.context() as patch:  # --push-to-hub through huggingface_hub, offline
        import huggingface_hub

        patch.setattr(huggingface_hub, "HfApi", lambda token=None: LocalHub(root / "hub"))
        stages["finetune"] = _train("finetune", run_dir, new_language, "--config", "finetune_folder", "--config",
                                    "tiny_debug", "--push-to-hub", "me/signllm-tiny-new", max_steps=2)  # fmt: skip
    return root, stages


def test_stage1_freezes_backbones_and_base_lm(curriculum):
    _, stages = curriculum
    folder = stages["1"]
    report = json.loads((folder / "trainable_parameters.json").read_text())
    assert report["backbone"][0] == 0 and report["backbone"][1] > 0
    assert report["language_model"][0] == 0
    assert report["perceiver"][0] == report["perceiver"][1] > 0
    assert report["adapter"][0] == report["adapter"][1] > 0
    # weights: a mid-stage checkpoint vs the final one — frozen groups bit-identical, trained groups moved
    mid = load_file(str(folder / "checkpoints" / "checkpoint-4" / "model.safetensors"))
    final = _weights(folder)
    assert _changed(mid, final, "backbone")[0] == 0
    assert _changed(mid, final, "language_model")[0] == 0
    assert _changed(mid, final, "perceiver")[0] > 0
    assert _changed(mid, final, "adapter")[0] > 0


def test_stages_chain_and_unfreeze_backbones(curriculum):
    _, stages = curriculum
    for stage, previous in (("2", "1"), ("3", "2"), ("finetune", "3")):
        config = (stages[stage] / "signllm_run.yaml").read_text()
        assert f"init_from: {stages[previous]}" in config
        report = json.loads((stages[stage] / "trainable_parameters.json").read_text())
        assert report["backbone"][0] == report["backbone"][1]  # stages 2+: backbones train
        assert report["language_model"][0] == 0  # base Flan-T5 weights stay frozen under DoRA in every stage
        before, after = _weights(stages[previous]), _weights(stages[stage])
        assert set(before) == set(after)
        # the randomly initialised base LM is frozen everywhere, so it is identical only if each stage
        # really started from the previous stage's weights
        assert _changed(before, after, "language_model")[0] == 0
        assert _changed(before, after, "backbone")[0] > 0


def test_loss_decreases_on_the_fixed_tiny_set(curriculum):
    _, stages = curriculum
    losses = _losses(stages["1"])
    assert len(losses) == 6 and all(map(torch.isfinite, torch.tensor(losses)))
    assert sum(losses[-2:]) < sum(losses[:2])
    # and it keeps going down across the chain (each stage starts where the previous ended)
    assert _losses(stages["3"])[-1] < losses[0]


def test_multitask_stage_reports_both_tasks(curriculum):
    _, stages = curriculum
    results = json.loads((stages["3"] / "all_results.json").read_text())
    assert "eval_slt_loss" in results and "eval_slt_bleu4_paper_compatible" in results
    assert "eval_ssa_loss" in results and "eval_ssa_span_iou" in results
    stage2 = json.loads((stages["2"] / "all_results.json").read_text())
    assert "eval_ssa_loss" not in stage2  # stage 2 is SLT only


def test_exported_folder_is_hub_ready(curriculum):
    _, stages = curriculum
    folder = stages["finetune"]
    for name in ("model.safetensors", "config.json", "generation_config.json", "processor_config.json",
                 "modeling_signllm.py", "configuration_signllm.py", "processing_signllm.py", "README.md"):  # fmt: skip
        assert (folder / name).is_file(), name
    config = json.loads((folder / "config.json").read_text())
    assert config["auto_map"]["AutoModelForSeq2SeqLM"] == "modeling_signllm.SignLLMForConditionalGeneration"
    assert json.loads((folder / "generation_config.json").read_text())["num_beams"] == 2
    card = (folder / "README.md").read_text()
    assert "${" not in card and "me/signllm-tiny-new" in card and "Intended use" in card
    assert "| learning_rate | 0.003 |" in card and "eval_slt_loss" in card
    # loads back through the Auto classes, from the folder's own copy of the code (remote code)
    from transformers import AutoModelForSeq2SeqLM, AutoProcessor

    model = AutoModelForSeq2SeqLM.from_pretrained(folder, trust_remote_code=True)
    processor = AutoProcessor.from_pretrained(folder, trust_remote_code=True)
    assert type(model).__module__.startswith("transformers_modules")
    assert type(processor).__name__ == "SignLLMProcessor" and processor.num_frames == 16


def test_push_to_hub_uploads_the_folder_without_checkpoints(curriculum):
    root, _ = curriculum  # the fixture's finetune stage ran with --push-to-hub against LocalHub
    repo = root / "hub" / "me" / "signllm-tiny-new"
    uploaded = {p.relative_to(repo).as_posix() for p in repo.rglob("*") if p.is_file()}
    assert {"model.safetensors", "config.json", "README.md", "modeling_signllm.py", "processor_config.json"} <= uploaded
    assert not any(name.startswith("checkpoints/") for name in uploaded)
    assert LocalHub.calls == [("create_repo", "me/signllm-tiny-new", True), ("upload_folder", "me/signllm-tiny-new")]


def test_kill_and_resume_replays_the_same_steps_and_data(curriculum, tmp_path):
    root, stages = curriculum
    log = tmp_path / "interrupted"
    args = _stage_args("1", tmp_path, root / "prepared", "--data-order-log", str(log), max_steps=6)
    # the fixture's stage 1 is the uninterrupted reference; this run is killed (SIGKILL) during step 3,
    # after checkpoint-2 was written ...
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "signllm.train.slt.recipe", *args, "--kill-at-step", "3"]
    killed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False, timeout=300)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert (tmp_path / "stage1" / "checkpoints" / "checkpoint-2").is_dir()
    assert not (tmp_path / "stage1" / "model.safetensors").exists()
    # ... and the same command again resumes from checkpoint-2
    assert signllm(["train", "slt", *args]) == 0

    def entries(path: Path) -> list[dict]:
        return [json.loads(line) for line in path.with_suffix(".rank0.jsonl").read_text().splitlines()]

    interrupted = entries(log)
    assert [e["step"] for e in interrupted] == [0, 1, 2, 2, 3, 4, 5]  # died in step 3, resumed at step index 2
    replayed = {e["step"]: e["sample_index"] for e in interrupted}
    reference = entries(root / "order")
    assert replayed == {e["step"]: e["sample_index"] for e in reference}  # same data order
    assert json.loads((tmp_path / "stage1" / "trainer_state.json").read_text())["global_step"] == 6
    expected, resumed = _weights(stages["1"]), _weights(tmp_path / "stage1")
    for name in expected:
        torch.testing.assert_close(resumed[name], expected[name], rtol=1e-5, atol=1e-6)


def test_memory_switches_through_the_recipe(curriculum, tmp_path):
    """Issue 18's switches as a user sets them: the frozen base LM in bf16 and gradient checkpointing of every
    block (T5, Conformer, AGCN, Perceiver), under bf16 mixed precision on the CPU."""
    root, stages = curriculum
    folder = _train("3", tmp_path / "run", root / "prepared", "--set", f"model.init_from={stages['2']}",
                    "--set", "model.frozen_weights_dtype=bfloat16", "--set", "training.gradient_checkpointing=true",
                    "--set", "training.mixed_precision=bf16", "--eval", str(root / "prepared"), max_steps=2)  # fmt: skip
    assert all(map(torch.isfinite, torch.tensor(_losses(folder))))
    assert json.loads((folder / "config.json").read_text())["frozen_weights_dtype"] == "bfloat16"
    args = torch.load(folder / "checkpoints" / "checkpoint-2" / "training_args.bin", weights_only=False)
    assert getattr(args, "activation_checkpointing", None) or args.gradient_checkpointing
    before, after = _weights(stages["2"]), _weights(folder)
    # a folder that includes the frozen base LM stores it in bf16, rounded once and never trained
    frozen = [n for n in after if parameter_group(n) == "language_model" and n in before and "lora_" not in n
              and before[n].is_floating_point()]  # fmt: skip
    assert all(after[n].dtype == torch.bfloat16 and torch.equal(after[n], before[n].to(torch.bfloat16)) for n in frozen)
    assert _changed(before, after, "backbone")[0] > 0  # trained, and in fp32
    assert {t.dtype for n, t in after.items() if parameter_group(n) == "backbone" and t.is_floating_point()} == {
        torch.float32
    }


def test_stage_needs_previous_checkpoint(tmp_path):
    with pytest.raises(ValueError, match="run stage 1 first"):
        signllm(["train", "slt", "--stage", "2", "--config", "tiny_debug", "--run-dir", str(tmp_path),
                 "--train", str(tmp_path)])  # fmt: skip


def test_config_layers_and_errors(tmp_path):
    from signllm.train.slt.curriculum import parse_override, resolve_config

    config = resolve_config("3", ["tiny_debug"], ["training.max_steps=7", "run_dir=runs/x"])
    assert config["data"]["slt_fraction"] == 0.8  # stage file
    assert config["model"]["preset"] == "tiny" and config["training"]["max_steps"] == 7  # user layers win
    assert config["training"]["warmup_steps"] == 1 and config["training"]["lr_scheduler_type"] == "cosine"
    assert config["model"]["init_from"] == "runs/x/stage2" and config["output_dir"] == "runs/x/stage3"
    assert resolve_config(None, ["finetune_how2sign"])["data"]["slt_fraction"] == 1.0  # stage named by the file
    assert parse_override("a.b=[1, 2]") == {"a": {"b": [1, 2]}}
    assert parse_override("training.learning_rate=1e-4") == {"training": {"learning_rate": 1e-4}}  # not "1e-4"
    with pytest.raises(ValueError, match="unknown stage"):
        resolve_config("4")
    with pytest.raises(ValueError, match="no stage"):
        resolve_config(None, ["tiny_debug"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("trainng: {max_steps: 3}\n")
    with pytest.raises(ValueError, match="unknown top-level keys"):
        resolve_config("1", [bad])


def test_model_card_fills_every_placeholder():
    from signllm.train.hub.model_card import render_model_card
    from signllm.train.slt.curriculum import resolve_config

    card = render_model_card(resolve_config("2", ["tiny_debug"]), {"eval_slt_bleu4_sacrebleu": 12.5},
                             stage_description="full model on SLT", repo_id="me/x", revision="abc123")  # fmt: skip
    assert "${" not in card and "| eval_slt_bleu4_sacrebleu | 12.5 |" in card and 'revision = "abc123"' in card
    with pytest.raises(ValueError, match="not found"):
        render_model_card({}, template="no_such_card")


def test_training_memory_benchmark_cpu_mode():
    """bench_training_memory.py on the tiny preset: the three variants run, bf16 frozen weights drop the saved
    weight copies, checkpointing keeps less for backward."""
    sys.path.insert(0, str(REPO / "tests" / "benchmarks"))
    from bench_training_memory import main as bench

    summary = bench(["--preset", "tiny", "--device", "cpu", "--frames", "16", "--batch-sizes", "1", "2",
                     "--dtype", "bf16"])  # fmt: skip
    results = summary["results"]
    assert list(results) == ["fp32-frozen", "bf16-frozen", "bf16-frozen+ckpt"]
    assert all([run["batch_size"] for run in r["runs"]] == [1, 2] for r in results.values())
    assert results["fp32-frozen"]["saved"]["copies of frozen weights"] > 0
    assert "copies of frozen weights" not in results["bf16-frozen"]["saved"]
    assert sum(results["bf16-frozen+ckpt"]["saved"].values()) < sum(results["bf16-frozen"]["saved"].values())
    assert results["bf16-frozen"]["static"]["weights bfloat16"] > 0


def test_readme_finetune_with_plain_seq2seq_trainer(curriculum, tmp_path):
    """The README's Python recipe: a trained folder + a brand-new folder corpus + the stock Seq2SeqTrainer."""
    from signllm.modeling_signllm import SignLLMForConditionalGeneration
    from signllm.processing_signllm import SignLLMProcessor
    from signllm.train.slt.collator import SignLLMDataCollator
    from signllm.train.slt.curriculum import apply_stage
    from signllm.train.slt.data import SignLLMWindowDataset, windows_from_prepared
    from transformers import Seq2SeqTrainer, Seq2SeqTrainingArguments

    root, stages = curriculum
    model = SignLLMForConditionalGeneration.from_pretrained(stages["3"])
    processor = SignLLMProcessor.from_pretrained(stages["3"], trust_remote_code=True)
    apply_stage(model, "finetune")  # backbones + Perceiver + DoRA train; base T5 and lip reader stay frozen
    windows, task_ids = windows_from_prepared([root / "new_prepared"], "train", processor.num_frames, processor.fps,
                                              tasks=["slt"])  # fmt: skip
    train_dataset = SignLLMWindowDataset(windows, processor, task_ids)
    args = Seq2SeqTrainingArguments(
        output_dir=str(tmp_path / "my-signllm"), max_steps=2, learning_rate=3e-3, lr_scheduler_type="cosine",
        warmup_steps=1, per_device_train_batch_size=2, remove_unused_columns=False, label_names=["labels"],
        report_to="none", use_cpu=True, save_strategy="no",
    )  # fmt: skip
    trainer = Seq2SeqTrainer(model=model, args=args, train_dataset=train_dataset,
                             data_collator=SignLLMDataCollator(), processing_class=processor)  # fmt: skip
    before = {n: p.detach().clone() for n, p in model.named_parameters() if parameter_group(n) == "backbone"}
    assert trainer.train().training_loss > 0
    assert any(not torch.equal(before[n], p) for n, p in model.named_parameters() if n in before)
    trainer.save_model()
    assert (tmp_path / "my-signllm" / "model.safetensors").is_file()
