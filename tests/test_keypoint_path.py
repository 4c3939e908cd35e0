"""One keypoint path: the same real files give identical tensors through training and through the pipeline; bad
files, implausible values, frame rates and lengths are refused or repaired the same way everywhere."""

from __future__ import annotations

import logging
import math
import shutil

import numpy as np
import pytest
import torch
from conftest import fake_pose, shared_data_path
from signllm import keypoint_reading
from signllm.datasets_scripts.windows import SignWindowDataset, WindowConfig
from signllm.keypoint_reading import KeypointFileError, resample_index
from signllm.pipeline_signllm import SignTranslationPipeline
from signllm.processing import keypoint_io
from signllm.processing_signllm import SignLLMProcessor
from signllm.train.islr.recipe import SignClip, SignClipDataset
from signllm.train.slt.data import SignLLMWindowDataset
from signllm_tiny import tiny_model
from transformers import ByT5Tokenizer

SIGNSUISSE = ("signsuisse_holistic_poses_unlabeled", "ss0015d624e426fb9c0c6348b58cf813df.pose")  # 67 frames, v0.1
REDUCED = ("signmt_lexicon_poses", "sgg", "essen.pose")  # reduced holistic (8 body points), 73 frames at 24 fps
FINGERSPELLING = ("signmt_lexicon_poses", "fingerspelling", "ase", "fs-sts2d180da92361dfe3de28a2a827767a01.pose")
GISLR = ("gislr_asl_signs_subset", "train_landmark_files")


def processor_at(fps: float, num_frames: int = 256, **kwargs) -> SignLLMProcessor:
    kwargs.setdefault("min_seconds", 0.2)
    return SignLLMProcessor(ByT5Tokenizer(), num_frames=num_frames, fps=fps, lip_feature_size=24, **kwargs)


def real_npz(tmp_path):
    """A real clip written by our own writer (the format `signllm extract` writes), at 25 fps."""
    seq = keypoint_io.read_keypoints(shared_data_path(*SIGNSUISSE))
    path = tmp_path / "clip.npz"
    keypoint_io.write_npz(path, seq)
    return path


def gislr_file():
    return min(shared_data_path(*GISLR).rglob("*.parquet"))


def training_window(path, processor):
    """The SLT training item of one sentence spanning the whole file (windows sampler + SLT dataset)."""
    seq = keypoint_io.read_keypoints(path)
    row = {"sample_id": "clip/0", "episode_id": "clip", "text": "a sentence", "start": 0.0,
           "end": seq.num_frames / seq.fps, "keypoints_path": str(path), "keypoints_offset": 0.0}  # fmt: skip
    config = WindowConfig(num_frames=processor.num_frames, fps=processor.fps, ssa_ratio=0.0)
    item = SignLLMWindowDataset(SignWindowDataset([row], config), processor, [0])[0]
    valid = item["pose_attention_mask"].astype(bool)
    return item["pose_values"][valid], item["pose_joint_mask"][valid]


@pytest.mark.parametrize("fps", [25.0, 12.5])
@pytest.mark.parametrize("kind", ["npz", "pose", "reduced_pose", "parquet"])
def test_same_real_file_gives_identical_tensors_in_training_and_pipeline(kind, fps, tmp_path):
    path = {"npz": lambda: real_npz(tmp_path), "pose": lambda: shared_data_path(*SIGNSUISSE),
            "reduced_pose": lambda: shared_data_path(*REDUCED), "parquet": gislr_file}[kind]()  # fmt: skip
    processor = processor_at(fps)
    pipe = SignTranslationPipeline(model=tiny_model(), processor=processor, device=-1)
    inputs = pipe.preprocess(str(path))
    length = int(inputs["pose_attention_mask"].sum())
    served = inputs["pose_values"][0, :length].numpy(), inputs["pose_joint_mask"][0, :length].numpy()

    trained = training_window(path, processor)
    assert trained[0].shape == served[0].shape and length > 0
    np.testing.assert_array_equal(trained[0], served[0])
    np.testing.assert_array_equal(trained[1], served[1])
    assert served[1][:, 11].any()  # real shoulders: a normalised person, not an all-masked clip

    if kind == "parquet":  # ISLR training reads Kaggle clips through its own dataset: the same tensors
        clip = SignClipDataset([SignClip(str(path), "hello")], {"hello": 0}, clip_length=length, target_fps=fps)[0]
        np.testing.assert_array_equal(clip["pose_values"], served[0])
        np.testing.assert_array_equal(clip["joint_mask"], served[1])


