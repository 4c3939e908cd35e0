"""`accelerate launch` with 2 CPU processes (gloo): a few DDP training steps of the tiny model through the CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

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
