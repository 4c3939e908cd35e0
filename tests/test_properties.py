"""Property-based tests (hypothesis) of what parses outside input, each property stated in the test's name:
subtitle files (random cues, times, encodings, damage), the SSA model-output parser, and the SAT / ISLR / SLT
metrics (random inputs against the properties they must keep).

Examples are derandomized (the same on every run, so CI never flakes) and kept few; no example database is written.
"""

from __future__ import annotations

import math
import random
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from signllm.datasets_scripts.subtitles import (
    Subtitle,
    decode_subtitle_bytes,
    format_timestamp,
    parse_subtitles,
    read_subtitles,
    write_subtitles,
)
from signllm.train.evaluation.islr_metrics import islr_accuracy, topk_hits
from signllm.train.evaluation.slt_metrics import cider_d, paper_bleu, rouge_l, sacrebleu_bleu, word_iou
from signllm.train.evaluation.ssa_metrics import Span, evaluate_alignment, evaluate_video

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
FEW = settings(SETTINGS, max_examples=15)

# ---------------------------------------------------------------------------------------------- subtitle files

WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCXYZ0123456789éèüößçñ.,!?'", min_size=1, max_size=8)
TEXT = st.lists(WORD, min_size=1, max_size=6).map(" ".join)
MILLIS = st.integers(min_value=0, max_value=3 * 3_600_000)


@st.composite
def cues(draw, min_size=1, max_size=8, text=TEXT):
    items = []
    for _ in range(draw(st.integers(min_size, max_size))):
        start = draw(MILLIS)
        items.append(Subtitle(start / 1000, (start + draw(st.integers(0, 60_000))) / 1000, draw(text)))
    return items


@FEW
@given(subs=cues(), suffix=st.sampled_from([".vtt", ".srt"]))
def test_written_cues_read_back_with_the_same_times_and_text(tmp_path_factory, subs, suffix):
    path = tmp_path_factory.mktemp("roundtrip") / f"subs{suffix}"
    write_subtitles(subs, path)
    back = read_subtitles(path)
    # sorted by time; equal times keep the file order
    assert [(s.start, s.end, s.text) for s in back] == sorted(((s.start, s.end, s.text) for s in subs),
                                                              key=lambda cue: cue[:2])  # fmt: skip
    assert sorted(s.index for s in back) == list(range(len(subs)))


LATIN_WORD = st.text(alphabet="abcdefXYZ éèàüöçñß", min_size=1, max_size=10).filter(str.strip)


@FEW
@given(texts=st.lists(LATIN_WORD, min_size=1, max_size=5), encoding=st.sampled_from(
    ["utf-8", "utf-8-sig", "utf-16", "utf-32", "cp1252"]))  # fmt: skip
def test_every_supported_encoding_reads_back_the_same_text(texts, encoding):
    assume(encoding != "cp1252" or any(ord(c) > 127 for text in texts for c in text))
    content = "WEBVTT\n\n" + "\n\n".join(f"{format_timestamp(i)} --> {format_timestamp(i + 0.5)}\n{t}"
                                         for i, t in enumerate(texts))  # fmt: skip
    decoded = decode_subtitle_bytes(content.encode(encoding))
    assert decoded.replaced == 0 and decoded.guessed == (encoding == "cp1252")
    parsed = parse_subtitles(decoded.text, "vtt")
    assert [s.text for s in parsed.subtitles] == [" ".join(t.split()) for t in texts]


@SETTINGS
@given(texts=st.lists(TEXT.map(lambda t: t + " é"), min_size=1, max_size=8), data=st.data())
def test_undecodable_bytes_become_u_fffd_only_where_they_are_and_their_lines_are_reported(texts, data):
    damaged = sorted(data.draw(st.sets(st.integers(0, len(texts) - 1), min_size=1)))
    lines, expected, damaged_lines = [b"WEBVTT", b""], [], []
    for i, text in enumerate(texts):
        lines.append(f"{format_timestamp(i)} --> {format_timestamp(i + 0.5)}".encode())
        raw = text.encode("utf-8")
        if i in damaged:
            cut = data.draw(st.sampled_from([k for k in range(len(raw) + 1) if k == len(raw) or raw[k] < 0x80
                                             or raw[k] >= 0xC0]))  # a character boundary  # fmt: skip
            raw = raw[:cut] + b"\xff" + raw[cut:]
            damaged_lines.append(len(lines) + 1)
        expected.append(" ".join(raw.decode("utf-8", errors="replace").split()))
        lines += [raw, b""]
    decoded = decode_subtitle_bytes(b"\n".join(lines))
    assert decoded.encoding == "utf-8" and not decoded.guessed
    assert decoded.replaced == len(damaged) and decoded.replaced_lines == damaged_lines
    assert [s.text for s in parse_subtitles(decoded.text, "vtt").subtitles] == expected


