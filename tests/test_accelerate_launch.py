"""Several CPU processes over gloo: `accelerate launch` DDP training steps of the tiny model through the CLI, and
evaluation with generation on an FSDP-sharded model."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from slt_training_helpers import fast_overrides, make_folder_corpus, prepare_corpus

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "train" / "accelerate_configs" / "cpu_gloo_2proc.yaml"


def test_accelerate_launch_two_cpu_processes(tmp_path):
    data = prepare_corpus(make_folder_corpus(tmp_path / "corpus"), tmp_path / "prepared")
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent)) or "accelerate"
    command = [accelerate, "launch", "--config_file", str(CONFIG), "--main_process_port", "0",
               "-m", "signllm.train.slt.recipe", "--stage", "1", "--config", "tiny_debug", "--train", str(data),
               "--run-dir", str(tmp_path / "run"), "--data-order-log", str(tmp_path / "order"),
               "--random-backbones"]  # fmt: skip
    for value in fast_overrides(max_steps=3, save_steps=2):
        command += ["--set", value]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]

    logs = [[json.loads(line) for line in (tmp_path / f"order.rank{rank}.jsonl").read_text().splitlines()]
            for rank in (0, 1)]  # fmt: skip
    assert [[e["step"] for e in log] for log in logs] == [[0, 1, 2], [0, 1, 2]]
    # DDP: at every step the two processes trained on different batches of the shared multitask order
    assert all(a["sample_index"] != b["sample_index"] for a, b in zip(*logs))
    folder = tmp_path / "run" / "stage1"
    state = json.loads((folder / "trainer_state.json").read_text())
    assert state["global_step"] == 3
    assert (folder / "model.safetensors").is_file() and (folder / "checkpoints" / "checkpoint-2").is_dir()


SHARDED_EVAL = textwrap.dedent(
    """
    import json, sys, torch
    sys.path.insert(0, sys.argv[1])
    torch.set_num_threads(1)
    from conftest import fake_pose
    from signllm.train.hub.push_to_hub import save_for_hub
    from signllm.train.slt.recipe import whole_model_for_export
    from signllm.train.slt.trainer import SignLLMSeq2SeqTrainer
    from signllm_tiny import tiny_model, tiny_processor
    from torch.distributed.fsdp import FullyShardedDataParallel
    from torch.distributed.fsdp.wrap import ModuleWrapPolicy
    from transformers import Seq2SeqTrainingArguments
    from transformers.models.t5.modeling_t5 import T5Block

    args = Seq2SeqTrainingArguments(sys.argv[2], use_cpu=True, report_to="none", predict_with_generate=True,
                                    remove_unused_columns=False)  # joins the gloo group torchrun set up
    model, processor = tiny_model(seed=0), tiny_processor()
    trainer = SignLLMSeq2SeqTrainer(model=model, args=args, processing_class=processor)
    rank = args.process_index
    batch = dict(processor(pose=[fake_pose(20, seed=rank)[0]], task="slt", text=["hello"]))
    batch["sample_index"] = torch.tensor([rank])  # the collator's bookkeeping key, dropped before the model
    new_tokens = 3 + 5 * rank  # the ranks finish generating at different steps
    plain = {k: v for k, v in batch.items() if k not in ("labels", "sample_index", "task_ids")}
    with torch.no_grad():
        reference_ids = model.generate(**plain, max_new_tokens=new_tokens, num_beams=1)
        reference_loss = float(model(**{k: v for k, v in batch.items() if k != "sample_index"}).loss)
    if rank == 0:  # what the stage folder holds when nothing is sharded
        save_for_hub(model, processor, f"{sys.argv[2]}.unsharded")
    # FSDP v1, each T5Block its own unit (train/accelerate_configs/fsdp_flan_t5_xl.yaml), as the Trainer holds it
    sharded = FullyShardedDataParallel(model, auto_wrap_policy=ModuleWrapPolicy({T5Block}), use_orig_params=True,
                                       device_id=torch.device("cpu"))
    trainer.model = trainer.model_wrapped = sharded
    results = []
    for _ in range(2):  # twice: evaluation must leave the sharded weights as they were
        loss, ids, labels = trainer.prediction_step(sharded, dict(batch), prediction_loss_only=False,
                                                    max_new_tokens=new_tokens, num_beams=1)
        results.append({"loss": float(loss), "ids": ids[0, : reference_ids.shape[1]].tolist(),
                        "width": ids.shape[1], "labels": labels.shape[1]})
    with whole_model_for_export(trainer) as whole:  # the recipe's export (step 4 of train_stage), every rank enters
        if rank == 0:
            save_for_hub(whole, processor, f"{sys.argv[2]}.sharded")
    loss, _, _ = trainer.prediction_step(sharded, dict(batch), prediction_loss_only=True)
    report = {"rank": rank, "reference_ids": reference_ids[0].tolist(), "reference_loss": reference_loss,
              "results": results, "loss_after_export": float(loss)}
    with open(f"{sys.argv[2]}.rank{rank}.json", "w") as handle:  # one file per rank: their stdout interleaves
        json.dump(report, handle)
    """
)


def test_sharded_evaluation_with_generation(tmp_path):
    """Evaluation with ``predict_with_generate`` on an FSDP-sharded model, 2 CPU processes over gloo.

    What runs: ``SignLLMSeq2SeqTrainer.prediction_step`` on the tiny model wrapped in torch FSDP (v1, one unit per
    T5Block, ``use_orig_params`` as in ``fsdp_flan_t5_xl.yaml``), the ranks generating different numbers of tokens.
    It must not hang (``synced_gpus``), must generate what the unsharded model generates, and must leave the weights
    intact (the stock step's ``summon_full_params`` + generate corrupts them: NaN loss after the first evaluation).
    Then the stage export (``recipe.whole_model_for_export``, every rank entering) writes from the sharded model the
    same ``model.safetensors`` tensors as the unsharded model, and leaves the shards intact. Writing from rank 0's
    unwrapped model alone, as before, hung the other rank (the state dict of an FSDP model is a collective).
    Why not through ``accelerate launch``: accelerate turns FSDP on only for accelerator devices (with ``use_cpu``
    its distributed type is MULTI_CPU and the FSDP plugin is not used), so the script is started with
    ``torch.distributed.run`` and wraps the model itself; the Trainer (accelerate's MULTI_CPU state) joins the same
    gloo group. DeepSpeed ZeRO-3 needs GPUs and is not tested here.
    """
    script = tmp_path / "sharded_eval.py"
    script.write_text(SHARDED_EVAL)
    with socket.socket() as probe:  # a free port for the rendezvous
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
               "--master_port", str(port), str(script), str(REPO / "tests"), str(tmp_path / "out")]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    reports = [json.loads((tmp_path / f"out.rank{rank}.json").read_text()) for rank in (0, 1)]
    assert [r["rank"] for r in reports] == [0, 1]
    for report in reports:
        assert len(report["reference_ids"]) == 4 + 5 * report["rank"]  # different lengths on the two ranks
        for result in report["results"]:
            assert result["ids"] == report["reference_ids"]
            assert result["loss"] == pytest.approx(report["reference_loss"], rel=1e-5)  # finite, weights intact
            assert result["width"] == result["labels"] == max(20, 3 + 5 * report["rank"] + 1)
        assert report["loss_after_export"] == pytest.approx(report["reference_loss"], rel=1e-5)  # still sharded, intact
    # the stage folder written from the sharded model holds the whole weights: the same tensors as unsharded
    unsharded, sharded = (load_file(tmp_path / f"out.{kind}" / "model.safetensors") for kind in ("unsharded", "sharded"))
    assert sorted(sharded) == sorted(unsharded)
    for name, tensor in unsharded.items():
        assert torch.equal(sharded[name], tensor), name
