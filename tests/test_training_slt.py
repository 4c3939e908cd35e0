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
from slt_training_helpers import (
    export_tiny_backbones,
    fast_overrides,
    make_folder_corpus,
    prepare_corpus,
    save_tiny_base_lm,
)

REPO = Path(__file__).resolve().parents[1]
STAGE_FOLDERS = ("stage1", "stage2", "stage3", "stagefinetune")


def _stage_args(stage: str, run_dir: Path, data: Path, *extra: str, max_steps: int = 4, root: Path | None = None,
                ) -> list[str]:  # fmt: skip
    """A tiny stage; with ``root`` (the curriculum fixture's folder) the LM is its saved tiny base T5 (adapted with
    DoRA, referenced by path) and stage 1 loads its exported ISLR backbones, as README §3 runs them."""
    args = ["--stage", stage, "--config", "tiny_debug", "--run-dir", str(run_dir), "--train", str(data),
            "--eval", str(data)]  # fmt: skip
    for value in fast_overrides(max_steps=max_steps, base_lm=root / "base_t5" if root else None):
        args += ["--set", value]
    if stage == "1":
        args += ["--backbones", str(root / "islr" / "backbones.safetensors")] if root else ["--random-backbones"]
    return args + list(extra)


def _train(stage: str, run_dir: Path, data: Path, *extra: str, max_steps: int = 4, root: Path | None = None) -> Path:
    assert signllm(["train", "slt", *_stage_args(stage, run_dir, data, *extra, max_steps=max_steps, root=root)]) == 0
    return run_dir / f"stage{stage}"


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def _base_keys(keys) -> list[str]:
    """State-dict keys of the language model's own (frozen) weights, i.e. not its DoRA adapters."""
    return [k for k in keys if k.startswith("language_model.") and "lora_" not in k]


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
    save_tiny_base_lm(root / "base_t5")  # the "Flan-T5" of these runs, referenced by path
    export_tiny_backbones(root / "islr")  # `signllm train islr-export` output
    data = prepare_corpus(make_folder_corpus(root / "corpus"), root / "prepared")
    run_dir = root / "run"
    stages = {}
    stages["1"] = _train("1", run_dir, data, "--data-order-log", str(root / "order"), max_steps=6, root=root)
    stages["2"] = _train("2", run_dir, data, max_steps=2, root=root)
    stages["3"] = _train("3", run_dir, data, max_steps=2, root=root)
    new_language = prepare_corpus(make_folder_corpus(root / "new_language", seed=7), root / "new_prepared")
    with pytest.MonkeyPatch.context() as patch:  # --push-to-hub through huggingface_hub, offline
        import huggingface_hub

        patch.setattr(huggingface_hub, "HfApi", lambda token=None: LocalHub(root / "hub"))
        stages["finetune"] = _train("finetune", run_dir, new_language, "--config", "finetune_folder", "--config",
                                    "tiny_debug", "--push-to-hub", "me/signllm-tiny-new", "--merge", max_steps=2,
                                    root=root)  # fmt: skip
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
    assert _changed(mid, final, "perceiver")[0] > 0
    assert _changed(mid, final, "adapter")[0] > 0
    assert not _base_keys(mid) and not _base_keys(final)  # the frozen base LM is never copied


def test_stage1_starts_from_the_exported_islr_backbones(curriculum):
    """README §3: `islr-export ... -o FILE` then `train slt --stage 1 --backbones FILE`: the stage-1 backbones are
    exactly the exported ISLR weights (frozen in stage 1, so still equal at its end)."""
    root, stages = curriculum
    exported = load_file(str(root / "islr" / "backbones.safetensors"))
    final = _weights(stages["1"])
    assert {k.split(".")[0] for k in exported} == {"pose_encoder", "lip_encoder"}
    for key, tensor in exported.items():
        assert torch.equal(final[key], tensor), key


def test_stage1_refuses_random_backbones_and_finds_the_run_folders_file(tmp_path, capsys):
    from signllm.train.slt.curriculum import get_stage, resolve_config
    from signllm.train.slt.recipe import build_model
    from slt_training_helpers import FAST_MODEL

    overrides = [f"run_dir={json.dumps(str(tmp_path))}", f"model.overrides={json.dumps(FAST_MODEL)}"]
    with pytest.raises(ValueError, match="no backbones were given.*--backbones FILE.*--random-backbones"):
        build_model(resolve_config("1", ["tiny_debug"], overrides), get_stage("1"))
    build_model(resolve_config("1", ["tiny_debug"], [*overrides, "model.random_backbones=true"]), get_stage("1"))
    assert "pose backbone randomly initialised (--random-backbones)" in capsys.readouterr().out
    # islr-export's output in the run folder is found without the flag, and what was loaded is printed
    export_tiny_backbones(tmp_path)
    model = build_model(resolve_config("1", ["tiny_debug"], overrides), get_stage("1"))
    out = capsys.readouterr().out
    assert f"pose backbone loaded from {tmp_path / 'backbones.safetensors'}" in out and "lip backbone loaded" in out
    exported = load_file(str(tmp_path / "backbones.safetensors"))
    assert all(torch.equal(model.state_dict()[k], v) for k, v in exported.items())
    with pytest.raises(ValueError, match="file not found"):
        build_model(resolve_config("1", ["tiny_debug"], [*overrides, "model.backbones=/no/such.safetensors"]),
                    get_stage("1"))  # fmt: skip


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
        assert _changed(before, after, "backbone")[0] > 0