@SETTINGS
@given(raw=st.binary(max_size=400))
def test_decoding_any_bytes_gives_clean_text_and_valid_line_numbers(raw):
    decoded = decode_subtitle_bytes(raw)
    decoded.text.encode("utf-8")  # no lone surrogate (our internal marker) survives
    assert all(1 <= line <= max(1, len(decoded.text.splitlines())) for line in decoded.replaced_lines)
    assert decoded.replaced >= len(decoded.replaced_lines)


def _timing(draw) -> str:
    def stamp() -> str:
        value = draw(st.integers(-5_000, 4_000_000))
        sign = "-" if value < 0 else ""
        value = abs(value)
        return f"{sign}{value // 3_600_000:02d}:{value // 60_000 % 60:02d}:{value // 1000 % 60:02d}.{value % 1000:03d}"

    return draw(st.sampled_from(["{a} --> {b}", "{a}-->{b} align:start", "{a} --> {b}", "{a} -> {b}", "{a}"])).format(
        a=stamp(), b=stamp())


LINE = st.one_of(st.text(max_size=20), st.just(""), st.just("WEBVTT"), st.just("NOTE x"), st.just("42"))


@SETTINGS
@given(data=st.data(), fmt=st.sampled_from(["vtt", "srt"]), repair=st.booleans())
def test_parser_returns_valid_sorted_cues_or_a_value_error_never_a_crash(data, fmt, repair):
    lines = data.draw(st.lists(st.one_of(LINE, st.builds(lambda: None).map(lambda _: _timing(data.draw))),
                               max_size=30))  # fmt: skip
    try:
        parsed = parse_subtitles("\n".join(lines), fmt, repair_times=repair)
    except ValueError:
        return
    subs = parsed.subtitles
    assert all(math.isfinite(s.start) and 0 <= s.start <= s.end for s in subs)
    assert [(s.start, s.end) for s in subs] == sorted((s.start, s.end) for s in subs)
    assert len({s.index for s in subs}) == len(subs)
    assert all(s.text.strip() for s in subs)


@SETTINGS
@given(times=st.lists(st.tuples(st.integers(-9_000, 9_000), st.integers(-9_000, 9_000)), min_size=1, max_size=10))
def test_repair_mode_keeps_every_cue_and_flags_exactly_the_repaired_ones(times):
    def stamp(ms: int) -> str:
        return ("-" if ms < 0 else "") + format_timestamp(abs(ms) / 1000)

    content = "\n\n".join(f"{stamp(a)} --> {stamp(b)}\ncue {i}" for i, (a, b) in enumerate(times))
    parsed = parse_subtitles(content, "srt", repair_times=True)
    assert len(parsed.subtitles) == len(times) and not parsed.skipped
    for sub in parsed.subtitles:
        a, b = times[int(sub.text.split()[1])]
        assert (sub.repaired is not None) == (min(a, b) < 0 or b < a)
        assert (sub.start, sub.end) == pytest.approx(tuple(sorted((max(a, 0) / 1000, max(b, 0) / 1000))))


# ----------------------------------------------------------------------------------------- SSA model output

NUM_FRAMES = 500


@pytest.fixture(scope="module")
def processor():
    from signllm.processing_signllm import SignLLMProcessor
    from transformers import ByT5Tokenizer

    return SignLLMProcessor(ByT5Tokenizer(), num_frames=NUM_FRAMES, fps=25.0)


