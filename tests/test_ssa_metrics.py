"""SAT-protocol SSA metrics on hand-computed cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from signllm.train.evaluation.ssa_metrics import (
    Span,
    balanced_accuracy,
    edit_score,
    evaluate_alignment,
    evaluate_video,
    excluded_subtitles,
    f_score,
    get_labels_start_end_time,
    subtitles_to_frames,
)

METRICS_DIR = Path(__file__).resolve().parents[1] / "train" / "evaluation" / "metrics"


def test_labels_start_end_time_matches_ms_tcn():
    labels, starts, ends = get_labels_start_end_time([1, 1, 0, 2, 2, 2, 0, 0, 1])
    assert (labels, starts, ends) == ([1, 2, 1], [0, 3, 8], [2, 6, 9])
    assert get_labels_start_end_time([0, 0]) == ([], [], [])


def test_subtitles_to_frames_rounding_overlap_and_exclusion():
    # 25 fps: 0.02 s -> round(0.5) = 0 (half to even, as Python's round in SAT), 0.1 s -> round(2.5) = 2
    frames = subtitles_to_frames([Span(0.02, 0.1)], max_time=0.2)
    assert frames.tolist() == [1, 1, 0, 0, 0]
    # overlapping subtitles: the later one overwrites the earlier one where they overlap
    frames = subtitles_to_frames([Span(0.0, 0.16), Span(0.08, 0.2)], max_time=0.24)
    assert frames.tolist() == [1, 1, 2, 2, 2, 0]
    # excluded subtitle leaves background; times beyond max_time are clipped
    frames = subtitles_to_frames([Span(0.0, 0.08), Span(0.08, 5.0)], max_time=0.2, exclude={0})
    assert frames.tolist() == [0, 0, 2, 2, 2]


def test_f_score_hand_computed():
    gt = [0, 1, 1, 1, 1, 0, 2, 2, 2, 0]
    pred = [0, 0, 1, 1, 1, 1, 2, 0, 0, 0]
    # segment 1: pred [2,6) vs gt [1,5) -> IoU 3/5; segment 2: pred [6,7) vs gt [6,9) -> IoU 1/3
    assert f_score(pred, gt, 0.10) == (2.0, 0.0, 0.0)
    assert f_score(pred, gt, 0.50) == (1.0, 1.0, 1.0)
    assert f_score(pred, gt, 0.70) == (0.0, 2.0, 2.0)
    # a label split in two pieces: the second piece is a false positive
    assert f_score([1, 1, 0, 1, 1], [1, 1, 1, 1, 1], 0.1) == (1.0, 1.0, 0.0)
    # wrong label never matches; no ground-truth segment -> every prediction is a FP
    assert f_score([2, 2, 0], [1, 1, 0], 0.1) == (0.0, 1.0, 1.0)
    assert f_score([1, 1, 0], [0, 0, 0], 0.1) == (0.0, 1.0, 0.0)


def test_edit_and_balanced_accuracy():
    assert edit_score([1, 1, 2, 2], [1, 1, 2, 2]) == 100.0
    assert edit_score([1, 1, 0, 0], [1, 1, 2, 2]) == pytest.approx(50.0)
    # background recall 1/2, class 1 recall 2/4 -> 50 %
    assert balanced_accuracy(np.array([0, 1, 1, 1, 0, 0]), np.array([0, 0, 1, 1, 1, 1])) == pytest.approx(0.5)


def test_evaluate_video_identical_and_excluded():
    gt = [Span(1.0, 2.0, "hello"), Span(2.0, 3.0, "hmm [NOT SURE WHERE]"), Span(3.0, 4.0, "bye")]
    assert excluded_subtitles(gt) == {1}
    result = evaluate_alignment([(gt, gt)])
    assert result["frame_accuracy"] == 100.0 and result["cb_accuracy"] == 100.0
    assert result["f1@0.50"] == 100.0
    assert result["num_frames"] == 25 * (4.0 + 10.0)  # span to the last GT end + 10 s
    assert result["num_subtitles"] == 2
    # a wild prediction for the excluded subtitle changes nothing
    pred = [gt[0], Span(0.0, 14.0, ""), gt[2]]
    assert evaluate_alignment([(pred, gt)])["frame_accuracy"] == 100.0


def test_evaluate_video_no_overlap_and_empty_prediction():
    gt = [Span(0.0, 2.0, "a"), Span(2.0, 4.0, "b")]  # 14 s -> 350 frames, 100 subtitle frames
    far = [Span(6.0, 8.0), Span(8.0, 10.0)]
    result = evaluate_alignment([(far, gt)])
    assert result["f1@0.10"] == 0.0
    # correct frames: background in both = frames 100-149 and 250-349 -> 150 of 350
    assert result["frame_accuracy"] == pytest.approx(100 * 150 / 350)
    # background recall 150/250, subtitle recalls 0 -> (0.6 + 0 + 0) / 3
    assert result["cb_accuracy"] == pytest.approx(100 * 0.6 / 3)
    empty = [Span(0.0, 0.0), Span(0.0, 0.0)]
    result = evaluate_alignment([(empty, gt)])
    assert result["f1@0.50"] == 0.0 and result["frame_accuracy"] == pytest.approx(100 * 250 / 350)


def test_f1_counts_are_summed_over_videos():
    gt = [Span(0.0, 4.0, "a")]
    good = [Span(0.0, 4.0)]
    half = [Span(0.0, 1.0)]  # IoU 0.25 -> TP at 0.10 and 0.25, FP + FN at 0.50
    result = evaluate_alignment([(good, gt), (half, gt)])
    assert result["f1@0.25"] == 100.0
    # 0.50: TP 1, FP 1, FN 1 over both videos -> P = R = 1/2
    assert result["f1@0.50"] == pytest.approx(50.0)
    one = evaluate_video(half, gt)
    assert (one["tp@0.50"], one["fp@0.50"], one["fn@0.50"]) == (0.0, 1.0, 1.0)


def test_overlapping_ground_truth():
    gt = [Span(0.0, 2.0, "a"), Span(1.0, 3.0, "b")]  # frames 0-24 label 1, 25-74 label 2 (later wins)
    pred = [Span(0.0, 1.0), Span(1.0, 3.0)]
    result = evaluate_alignment([(pred, gt)])
    assert result["frame_accuracy"] == 100.0 and result["f1@0.50"] == 100.0


def test_bad_inputs():
    with pytest.raises(ValueError, match="as many"):
        evaluate_video([Span(0, 1)], [Span(0, 1, "a"), Span(1, 2, "b")])
    with pytest.raises(ValueError, match="no subtitles"):
        evaluate_video([], [])


def test_file_order_is_used_for_pairing():
    from signllm.datasets_scripts.subtitles import Subtitle

    # read_subtitles sorts by time; `index` restores file order, so the last GT cue (file order) sets the span
    gt = [Subtitle(5.0, 6.0, "second in time, first in file", index=1), Subtitle(0.0, 1.0, "x", index=0)]
    assert evaluate_alignment([(gt, gt)])["num_frames"] == 25 * (6.0 + 10.0)


def test_ssa_evaluate_module():
    import evaluate
    ssa = evaluate.load(str(METRICS_DIR / "signllm_ssa"))
    out = ssa.compute(predictions=[[[0.0, 4.0]], [[0.0, 1.0]]], references=[[[0.0, 4.0]], [[0.0, 4.0]]],
                      reference_texts=[["a"], ["a"]])
    assert out["f1@0.50"] == pytest.approx(50.0) and out["f1@0.25"] == 100.0


# ------------------------------------------------------------------------------------ hostile input (issue 16)


def test_tuples_as_the_docstring_allows():
    """(start, end, text) tuples are accepted: a tuple's built-in ``.index`` method is not a file position."""
    gt = [(0.0, 2.0, "a"), (2.0, 4.0, "b [NOT SURE]")]
    result = evaluate_alignment([([(0.0, 2.0), (2.0, 4.0)], gt)])
    assert result["f1@0.50"] == 100.0 and result["num_subtitles"] == 1
    assert evaluate_alignment([([[0.0, 1.0]], [[0.0, 2.0]])])["f1@0.10"] == 100.0  # lists too


