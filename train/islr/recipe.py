"""ISLR backbone pretraining (architecture §5): train a pose or lip sign classifier, then export its backbone.

Exact command lines::

    # tiny debug run on the real GISLR sample (2 signs), seconds on a CPU
    signllm train islr --config islr_tiny_debug --set data.train=../shared/data/gislr_asl_signs_subset
    # the paper's pose run (BOBSL-SIGN prepared by `signllm data prepare`), then the lip run
    signllm train islr --config islr_pose --set data.train=data/bobsl --set output_dir=runs/islr_pose
    signllm train islr --config islr_lip --set data.train=data/bobsl --set output_dir=runs/islr_lip
    # the paper's loss ablation: every term (and articulator masking) has its own switch
    signllm train islr --config islr_pose --set data.train=data/bobsl --set model.overrides.use_contrastive_loss=false \
        --set model.overrides.use_articulator_loss=false --set model.overrides.use_articulator_masking=false
    # resume an interrupted run from its last checkpoint (same output_dir)
    signllm train islr --config islr_pose --set data.train=data/bobsl --resume
    # evaluate one classifier, or the late fusion of both (pose:lip logits 0.7:0.3)
    signllm train islr-eval runs/islr_pose/final runs/islr_lip/final --data data/bobsl --split test
    # a raw Kaggle GISLR folder has no splits (train.csv is all training data): evaluate every clip explicitly
    signllm train islr-eval runs/islr_tiny/final --data ../shared/data/gislr_asl_signs_subset --split all
    # write the backbones in the layout SignLLMForConditionalGeneration loads (keys pose_encoder.* / lip_encoder.*)
    signllm train islr-export runs/islr_pose/final runs/islr_lip/final -o runs/bobsl/backbones.safetensors
    # ... which SLT stage 1 takes: signllm train slt --stage 1 --run-dir runs/bobsl --backbones runs/bobsl/backbones.safetensors ...

Run configs are layers (nanoGPT style): ``DEFAULTS`` ← ``configs/islr_<name>.yaml`` ← ``--set key=value``.

Data (``data.train`` / ``data.eval``), any of:
- a prepared dataset folder (``signllm data prepare``): ``signs/<split>.parquet`` rows with ``keypoints_path``,
  ``label``, optional ``start``/``end``/``keypoints_offset`` (seconds), ``lip_path``, ``signer``;
- a Kaggle GISLR folder (``train.csv`` + ``train_landmark_files/``), or any CSV/JSONL manifest with ``path`` and
  ``label`` (or ``sign``) columns (paths relative to the manifest), optional ``lip_path`` and ``participant_id``.
Keypoints are read with ``signllm.processing.keypoint_io.read_keypoints`` (``.pose``/``.npz``/``.npy``/Kaggle
``.parquet``), resampled to 25 fps, normalised per clip (``normalize_keypoints``) and fitted to ``clip_length``
frames: shorter clips are padded and masked; longer clips are uniformly resampled (``data.long_clips: resample``,
[ours]: isolated-sign files hold one whole sign of variable length) or cropped (``crop``: random window in
training, centre window in evaluation — the paper's fixed 24-frame sign-centred clips).
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import logging
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from safetensors import safe_open
from safetensors.torch import save_file
from signllm.configuration_signllm_islr import SignLLMClassificationConfig
from signllm.keypoint_layout import normalize_keypoints
from signllm.modeling_signllm_islr import SignLLMForSignClassification, build_label_text_embeddings, late_fusion
from signllm.train.evaluation.islr_metrics import islr_accuracy, make_compute_metrics
from signllm.train.run_config import deep_update, last_complete_checkpoint, load_config_layer, parse_override
from torch import nn
from transformers import Trainer, TrainingArguments, set_seed

logger = logging.getLogger(__name__)

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
BACKBONE_FORMAT = "signllm-backbones"
BACKBONE_PREFIXES = {"pose": "pose_encoder.", "lip": "lip_encoder."}

DEFAULTS: dict[str, Any] = {
    "output_dir": "runs/islr_pose",
    "model": {
        "preset": "paper",  # SignLLMClassificationConfig.from_preset: backbones match SignLLMConfig's preset
        "overrides": {"modality": "pose"},  # keyword overrides (loss switches, sizes, ...; nested dicts merge)
        "init_from": None,  # an ISLR checkpoint folder to start from (e.g. finetuning on a new vocabulary)
        "text_model": "google/flan-t5-xl",  # class-name embeddings: tokenizer + input embeddings of this model
    },
    "data": {
        "train": None,
        "eval": None,  # None: the train source's "val" split when it has one, else no evaluation
        "train_split": "train",
        "eval_split": "val",
        "target_fps": 25.0,  # [paper]
        "source_fps": None,  # override the keypoint files' frame rate (Kaggle parquet stores none: 30 assumed)
        "long_clips": "resample",  # resample | crop  [ours]
        "label_map": None,  # JSON {label: id}; None: sorted labels of the training rows
        "max_samples": None,
        "cache": True,  # keep decoded clips in memory (small corpora; set false for BOBSL-scale data)
    },
    "training": {  # TrainingArguments keywords
        "learning_rate": 5.0e-4,  # [ours] the paper does not give the ISLR rate
        "weight_decay": 0.01,
        "optim": "adamw_torch",  # AdamW [paper]
        "lr_scheduler_type": "cosine",  # one-cycle cosine: linear warm-up then cosine decay to 0 [paper]
        "warmup_steps": 0.1,  # [ours] fraction of the run
        "num_train_epochs": 20,  # [paper]
        "per_device_train_batch_size": 64,  # [paper] 64 per GPU x 4 GPUs
        "per_device_eval_batch_size": 64,
        "gradient_accumulation_steps": 1,
        "max_grad_norm": 1.0,
        "logging_steps": 50,
        "eval_strategy": "epoch",
        "save_strategy": "epoch",
        "save_total_limit": 3,
        "seed": 42,
        "data_seed": 42,
        "dataloader_num_workers": 4,
        "report_to": "none",
    },
    "export": {"backbone_path": None},  # write the backbone for SignLLMForConditionalGeneration after training
}


# ------------------------------------------------------------------------------------------------------ run config
def load_run_config(path: str | Path) -> dict[str, Any]:
    """A YAML layer; a bare name resolves to ``islr/configs/<name>.yaml`` (the loader shared with the SLT recipe)."""
    return load_config_layer(path, allowed_keys=DEFAULTS, config_dir=CONFIG_DIR)


def resolve_config(config_files: Sequence[str | Path] = (), overrides: Sequence[str] = ()) -> dict[str, Any]:
    """``DEFAULTS`` ← config files ← ``section.key=value`` overrides."""
    config = copy.deepcopy(DEFAULTS)
    for layer in [load_run_config(f) for f in config_files] + [parse_override(o) for o in overrides]:
        config = deep_update(config, layer)  # both loaders already read 1e-3 as a float
    if config["data"]["long_clips"] not in ("resample", "crop"):
        raise ValueError(f"data.long_clips must be 'resample' or 'crop', got {config['data']['long_clips']!r}.")
    return config


# ------------------------------------------------------------------------------------------------------------ data
@dataclass
class SignClip:
    """One labelled clip: a keypoint file (and optional lip-feature ``.npy``), with an optional time span."""

    keypoints_path: str | None
    label: str
    lip_path: str | None = None
    start: float | None = None  # seconds on the keypoint file's timeline (after keypoints_offset)
    end: float | None = None
    group: str | None = None  # signer / participant (for reporting)


ALL_SPLITS = "all"  # `split` value that selects every row, whatever its split


def read_clip_list(source: str | Path, split: str = "train") -> list[SignClip]:
    """Clips of one split (``"all"``: every clip) from a prepared dataset folder, a GISLR folder or a CSV/JSONL
    manifest. A manifest without a ``split`` column (a raw Kaggle GISLR ``train.csv``) is all ``"train"``."""
    source = Path(source)
    if source.is_dir() and (source / "signs").is_dir():
        if split == ALL_SPLITS:
            return [clip for name in clip_splits(source) for clip in _read_prepared(source, name)]
        return _read_prepared(source, split)
    manifest, rows = _read_manifest_rows(source)
    clips = []
    for number, row in enumerate(rows, start=1):
        label = row.get("label", row.get("sign"))
        path = row.get("path", row.get("keypoints_path"))
        if label is None or (path is None and not row.get("lip_path")):
            raise ValueError(f"{manifest} row {number}: needs a label (or sign) and a path (or lip_path) column.")
        if split != ALL_SPLITS and row.get("split", "train") != split:  # no split column: all training data
            continue
        clips.append(SignClip(
            keypoints_path=str(manifest.parent / path) if path else None, label=str(label).strip(),
            lip_path=str(manifest.parent / row["lip_path"]) if row.get("lip_path") else None,
            start=_float_or_none(row.get("start")), end=_float_or_none(row.get("end")),
            group=str(row.get("participant_id", row.get("signer", "")) or "") or None,
        ))  # fmt: skip
    return clips


def _read_manifest_rows(source: Path) -> tuple[Path, list[dict[str, Any]]]:
    manifest = source / "train.csv" if source.is_dir() else source
    if not manifest.is_file():
        raise ValueError(f"{source}: expected a prepared dataset folder (signs/), a GISLR folder (train.csv) "
                         "or a .csv/.jsonl manifest.")  # fmt: skip
    if manifest.suffix == ".jsonl":
        return manifest, [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    with manifest.open(newline="", encoding="utf-8-sig") as stream:
        return manifest, list(csv.DictReader(stream))


def clip_splits(source: str | Path) -> list[str]:
    """The splits a clip source holds (a manifest without a ``split`` column: ``["train"]``)."""
    source = Path(source)
    if source.is_dir() and (source / "signs").is_dir():
        from signllm.datasets_scripts.manifest import manifest_files

        return sorted(manifest_files(source, "signs"))
    _, rows = _read_manifest_rows(source)
    return sorted({row.get("split") or "train" for row in rows})


def _read_prepared(folder: Path, split: str) -> list[SignClip]:
    from signllm.datasets_scripts.manifest import iter_manifest_rows, manifest_files

    if split not in manifest_files(folder, "signs"):
        raise ValueError(f"{folder}: no signs/{split}*.parquet (run `signllm data prepare` for an ISLR corpus).")
    clips = []
    for row in iter_manifest_rows(folder, "signs", split):  # file paths resolved against the dataset folder
        offset = row.get("keypoints_offset") or 0.0
        start, end = row.get("start"), row.get("end")
        clips.append(SignClip(
            keypoints_path=row.get("keypoints_path"), label=str(row["label"]), lip_path=row.get("lip_path"),
            start=None if start is None else start - offset, end=None if end is None else end - offset,
            group=row.get("signer"),
        ))  # fmt: skip
    return clips


def _float_or_none(value: Any) -> float | None:
    return None if value in (None, "") else float(value)


def read_keypoint_clip(path: str, target_fps: float = 25.0, source_fps: float | None = None):
    """Raw keypoints of a file at ``target_fps``: ``(values (t, 203, 3), mask (t, 203))``.

    Uses ``signllm.processing.keypoint_io.read_keypoints`` (Kaggle parquet: face/left/pose/right rows reordered to
    the canonical holistic order, NaN = missing).
    """
    from signllm.processing.keypoint_io import read_keypoints

    sequence = read_keypoints(path, fps=source_fps, target_fps=target_fps)
    return sequence.values, sequence.mask


def clip_frame_indices(num_frames: int, clip_length: int, strategy: str, rng: np.random.Generator | None) -> np.ndarray:
    """Which source frames fill a ``clip_length`` clip (``-1`` = padding, masked).

    ``num_frames <= clip_length``: all frames, then padding. Longer: ``"resample"`` picks ``clip_length`` evenly
    spaced frames; ``"crop"`` a contiguous window — random when ``rng`` is given (training), else centred.
    """
    if num_frames <= 0:
        raise ValueError("empty clip: no frames to fit.")
    if num_frames <= clip_length:
        return np.concatenate([np.arange(num_frames), np.full(clip_length - num_frames, -1)])
    if strategy == "resample":
        return np.round(np.linspace(0, num_frames - 1, clip_length)).astype(int)
    start = int(rng.integers(0, num_frames - clip_length + 1)) if rng is not None else (num_frames - clip_length) // 2
    return np.arange(start, start + clip_length)


class SignClipDataset(torch.utils.data.Dataset):
    """Normalised, fixed-length ISLR clips for [`SignLLMForSignClassification`].

    Items: ``pose_values (l, 203, 3)``, ``pose_attention_mask (l,)``, ``joint_mask (l, 203)`` (pose modality),
    ``lip_values (l, f)``, ``lip_attention_mask (l,)`` (when the clip has a lip file), ``labels`` (int).
    """

    def __init__(
        self,
        clips: Sequence[SignClip],
        label2id: dict[str, int],
        clip_length: int,
        modalities: Sequence[str] = ("pose",),
        target_fps: float = 25.0,
        source_fps: float | None = None,
        long_clips: str = "resample",
        train: bool = False,
        cache: bool = True,
        seed: int = 0,
    ):
        unknown = sorted({c.label for c in clips} - set(label2id))
        if unknown:
            raise ValueError(f"{len(unknown)} labels are not in the label map, e.g. {unknown[:5]}.")
        self.clips = list(clips)
        self.label2id = label2id
        self.clip_length = clip_length
        self.modalities = tuple(modalities)
        self.target_fps = target_fps
        self.source_fps = source_fps
        self.long_clips = long_clips
        self.train = train
        self.rng = np.random.default_rng(seed)
        self._cache: dict[int, dict[str, np.ndarray]] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.clips)

    def _load(self, index: int) -> dict[str, np.ndarray]:
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        clip = self.clips[index]
        arrays: dict[str, np.ndarray] = {}
        if "pose" in self.modalities:
            if not clip.keypoints_path:
                raise ValueError(f"clip {index} ({clip.label}) has no keypoint file but the model reads pose.")
            values, mask = read_keypoint_clip(clip.keypoints_path, self.target_fps, self.source_fps)
            values, mask = self._span(values, clip), self._span(mask, clip)
            try:
                arrays["pose_values"], arrays["joint_mask"] = normalize_keypoints(values, mask)
            except ValueError as error:
                raise ValueError(f"{clip.keypoints_path}: {error}") from None
        if "lip" in self.modalities:
            if not clip.lip_path:
                raise ValueError(f"clip {index} ({clip.label}) has no lip features but the model reads lip.")
            arrays["lip_values"] = self._span(np.load(clip.lip_path).astype(np.float32), clip)
        if self._cache is not None:
            self._cache[index] = arrays
        return arrays

    def _span(self, array: np.ndarray, clip: SignClip) -> np.ndarray:
        if clip.start is None and clip.end is None:
            return array
        first = round((clip.start or 0.0) * self.target_fps)
        last = len(array) if clip.end is None else round(clip.end * self.target_fps)
        return array[max(first, 0) : max(last, first + 1)]

    def __getitem__(self, index: int) -> dict[str, Any]:
        arrays = self._load(index)
        num_frames = min(len(a) for a in arrays.values())
        frames = clip_frame_indices(num_frames, self.clip_length, self.long_clips, self.rng if self.train else None)
        valid = frames >= 0
        item: dict[str, Any] = {"labels": self.label2id[self.clips[index].label]}
        for key, array in arrays.items():
            fitted = array[np.where(valid, frames, 0)].copy()
            fitted[~valid] = 0
            item[key] = fitted
        if "pose" in self.modalities:
            item["pose_attention_mask"] = valid.astype(np.int64)
        if "lip" in self.modalities:
            item["lip_attention_mask"] = valid.astype(np.int64)
        return item


def collate_sign_clips(features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Stack fixed-length items into a batch (``joint_mask`` bool, masks int64, ``labels`` int64)."""
    batch: dict[str, torch.Tensor] = {}
    for key in features[0]:
        values = np.stack([np.asarray(f[key]) for f in features])
        tensor = torch.from_numpy(values)
        if key == "joint_mask":
            tensor = tensor.bool()
        elif key in ("labels", "pose_attention_mask", "lip_attention_mask"):
            tensor = tensor.long()
        else:
            tensor = tensor.float()
        batch[key] = tensor
    return batch


