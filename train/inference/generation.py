"""Batched beam search over video windows, shared by full-video alignment (SSA) and translation (SLT).

`predict_in_batches` sends windows to a per-window callable in batches with a progress bar (bounded memory on
hour-long videos); `generate_for_windows` cuts each window out of the video with the training sampler's window
math, runs the processor and ``model.generate`` and returns ``(text, confidence)`` per window.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from signllm.datasets_scripts.windows import cut_window


def predict_in_batches(
    windows: Sequence, predict_spans: Callable[[Sequence], Sequence], batch_size: int = 16, progress: bool = True
) -> list:
    """Call ``predict_spans`` (or any per-window callable) on consecutive batches, with a tqdm progress bar."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    starts = range(0, len(windows), batch_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, total=math.ceil(len(windows) / batch_size), desc="windows", unit="batch")
    predictions: list = []
    for start in starts:
        batch = windows[start : start + batch_size]
        out = list(predict_spans(batch))
        if len(out) != len(batch):
            raise ValueError(f"predict_spans returned {len(out)} results for {len(batch)} windows")
        predictions.extend(out)
    return predictions


def generate_for_windows(
    model, processor, windows: Sequence, pose_values, pose_mask, lip_values, num_beams: int, max_new_tokens: int,
    task: str, subtitles=None, priors=None, prefix_allowed_tokens_fn=None,
) -> list[tuple[str, float] | None]:
    """Cut each window out of the video, run the processor and beam search; ``None`` for unusable windows.

    Returns ``(decoded text, confidence)`` per window; the confidence is ``exp(sequences_scores)``, the beam's
    length-normalised sequence probability (with 1 beam: the mean log-probability of the chosen tokens, exp'd).
    """
    import torch

    results: list[tuple[str, float] | None] = [None] * len(windows)
    items = []
    for slot, window in enumerate(windows):
        values, frame_mask = cut_window(pose_values, window.window_start, window.num_frames)
        joints, _ = cut_window(pose_mask, window.window_start, window.num_frames)
        lip = None if lip_values is None else cut_window(lip_values, window.window_start, window.num_frames)[0]
        if joints.any():  # nothing visible in the window -> no usable prediction
            items.append((slot, {"values": values, "mask": joints}, lip, frame_mask))
    if not items:
        return results
    slots = [item[0] for item in items]
    try:
        inputs = processor(
            pose=[item[1] for item in items],
            lip=None if lip_values is None else [item[2] for item in items],
            task=task,
            subtitle=None if subtitles is None else [subtitles[slot] for slot in slots],
            prior=None if priors is None else [priors[slot] for slot in slots],
            return_tensors="pt",
        )
    except ValueError:
        if len(items) == 1:
            return results  # e.g. no frame with both shoulders: no usable prediction
        for slot in slots:  # isolate the failing window, keep the others
            results[slot] = generate_for_windows(model, processor, [windows[slot]], pose_values, pose_mask, lip_values, num_beams,
                                      max_new_tokens, task, None if subtitles is None else [subtitles[slot]],
                                      None if priors is None else [priors[slot]], prefix_allowed_tokens_fn)[0]
        return results
    frame_masks = torch.as_tensor(np.stack([item[3] for item in items]))
    # frames outside the video are padding, not "present but empty"
    inputs["pose_attention_mask"] = inputs["pose_attention_mask"] * frame_masks.to(inputs["pose_attention_mask"].dtype)
    if "lip_attention_mask" in inputs:
        inputs["lip_attention_mask"] = inputs["lip_attention_mask"] * frame_masks.to(inputs["lip_attention_mask"].dtype)
    inputs.pop("task_ids", None)
    device = getattr(model, "device", None)
    inputs = {key: value.to(device) if device is not None and hasattr(value, "to") else value
              for key, value in inputs.items()}  # fmt: skip
    with torch.no_grad():
        out = model.generate(**inputs, num_beams=num_beams, max_new_tokens=max_new_tokens, do_sample=False,
                             output_scores=True, return_dict_in_generate=True,
                             prefix_allowed_tokens_fn=prefix_allowed_tokens_fn)  # fmt: skip
    texts = processor.batch_decode(out.sequences, skip_special_tokens=True)
    confidences = sequence_confidences(model, out, num_beams)
    for slot, text, confidence in zip(slots, texts, confidences):
        results[slot] = (text, confidence)
    return results


def sequence_confidences(model, out, num_beams: int) -> list[float | None]:
    """``exp`` of each sequence's length-normalised log-probability; ``None`` where it is not a finite number
    (reports are strict JSON: a NaN confidence must never reach them)."""
    import torch

    scores = getattr(out, "sequences_scores", None)
    if scores is not None and num_beams > 1:
        values = torch.exp(scores.float())
    else:
        language_model = getattr(model, "language_model", model)
        transition = language_model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)
        transition = torch.where(torch.isfinite(transition), transition, torch.zeros_like(transition))
        lengths = (transition != 0).sum(dim=1).clamp(min=1)
        values = torch.exp(transition.sum(dim=1) / lengths)
    return [value if math.isfinite(value) else None for value in values.tolist()]