def test_no_stage_folder_holds_the_frozen_lm(curriculum):
    """Every stage folder and Trainer checkpoint names the base LM instead of copying it; the adapters are a PEFT
    adapter of that base; from_pretrained rebuilds the whole model (base LM from its path + the folder)."""
    from peft import PeftModel
    from signllm.modeling_signllm import SignLLMForConditionalGeneration
    from transformers import T5ForConditionalGeneration

    root, stages = curriculum
    base_path = root / "base_t5"
    base = {k: v.clone() for k, v in T5ForConditionalGeneration.from_pretrained(base_path).state_dict().items()}
    weights_files = [f for f in (root / "run").rglob("model.safetensors") if "-merged" not in str(f)]
    assert len(weights_files) >= 4 + 4  # the four stage folders and their checkpoints
    for path in weights_files:
        assert not _base_keys(load_file(str(path))), path
    for folder in stages.values():
        config = json.loads((folder / "config.json").read_text())
        assert config["text_model_weights"] == "referenced" and config["text_model_name_or_path"] == str(base_path)
        adapter_config = json.loads((folder / "language_model" / "adapter_config.json").read_text())
        assert adapter_config["base_model_name_or_path"] == str(base_path) and adapter_config["use_dora"]
        model = SignLLMForConditionalGeneration.from_pretrained(folder)
        state = model.state_dict()
        for key in _base_keys(state):  # the frozen base LM, loaded from its reference, is Flan-T5's (here: tiny)
            assert torch.equal(state[key], base[key.split("base_model.model.", 1)[1].replace(".base_layer", "")])
        saved = _weights(folder)
        assert all(torch.equal(state[k], v) for k, v in saved.items())  # everything else from the folder
        # the PEFT adapter: PeftModel.from_pretrained(base, folder/language_model) holds the same adapters
        peft = PeftModel.from_pretrained(T5ForConditionalGeneration.from_pretrained(base_path), folder / "language_model")
        peft_state = peft.state_dict()
        adapters = {k: v for k, v in state.items() if k.startswith("language_model.") and "lora_" in k}
        assert adapters and all(torch.equal(peft_state[k[len("language_model."):]], v) for k, v in adapters.items())


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
    for folder in stages.values():
        for name in ("model.safetensors", "config.json", "generation_config.json", "processor_config.json",
                     "modeling_signllm.py", "configuration_signllm.py", "processing_signllm.py", "pipeline_signllm.py",
                     "README.md", "language_model/adapter_config.json", "language_model/adapter_model.safetensors"):
            assert (folder / name).is_file(), (folder, name)  # fmt: skip
        config = json.loads((folder / "config.json").read_text())
        assert set(config["auto_map"]) == {"AutoConfig", "AutoModel", "AutoModelForSeq2SeqLM"}
        assert config["auto_map"]["AutoModelForSeq2SeqLM"] == "modeling_signllm.SignLLMForConditionalGeneration"
        assert config["custom_pipelines"]["sign-translation"]["impl"] == "pipeline_signllm.SignTranslationPipeline"
    folder = stages["finetune"]
    assert json.loads((folder / "generation_config.json").read_text())["num_beams"] == 2
    card = (folder / "README.md").read_text()
    assert "${" not in card and "me/signllm-tiny-new" in card and "Intended use" in card
    assert "| learning_rate | 0.003 |" in card and "eval_slt_loss" in card
    # with signllm installed, the Auto classes resolve to the installed classes: no folder code is needed
    from signllm.modeling_signllm import SignLLMForConditionalGeneration
    from transformers import AutoModelForSeq2SeqLM, AutoProcessor

    model = AutoModelForSeq2SeqLM.from_pretrained(folder)
    processor = AutoProcessor.from_pretrained(folder)
    assert type(model) is SignLLMForConditionalGeneration
    assert type(processor).__name__ == "SignLLMProcessor" and processor.num_frames == 16


def test_stage_folder_loads_through_the_pipeline_from_its_own_code(curriculum, tmp_path):
    """`pipeline("sign-translation", model="runs/x/stage3", trust_remote_code=True)` in a fresh process that cannot
    import signllm (only the folder's code): every Auto class, generation, SLT and SSA; the base LM comes from the
    path in config.json, the adapters from the folder."""
    from test_remote_code import run_isolated

    _, stages = curriculum
    report = run_isolated(stages["3"], tmp_path, frames=30)  # the recipe's processor: >= 25 frames, 16-frame window
    assert report["model"] == report["seq2seq"] == "SignLLMForConditionalGeneration"
    assert report["pipeline"] == "SignTranslationPipeline" and set(report["slt"][0]) == {"translation_text"}
    assert report["signllm_modules"] == []