# ---------------------------------------------------------------------------------------------------------- model
def load_text_embedding_source(name: str, embedding_size: int):
    """``(tokenizer, input embedding)`` of the text model that defines the class-name targets.

    ``"random-byt5"``: ``ByT5Tokenizer()`` (no files) with a seeded random ``(384, embedding_size)`` table, for tests
    and tiny runs. Anything else is a model name/folder: its tokenizer and ``get_input_embeddings()``.
    """
    if name == "random-byt5":
        from transformers import ByT5Tokenizer

        table = nn.Embedding(384, embedding_size)
        nn.init.normal_(table.weight, generator=torch.Generator().manual_seed(0))
        return ByT5Tokenizer(), table
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(name)
    embeddings = AutoModel.from_pretrained(name, dtype="auto").get_input_embeddings()  # rows are cast to fp32 later
    if embeddings.weight.shape[1] != embedding_size:
        raise ValueError(f"{name} has {embeddings.weight.shape[1]}-d input embeddings; the config's "
                         f"text_embedding_size is {embedding_size}.")  # fmt: skip
    return tokenizer, embeddings


def build_model(run: dict[str, Any], label_names: Sequence[str]) -> SignLLMForSignClassification:
    """A fresh classifier (or ``model.init_from``) for ``label_names``, with its class-name text embeddings set."""
    id2label = dict(enumerate(label_names))
    overrides = copy.deepcopy(run["model"]["overrides"] or {})
    if run["model"]["init_from"]:
        model = SignLLMForSignClassification.from_pretrained(
            run["model"]["init_from"], id2label=id2label, label2id={v: k for k, v in id2label.items()},
            ignore_mismatched_sizes=True, **{k: v for k, v in overrides.items() if not isinstance(v, dict)},
        )  # fmt: skip
    else:
        config = SignLLMClassificationConfig.from_preset(run["model"]["preset"], id2label=id2label, **overrides)
        model = SignLLMForSignClassification(config)
    if model.config.use_contrastive_loss:
        model.config.text_embedding_source = run["model"]["text_model"]
        tokenizer, embeddings = load_text_embedding_source(run["model"]["text_model"], model.config.text_embedding_size)
        model.set_label_text_embeddings(build_label_text_embeddings(tokenizer, embeddings, label_names))
    return model


