"""Shared by the SLT training tests: a brand-new tiny "sign language" folder corpus and fast tiny-run overrides."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from conftest import fake_pose

WORDS = [
    "hello",
    "thank",
    "you",
    "please",
    "where",
    "train",
    "station",
    "good",
    "morning",
    "help",
    "me",
    "today",
    "water",
    "book",
]

# A smaller model than the tiny preset so a few CPU steps take seconds (same code path: all modules present).
FAST_MODEL = {
    "num_frames": 16,
    "pose_config": {"agcn_in_channels": 4, "articulator_hidden_size": 8, "hidden_size": 16, "num_hidden_layers": 1,
                    "intermediate_size": 16, "clip_length": 4},
    "lip_config": {"hidden_size": 16, "num_hidden_layers": 1, "intermediate_size": 16, "clip_length": 4},
}  # fmt: skip


def fast_overrides(max_steps: int = 4, save_steps: int = 2) -> list[str]:
    """``--set`` values for a few-second tiny run."""
    return [
        f"model.overrides={json.dumps(FAST_MODEL)}",
        f"training.max_steps={max_steps}",
        f"training.save_steps={save_steps}",
        "training.per_device_train_batch_size=2",
        "training.per_device_eval_batch_size=2",
        "data.ssa_without_prior=ground_truth",  # folder corpora have no audio-aligned priors
    ]


def make_folder_corpus(root: Path, num_clips: int = 8, frames: int = 30, seed: int = 0) -> Path:
    """A clips.csv corpus of .npz keypoint clips (25 fps) with short sentences: 6 train / 2 val."""
    root.mkdir(parents=True, exist_ok=True)
    from signllm.processing.keypoint_io import KeypointSequence, write_npz

    rng = np.random.default_rng(seed)
    rows = []
    for i in range(num_clips):
        values, mask = fake_pose(frames, seed=seed * 100 + i)
        write_npz(root / f"clip{i:02d}.npz", KeypointSequence(values=values, mask=mask, fps=25.0))
        text = " ".join(rng.choice(WORDS, size=3))
        rows.append({"path": f"clip{i:02d}.npz", "text": text, "split": "val" if i >= num_clips - 2 else "train",
                     "signer": f"s{i % 3}"})  # fmt: skip
    with (root / "clips.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root


def prepare_corpus(source: Path, output: Path) -> Path:
    """``signllm data prepare folder`` exactly as a user runs it."""
    from signllm.train.cli import main

    code = main(["data", "prepare", "folder", str(source), "--output", str(output), "--no-progress"])
    assert code == 0
    return output