def test_merge_writes_one_full_model_that_equals_the_adapted_one(curriculum):
    """`--merge`: <output-dir>-merged holds the base LM with DoRA folded in (no adapters, no peft needed, no
    reference), and generates what the stage folder generates."""
    from signllm.modeling_signllm import SignLLMForConditionalGeneration
    from signllm.processing_signllm import SignLLMProcessor

    root, stages = curriculum
    merged = stages["finetune"].with_name("stagefinetune-merged")
    config = json.loads((merged / "config.json").read_text())
    assert config["use_dora"] is False and config["text_model_weights"] == "included"
    weights = _weights(merged)
    assert _base_keys(weights) and not any("lora_" in k for k in weights)
    assert not (merged / "language_model").exists() and (merged / "README.md").is_file()
    adapted = SignLLMForConditionalGeneration.from_pretrained(stages["finetune"]).eval()
    folded = SignLLMForConditionalGeneration.from_pretrained(merged).eval()
    processor = SignLLMProcessor.from_pretrained(merged)
    from conftest import fake_pose

    batch = processor(pose=fake_pose(30, seed=3)[0], text="hello you", truncation="center")
    torch.testing.assert_close(folded(**batch).logits, adapted(**batch).logits, rtol=1e-4, atol=1e-4)
    # --push-to-hub uploaded the release export
    uploaded = root / "hub" / "me" / "signllm-tiny-new"
    assert json.loads((uploaded / "config.json").read_text())["use_dora"] is False


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
    args = _stage_args("1", tmp_path, root / "prepared", "--data-order-log", str(log), max_steps=6, root=root)
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
    processor = SignLLMProcessor.from_pretrained(stages["3"])
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


def test_finetune_schedules_are_the_papers():
    from signllm.train.slt.curriculum import resolve_config

    bobsl = resolve_config("finetune")["training"]  # finetune.yaml: BOBSL finetuning
    assert (bobsl["max_steps"], bobsl["warmup_steps"]) == (100_000, 2_000)
    how2sign = resolve_config(None, ["finetune_how2sign"])["training"]
    assert (how2sign["max_steps"], how2sign["warmup_steps"]) == (20_000, 500)


def test_processor_gets_the_configs_prompt_templates():
    from signllm.configuration_signllm import SignLLMConfig
    from signllm.train.slt.curriculum import resolve_config
    from signllm.train.slt.recipe import build_processor

    templates = {"slt_prompt": "Say what is signed.", "ssa_prompt": "Find: {subtitle}",
                 "ssa_prior_template": " Around {start}-{end}"}  # fmt: skip
    config = resolve_config("1", ["tiny_debug"], [f"model.overrides={json.dumps(templates)}"])
    model_config = SignLLMConfig.from_preset("tiny", **config["model"]["overrides"])
    processor = build_processor(config, model_config)
    assert processor.build_prompt("slt") == "Say what is signed."
    assert processor.build_prompt("ssa", "hello", prior=(4, 17)) == "Find: hello Around 004-017"


@pytest.mark.parametrize("damage", ["truncated_weights", "no_trainer_state"])
def test_resume_skips_a_half_written_last_checkpoint(curriculum, tmp_path, caplog, damage):
    """The newest checkpoint was cut short (a kill or a full disk while saving): the rerun resumes from the previous
    complete one, says so, and ends with the same weights as the uninterrupted run."""
    import logging
    import shutil

    root, stages = curriculum
    checkpoints = tmp_path / "stage1" / "checkpoints"
    for name in ("checkpoint-4", "checkpoint-6"):  # the reference run's two kept checkpoints (save_total_limit 2)
        shutil.copytree(stages["1"] / "checkpoints" / name, checkpoints / name)
    if damage == "truncated_weights":
        weights = checkpoints / "checkpoint-6" / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    else:
        (checkpoints / "checkpoint-6" / "trainer_state.json").unlink()
    from signllm.train.run_config import checkpoint_problem

    assert checkpoint_problem(checkpoints / "checkpoint-6") is not None
    assert checkpoint_problem(checkpoints / "checkpoint-4") is None
    with caplog.at_level(logging.WARNING, logger="signllm.train.run_config"):
        assert signllm(["train", "slt", *_stage_args("1", tmp_path, root / "prepared", max_steps=6, root=root)]) == 0
    assert "resuming from checkpoint-4" in caplog.text and "checkpoint-6:" in caplog.text
    assert json.loads((tmp_path / "stage1" / "trainer_state.json").read_text())["global_step"] == 6
    expected, resumed = _weights(stages["1"]), _weights(tmp_path / "stage1")
    for name in expected:
        torch.testing.assert_close(resumed[name], expected[name], rtol=1e-5, atol=1e-6)
