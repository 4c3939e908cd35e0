"""The "sign-translation" pipeline: input kinds, SLT / SSA outputs, batching, unsupported inputs, video routing."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import fake_pose, shared_data_path
from signllm.pipeline_signllm import SignTranslationPipeline
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
    result = pipe(fake_pose(20)[0], task="ssa", subtitle="Hello there", prior=(2, 9), window_offset=10.0,
                  num_beams=2)  # fmt: skip
    assert set(result) == {"start", "end", "start_frame", "end_frame"}
    assert 0 <= result["start_frame"] <= result["end_frame"] < pipe.processor.num_frames
    assert result["start"] == pytest.approx(10.0 + result["start_frame"] / 25.0)
    assert result["end"] == pytest.approx(10.0 + result["end_frame"] / 25.0)


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