def register_islr_auto_classes() -> None:
    """Make saved classifiers loadable with ``AutoModelForVideoClassification.from_pretrained(dir,
    trust_remote_code=True)``: ``save_pretrained`` then writes ``auto_map`` and copies the module files."""
    SignLLMClassificationConfig.register_for_auto_class()
    SignLLMForSignClassification.register_for_auto_class("AutoModelForVideoClassification")


class SignClassificationTrainer(Trainer):
    """`Trainer` that also logs the separate loss terms (CE / articulator / contrastive) averaged per log step."""

    LOSS_TERMS = ("classification_loss", "articulator_loss", "contrastive_loss")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._term_sums: dict[str, float] = {}
        self._term_count = 0

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        outputs = model(**inputs)
        if model.training:
            for term in self.LOSS_TERMS:
                value = outputs.get(term)
                if value is not None:
                    self._term_sums[term] = self._term_sums.get(term, 0.0) + float(value.detach())
            self._term_count += 1
        return (outputs.loss, outputs) if return_outputs else outputs.loss

    def log(self, logs: dict[str, float], *args, **kwargs) -> None:
        if "loss" in logs and self._term_count:
            logs.update({term: round(total / self._term_count, 4) for term, total in self._term_sums.items()})
            self._term_sums, self._term_count = {}, 0
        super().log(logs, *args, **kwargs)


