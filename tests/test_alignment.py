"""Full-video alignment: plateau-decay profile, monotone DTW, windows, fake-predictor pipeline, export and plot."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from signllm.datasets_scripts.subtitles import Subtitle
from signllm.train.inference.alignment import (
    AlignedSubtitle,
    align_subtitles,
    make_ssa_windows,
    monotone_dtw,
    plateau_decay_profile,
)
from signllm.train.inference.export import write_aligned_subtitles, write_alignment_json, write_elan
from signllm.train.inference.generation import predict_in_batches
from signllm.train.inference.plot import plot_alignment

# ---------------------------------------------------------------------------------------------------- profile


def test_plateau_decay_profile_hand_computed():
    # 10 frames, alpha 0.2: 2-frame plateau, 4-frame cosine ramps; frame 0 at its centre u = 0.5 / 4
    profile = plateau_decay_profile(10)
    assert profile[0] == pytest.approx(0.5 * (1 - math.cos(math.pi * 0.125)))
    assert profile[1] == pytest.approx(0.5 * (1 - math.cos(math.pi * 0.375)))
    assert profile[4] == profile[5] == 1.0
    np.testing.assert_allclose(profile, profile[::-1])
    assert (profile > 0).all() and (profile <= 1).all()
    assert plateau_decay_profile(1).tolist() == [1.0]
    assert plateau_decay_profile(4, alpha=1.0).tolist() == [1.0] * 4


# -------------------------------------------------------------------------------------------------------- DTW


def _check_monotone(spans, resolved):
    previous_end = 0
    covered = set()
    for span, final in zip(spans, resolved):
        if final is None:
            continue
        start, end = final
        assert span[0] <= start < end <= span[1], "each subtitle stays inside its own prediction"
        assert start >= previous_end, "monotone, no overlap"
        frames = set(range(start, end))
        assert not covered & frames, "a frame belongs to at most one subtitle"
        covered |= frames
        previous_end = end


def test_dtw_resolves_overlap_monotonically():
    # two equal-length spans overlapping by half: by symmetry the boundary falls in the middle of the overlap
    assert monotone_dtw([(0, 100), (50, 150)]) == [(0, 75), (75, 150)]
    # non-overlapping spans are kept exactly, gaps stay background
    assert monotone_dtw([(0, 40), (60, 80), None, (90, 95)]) == [(0, 40), (60, 80), None, (90, 95)]


def test_dtw_keeps_shorter_subtitles():
    # a short span inside a long one: with mass weighting the long one is cut, the short one kept whole-ish
    resolved = monotone_dtw([(0, 100), (40, 60)])
    assert resolved[1] is not None and resolved[1][1] == 60 and resolved[1][0] <= 45
    assert resolved[0][0] == 0 and resolved[0][1] == resolved[1][0]
    # the literal "cost 1 - p" without weighting drops it: the reason for the [ours] mass normalisation
    assert monotone_dtw([(0, 100), (40, 60)], normalize="none", keep_bonus=0.0)[1] is None
    # identical predictions for consecutive subtitles: split between them at the midpoint of their priors
    assert monotone_dtw([(0, 50), (0, 50)], anchors=[10, 40]) == [(0, 25), (25, 50)]


def test_dtw_crossed_order_drops_one():
    # prior order says 0 before 1, but the predictions are in the other order: only one can be kept
    resolved = monotone_dtw([(100, 150), (0, 50)])
    assert sum(span is not None for span in resolved) == 1


def test_dtw_random_spans_are_valid():
    rng = np.random.default_rng(0)
    for _ in range(20):
        starts = np.sort(rng.integers(0, 400, size=12))
        spans = [(int(s), int(s + rng.integers(5, 120))) for s in starts]
        resolved = monotone_dtw(spans, 600)
        _check_monotone(spans, resolved)
        assert sum(r is not None for r in resolved) >= 10


def _score(spans, assignment, bonus):
    total = 0.0
    for k, final in enumerate(assignment):
        if final is None:
            continue
        profile = plateau_decay_profile(spans[k][1] - spans[k][0])
        profile = profile / profile.sum()
        total += profile[final[0] - spans[k][0] : final[1] - spans[k][0]].sum() + bonus
    return total


def test_dtw_is_optimal_against_brute_force():
    rng = np.random.default_rng(1)
    horizon, num_subtitles = 7, 3
    for _ in range(8):
        spans = []
        for _ in range(num_subtitles):
            a, b = sorted(rng.choice(horizon + 1, size=2, replace=False))
            spans.append((int(a), int(b)))
        best = 0.0
        for labels in itertools.product(range(-1, num_subtitles), repeat=horizon):
            used = [label for label in labels if label >= 0]
            if used != sorted(used):
                continue
            assignment = []
            valid = True
            for k in range(num_subtitles):
                frames = [t for t, label in enumerate(labels) if label == k]
                if not frames:
                    assignment.append(None)
                    continue
                start, end = frames[0], frames[-1] + 1
                if end - start != len(frames) or start < spans[k][0] or end > spans[k][1]:
                    valid = False
                    break
                assignment.append((start, end))
            if valid:
                best = max(best, _score(spans, assignment, 0.1))
        resolved = monotone_dtw(spans, horizon)
        _check_monotone(spans, resolved)
        assert _score(spans, resolved, 0.1) == pytest.approx(best, rel=1e-6)


def test_dtw_bad_inputs():
    with pytest.raises(ValueError, match="normalize"):
        monotone_dtw([(0, 1)], normalize="sum")
    with pytest.raises(ValueError, match="lie in"):
        monotone_dtw([(0, 20)], num_frames=10)
    assert monotone_dtw([None, (5, 5)]) == [None, None]


# ---------------------------------------------------------------------------------------------- full video


def test_ssa_window_math():
    (window,) = make_ssa_windows([Subtitle(1.0, 3.0, "hello")])
    # prior frames 25..74 (last inclusive) -> centre 49.5 -> 50 -> window starts 250 frames earlier (padded)
    assert window.window_start == -200 and window.prior == (225, 274) and window.num_frames == 500
    (window,) = make_ssa_windows([Subtitle(100.0, 104.0, "x")])
    assert window.window_start == 2550 - 250 and window.prior == (250 - 50, 250 + 49)
    with pytest.raises(ValueError, match="invalid prior"):
        make_ssa_windows([Subtitle(3.0, 1.0, "bad")])


def _shift_predictor(shift_frames: int, missing: set[str] = frozenset(), calls: list | None = None):
    """Fake model: predicts the prior shifted by ``shift_frames`` (window coordinates), confidence 0.9."""

    def predict(windows):
        if calls is not None:
            calls.append(len(windows))
        out = []
        for window in windows:
            if window.text in missing:
                out.append(None)
            else:
                out.append((window.prior[0] + shift_frames, window.prior[1] + shift_frames, 0.9))
        return out

    return predict


def test_align_subtitles_with_fake_predictor():
    subs = [Subtitle(2.0, 4.0, "one", 0), Subtitle(3.0, 6.0, "two", 1), Subtitle(8.0, 9.0, "three", 2)]
    calls = []
    results = align_subtitles(subs, num_video_frames=400, predict_spans=_shift_predictor(25, {"three"}, calls),
                              batch_size=2, progress=False)
    assert calls == [2, 1]
    one, two, three = results
    # one: 75..125 frames, two: 100..175 -> overlap 100..125 resolved, monotone, no shared frame
    assert (one.source, two.source, three.source) == ("aligned", "aligned", "prior")
    assert one.start == 3.0 and one.end <= two.start and two.end == 7.0
    assert 4.0 <= one.end <= 5.0
    assert one.predicted == (3.0, 5.0) and one.confidence == 0.9
    assert (three.start, three.end, three.confidence) == (8.0, 9.0, None)


def test_align_subtitles_clips_to_video_and_keeps_input_order():
    subs = [Subtitle(5.0, 6.0, "late"), Subtitle(0.0, 1.0, "early")]
    results = align_subtitles(subs, num_video_frames=140, predict_spans=_shift_predictor(10), progress=False)
    assert [r.text for r in results] == ["late", "early"]
    assert results[0].end == 140 / 25  # 135..160 clipped to the video end
    assert (results[1].start, results[1].end) == (0.4, 1.4)


def test_align_subtitles_dropped_subtitle_goes_to_the_gap():
    subs = [Subtitle(2.0, 3.0, "a"), Subtitle(4.0, 5.0, "b"), Subtitle(6.0, 7.0, "c")]

    def predict(windows):  # "b" predicted before "a": crossed order, one of them is dropped by the DTW
        absolute = {"a": (50, 75), "b": (10, 30), "c": (150, 175)}
        return [(absolute[w.text][0] - w.window_start, absolute[w.text][1] - w.window_start, 0.5) for w in windows]

    a, b, c = align_subtitles(subs, 300, predict, progress=False)
    assert (a.source, b.source, c.source) == ("aligned", "dtw_dropped", "aligned")
    assert (b.start, b.end) == (4.0, 5.0)  # its prior fits the gap between a (ends 3 s) and c (starts 6 s)
    assert a.end <= b.start and b.end <= c.start


def test_predict_in_batches_checks_lengths():
    windows = make_ssa_windows([Subtitle(1.0, 2.0, "x"), Subtitle(2.0, 3.0, "y")])
    with pytest.raises(ValueError, match="returned 0 results"):
        predict_in_batches(windows, lambda batch: [], progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        predict_in_batches(windows, lambda batch: batch, batch_size=0)


# ---------------------------------------------------------------------------------------------- export, plot


def _results() -> list[AlignedSubtitle]:
    return [
        AlignedSubtitle("hello there", 1.0, 2.5, 0.5, 3.0, "aligned", 0.8, (1.0, 2.7), 0),
        AlignedSubtitle("overlapping prior", 2.5, 4.0, 2.0, 4.5, "aligned", 0.6, (2.2, 4.0), 1),
        AlignedSubtitle("no prediction", 5.0, 6.0, 5.0, 6.0, "prior", None, None, 2),
    ]


def test_exports_are_readable(tmp_path):
    import pympi
    import webvtt
    results = _results()
    write_aligned_subtitles(results, tmp_path / "out.vtt")
    captions = webvtt.read(str(tmp_path / "out.vtt"))
    assert [c.text for c in captions] == ["hello there", "overlapping prior", "no prediction"]
    assert captions[0].start == "00:00:01.000" and captions[1].end == "00:00:04.000"
    write_aligned_subtitles(results, tmp_path / "out.srt")
    assert "00:00:02,500 --> 00:00:04,000" in (tmp_path / "out.srt").read_text()
    write_elan(results, tmp_path / "out.eaf", ground_truth=[Subtitle(1.1, 2.4, "hello there"),
                                                            Subtitle(2.4, 4.1, "overlapping prior"),
                                                            Subtitle(5.2, 5.9, "no prediction")])
    eaf = pympi.Elan.Eaf(str(tmp_path / "out.eaf"))
    tiers = set(eaf.get_tier_names())
    assert {"prior", "prior 2", "aligned", "predicted", "confidence", "ground truth"} <= tiers
    assert min(eaf.get_annotation_data_for_tier("aligned")) == (1000, 2500, "hello there")
    assert min(eaf.get_annotation_data_for_tier("confidence"))[2] == "0.800 (aligned)"
    write_alignment_json(results, tmp_path / "out.json", video="episode")
    assert '"source": "prior"' in (tmp_path / "out.json").read_text()


def test_plot_alignment_png(tmp_path):
    path = plot_alignment(_results(), tmp_path / "plot.png",
                          ground_truth=[Subtitle(1.1, 2.4, "a"), Subtitle(2.4, 4.1, "b"), Subtitle(5.2, 5.9, "c")])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="ground truth"):
        plot_alignment(_results(), tmp_path / "bad.png", ground_truth=[Subtitle(1.0, 2.0, "a")])


def test_window_math_matches_the_training_sampler():
    from signllm.datasets_scripts import windows as sampler
    from signllm.train.inference.alignment import frames_in_window, window_start_for
    from signllm.train.inference.generation import cut_window  # what inference cuts windows with

    for start, end in [(25, 74), (0, 3), (1000, 1240), (12, 13)]:  # inclusive frame spans
        assert window_start_for(start, end, 500) == sampler.slt_window_start(start, end, 500)
        window_start = window_start_for(start, end, 500)
        assert frames_in_window(start, end, window_start, 500) == sampler.frames_in_window(start, end, window_start, 500)
    array = np.arange(10.0)
    for window_start in (-3, 0, 7):
        ours, sampler_out = cut_window(array, window_start, 5), sampler.cut_window(array, window_start, 5)
        np.testing.assert_array_equal(ours[0], sampler_out[0])
        np.testing.assert_array_equal(ours[1], sampler_out[1])
