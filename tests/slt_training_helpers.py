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


def fast_overrides(max_steps: int = 4, save_steps: int = 2, base_lm: Path | None = None) -> list[str]:
    """``--set`` values for a few-second tiny run; ``base_lm``: a saved tiny T5 (`save_tiny_base_lm`) as the
    pretrained LM the stages adapt with DoRA and reference instead of copying."""
    model = {**FAST_MODEL, "text_model_name_or_path": str(base_lm)} if base_lm else FAST_MODEL
    return [
        f"model.overrides={json.dumps(model)}",
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


def save_tiny_base_lm(folder: Path, seed: int = 0) -> Path:
    """A random T5 of the tiny preset's size saved to ``folder``: the stand-in for Flan-T5 that tests reference by
    path (nothing is downloaded)."""
    import torch
    from signllm.configuration_signllm import SignLLMConfig
    from transformers import T5ForConditionalGeneration

    torch.manual_seed(seed)
    T5ForConditionalGeneration(SignLLMConfig.from_preset("tiny").text_config).save_pretrained(folder)
    return folder


def export_tiny_backbones(folder: Path, seed: int = 0) -> Path:
    """ISLR classifiers (pose + lip) of the `FAST_MODEL` backbone sizes, exported with ``signllm train islr-export``
    exactly as a user does after ISLR pretraining; returns the ``backbones.safetensors`` file."""
    import torch
    from signllm.configuration_signllm_islr import SignLLMClassificationConfig
    from signllm.modeling_signllm_islr import SignLLMForSignClassification
    from signllm.train.cli import main

    checkpoints = []
    for offset, modality in enumerate(("pose", "lip")):
        torch.manual_seed(seed + offset)
        config = SignLLMClassificationConfig.from_preset(
            "tiny", modality=modality, id2label={0: "a", 1: "b"}, use_contrastive_loss=False,
            pose_config=FAST_MODEL["pose_config"], lip_config=FAST_MODEL["lip_config"],
        )  # fmt: skip
        SignLLMForSignClassification(config).save_pretrained(folder / f"islr_{modality}")
        checkpoints.append(str(folder / f"islr_{modality}"))
    output = folder / "backbones.safetensors"
    assert main(["train", "islr-export", *checkpoints, "-o", str(output)]) == 0
    return output