# ------------------------------------------------------------------------------------------------------- training
def label_vocabulary(clips: Sequence[SignClip], label_map: str | None = None) -> list[str]:
    """Class names in id order: from a ``{label: id}`` JSON, else the sorted labels of the clips [ours]."""
    if label_map:
        mapping = json.loads(Path(label_map).read_text())
        ids = sorted(mapping.values())
        if ids != list(range(len(ids))):
            raise ValueError(f"{label_map}: label ids must be 0..n-1 without gaps.")
        return [label for label, _ in sorted(mapping.items(), key=lambda item: item[1])]
    return sorted({clip.label for clip in clips})


def build_datasets(run: dict[str, Any], config: SignLLMClassificationConfig, label2id: dict[str, int], train_clips,
                   eval_clips) -> tuple[SignClipDataset, SignClipDataset | None]:  # fmt: skip
    data = run["data"]
    common = {"label2id": label2id, "clip_length": config.clip_length, "modalities": (config.modality,),
              "target_fps": data["target_fps"], "source_fps": data["source_fps"], "long_clips": data["long_clips"],
              "cache": data["cache"], "seed": run["training"].get("seed", 0)}  # fmt: skip
    train_set = SignClipDataset(train_clips, train=True, **common)
    eval_set = SignClipDataset(eval_clips, train=False, **common) if eval_clips else None
    return train_set, eval_set


