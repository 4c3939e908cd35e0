"""The "sign-translation" pipeline: input kinds, SLT / SSA outputs, batching, unsupported inputs, video routing."""

from __future__ import annotations

import logging
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import fake_pose, shared_data_path
from signllm.pipeline_signllm import SignTranslationPipeline
from signllm.processing_signllm import SignLLMProcessor
from signllm_tiny import random_lip, tiny_model, tiny_processor

FAST = {"max_new_tokens": 5, "num_beams": 1}


@pytest.fixture(scope="module")
def pipe() -> SignTranslationPipeline:
    return SignTranslationPipeline(model=tiny_model(), processor=tiny_processor(), device=-1)


def test_slt_on_keypoint_array(pipe):
    result = pipe(fake_pose(20)[0], **FAST)
    assert isinstance(result, list) and len(result) == 1
    assert set(result[0]) == {"translation_text"} and isinstance(result[0]["translation_text"], str)


def test_slt_on_feature_dict_with_lip_and_on_keypoint_dict(pipe):
    pose, mask = fake_pose(20)
    assert "translation_text" in pipe({"pose": pose, "lip": random_lip(20), "fps": 25.0}, **FAST)[0]
    assert "translation_text" in pipe({"values": pose, "mask": mask, "fps": 50.0}, **FAST)[0]


def test_ssa_returns_seconds_within_the_window(pipe):
    # prior and result in seconds on the caller's timeline: the 0.8 s input starts at 10 s
    result = pipe(fake_pose(20)[0], task="ssa", subtitle="Hello there", prior=(10.08, 10.36), window_offset=10.0,
                  num_beams=2)  # fmt: skip
    assert set(result) == {"start", "end", "start_frame", "end_frame"}
    assert 0 <= result["start_frame"] <= result["end_frame"] < 20
    assert result["start"] == pytest.approx(10.0 + result["start_frame"] / 25.0)
    assert result["end"] == pytest.approx(10.0 + (result["end_frame"] + 1) / 25.0)  # last frame inclusive


def test_ssa_constraint_only_allows_valid_spans():
    processor = tiny_processor(num_frames=250)
    allowed = processor.ssa_prefix_allowed_tokens_fn()
    ids = processor.tokenizer(processor.format_ssa_target(123, 200))["input_ids"]
    digit = {token: value for value, token in enumerate(processor.digit_token_ids)}

    def digits_at(step):
        return sorted(digit[token] for token in allowed(0, [0, *ids[:step]]))

    assert digits_at(0) == [0, 1, 2]  # hundreds digit of start < 250
    assert digits_at(1) == list(range(10))
    assert digits_at(4) == [1, 2]  # end >= 123 and end < 250
    assert digits_at(5) == [0, 1, 2, 3, 4]  # end "20x" <= 249
    assert allowed(0, [0, *ids[:3]]) == [ids[3]]  # the separator
    assert allowed(0, [0, *ids]) == [processor.tokenizer.eos_token_id]


def test_ssa_unconstrained_unparsable_output_is_a_clear_error(pipe):
    with pytest.raises(ValueError, match="SSA output"):
        pipe(fake_pose(20)[0], task="ssa", subtitle="Hello", constrain_ssa=False, max_new_tokens=1, num_beams=1)
    with pytest.raises(ValueError, match="subtitle"):
        pipe(fake_pose(20)[0], task="ssa")


def test_batching(pipe):
    inputs = [fake_pose(20, seed=1)[0], fake_pose(12, seed=2)[0], fake_pose(16, seed=3)[0]]
    results = pipe(inputs, batch_size=2, **FAST)
    assert len(results) == 3 and all(set(r) == {"translation_text"} for r in results)
    single = pipe(inputs[1], **FAST)[0]
    assert results[1] == single  # batching does not change the greedy output
    spans = pipe(inputs[:2], task="ssa", subtitle="hi", batch_size=2, max_new_tokens=8)
    assert len(spans) == 2 and all("start" in span for span in spans)