def test_cue_far_in_the_future_needs_no_frame_arrays(tmp_path, capsys):
    """A ground-truth cue at 9999 h: the SAT span is 900 million frames; the metrics come from run lengths."""
    import json
    import tracemalloc

    from signllm.datasets_scripts.subtitles import Subtitle, write_subtitles
    from signllm.train.cli import main

    far = 9999 * 3600.0
    gt = [Span(1.0, 2.0, "a"), Span(far, far + 1.0, "b")]
    pred = [Span(1.0, 2.0), Span(far + 0.5, far + 1.0)]
    tracemalloc.start()
    try:
        result = evaluate_alignment([(pred, gt)])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20e6, f"peak {peak / 1e6:.0f} MB"
    total = round(25 * (far + 1.0 + 10.0))
    assert result["num_frames"] == total
    assert result["frame_accuracy"] == pytest.approx(100.0 * (total - 12) / total)  # 12 frames of cue b missed
    assert result["f1@0.50"] == 100.0 and result["f1@0.10"] == 100.0  # IoU 0.5 counts (>=)

    write_subtitles([Subtitle(s.start, s.end, s.text) for s in gt], tmp_path / "gt.vtt")
    write_subtitles([Subtitle(s.start, s.end, "x") for s in pred], tmp_path / "pred.vtt")
    code = main(["evaluate", "--task", "ssa", str(tmp_path / "pred.vtt"), "-r", str(tmp_path / "gt.vtt"),
                 "--json", str(tmp_path / "m.json")])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "m.json").read_text())["num_frames"] == total


@pytest.mark.parametrize(("start", "end"), [(float("nan"), 1.0), (0.0, float("inf")), (-1.0, 1.0)])
def test_non_finite_or_negative_times_are_a_clear_error(start, end):
    with pytest.raises(ValueError, match=r"ground truth cue 2 .*(finite|negative)"):
        evaluate_alignment([([Span(0, 1), Span(0, 1)], [Span(0, 1, "a"), Span(start, end, "b")])])
    with pytest.raises(ValueError, match=r"prediction cue 1 .*(finite|negative)"):
        evaluate_alignment([([Span(start, end)], [Span(0, 1, "a")])])