def test_processing_keypoint_io_is_a_thin_layer_over_the_processor(tmp_path):
    assert keypoint_io.KeypointSequence is keypoint_reading.KeypointSequence
    assert keypoint_io.KeypointFileError is keypoint_reading.KeypointFileError
    processor = processor_at(25.0)
    for path in (shared_data_path(*REDUCED), gislr_file(), real_npz(tmp_path)):
        ours = keypoint_io.read_keypoints(path, target_fps=25.0)
        theirs = processor.load_keypoints(str(path))
        np.testing.assert_array_equal(ours.values, theirs.values)
        np.testing.assert_array_equal(ours.mask, theirs.mask)


def test_resampling_rule_is_the_nearest_frame_in_time_like_video_extraction():
    # 30 -> 25 fps: output k shows source floor(1.2 k + 0.5); a clip keeps its duration (ceil)
    np.testing.assert_array_equal(resample_index(12, 30.0, 25.0), [0, 1, 2, 4, 5, 6, 7, 8, 10, 11])
    np.testing.assert_array_equal(resample_index(5, 24.0, 25.0), [0, 1, 2, 3, 4, 4])  # 24 fps: one frame repeats
    np.testing.assert_array_equal(resample_index(6, 25.0, 12.5), [0, 2, 4])



def test_resampling_picks_the_frames_video_extraction_picks(tmp_path):
    """`signllm extract` decodes a 30 fps video at 25 fps; resampling 30 fps keypoints takes the same frames."""
    from signllm.processing.video import iter_video_frames, write_video

    frames = [np.full((16, 16, 3), 20 * i, np.uint8) for i in range(12)]
    video = write_video(tmp_path / "v.mp4", frames, fps=30)
    decoded = [round(float(frame.mean()) / 20) for frame in iter_video_frames(video, 25.0)]
    assert decoded == resample_index(12, 30.0, 25.0).tolist()


# ------------------------------------------------------------------------------------------------ bad files
def _truncate(source, target, keep: float):
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * keep)])
    return target


@pytest.mark.parametrize("name", [SIGNSUISSE, FINGERSPELLING])
def test_truncated_pose_file_is_refused_with_counts(name, tmp_path):
    source = shared_data_path(*name)
    assert keypoint_io.read_keypoints(source).num_frames > 0  # the intact file reads
    truncated = _truncate(source, tmp_path / "cut.pose", 0.5)
    for read in (keypoint_io.read_keypoints, processor_at(25.0).load_keypoints):
        with pytest.raises(KeypointFileError, match=r"truncated \.pose file: its header declares \d+ frames"):
            read(str(truncated))
    pipe = SignTranslationPipeline(model=tiny_model(), processor=processor_at(25.0), device=-1)
    with pytest.raises(KeypointFileError, match="truncated"):
        pipe(str(truncated), max_new_tokens=2, num_beams=1)