@SETTINGS
@given(start=st.integers(0, NUM_FRAMES - 1), length=st.integers(0, NUM_FRAMES - 1))
def test_ssa_output_parser_round_trips_every_valid_target(processor, start, length):
    end = min(start + length, NUM_FRAMES - 1)
    assert processor.parse_ssa_output(processor.format_ssa_target(start, end)) == (start, end)


@SETTINGS
@given(text=st.one_of(st.text(max_size=16), st.text(alphabet="0123456789 \t", max_size=12)))
def test_ssa_output_parser_returns_a_span_inside_the_window_or_raises_value_error(processor, text):
    try:
        start, end = processor.parse_ssa_output(text)
    except ValueError:
        return
    assert 0 <= start <= end < NUM_FRAMES


# ------------------------------------------------------------------------------------------------ SAT metrics


def _reference_frames(spans, max_time, fps, exclude):
    """The frame-by-frame SAT painting the metrics used before run lengths (the oracle)."""
    frames = np.zeros(round(fps * max_time), dtype=np.int64)
    for position, span in enumerate(spans):
        if position not in exclude:
            a, b = round(fps * min(span.start, max_time)), round(fps * min(span.end, max_time))
            if b > a:
                frames[a:b] = position + 1
    return frames


def _reference_segments(frames):
    labels, starts, ends, last = [], [], [], 0
    for i, label in enumerate(frames.tolist() + [0]):
        if label != last:
            if last:
                ends.append(i)
            if label:
                labels.append(label)
                starts.append(i)
            last = label
    return labels, starts, ends


def _reference_video(pred, gt, fps=25):
    """The pre-run-length `evaluate_video`, written out frame by frame (MS-TCN f_score / edit, per-frame recall)."""
    max_time = gt[-1].end + 10.0
    exclude = {i for i, s in enumerate(gt) if "[" in s.text and "]" in s.text}
    p, y = _reference_frames(pred, max_time, fps, exclude), _reference_frames(gt, max_time, fps, exclude)
    recalls = [float(np.mean(p[y == c] == c)) for c in np.unique(y)]
    result = {"correct": float(np.sum(p == y)), "total": float(len(y)), "cb_accuracy": 100 * float(np.mean(recalls))}
    (pl, ps, pe), (yl, ys, ye) = _reference_segments(p), _reference_segments(y)
    for overlap in (0.10, 0.25, 0.50):
        tp, fp, hits = 0, 0, np.zeros(len(yl))
        for j in range(len(pl)):
            if not yl:
                fp += 1
                continue
            inter = np.minimum(pe[j], np.array(ye)) - np.maximum(ps[j], np.array(ys))
            union = np.maximum(pe[j], np.array(ye)) - np.minimum(ps[j], np.array(ys))
            iou = inter / union * (np.array(yl) == pl[j])
            k = int(iou.argmax())
            if iou[k] >= overlap and not hits[k]:
                tp, hits[k] = tp + 1, 1
            else:
                fp += 1
        result[f"tp@{overlap:.2f}"], result[f"fp@{overlap:.2f}"] = float(tp), float(fp)
        result[f"fn@{overlap:.2f}"] = float(len(yl) - hits.sum())
    table = np.zeros((len(pl) + 1, len(yl) + 1))
    table[:, 0], table[0, :] = np.arange(len(pl) + 1), np.arange(len(yl) + 1)
    for j in range(1, len(yl) + 1):
        for i in range(1, len(pl) + 1):
            table[i, j] = table[i - 1, j - 1] if yl[j - 1] == pl[i - 1] else 1 + min(
                table[i - 1, j], table[i, j - 1], table[i - 1, j - 1])
    result["edit"] = 100.0 if not pl and not yl else (1 - table[-1, -1] / max(len(pl), len(yl))) * 100
    return result


SECONDS = st.integers(0, 2400).map(lambda tenths: tenths / 10)  # 0-240 s on a 0.1 s grid (frame ties included)


@st.composite
def videos(draw, max_cues=6):
    n = draw(st.integers(1, max_cues))
    gt, pred = [], []
    for _ in range(n):
        a, b = draw(SECONDS), draw(SECONDS)
        text = draw(st.sampled_from(["a", "b", "c [NOT SURE]"]))
        gt.append(Span(min(a, b), max(a, b), text))
        a, b = draw(SECONDS), draw(SECONDS)
        pred.append(Span(a, b))  # predictions may be empty or reversed (nothing painted)
    return pred, gt


