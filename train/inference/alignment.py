"""Full-video sign-subtitle alignment: SSA per subtitle, plateau-decay profiles, monotone DTW (architecture §6).

Pipeline (frames at 25 fps throughout; times in seconds only at the edges):

1. `make_ssa_windows`: one 500-frame window per subtitle, centred on its prior's midpoint (the training sampler's
   window math, `datasets_scripts.windows`), the prior expressed in window frames. Windows may start before the
   video or end after it: those frames are zero-padded and masked.
2. A ``predict_spans(windows) -> list[(first, last, score) | None]`` callable predicts each subtitle's span in
   *window* frames, ``last`` **inclusive** like the training targets and the prompt's prior (the one frame
   convention, ``signllm.processing_signllm.seconds_to_span``), and a confidence. It is model-agnostic (tests use a fake); `model_span_predictor` builds it from a model and
   processor (beam search, ``sequences_scores`` -> confidence, ``processor.parse_ssa_output``), by default with
   decoding constrained to valid ``"sss eee"`` outputs [ours] (`ssa_output_constraint`). A predicted
   ``first == last`` is a 1-frame span. Windows are sent in batches with a progress bar, so
   hour-long videos run in bounded memory.
3. `plateau_decay_profile`: each predicted span becomes per-frame scores: 1 over the central alpha = 20 % of the
   span, cosine fade ``0.5 (1 - cos(pi u))`` to 0 at both ends (evaluated at frame centres, so every frame of the
   span scores > 0).
4. `monotone_dtw`: frames x subtitles (subtitles in prior order), a monotone path that gives each frame to at most
   one subtitle and each subtitle one contiguous run inside its predicted span, cost ``1 - p`` per assigned frame
   and 1 per unassigned frame (i.e. maximise the profile mass kept), plus a small bonus per kept subtitle. [ours] By default each subtitle's profile is
   divided by its total mass (``normalize="mass"``), so a subtitle counts by the *fraction* of its span it keeps:
   otherwise a short subtitle whose span lies inside a long one would always lose to the long one (the long
   profile is also ~1 there) and vanish; with mass weighting the long one is cut instead.
5. Subtitles with no usable prediction keep their prior. Subtitles the DTW had to drop (their span lies
   entirely where a neighbour in prior order scored more, e.g. predictions in crossed order) are placed in the
   free gap between their aligned neighbours (prior clipped to that gap; the whole gap when they do not meet;
   zero length when there is no gap) and marked ``source="dtw_dropped"`` [ours].

The DTW runs in O(#subtitles x #frames) time with per-subtitle vectorised numpy (no frames x subtitles matrix is
stored), about 1.5 s for a 2-hour episode with 2,000 subtitles on 2 CPU cores.

Full-video SLT lives in `translation.py`; both share the window batching and beam search of `generation.py`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from signllm.datasets_scripts.windows import frames_in_window, slt_window_start
from signllm.processing_signllm import seconds_to_frame as _seconds_to_frame
from signllm.processing_signllm import seconds_to_span

from .generation import generate_for_windows, predict_in_batches

FPS = 25.0
WINDOW_FRAMES = 500
PLATEAU_ALPHA = 0.2

SpanPrediction = tuple[int, int, float]  # (first, last inclusive, confidence) in window frames
PredictSpans = Callable[[Sequence["SSAWindow"]], Sequence["SpanPrediction | None"]]


@dataclass
class SSAWindow:
    """One SSA query: subtitle ``position`` (in the input list), its text, the window and the prior inside it.

    ``window_start`` is the absolute video frame of window frame 0 (negative when the window starts before the
    video); ``prior`` is ``(start, end)`` in window frames, clipped to ``[0, num_frames - 1]``.
    """

    position: int
    text: str
    window_start: int
    num_frames: int
    prior: tuple[int, int]


@dataclass
class AlignedSubtitle:
    """Result for one subtitle; times in seconds. ``source``: "aligned", "prior" or "dtw_dropped".

    ``prior_repaired`` says how the input's times were repaired to make the prior (a negative start clipped, an end
    before the start swapped; `read_subtitles(repair_times=True)`), None when they were used as they were.
    """

    text: str
    start: float
    end: float
    prior_start: float
    prior_end: float
    source: str
    confidence: float | None = None
    predicted: tuple[float, float] | None = None  # raw model span before DTW
    index: int | None = None
    prior_repaired: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------------------ windows
# Inference cuts windows exactly as training does: one definition, in the dataset sampler.
window_start_for = slt_window_start  # window centred on a span (SLT rule; SSA at inference centres on the prior)



def seconds_to_frame(seconds: float, fps: float = FPS) -> int:
    """SAT rounding: ``round(fps * t)`` (Python's half-to-even round, as the evaluation uses)."""
    return _seconds_to_frame(seconds, fps)


def make_ssa_windows(subtitles: Sequence, fps: float = FPS, num_frames: int = WINDOW_FRAMES) -> list[SSAWindow]:
    """One window per subtitle (objects with ``start``, ``end`` seconds and ``text``), centred on the prior.

    The prior becomes inclusive window frames exactly as the training sampler turns subtitle times into targets
    and priors (`seconds_to_span`, then `frames_in_window`).
    """
    windows = []
    for position, sub in enumerate(subtitles):
        if not (math.isfinite(sub.start) and math.isfinite(sub.end)) or sub.end < sub.start or sub.start < 0:
            raise ValueError(f"subtitle {position} has invalid prior times start={sub.start!r} end={sub.end!r}")
        first, last = seconds_to_span(sub.start, sub.end, fps)
        window_start = window_start_for(first, last, num_frames)
        prior = frames_in_window(first, last, window_start, num_frames)
        windows.append(SSAWindow(position, sub.text, window_start, num_frames, prior))
    return windows


# ------------------------------------------------------------------------------------------------------ profile


def plateau_decay_profile(length: int, alpha: float = PLATEAU_ALPHA) -> np.ndarray:
    """Per-frame scores ``(length,)`` of a span: plateau 1 over the central ``alpha`` fraction, cosine edges.

    Frame ``i`` is evaluated at its centre ``x = i + 0.5``; each edge ramps over ``(1 - alpha) / 2`` of the span:
    rising ``0.5 (1 - cos(pi u))`` for ``u = x / ramp``, falling mirrored. All values are in (0, 1].
    """
    if length <= 0:
        return np.zeros(0)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    x = np.arange(length) + 0.5
    ramp = (1.0 - alpha) / 2.0 * length
    if ramp <= 0:
        return np.ones(length)
    u = np.clip(np.minimum(x, length - x) / ramp, 0.0, 1.0)
    return 0.5 * (1.0 - np.cos(np.pi * u))


# ---------------------------------------------------------------------------------------------------------- DTW


def monotone_dtw(
    spans: Sequence[tuple[int, int] | None],
    num_frames: int | None = None,
    alpha: float = PLATEAU_ALPHA,
    normalize: str = "mass",
    weights: Sequence[float] | None = None,
    keep_bonus: float = 0.1,
    anchors: Sequence[float] | None = None,
) -> list[tuple[int, int] | None]:
    """Resolve overlapping spans ``[start, end)`` (frames, subtitles in prior order) into a monotone assignment.

    Maximises the kept profile score (equivalently minimises ``sum(1 - p)`` over assigned frames + 1 per
    unassigned frame) over paths where subtitle order is the prior order, every frame belongs to at most one
    subtitle and every kept subtitle is one contiguous run inside its own span. ``None`` spans do not take part.
    Returns ``(start, end)`` per subtitle, or ``None`` when it was not given or had to be dropped.

    Args:
        normalize: ``"mass"`` [ours, default]: divide each profile by its sum (see module docstring);
            ``"none"``: raw profile values, the literal "cost 1 - p".
        weights: optional per-subtitle multipliers (e.g. confidences).
        keep_bonus: [ours] score added once per kept subtitle (in units of a subtitle's mass with ``"mass"``), so
            ties between dropping a subtitle and sharing frames (e.g. two identical predicted spans) are resolved
            by keeping both.
        anchors: optional frame per subtitle (its prior midpoint); frames closer to a subtitle's anchor win exact
            ties (a 1e-6 per-frame tie-breaker), so two identical predicted spans split between the priors instead
            of at an arbitrary frame.
    """
    if normalize not in ("mass", "none"):
        raise ValueError(f"normalize={normalize!r} is not supported; allowed values: 'mass', 'none'")
    valid = [(k, int(s), int(e)) for k, span in enumerate(spans) if span is not None for s, e in [span] if e > s]
    if not valid:
        return [None] * len(spans)
    horizon = max(e for _, _, e in valid) if num_frames is None else num_frames
    if any(s < 0 or e > horizon for _, s, e in valid):
        raise ValueError(f"spans must lie in [0, {horizon}) frames")

    best_end = np.full(horizon, -np.inf)  # R(t): best score of a path whose last assigned frame is t
    best_end_owner = np.full(horizon, -1, dtype=np.int64)
    tables: dict[int, tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
    for k, s, e in valid:
        w = plateau_decay_profile(e - s, alpha)
        if normalize == "mass":
            w = w / w.sum()
        if weights is not None:
            w = w * float(weights[k])
        if anchors is not None:
            w = w - 1e-6 * w.mean() * np.abs(np.arange(s, e) + 0.5 - float(anchors[k])) / max(horizon, 1)
        # best predecessor ending strictly before frame u, for every possible start u in [s, e)
        before = best_end[:s]
        before_best = max(0.0, before.max()) if s > 0 else 0.0
        before_arg = int(before.argmax()) if s > 0 and before.max() > 0.0 else -1
        candidates = np.concatenate([[before_best], best_end[s : e - 1]])
        candidate_frame = np.concatenate([[before_arg], np.arange(s, e - 1)])
        q, q_at = _running_max(candidates)
        pred_frame = candidate_frame[q_at]
        pred_owner = np.where(pred_frame >= 0, best_end_owner[np.maximum(pred_frame, 0)], -1)
        # F(t) = cumsum(w)[t] + max_{u <= t} (Q(u - 1) - cumsum_exclusive(w)[u])
        inclusive = np.cumsum(w)
        exclusive = inclusive - w
        a, start_at = _running_max(q - exclusive + keep_bonus)
        score = inclusive + a
        tables[k] = (s, score, start_at, pred_frame, pred_owner)
        improve = score > best_end[s:e]
        best_end[s:e] = np.where(improve, score, best_end[s:e])
        best_end_owner[s:e] = np.where(improve, k, best_end_owner[s:e])

    result: list[tuple[int, int] | None] = [None] * len(spans)
    t = int(best_end.argmax())
    k = int(best_end_owner[t])
    while k >= 0:
        s, _, start_at, pred_frame, pred_owner = tables[k]
        u = int(start_at[t - s])
        result[k] = (s + u, t + 1)
        t, k = int(pred_frame[u]), int(pred_owner[u])
        if t < 0:
            break
    return result


def _running_max(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Prefix maximum and the index where it was reached (latest index on ties)."""
    running = np.maximum.accumulate(values)
    previous = np.concatenate([[-np.inf], running[:-1]])
    is_record = values >= previous
    at = np.maximum.accumulate(np.where(is_record, np.arange(len(values)), 0))
    return running, at


# -------------------------------------------------------------------------------------------------- full video


def align_subtitles(
    subtitles: Sequence,
    num_video_frames: int,
    predict_spans: PredictSpans,
    fps: float = FPS,
    num_frames: int = WINDOW_FRAMES,
    batch_size: int = 16,
    alpha: float = PLATEAU_ALPHA,
    normalize: str = "mass",
    keep_bonus: float = 0.1,
    progress: bool = True,
) -> list[AlignedSubtitle]:
    """Align every subtitle of a video; returns results in the input order.

    Args:
        subtitles: objects with ``start``/``end`` (seconds, the prior) and ``text``, e.g. `Subtitle`.
        num_video_frames: length of the video (features) at ``fps``; predictions are clipped to it.
        predict_spans: see the module docstring.
    """
    if num_video_frames <= 0:
        raise ValueError(f"num_video_frames must be > 0, got {num_video_frames}")
    subtitles = list(subtitles)
    if not subtitles:
        return []
    # DTW order = prior order (by start, then end, then input position)
    order = sorted(range(len(subtitles)), key=lambda i: (subtitles[i].start, subtitles[i].end, i))
    ordered = [subtitles[i] for i in order]
    windows = make_ssa_windows(ordered, fps, num_frames)
    predictions = predict_in_batches(windows, predict_spans, batch_size, progress)

    spans: list[tuple[int, int] | None] = []
    confidences: list[float | None] = []
    for window, prediction in zip(windows, predictions):
        span = None
        confidence = None
        if prediction is not None:
            start, last, confidence = int(prediction[0]), int(prediction[1]), prediction[2]
            end = last + 1  # inclusive last frame -> half-open [start, end) video frames for the DTW
            start = min(max(window.window_start + start, 0), num_video_frames)
            end = min(max(window.window_start + end, 0), num_video_frames)
            span = (start, end) if end > start else None
        spans.append(span)
        confidences.append(None if confidence is None else float(confidence))
    anchors = [fps * (sub.start + sub.end) / 2 for sub in ordered]
    resolved = monotone_dtw(spans, num_video_frames, alpha, normalize, keep_bonus=keep_bonus, anchors=anchors)

    results: list[AlignedSubtitle | None] = [None] * len(subtitles)
    kept = [k for k, span in enumerate(resolved) if span is not None]
    for k, (sub, span, final) in enumerate(zip(ordered, spans, resolved)):
        base = {"text": sub.text, "prior_start": sub.start, "prior_end": sub.end, "index": getattr(sub, "index", None),
                "predicted": None if span is None else (span[0] / fps, span[1] / fps), "confidence": confidences[k],
                "prior_repaired": getattr(sub, "repaired", None)}
        if final is not None:
            item = AlignedSubtitle(start=final[0] / fps, end=final[1] / fps, source="aligned", **base)
        elif span is None:
            item = AlignedSubtitle(start=sub.start, end=sub.end, source="prior", **base)
        else:
            lower = max((resolved[j][1] for j in kept if j < k), default=0)
            upper = min((resolved[j][0] for j in kept if j > k), default=num_video_frames)
            prior_start, prior_end = seconds_to_frame(sub.start, fps), seconds_to_frame(sub.end, fps)
            start, end = max(prior_start, lower), min(prior_end, upper)
            if end <= start:
                start, end = (lower, upper) if upper > lower else (lower, lower)
            item = AlignedSubtitle(start=start / fps, end=end / fps, source="dtw_dropped", **base)
        results[order[k]] = item
    return [item for item in results if item is not None]


# ----------------------------------------------------------------------------------------------- model adapter


def ssa_output_constraint(processor) -> tuple[Callable[[int, Any], list[int]], int]:
    """[ours] Constrained SSA decoding: only valid ``format_ssa_target`` outputs can be generated.

    The token pattern of a target (``"000 000"``) is read from the tokenizer: digit positions allow digit
    tokens, the others their fixed token (separator, end-of-sequence). Digits are also limited so that
    ``start <= end < num_frames`` stays reachable, so every beam parses. Returns the ``prefix_allowed_tokens_fn``
    for ``generate`` and the number of tokens to generate.
    """
    tokenizer = processor.tokenizer
    pattern = list(tokenizer(text_target=processor.format_ssa_target(0, 0))["input_ids"])
    digit_ids = list(processor.digit_token_ids)
    digit_of = {token: digit for digit, token in enumerate(digit_ids)}
    slots = [i for i, token in enumerate(pattern) if token in digit_of]
    if len(slots) != 6:
        raise ValueError(f"SSA target pattern has {len(slots)} digit tokens, expected 6: {pattern}")
    highest = processor.num_frames - 1
    tail = [tokenizer.eos_token_id if tokenizer.eos_token_id is not None else pattern[-1]]

    def prefix_allowed_tokens_fn(batch_id: int, input_ids) -> list[int]:
        generated = input_ids.tolist()[1:]  # drop the decoder start token
        position = len(generated)
        if position >= len(pattern):
            return tail
        if position not in slots:
            return [pattern[position]]
        digits = [digit_of.get(generated[i], 0) for i in slots if i < position]
        number, place = divmod(len(digits), 3)  # which number (0 start, 1 end), digit place within it
        prefix = 0
        for digit in digits[3 * number :]:
            prefix = prefix * 10 + digit
        start = digits[0] * 100 + digits[1] * 10 + digits[2] if number == 1 else 0
        scale = 10 ** (2 - place)
        allowed = [token for digit, token in enumerate(digit_ids)
                   if (prefix * 10 + digit) * scale <= highest and (prefix * 10 + digit) * scale + scale - 1 >= start]
        return allowed or [digit_ids[0]]

    return prefix_allowed_tokens_fn, len(pattern)


def model_span_predictor(
    model,
    processor,
    pose_values: np.ndarray,
    pose_mask: np.ndarray,
    lip_values: np.ndarray | None = None,
    num_beams: int = 5,
    use_prior: bool = True,
    constrained: bool = True,
) -> PredictSpans:
    """``predict_spans`` from a SignLLM model + processor over one video's keypoints (and lip features).

    Args:
        pose_values (`np.ndarray` of shape `(t, 203, 3)`): raw keypoints of the whole video at the model fps.
        pose_mask (`np.ndarray` of shape `(t, 203)`): joint validity.
        lip_values (`np.ndarray` of shape `(t, f)`, *optional*): lip features of the whole video.
        num_beams: beam width [paper: 5]; the confidence is ``exp(sequences_scores)``.
        use_prior: put the prior in the prompt (``" Prior: sss eee"``), as the paper does when one exists.
        constrained: constrain decoding to the ``"sss eee"`` grammar (`ssa_output_constraint`).
    """
    constraint, max_new_tokens = ssa_output_constraint(processor) if constrained else (None, 16)

    def predict(windows: Sequence[SSAWindow]) -> list[SpanPrediction | None]:
        outputs = generate_for_windows(model, processor, windows, pose_values, pose_mask, lip_values, num_beams, max_new_tokens,
                            "ssa", subtitles=[w.text for w in windows],
                            priors=[w.prior for w in windows] if use_prior else None,
                            prefix_allowed_tokens_fn=constraint)  # fmt: skip
        results: list[SpanPrediction | None] = []
        for output in outputs:
            try:
                start, end = processor.parse_ssa_output(output[0]) if output is not None else (None, None)
            except ValueError:
                start = None
            results.append(None if start is None else (int(start), int(end), output[1]))
        return results

    return predict