def _eval_clips(run: dict[str, Any]) -> list[SignClip]:
    data = run["data"]
    if data["eval"]:
        return read_clip_list(data["eval"], data["eval_split"])
    try:
        return read_clip_list(data["train"], data["eval_split"])
    except ValueError:
        return []


def train_islr(run: dict[str, Any], resume: bool = False) -> dict[str, Any]:
    """Train one ISLR classifier per ``run`` (a resolved run config); returns the final metrics.

    Writes ``<output_dir>/checkpoint-*`` (resumable), ``<output_dir>/final`` (model + config) and, when
    ``export.backbone_path`` is set, the backbone safetensors for ``SignLLMForConditionalGeneration``.
    """
    data = run["data"]
    if not data["train"]:
        raise ValueError("data.train is not set: pass --set data.train=<dataset folder | GISLR folder | manifest>.")
    train_clips = read_clip_list(data["train"], data["train_split"])
    if data["max_samples"]:
        train_clips = train_clips[: int(data["max_samples"])]
    if not train_clips:
        raise ValueError(f"{data['train']}: no training clips in split {data['train_split']!r}.")
    eval_clips = _eval_clips(run)
    label_names = label_vocabulary(train_clips, data["label_map"])
    label2id = {label: index for index, label in enumerate(label_names)}
    eval_clips = [c for c in eval_clips if c.label in label2id]
    register_islr_auto_classes()
    set_seed(run["training"].get("seed", 42))  # the same seed gives the same initial model (reproducible runs)
    model = build_model(run, label_names)
    train_set, eval_set = build_datasets(run, model.config, label2id, train_clips, eval_clips)
    training = dict(run["training"])
    if eval_set is None:
        training["eval_strategy"] = "no"
    args = TrainingArguments(output_dir=run["output_dir"], remove_unused_columns=False, label_names=["labels"],
                             **training)  # fmt: skip
    trainer = SignClassificationTrainer(
        model=model, args=args, train_dataset=train_set, eval_dataset=eval_set, data_collator=collate_sign_clips,
        compute_metrics=make_compute_metrics(),
    )  # fmt: skip
    checkpoint = last_complete_checkpoint(run["output_dir"]) if resume else None  # skips a half-written last one
    if resume and checkpoint is None:
        logger.warning("--resume: no checkpoint in %s, starting from scratch.", run["output_dir"])
    result = trainer.train(resume_from_checkpoint=checkpoint)
    metrics = dict(result.metrics)
    if eval_set is not None:
        metrics.update(trainer.evaluate())
    final_dir = Path(run["output_dir"]) / "final"
    trainer.save_model(str(final_dir))
    (final_dir / "run_config.yaml").write_text(yaml.safe_dump(run, sort_keys=False))
    trainer.state.save_to_json(str(final_dir / "trainer_state.json"))  # the loss-term log of the whole run
    if run["export"]["backbone_path"]:
        export_backbone([final_dir], run["export"]["backbone_path"])
    return metrics