def _corrupt_files(tmp_path):
    npz = real_npz(tmp_path)
    parquet = gislr_file()
    files = {
        "empty.npz": b"",
        "truncated.npz": npz.read_bytes()[: npz.stat().st_size // 2],
        "corrupt.npz": b"PK\x03\x04" + b"\x00" * 64,
        "empty.parquet": b"",
        "truncated.parquet": parquet.read_bytes()[: parquet.stat().st_size // 2],
        "corrupt.parquet": b"PAR1" + b"\x07" * 64,
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return [tmp_path / name for name in files]


def test_processor_api_gives_the_clear_errors_the_cli_gives(tmp_path):
    processor = processor_at(25.0)
    for path in _corrupt_files(tmp_path):
        with pytest.raises(KeypointFileError) as cli_error:
            keypoint_io.read_keypoints(path)  # what `signllm translate/align/data prepare` report
        with pytest.raises(KeypointFileError) as api_error:
            processor(pose=str(path))
        assert str(api_error.value) == str(cli_error.value)
        assert str(path) in str(api_error.value) and "Cannot read" in str(api_error.value)


# ------------------------------------------------------------------------------------------------ implausible values
def corrupt_clip(num_frames: int = 24, joints=(161, 163, 165, 170, 185, 190, 200), frames=slice(None)):
    pose, mask = fake_pose(num_frames, seed=5)
    pose[frames, list(joints)] = 1e30  # finite but absurd; shoulders stay normal
    return pose, mask


def test_huge_values_are_masked_with_a_counted_warning_before_the_model(caplog):
    processor = processor_at(25.0, num_frames=32)
    pose, _ = corrupt_clip()
    with caplog.at_level(logging.WARNING):
        batch = processor(pose=pose, text="hello")
    assert "masked 168 implausible joint position(s)" in caplog.text  # 24 frames x 7 joints
    assert "10 shoulder widths" in caplog.text
    assert not batch["pose_joint_mask"][0, :24, [161, 163, 165, 170, 185, 190, 200]].any()
    assert batch["pose_joint_mask"][0, :24, 162].all() and float(batch["pose_values"].abs().max()) < 10
    model = tiny_model()
    with torch.no_grad():
        out = model(**{k: v for k, v in batch.items() if k != "task_ids"})
    assert torch.isfinite(out.logits).all() and torch.isfinite(out.loss)


def test_model_never_turns_huge_inputs_into_nan():
    model = tiny_model()
    processor = processor_at(25.0, num_frames=32)
    batch = processor(pose=fake_pose(20)[0], text="hello")
    batch["pose_values"][0, 3:9, 161:170] = 1e30  # bypassing the processor
    with pytest.raises(ValueError, match="shoulder-normalised"):
        model(**{k: v for k, v in batch.items() if k != "task_ids"})
    with pytest.raises(ValueError, match="shoulder-normalised"):
        model.generate(**{k: v for k, v in batch.items() if k not in ("task_ids", "labels")}, max_new_tokens=2)


def test_training_windows_mask_the_same_implausible_joints(tmp_path, caplog):
    pose, mask = corrupt_clip(60, frames=slice(10, 20))
    path = tmp_path / "bad.npz"
    keypoint_io.write_npz(path, keypoint_io.KeypointSequence(pose, mask, 25.0))
    processor = processor_at(25.0, num_frames=64)
    with caplog.at_level(logging.WARNING):
        trained = training_window(path, processor)
    assert "masked 70 implausible" in caplog.text
    assert np.isfinite(trained[0]).all() and np.abs(trained[0]).max() < 10
    pipe = SignTranslationPipeline(model=tiny_model(), processor=processor, device=-1)
    served = pipe.preprocess(str(path))
    np.testing.assert_array_equal(trained[0], served["pose_values"][0, :60].numpy())


# ------------------------------------------------------------------------------------------------ frame rate / length
@pytest.mark.parametrize("fps", [0.001, 1e-6, 0.0, -25.0, math.nan, math.inf, 1000.0])
def test_implausible_frame_rates_are_refused(fps, tmp_path):
    pose, mask = fake_pose(20)
    processor = processor_at(25.0, num_frames=32)
    with pytest.raises(ValueError, match="Implausible frame rate"):
        processor(pose={"values": pose, "mask": mask, "fps": fps})
    with pytest.raises(ValueError, match="Implausible frame rate"):
        processor(pose=pose, fps=fps)
    np.savez(tmp_path / "clip.npz", values=pose, mask=mask, fps=np.float32(fps))
    with pytest.raises(ValueError, match="Implausible frame rate"):
        keypoint_io.read_keypoints(tmp_path / "clip.npz", target_fps=25.0)


def test_resampled_length_is_bounded_before_allocating():
    pose, mask = fake_pose(20)
    processor = processor_at(25.0, num_frames=32, max_frames=400)
    with pytest.raises(ValueError, match=r"500 frames at 25 fps, more than the limit max_frames=400"):
        processor(pose={"values": pose, "mask": mask, "fps": 1.0})  # 20 s at 1 fps -> 500 frames
    assert processor_at(25.0, num_frames=32, max_frames=400).min_frames == 5


def saved_model(folder, **processor_kwargs):
    """A tiny random model + processor saved like a training stage, for the CLI tests."""
    tiny_model().save_pretrained(folder)
    processor_at(25.0, num_frames=32, **processor_kwargs).save_pretrained(folder)
    return str(folder)


def test_cli_refuses_an_implausible_keypoint_fps(tmp_path, capsys):
    from signllm.train.cli import main

    np.save(tmp_path / "clip.npy", fake_pose(20)[0])
    code = main(["translate", str(tmp_path / "clip.npy"), "-o", str(tmp_path / "out.vtt"), "--model",
                 saved_model(tmp_path / "model"), "--keypoint-fps", "0.001", "--no-progress"])  # fmt: skip
    assert code == 2 and "Implausible frame rate" in capsys.readouterr().err


def test_translate_on_corrupt_keypoints_warns_and_writes_strict_json(tmp_path, caplog):
    import json

    from signllm.train.cli import main

    pose, mask = corrupt_clip(150)
    keypoint_io.write_npz(tmp_path / "ep.npz", keypoint_io.KeypointSequence(pose, mask, 25.0))
    with caplog.at_level(logging.WARNING):
        code = main(["translate", str(tmp_path / "ep.npz"), "-o", str(tmp_path / "out.vtt"), "--model",
                     saved_model(tmp_path / "model"), "--segment-seconds", "2", "--num-beams", "2",
                     "--max-new-tokens", "4", "--no-progress", "--json", str(tmp_path / "out.json")])  # fmt: skip
    assert code == 0 and "masked 1050 implausible joint position(s)" in caplog.text
    assert caplog.text.count("implausible") == 1  # screened once for the whole video, not once per window

    def no_constants(name):
        raise AssertionError(f"non-standard JSON constant {name}")

    report = json.loads((tmp_path / "out.json").read_text(), parse_constant=no_constants)
    assert all(s["confidence"] is None or 0 < s["confidence"] <= 1 for s in report["segments"])


# ------------------------------------------------------------------------------------------------ prompt budget
def test_long_subtitles_are_cut_to_the_prompt_budget_everywhere(caplog, tmp_path):
    processor = processor_at(25.0, num_frames=32, max_subtitle_tokens=64)
    cue = "word " * 1600  # 8,000 characters
    with caplog.at_level(logging.WARNING):
        prompt = processor.build_prompt("ssa", cue, (1, 5))
    assert "cut to the prompt budget max_subtitle_tokens=64" in caplog.text
    budget = len(processor.tokenizer(processor.build_prompt("ssa", "x", (1, 5)))["input_ids"]) + 64
    assert len(processor.tokenizer(prompt)["input_ids"]) <= budget and prompt.endswith("Prior: 001 005")
    # pipeline and training windows build their prompts with the same method
    batch = processor(pose=fake_pose(20)[0], task="ssa", subtitle=cue)
    assert batch["input_ids"].shape[1] <= budget
    window = {"pose": fake_pose(32)[0], "text": cue, "task": "ssa", "target": (2, 9)}
    item = SignLLMWindowDataset([window], processor, [1])[0]
    assert len(item["input_ids"]) <= budget
    short = processor.build_prompt("ssa", "Hello there")
    assert short == "Align the subtitle to the signing: Hello there"


# ------------------------------------------------------------------------------------------------ provenance
LEGACY = {"name": "mediapipe-holistic", "backend": "legacy", "version": "0.10.21",
          "settings": {"model_complexity": 1, "refine_face_landmarks": False, "target_fps": 25.0}}  # fmt: skip


def test_writers_record_the_extractor_and_readers_return_it(tmp_path):
    from pose_format import Pose
    from pose_format.utils.generic import detect_known_pose_format

    seq = keypoint_io.read_keypoints(shared_data_path(*SIGNSUISSE))
    seq.extractor = LEGACY
    keypoint_io.write_npz(tmp_path / "a.npz", seq)
    keypoint_io.write_pose(tmp_path / "a.pose", seq)
    landmarks = np.zeros((3, 543, 3), np.float32)
    keypoint_io.write_holistic_pose(tmp_path / "b.pose", landmarks, np.zeros((3, 543)), 25.0, 64, 48, extractor=LEGACY)
    for name in ("a.npz", "a.pose", "b.pose"):
        assert keypoint_reading.read_extractor(tmp_path / name) == LEGACY
        assert keypoint_io.read_keypoints(tmp_path / name).extractor == LEGACY
    pose = Pose.read((tmp_path / "a.pose").read_bytes())  # still a plain holistic .pose for pose-format
    assert detect_known_pose_format(pose) == "holistic" and pose.body.data.shape == (seq.num_frames, 1, 203, 3)
    assert keypoint_reading.read_extractor(shared_data_path(*SIGNSUISSE)) is None  # other tools record nothing


def test_processor_warns_when_the_input_extractor_differs(tmp_path, caplog):
    seq = keypoint_io.read_keypoints(shared_data_path(*SIGNSUISSE))
    seq.extractor = {**LEGACY, "version": "0.10.14"}
    keypoint_io.write_npz(tmp_path / "a.npz", seq)
    processor = processor_at(25.0, num_frames=128, keypoint_extractor=LEGACY)
    processor.save_pretrained(tmp_path / "proc")
    processor = SignLLMProcessor.from_pretrained(tmp_path / "proc")
    assert processor.keypoint_extractor == LEGACY  # saved in processor_config.json
    with caplog.at_level(logging.WARNING):
        processor(pose=str(tmp_path / "a.npz"))
    assert "legacy 0.10.14" in caplog.text and "legacy 0.10.21" in caplog.text and "differs in: version" in caplog.text
    caplog.clear()
    seq.extractor = LEGACY
    keypoint_io.write_npz(tmp_path / "b.npz", seq)
    with caplog.at_level(logging.WARNING):
        processor(pose=str(tmp_path / "b.npz"))
    assert "extractor" not in caplog.text


def test_align_and_translate_warn_about_another_extractor(tmp_path, caplog):
    from signllm.datasets_scripts.subtitles import Subtitle, write_subtitles
    from signllm.train.cli import main

    pose, mask = fake_pose(100, seed=2)
    other = {**LEGACY, "backend": "tasks", "settings": {"model_asset": "holistic_landmarker.task"}}
    keypoint_io.write_npz(tmp_path / "ep.npz", keypoint_io.KeypointSequence(pose, mask, 25.0, extractor=other))
    write_subtitles([Subtitle(0.5, 1.5, "Hello."), Subtitle(2.0, 3.5, "Bye.")], tmp_path / "subs.vtt")
    model = saved_model(tmp_path / "model", keypoint_extractor=LEGACY)
    for command in (["align", str(tmp_path / "ep.npz"), str(tmp_path / "subs.vtt"), "-o", str(tmp_path / "a.vtt")],
                    ["translate", str(tmp_path / "ep.npz"), "-o", str(tmp_path / "t.vtt")]):  # fmt: skip
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            assert main([*command, "--model", model, "--num-beams", "1", "--no-progress"]) == 0
        assert "mediapipe-holistic tasks 0.10.21" in caplog.text and "differs in: backend" in caplog.text


def test_real_extraction_records_its_extractor_and_the_pipeline_checks_it(legacy_python, tmp_path, monkeypatch,
                                                                          caplog):  # fmt: skip
    """`signllm extract` (legacy MediaPipe) on the real 1.96 s How2Sign clip; then the pipeline on the .mp4 itself
    chooses the legacy graph from $SIGNLLM_LEGACY_PYTHON, runs a 12.5 fps model, and warns about a model trained
    on another MediaPipe version."""
    from signllm.train.cli import main

    monkeypatch.setenv("SIGNLLM_LEGACY_PYTHON", legacy_python)
    monkeypatch.delenv("SIGNLLM_HOLISTIC_MODEL", raising=False)
    clip = shared_data_path("how2sign_samples", "clips_train_unlabeled", "_5LwGjy_bY8_5-5-rgb_front.mp4")
    video = tmp_path / clip.name
    shutil.copy(clip, video)
    assert main(["extract", str(video), "-o", str(tmp_path / "kp"), "--backend", "legacy", "--no-progress"]) == 0
    npz, pose = tmp_path / "kp" / f"{clip.stem}.npz", tmp_path / "kp" / f"{clip.stem}.pose"
    recorded = keypoint_reading.read_extractor(npz)
    assert recorded == keypoint_reading.read_extractor(pose)
    assert recorded["backend"] == "legacy" and recorded["version"].startswith("0.10")
    assert recorded["settings"]["model_complexity"] == 1

    processor = processor_at(12.5, num_frames=48, min_seconds=1.0, keypoint_extractor={**recorded, "version": "9.9"})
    pipe = SignTranslationPipeline(model=tiny_model(num_frames=48), processor=processor, device=-1)
    with caplog.at_level(logging.WARNING):
        result = pipe(str(video), task="ssa", subtitle="Hello there", prior=(0.5, 1.5), num_beams=1)
    assert 0.0 <= result["start"] < result["end"] <= 49 / 25 + 1 / 12.5
    assert "differs in: version" in caplog.text
    from_file = pipe.preprocess(str(npz))  # the extracted file and the video give the same model input
    from_video = pipe.preprocess(str(video))
    np.testing.assert_array_equal(from_file["pose_values"].numpy(), from_video["pose_values"].numpy())


def test_prepared_dataset_and_training_record_the_extractor(tmp_path):
    from signllm.train.cli import main
    from signllm.train.slt.data import record_keypoint_extractor

    root = tmp_path / "corpus"
    (root / "videos").mkdir(parents=True)
    seq = keypoint_io.read_keypoints(shared_data_path(*SIGNSUISSE))
    seq.extractor = LEGACY
    for name in ("a", "b"):
        keypoint_io.write_npz(root / "poses" / f"{name}.npz", seq)
        (root / "subtitles").mkdir(exist_ok=True)
        (root / "subtitles" / f"{name}.vtt").write_text("WEBVTT\n\n00:00:00.500 --> 00:00:02.000\nHello there.\n")
    assert main(["data", "prepare", "folder", str(root), "--output", str(tmp_path / "data"), "--keypoints",
                 str(root / "poses")]) == 0  # fmt: skip
    import json

    info = json.loads((tmp_path / "data" / "dataset_info.json").read_text())
    assert info["keypoint_extractors"] == [{"extractor": LEGACY, "files": 2}]
    processor = processor_at(25.0)
    assert record_keypoint_extractor(processor, [str(tmp_path / "data")]) == LEGACY
    assert processor.keypoint_extractor == LEGACY
    assert keypoint_reading.describe_extractor(LEGACY) == (
        "mediapipe-holistic legacy 0.10.21 (model_complexity=1, refine_face_landmarks=False, target_fps=25.0)"
    )
