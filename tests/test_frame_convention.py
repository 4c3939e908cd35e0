"""One SSA frame convention (end inclusive) from subtitle times to prompt, target, prediction and back to seconds,
on real How2Sign sentence times: training, alignment, the pipeline and the SAT metrics agree frame for frame."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from conftest import shared_data_path
from signllm.datasets_scripts.subtitles import Subtitle
from signllm.datasets_scripts.windows import WindowConfig, make_window_sample
from signllm.processing_signllm import SignLLMProcessor, seconds_to_span, span_to_seconds
from signllm.train.evaluation.ssa_metrics import evaluate_alignment, subtitles_to_frames
from signllm.train.inference.alignment import align_subtitles, make_ssa_windows
from transformers import ByT5Tokenizer

FPS = 25.0


def how2sign_sentences(limit_videos: int = 25) -> dict[str, list[tuple[float, float, str]]]:
    """Real (start, end, text) of the How2Sign val sentences, grouped by video (sentences up to 19 s)."""
    videos: dict[str, list[tuple[float, float, str]]] = {}
    with open(shared_data_path("how2sign_samples", "how2sign_realigned_val.csv"), newline="") as handle:
        for row in csv.DictReader(handle):
            start, end = float(row["START_REALIGNED"]), float(row["END_REALIGNED"])
            if 0 <= start < end and end - start <= 19.0:
                videos.setdefault(row["VIDEO_NAME"], []).append((start, end, row["SENTENCE"]))
    return dict(list(videos.items())[:limit_videos])


class _Episode:
    """The sampler's keypoint cache, for an episode whose content does not matter here (times only)."""

    def __init__(self, seconds: float):
        self.values = np.zeros((int(seconds * FPS) + 50, 203, 3), np.float32)
        self.mask = np.zeros(self.values.shape[:2], bool)

    def keypoints(self, path):
        return self.values, self.mask


@pytest.fixture(scope="module")
def processor() -> SignLLMProcessor:
    return SignLLMProcessor(ByT5Tokenizer(), num_frames=500, fps=FPS)


def test_subtitle_times_round_trip_through_prompt_target_prediction_and_seconds(processor):
    videos = how2sign_sentences()
    checked = 0
    for video, sentences in videos.items():
        cache = _Episode(max(end for _, end, _ in sentences))
        for index, (start, end, text) in enumerate(sentences):
            row = {"sample_id": f"{video}/{index}", "episode_id": video, "text": text, "start": start, "end": end,
                   "prior_start": start, "prior_end": end, "keypoints_path": video, "keypoints_offset": 0.0}
            rng = np.random.default_rng(index)
            sample = make_window_sample(row, "ssa", rng, WindowConfig(ssa_shift_seconds=2.0), cache)
            window_start = sample["window_start"]
            # training: the target text and the prompt's prior (the prior here is the truth itself)
            target = processor.format_ssa_target(*sample["target"])
            prompt = processor.build_prompt("ssa", text, sample["prior"])
            assert prompt.endswith(" Prior: " + target)
            # a model that answers the target: parse it and go back to seconds of the video
            first, last = processor.parse_ssa_output(target)
            seconds = span_to_seconds(window_start + first, window_start + last, FPS)
            assert abs(seconds[0] - start) <= 0.5 / FPS + 1e-9 and abs(seconds[1] - end) <= 0.5 / FPS + 1e-9
            assert processor.parse_ssa_output(target, return_seconds=True) == pytest.approx(
                (seconds[0] - window_start / FPS, seconds[1] - window_start / FPS))
            checked += 1
    assert checked > 150


def test_inference_prompts_exactly_what_training_showed(processor):
    """`align` centres the window on the prior as the sampler does without a random shift: same window start,
    same prior frames, same prompt (before: training (225, 274), inference (225, 275))."""
    for sentences in how2sign_sentences(10).values():
        cache = _Episode(max(end for _, end, _ in sentences))
        subtitles = [Subtitle(start, end, text) for start, end, text in sentences]
        for window, (start, end, text) in zip(make_ssa_windows(subtitles, FPS, 500), sentences):
            row = {"sample_id": "s", "episode_id": "e", "text": text, "start": start, "end": end,
                   "prior_start": start, "prior_end": end, "keypoints_path": "e", "keypoints_offset": 0.0}
            sample = make_window_sample(row, "ssa", np.random.default_rng(0), WindowConfig(ssa_shift_seconds=0.0), cache)
            assert (window.window_start, window.prior) == (sample["window_start"], sample["prior"])
            assert processor.build_prompt("ssa", text, window.prior) == processor.build_prompt("ssa", text, sample["prior"])
    # the example of the issue: a subtitle at 9.0-11.0 s
    (window,) = make_ssa_windows([Subtitle(9.0, 11.0, "x")], FPS, 500)
    assert seconds_to_span(9.0, 11.0, FPS) == (225, 274) and window.prior[1] - window.prior[0] == 49


def test_a_perfect_model_aligns_every_subtitle_to_the_frame(processor):
    """A predictor that answers each window's prior: the aligned spans equal the subtitles (no frame lost), and the
    SAT metrics paint exactly the same frames."""
    for sentences in how2sign_sentences(8).values():
        subtitles = [Subtitle(start, end, text, i) for i, (start, end, text) in enumerate(sentences)]
        subtitles = [s for k, s in enumerate(subtitles) if k == 0 or s.start >= subtitles[k - 1].end]  # no overlaps
        horizon = int(max(s.end for s in subtitles) * FPS) + 25

        def predict(windows):
            return [(w.prior[0], w.prior[1], 1.0) for w in windows]

        results = align_subtitles(subtitles, horizon, predict, FPS, 500, progress=False)
        for sub, result in zip(subtitles, results):
            assert result.source == "aligned"
            assert seconds_to_span(result.start, result.end, FPS) == seconds_to_span(sub.start, sub.end, FPS)
            assert abs(result.start - sub.start) <= 0.5 / FPS + 1e-9 and abs(result.end - sub.end) <= 0.5 / FPS + 1e-9
        span = max(s.end for s in subtitles) + 10
        np.testing.assert_array_equal(subtitles_to_frames(results, span), subtitles_to_frames(subtitles, span))
        assert evaluate_alignment([(results, subtitles)])["frame_accuracy"] == pytest.approx(100.0)