# ------------------------------------------------------------------------------------------------ eval and fusion
@torch.no_grad()
def predict_logits(
    model: SignLLMForSignClassification, dataset: SignClipDataset, batch_size: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """``(logits (n, classes), labels (n,))`` of a classifier over a dataset, in order, in eval mode."""
    model.eval()
    device = next(model.parameters()).device
    logits, labels = [], []
    for start in range(0, len(dataset), batch_size):
        batch = collate_sign_clips([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
        labels.append(batch.pop("labels").numpy())
        logits.append(model(**{k: v.to(device) for k, v in batch.items()}).logits.float().cpu().numpy())
    return np.concatenate(logits), np.concatenate(labels)


def evaluate_islr(
    checkpoints: Sequence[str | Path], source: str | Path, split: str = "test", batch_size: int = 64,
    fusion_weights: Sequence[float] | None = None, long_clips: str = "resample",
) -> dict[str, dict[str, float]]:  # fmt: skip
    """Top-1/top-5 (per instance and per class) of each classifier and, given a pose and a lip checkpoint, of
    their late fusion (``fusion_weights`` defaults to the pose config's ``late_fusion_weights``, 0.7:0.3)."""
    models = [SignLLMForSignClassification.from_pretrained(str(c)) for c in checkpoints]
    splits = clip_splits(source)
    if split != ALL_SPLITS and split not in splits:
        raw = not (Path(source).is_dir() and (Path(source) / "signs").is_dir())
        why = " (its manifest has no split column: every row is training data)" if raw and splits == ["train"] else ""
        raise ValueError(f"{source} has no {split!r} split; it holds {', '.join(splits) or 'none'}{why}. Choose one "
                         f"with --split, or --split {ALL_SPLITS} to evaluate every clip (on data the model was trained "
                         "on, that measures fit, not generalisation).")  # fmt: skip
    clips = read_clip_list(source, split)
    if not clips:
        raise ValueError(f"{source}: no clips in split {split!r}.")
    results: dict[str, dict[str, float]] = {}
    logits: dict[str, np.ndarray] = {}
    labels = None
    for model in models:
        config = model.config
        dataset = SignClipDataset(clips, config.label2id, config.clip_length, (config.modality,),
                                  long_clips=long_clips, cache=False)  # fmt: skip
        logits[config.modality], labels = predict_logits(model, dataset, batch_size)
        results[config.modality] = islr_accuracy(logits[config.modality], labels)
    if len(models) == 2:
        if set(logits) != {"pose", "lip"}:
            raise ValueError("Late fusion needs one pose and one lip classifier.")
        if models[0].config.id2label != models[1].config.id2label:
            raise ValueError("The pose and lip classifiers have different label sets; they cannot be fused.")
        pose_config = next(m.config for m in models if m.config.modality == "pose")
        weights = fusion_weights or pose_config.late_fusion_weights
        fused = late_fusion(torch.from_numpy(logits["pose"]), torch.from_numpy(logits["lip"]), weights).numpy()
        results["fusion"] = islr_accuracy(fused, labels)
    return results


# ----------------------------------------------------------------------------------------------------- export
def export_backbone(islr_checkpoint_dirs: str | Path | Sequence[str | Path], output_path: str | Path) -> list[str]:
    """Write the ISLR-pretrained backbone(s) as one safetensors file for ``SignLLMForConditionalGeneration``.

    Keys are ``pose_encoder.*`` / ``lip_encoder.*`` exactly as in that model (its submodules carry these names);
    the metadata records each backbone's sub-config. Give a pose and/or a lip checkpoint. Returns the keys.
    """
    if isinstance(islr_checkpoint_dirs, (str, Path)):
        islr_checkpoint_dirs = [islr_checkpoint_dirs]
    tensors: dict[str, torch.Tensor] = {}
    metadata = {"format": BACKBONE_FORMAT}
    for directory in islr_checkpoint_dirs:
        model = SignLLMForSignClassification.from_pretrained(str(directory))
        modality = model.config.modality
        if f"{modality}_config" in metadata:
            raise ValueError(f"Two {modality} checkpoints given; export one pose and/or one lip classifier.")
        prefix = BACKBONE_PREFIXES[modality]
        state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items() if k.startswith(prefix)}
        if not state:
            raise ValueError(f"{directory}: no {prefix}* weights found.")
        tensors.update(state)
        metadata[f"{modality}_config"] = model.config.backbone_config.to_json_string(use_diff=False)
        metadata[f"{modality}_source"] = str(directory)
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    partial = output_path.with_name(f".{output_path.name}.partial")
    save_file(tensors, str(partial), metadata=metadata)
    partial.replace(output_path)  # readers never see a half-written file
    return sorted(tensors)


def load_backbone_weights(model: nn.Module, path: str | Path, modalities: Sequence[str] | None = None) -> list[str]:
    """Load an `export_backbone` file into ``model`` (any module with ``pose_encoder`` / ``lip_encoder`` children,
    e.g. ``SignLLMForConditionalGeneration`` before DoRA wrapping). Returns the loaded keys.

    Every exported backbone the model has is loaded completely (``ValueError`` on a missing key or a shape
    mismatch, naming it); a backbone the model lacks (e.g. lip weights into a pose-only model) is skipped unless
    named in ``modalities``.
    """
    with safe_open(str(path), framework="pt") as handle:
        if (handle.metadata() or {}).get("format") != BACKBONE_FORMAT:
            raise ValueError(f"{path} is not a SignLLM backbone file (export it with export_backbone).")
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118 (safe_open is not a dict)
    state = model.state_dict()
    loaded = []
    present = [m for m, prefix in BACKBONE_PREFIXES.items() if any(k.startswith(prefix) for k in tensors)]
    for modality in modalities or present:
        prefix = BACKBONE_PREFIXES[modality]
        if modality not in present:
            raise ValueError(f"{path} holds no {modality} backbone (it has: {', '.join(present) or 'none'}).")
        if not hasattr(model, prefix[:-1]):
            if modalities:
                raise ValueError(f"The model has no {prefix[:-1]} to load the {modality} backbone into.")
            logger.info("Model has no %s; skipping the %s backbone in %s.", prefix[:-1], modality, path)
            continue
        source = {k: v for k, v in tensors.items() if k.startswith(prefix)}
        expected = [k for k in state if k.startswith(prefix) and "lip_reader" not in k]
        missing = sorted(set(expected) - set(source))
        unexpected = sorted(set(source) - set(state))
        if missing or unexpected:
            raise ValueError(f"{path}: {modality} backbone does not match the model (missing {missing[:3]}, "
                             f"unexpected {unexpected[:3]}); were both built with the same backbone config?")  # fmt: skip
        for key, tensor in source.items():
            if tensor.shape != state[key].shape:
                raise ValueError(f"{path}: {key} has shape {tuple(tensor.shape)}, the model expects "
                                 f"{tuple(state[key].shape)} (different backbone sizes?).")  # fmt: skip
        with torch.no_grad():
            for key, tensor in source.items():
                state[key].copy_(tensor)
        loaded += sorted(source)
    return loaded


# ---------------------------------------------------------------------------------------------------------- CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``signllm train islr``: train a pose or lip ISLR classifier."""
    parser.add_argument("--config", action="append", default=[], help="run config layer(s): a YAML file or a name "
                        "in train/islr/configs (islr_pose, islr_lip, islr_tiny_debug)")  # fmt: skip
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override, e.g. --set training.learning_rate=1e-3 --set model.overrides.modality=lip")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in output_dir")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    metrics = train_islr(resolve_config(args.config, args.overrides), resume=args.resume)
    print(json.dumps({k: v for k, v in metrics.items() if isinstance(v, (int, float)) and math.isfinite(v)}, indent=2))
    return 0


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    """``signllm train islr-export``: ISLR checkpoint(s) → backbone safetensors for the SLT model."""
    parser.add_argument("checkpoints", nargs="+", help="ISLR checkpoint folder(s): one pose and/or one lip")
    parser.add_argument("-o", "--output", required=True, help="output .safetensors")


def run_export(args: argparse.Namespace) -> int:
    keys = export_backbone(args.checkpoints, args.output)
    print(f"wrote {len(keys)} tensors to {args.output}")
    return 0


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    """``signllm train islr-eval``: top-1/top-5 of one classifier, or of a pose + lip late fusion."""
    parser.add_argument("checkpoints", nargs="+", help="one ISLR checkpoint, or a pose and a lip one (late fusion)")
    parser.add_argument("--data", required=True, help="prepared dataset folder, GISLR folder or manifest")
    parser.add_argument("--split", default="test", help="split to evaluate (default: test); 'all' = every clip, e.g. "
                        "a raw Kaggle GISLR folder, whose train.csv has no split column")  # fmt: skip
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--fusion-weights", type=float, nargs=2, default=None, metavar=("POSE", "LIP"))
    parser.add_argument("--long-clips", choices=("resample", "crop"), default="resample")


def run_eval(args: argparse.Namespace) -> int:
    if len(args.checkpoints) > 2:
        raise SystemExit("islr-eval takes one checkpoint or a pose and a lip checkpoint.")
    try:
        results = evaluate_islr(args.checkpoints, args.data, args.split, args.batch_size, args.fusion_weights,
                                args.long_clips)  # fmt: skip
    except ValueError as error:
        print(f"signllm train islr-eval: error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(results, indent=2))
    return 0