def test_unsupported_inputs(pipe, tmp_path):
    for bad in (42, "notes.txt", {"audio": np.zeros(3)}):
        with pytest.raises(ValueError, match="Unsupported"):
            pipe(bad)
    with pytest.raises(ValueError, match="not found"):
        pipe(str(tmp_path / "missing.pose"))
    with pytest.raises(ValueError, match="task"):
        pipe(fake_pose(20)[0], task="islr")


def test_video_without_extraction_tools_says_what_to_install(pipe, tmp_path, monkeypatch):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00")
    monkeypatch.setitem(sys.modules, "signllm.processing.extract", None)  # as if processing/ were not installed
    with pytest.raises(ImportError, match="pip install"):
        pipe(str(video))


def test_video_goes_through_keypoint_extraction(pipe, tmp_path, monkeypatch):
    from signllm.processing import extract

    pose, mask = fake_pose(20)
    calls = []

    def fake_extract(path, **kwargs):
        calls.append((path, kwargs))
        return SimpleNamespace(values=pose, mask=mask, fps=25.0)

    monkeypatch.setattr(extract, "extract_keypoints", fake_extract)
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00")
    result = pipe(str(video), extract_kwargs={"backend": "legacy"}, **FAST)
    assert calls == [(str(video), {"backend": "legacy"})] and "translation_text" in result[0]


def test_pose_file_input(pipe):
    path = next(iter(sorted(shared_data_path("signsuisse_holistic_poses_unlabeled").glob("*.pose"))))
    assert "translation_text" in pipe(str(path), truncation="center", **FAST)[0]
    with pytest.raises(ValueError, match="too long"):
        pipe(str(path), **FAST)


# ------------------------------------------------------------------------------------------------ SSA priors
@pytest.fixture(scope="module")
def long_pipe() -> SignTranslationPipeline:
    """A 12 s window, so README's prior (4.0, 6.5) fits a real 11.6 s .pose without cropping."""
    return SignTranslationPipeline(model=tiny_model(num_frames=300), processor=tiny_processor(num_frames=300),
                                   device=-1)  # fmt: skip


def _prompt(pipe, path, **kwargs) -> str:
    return pipe.processor.decode(pipe.preprocess(path, task="ssa", subtitle="Hello there", **kwargs)["input_ids"][0])


def test_readme_ssa_call_with_a_prior_in_seconds(long_pipe):
    path = str(shared_data_path("pose_format_samples", "mediapipe_long.pose"))  # 278 frames at 24 fps = 11.6 s
    result = long_pipe(path, task="ssa", subtitle="Hello there", prior=(4.0, 6.5), num_beams=1)
    assert set(result) == {"start", "end", "start_frame", "end_frame"}
    assert 0.0 <= result["start"] < result["end"] <= 290 / 25.0
    # seconds -> inclusive frames at 25 fps: 4.0 s -> 100, 6.5 s -> round(162.5) - 1 = 161; ints are seconds too
    assert _prompt(long_pipe, path, prior=(4.0, 6.5)).endswith("Prior: 100 161")
    assert _prompt(long_pipe, path, prior=(4, 6)).endswith("Prior: 100 149")
    assert _prompt(long_pipe, path, prior=(5.0, 7.5), window_offset=1.0).endswith("Prior: 100 161")


def test_bad_priors_are_clear_errors_or_clipped_with_a_warning(long_pipe, caplog):
    path = str(shared_data_path("pose_format_samples", "mediapipe_long.pose"))
    with pytest.raises(ValueError, match="finite"):
        long_pipe(path, task="ssa", subtitle="hi", prior=(float("nan"), 6.5))
    with pytest.raises(ValueError, match="reversed"):
        long_pipe(path, task="ssa", subtitle="hi", prior=(6.5, 4.0))
    with pytest.raises(ValueError, match="one \\(start, end\\) pair"):
        long_pipe(path, task="ssa", subtitle="hi", prior=[(1.0, 2.0), (3.0, 4.0)])
    with pytest.raises(ValueError, match="outside the input's window"):
        long_pipe(path, task="ssa", subtitle="hi", prior=(30.0, 32.0))
    with caplog.at_level(logging.WARNING):
        prompt = _prompt(long_pipe, path, prior=(10.0, 14.0))
    assert prompt.endswith("Prior: 250 289") and "clipped to (10, 11.6) s" in caplog.text


