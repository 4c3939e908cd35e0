"""``Seq2SeqTrainer`` for SignLLM: multitask batch mixing, generation on visual inputs, per-task metrics.

Three small departures from the stock trainer, each for one reason:

* the train sampler is [`MultitaskSampler`] (80/20 SLT/SSA per batch, order a function of seed and epoch, so a
  resumed run replays the same batches);
* ``prediction_step`` drops the collator's bookkeeping keys and runs the stock one (``synced_gpus`` under DeepSpeed
  ZeRO-3 / FSDP, so a rank that finishes early keeps stepping; the model's ``generate`` ignores labels and task
  ids). One difference, FSDP (v1) only: the stock step generates inside ``summon_full_params(model)``, where the
  forwards of the nested FSDP units (each T5Block) free the gathered weights and the write-back then corrupts the
  shards (NaN loss right after evaluation; transformers#34530, and FSDP forbids forward inside that context). Here
  only the root's own weights (backbones, Perceiver, embeddings) are gathered, without write-back, and each wrapped
  block gathers its own in its forward;
* ``evaluate`` picks the metric for each named eval set (``eval_slt_*`` → BLEU/ROUGE/CIDEr, ``eval_ssa_*`` → span
  accuracy), so one run reports both tasks.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from signllm.train.slt.curriculum import freeze_frozen_module_state
from signllm.train.slt.multitask_sampler import MultitaskSampler
from transformers import EvalPrediction, Seq2SeqTrainer

BOOKKEEPING_KEYS = ("sample_index",)  # collator extras that never reach the model


class SignLLMSeq2SeqTrainer(Seq2SeqTrainer):
    """Seq2SeqTrainer with the SLT/SSA batch mixer.

    Args:
        slt_fraction (`float`): share of SLT samples per batch (1.0 = SLT only) for [`MultitaskSampler`].
        metric_functions (`dict[str, Callable[[EvalPrediction], dict]]`, *optional*): metric per task name; an eval
            dataset named ``"slt"`` / ``"ssa"`` (or a single dataset with a ``task`` attribute) uses that entry.
        data_order_log (`str`, *optional*): append the dataset indices of every training micro-batch to this JSONL
            file (one file per process) — how the resume test proves "same step, same data order".
        All other arguments go to `Seq2SeqTrainer`.
    """

    def __init__(
        self,
        *args,
        slt_fraction: float = 1.0,
        metric_functions: dict[str, Callable[[EvalPrediction], dict[str, float]]] | None = None,
        data_order_log: str | Path | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        # SignLLM's loss is a per-token mean (plus the SSA L1 term), not a sum normalised by `num_items_in_batch`;
        # the forward's **kwargs would make the Trainer skip the gradient-accumulation division and multiply the
        # loss by the number of processes
        self.model_accepts_loss_kwargs = False
        self.slt_fraction = slt_fraction
        self.metric_functions = dict(metric_functions or {})
        self.data_order_log = Path(data_order_log) if data_order_log else None

    # ---------------------------------------------------------------------------------------------- training
    def _get_train_sampler(self, train_dataset=None):
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        task_ids = getattr(dataset, "task_ids", None)
        if task_ids is None:
            raise ValueError("the training dataset must expose `task_ids` (one per item) for the multitask sampler.")
        seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
        return MultitaskSampler(task_ids, batch_size=self._train_batch_size, slt_fraction=self.slt_fraction, seed=seed,
                                on_set_epoch=getattr(dataset, "set_epoch", None))  # fmt: skip

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if model.training:  # Trainer calls model.train() before each step; frozen backbones go back to eval
            freeze_frozen_module_state(self.accelerator.unwrap_model(model))
        indices = inputs.pop("sample_index", None)
        if self.data_order_log is not None and indices is not None and model.training:
            path = self.data_order_log.with_suffix(f".rank{self.args.process_index}.jsonl")
            with path.open("a") as handle:
                handle.write(json.dumps({"step": self.state.global_step, "sample_index": indices.tolist()}) + "\n")
        return super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)

    # -------------------------------------------------------------------------------------------- evaluation
    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval", **gen_kwargs):
        task = None
        if isinstance(eval_dataset, str):
            task = eval_dataset
        elif eval_dataset is not None:
            task = getattr(eval_dataset, "task", None)
        elif not isinstance(self.eval_dataset, dict):
            task = getattr(self.eval_dataset, "task", None)
        for name in self.metric_functions:  # named eval sets: "eval_slt", "eval_ssa"
            if metric_key_prefix.endswith(f"_{name}"):
                task = name
        if not isinstance(eval_dataset if eval_dataset is not None else self.eval_dataset, dict):
            self.compute_metrics = self.metric_functions.get(task)
        return super().evaluate(
            eval_dataset, ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix, **gen_kwargs
        )

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None, **gen_kwargs):
        inputs = {k: v for k, v in inputs.items() if k not in BOOKKEEPING_KEYS}
        if prediction_loss_only or not self.args.predict_with_generate or not _is_fsdp1_root(self.model):
            return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys=ignore_keys, **gen_kwargs)
        # FSDP v1 (module docstring): the stock step, with the root-only gather
        from torch.distributed.fsdp import FullyShardedDataParallel

        has_labels = "labels" in inputs
        inputs = self._prepare_inputs(inputs)
        if not gen_kwargs and hasattr(self, "_gen_kwargs"):
            gen_kwargs = dict(self._gen_kwargs)
        gen_kwargs = {k: v for k, v in gen_kwargs.items() if not (k in ("num_beams", "max_length") and v is None)}
        gen_kwargs.setdefault("synced_gpus", True)
        inner = self.model.module
        with FullyShardedDataParallel.summon_full_params(self.model, recurse=False, writeback=False):
            generated = inner.generate(**inputs, **gen_kwargs)
        loss = None
        if has_labels:
            with torch.no_grad(), self.compute_loss_context_manager():
                loss = model(**inputs)["loss"].detach().mean()
        if self.args.prediction_loss_only:
            return loss, None, None
        width = _stock_width(inner.generation_config, gen_kwargs)
        generated = self._pad_tensors_to_max_len(generated, width) if generated.shape[-1] < width else generated
        labels = inputs.get("labels")
        if labels is not None and labels.shape[-1] < width:
            labels = self._pad_tensors_to_max_len(labels, width)
        return loss, generated, labels


def _is_fsdp1_root(model) -> bool:
    try:
        from torch.distributed.fsdp import FullyShardedDataParallel
    except ImportError:  # torch built without distributed
        return False
    return isinstance(model, FullyShardedDataParallel)


def _stock_width(generation_config, gen_kwargs: dict) -> int:
    """The width ``Seq2SeqTrainer.prediction_step`` pads generated ids and labels to."""
    max_length = gen_kwargs.get("max_length") or generation_config.max_length or 20
    max_new_tokens = gen_kwargs.get("max_new_tokens", generation_config.max_new_tokens)
    return max(max_length, max_new_tokens + 1) if max_new_tokens is not None else max_length


# ------------------------------------------------------------------------------------------------ metric functions
def decode_predictions(eval_pred: EvalPrediction, processor: Any) -> tuple[list[str], list[str]]:
    """Generated ids and -100-padded labels → stripped strings (pad ids restored before decoding)."""
    predictions, labels = eval_pred.predictions, eval_pred.label_ids
    if isinstance(predictions, tuple):
        predictions = predictions[0]
    pad = processor.tokenizer.pad_token_id or 0
    predictions = np.where(np.asarray(predictions) < 0, pad, predictions)
    labels = np.where(np.asarray(labels) < 0, pad, labels)
    return processor.batch_decode(predictions), processor.batch_decode(labels)


def slt_metric_function(processor: Any) -> Callable[[EvalPrediction], dict[str, float]]:
    """BLEU-4 (sacreBLEU and paper-compatible), ROUGE-L, CIDEr-D, word IoU on generated translations."""
    from signllm.train.evaluation.slt_metrics import compute_slt_metrics

    def compute(eval_pred: EvalPrediction) -> dict[str, float]:
        hypotheses, references = decode_predictions(eval_pred, processor)
        results = compute_slt_metrics(hypotheses, [[r] for r in references])
        return {k: float(v) for k, v in results.items() if isinstance(v, (int, float))}

    return compute


def ssa_window_metrics(predicted: list[tuple[int, int] | None], target: list[tuple[int, int]]) -> dict[str, float]:
    """Window-level SSA scores: parse rate, mean frame IoU of the spans, start/end absolute error (frames),
    and the share of spans with IoU ≥ 0.5. (Full-video frame accuracy / F1@k needs DTW over whole episodes and
    belongs to ``signllm evaluate``; this is the cheap signal to watch during training.)"""
    ious, errors = [], []
    for pred, (start, end) in zip(predicted, target):
        if pred is None:
            ious.append(0.0)
            continue
        overlap = max(0, min(pred[1], end) - max(pred[0], start) + 1)
        union = max(pred[1], end) - min(pred[0], start) + 1
        ious.append(overlap / union)
        errors.append((abs(pred[0] - start) + abs(pred[1] - end)) / 2)
    n = max(1, len(target))
    return {
        "parse_rate": sum(p is not None for p in predicted) / n,
        "span_iou": float(np.mean(ious)) if ious else 0.0,
        "span_iou_at_0.5": float(np.mean([iou >= 0.5 for iou in ious])) if ious else 0.0,
        "boundary_error_frames": float(np.mean(errors)) if errors else float("nan"),
    }


def ssa_metric_function(processor: Any) -> Callable[[EvalPrediction], dict[str, float]]:
    """Parse ``"sss eee"`` outputs with the processor and score them against the target spans."""

    def parse(text: str) -> tuple[int, int] | None:
        try:
            start, end = processor.parse_ssa_output(text)
        except ValueError:
            return None
        return int(start), int(end)

    def compute(eval_pred: EvalPrediction) -> dict[str, float]:
        hypotheses, references = decode_predictions(eval_pred, processor)
        targets = [parse(r) for r in references]
        keep = [i for i, t in enumerate(targets) if t is not None]
        return ssa_window_metrics([parse(hypotheses[i]) for i in keep], [targets[i] for i in keep])

    return compute