@SETTINGS
@given(seconds=st.floats(0, 1e6, allow_nan=False), fps=st.sampled_from([25.0, 25, 30.0, 29.97, 50.0, 12.5]))
def test_standalone_metric_frame_convention_equals_the_projects(seconds, fps):
    """The `evaluate` folder carries its own copy of the frame convention (it must load without signllm)."""
    from signllm.train.evaluation.ssa_metrics import seconds_to_frame as standalone
    from signllm.train.inference.alignment import seconds_to_frame  # what alignment and the SSA windows use

    assert standalone(seconds, fps) == seconds_to_frame(seconds, fps)


@SETTINGS
@given(video=videos())
def test_run_length_ssa_metrics_equal_the_frame_by_frame_reference(video):
    pred, gt = video
    ours = evaluate_video(pred, gt)
    reference = _reference_video(pred, gt)
    for key, value in reference.items():
        assert ours[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key


@SETTINGS
@given(many=st.lists(videos(), min_size=1, max_size=3))
def test_ssa_scores_lie_in_0_to_100(many):
    result = evaluate_alignment(many)
    for key in ("frame_accuracy", "cb_accuracy", "f1@0.10", "f1@0.25", "f1@0.50", "edit"):
        assert 0.0 <= result[key] <= 100.0, key


@SETTINGS
@given(video=videos())
def test_ssa_perfect_prediction_scores_100(video):
    _, gt = video
    result = evaluate_alignment([(gt, gt)])
    assert result["frame_accuracy"] == result["cb_accuracy"] == result["edit"] == 100.0
    span_end = gt[-1].end + 10.0  # SAT: cues are clipped to the last ground-truth cue (file order) + 10 s
    painted = any(round(25 * min(s.end, span_end)) > round(25 * min(s.start, span_end))
                  for s in gt if not ("[" in s.text and "]" in s.text))  # fmt: skip
    assert result["f1@0.50"] == (100.0 if painted else 0.0)  # F1 needs at least one segment


@SETTINGS
@given(video=videos(), seed=st.integers(0, 1000))
def test_ssa_scores_do_not_depend_on_the_list_order_of_cues_that_carry_their_file_position(video, seed):
    pred, gt = video
    pred = [Subtitle(s.start, s.end, "", index=i) for i, s in enumerate(pred)]
    gt = [Subtitle(s.start, s.end, s.text, index=i) for i, s in enumerate(gt)]
    order = list(range(len(gt)))
    random.Random(seed).shuffle(order)
    assert evaluate_alignment([([pred[i] for i in order], [gt[i] for i in order])]) == evaluate_alignment([(pred, gt)])


@SETTINGS
@given(gaps=st.lists(st.tuples(st.integers(0, 50), st.integers(1, 50), st.integers(0, 50), st.integers(1, 50)),
                     min_size=2, max_size=6), seed=st.integers(0, 1000))  # fmt: skip
def test_ssa_scores_do_not_depend_on_which_label_non_overlapping_cues_get(gaps, seed):
    """Relabelling (a joint permutation of prediction/ground-truth pairs, the last ground-truth cue kept last since
    it fixes the span) changes nothing when no two cues of a file overlap."""
    gt, pred, t_gt, t_pred = [], [], 0, 0
    for gap, length, pred_gap, pred_length in gaps:
        gt.append(Span((t_gt + gap) / 10, (t_gt + gap + length) / 10, "x"))
        pred.append(Span((t_pred + pred_gap) / 10, (t_pred + pred_gap + pred_length) / 10))
        t_gt, t_pred = t_gt + gap + length, t_pred + pred_gap + pred_length
    order = list(range(len(gt) - 1))
    random.Random(seed).shuffle(order)
    order.append(len(gt) - 1)
    shuffled = evaluate_alignment([([pred[i] for i in order], [gt[i] for i in order])])
    assert shuffled == pytest.approx(evaluate_alignment([(pred, gt)]))


# ----------------------------------------------------------------------------------------------- ISLR metrics

SCORES = st.integers(1, 6).flatmap(lambda classes: st.lists(
    st.lists(st.floats(-50, 50, allow_nan=False), min_size=classes, max_size=classes), min_size=1, max_size=12))


@SETTINGS
@given(scores=SCORES, data=st.data())
def test_islr_accuracies_lie_in_0_1_and_grow_with_k(scores, data):
    scores = np.asarray(scores)
    labels = np.asarray(data.draw(st.lists(st.integers(0, scores.shape[1] - 1), min_size=len(scores),
                                           max_size=len(scores))))  # fmt: skip
    result = islr_accuracy(scores, labels, top_k=(1, 2, 3, 6))
    for k in (1, 2, 3, 6):
        assert 0.0 <= result[f"top{k}"] <= 1.0 and 0.0 <= result[f"top{k}_per_class"] <= 1.0
    assert result["top1"] <= result["top2"] <= result["top3"] <= result["top6"] == 1.0


@SETTINGS
@given(scores=SCORES, data=st.data(), scale=st.floats(0.1, 10), shift=st.floats(-5, 5))
def test_islr_accuracy_does_not_change_under_increasing_rescaling_of_the_scores(scores, data, scale, shift):
    scores = np.asarray(scores)
    labels = np.asarray(data.draw(st.lists(st.integers(0, scores.shape[1] - 1), min_size=len(scores),
                                           max_size=len(scores))))  # fmt: skip
    # round first so that the affine map cannot merge or split ties by floating-point rounding
    scores = np.round(scores, 1)
    assert islr_accuracy(scores * scale + shift, labels, (1, 2)) == islr_accuracy(scores, labels, (1, 2))


@SETTINGS
@given(scores=SCORES, data=st.data())
def test_islr_rows_with_nan_never_count_as_hits(scores, data):
    scores = np.asarray(scores, dtype=np.float64)
    broken = np.asarray(data.draw(st.lists(st.booleans(), min_size=len(scores), max_size=len(scores))))
    columns = data.draw(st.lists(st.integers(0, scores.shape[1] - 1), min_size=len(scores), max_size=len(scores)))
    scores[broken, np.asarray(columns)[broken]] = np.nan
    labels = np.zeros(len(scores), dtype=np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for k in (1, scores.shape[1]):
            assert not topk_hits(scores, labels, k)[broken].any()


# ------------------------------------------------------------------------------------------------ SLT metrics

SENTENCE = st.lists(st.sampled_from(["the", "cat", "sat", "on", "mat", "dog", "ran", "home", "today", "we"]),
                    min_size=4, max_size=10).map(" ".join)  # fmt: skip


@FEW
@given(sentences=st.lists(SENTENCE, min_size=1, max_size=5))
def test_slt_identical_translations_score_100(sentences):
    assert sacrebleu_bleu(sentences, sentences).score == pytest.approx(100.0)
    assert paper_bleu(sentences, sentences).bleu4 == pytest.approx(100.0, abs=1e-6)
    assert rouge_l(sentences, sentences)[0] == pytest.approx(100.0)
    assert word_iou(sentences, sentences)[0] == pytest.approx(100.0)


@FEW
@given(pairs=st.lists(st.tuples(SENTENCE, SENTENCE), min_size=2, max_size=5), seed=st.integers(0, 1000))
def test_slt_scores_lie_in_range_and_do_not_depend_on_sentence_order(pairs, seed):
    shuffled = pairs[:]
    random.Random(seed).shuffle(shuffled)
    for hyps_refs in (pairs, shuffled):
        hyps, refs = [h for h, _ in hyps_refs], [r for _, r in hyps_refs]
        scores = (sacrebleu_bleu(hyps, refs).score, paper_bleu(hyps, refs).bleu4, rouge_l(hyps, refs)[0],
                  word_iou(hyps, refs)[0], cider_d(hyps, refs)[0] * 10)  # fmt: skip
        assert all(0.0 <= score <= 100.0 + 1e-9 for score in scores)
        if hyps_refs is pairs:
            first = scores
    assert scores == pytest.approx(first, rel=1e-9, abs=1e-9)