def test_cropped_input_reports_times_on_the_input_timeline(pipe):
    clip = fake_pose(60)[0]  # 2.4 s; the 32-frame window is cropped from its centre (frames 14..45)
    inputs = pipe.preprocess(clip, task="ssa", subtitle="hi", prior=(0.8, 1.2), truncation="center")
    assert int(inputs["window_start"][0]) == 14
    assert pipe.processor.decode(inputs["input_ids"][0]).endswith("Prior: 006 015")  # frames 20..29 - 14
    result = pipe(clip, task="ssa", subtitle="hi", prior=(0.8, 1.2), truncation="center", num_beams=1)
    assert 14 <= result["start_frame"] <= result["end_frame"] <= 45
    assert result["start"] == pytest.approx(result["start_frame"] / 25.0)


def test_minimum_length_is_in_seconds_at_the_model_rate():
    """A 1.96 s clip (49 frames at 25 fps) on a 12.5 fps model: 25 frames, above the 1 s minimum (13 frames)."""
    processor = tiny_processor(num_frames=32, fps=12.5, min_seconds=1.0)
    pose, mask = fake_pose(49)
    batch = processor(pose={"values": pose, "mask": mask, "fps": 25.0})
    assert int(batch["pose_attention_mask"].sum()) == 25 and processor.min_frames == 13
    with pytest.raises(ValueError, match=r"at least 13 \(1.04 s\)"):
        processor(pose={"values": pose[:20], "mask": mask[:20], "fps": 25.0})  # 0.8 s
    legacy = SignLLMProcessor(processor.tokenizer, fps=12.5, min_frames=25)  # an old processor_config.json
    assert legacy.min_seconds == 1.0 and legacy.min_frames == 13


# ------------------------------------------------------------------------------------------------ video backends
def test_backend_choice_for_video(monkeypatch):
    from signllm.pipeline_signllm import video_extract_kwargs

    monkeypatch.delenv("SIGNLLM_LEGACY_PYTHON", raising=False)
    monkeypatch.delenv("SIGNLLM_HOLISTIC_MODEL", raising=False)
    assert video_extract_kwargs(None, None) == {"backend": "tasks"}
    monkeypatch.setenv("SIGNLLM_LEGACY_PYTHON", "/legacy/bin/python")
    assert video_extract_kwargs(None, None) == {"backend": "legacy"}
    assert video_extract_kwargs(None, {"model_asset_path": "h.task"})["backend"] == "tasks"
    assert video_extract_kwargs("tasks", {"backend": "legacy"})["backend"] == "tasks"  # the explicit argument wins
    monkeypatch.setenv("SIGNLLM_HOLISTIC_MODEL", "h.task")
    assert video_extract_kwargs(None, None) == {"backend": "tasks"}
    with pytest.raises(ValueError, match="backend='openpose'"):
        video_extract_kwargs("openpose", None)


def test_video_backend_parameter_and_clear_message_without_any_backend(pipe, tmp_path, monkeypatch):
    from signllm.processing import extract
    from signllm.processing.model_assets import ModelAssetError

    pose, mask = fake_pose(20)
    calls = []

    def fake_extract(path, **kwargs):
        calls.append(kwargs)
        if kwargs["backend"] == "tasks":
            raise ModelAssetError("No holistic_landmarker.task given and none cached")
        return SimpleNamespace(values=pose, mask=mask, fps=25.0)

    monkeypatch.setattr(extract, "extract_keypoints", fake_extract)
    monkeypatch.delenv("SIGNLLM_LEGACY_PYTHON", raising=False)
    monkeypatch.delenv("SIGNLLM_HOLISTIC_MODEL", raising=False)
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00")
    assert "translation_text" in pipe(str(video), backend="legacy", **FAST)[0]
    with pytest.raises(RuntimeError, match="backend='legacy'.*SIGNLLM_LEGACY_PYTHON"):
        pipe(str(video), **FAST)  # neither a Tasks model nor the legacy environment: say how to get either
    assert calls == [{"backend": "legacy"}, {"backend": "tasks"}]
