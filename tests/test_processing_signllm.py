"""SignLLMProcessor: input kinds, joint selection, normalisation, windowing, prompts, SSA targets, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import fake_pose, shared_data_path
from signllm.keypoint_layout import FACE_MESH_INDICES, LEFT_SHOULDER, NUM_JOINTS, RIGHT_SHOULDER
from signllm.keypoint_reading import KeypointSequence, keypoints_from_array, resample_sequence
from signllm.processing_signllm import SignLLMProcessor
from signllm_tiny import NUM_FRAMES, how2sign_sentences, random_lip, tiny_processor, train_unigram_tokenizer

BASE_KEYS = {"pose_values", "pose_attention_mask", "pose_joint_mask", "input_ids", "attention_mask", "task_ids"}


@pytest.fixture(scope="module")
def processor() -> SignLLMProcessor:
    return tiny_processor()


def holistic(num_frames: int, num_points: int = 543, seed: int = 0) -> np.ndarray:
    """A full holistic array whose x coordinate encodes the landmark id (so the selection can be read back)."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(num_frames, num_points, 3)).astype(np.float32)
    values[..., 0] = np.arange(num_points, dtype=np.float32)
    return values


def test_keys_shapes_and_masks(processor):
    pose, _ = fake_pose(20, missing_hand_frames=5)
    batch = processor(pose=[pose, pose[:12]], lip=[random_lip(20), None], text=["hello there", "hi"])
    assert set(batch) == BASE_KEYS | {"lip_values", "lip_attention_mask", "labels"}
    assert tuple(batch["pose_values"].shape) == (2, NUM_FRAMES, NUM_JOINTS, 3)
    assert batch["pose_attention_mask"].sum(1).tolist() == [20, 12]
    assert batch["lip_attention_mask"].sum(1).tolist() == [20, 0]  # second sample: lip modality missing
    assert not batch["pose_joint_mask"][0, :5, 161:182].any() and batch["pose_joint_mask"][0, 5:20, 161:182].all()
    assert float(batch["pose_values"][0, 20:].abs().sum()) == 0.0
    assert batch["task_ids"].tolist() == [0, 0]
    assert (batch["labels"][1] == -100).sum() == len("hello there") - len("hi")


def test_pose_only_call_has_no_lip_keys_and_empty_call_raises(processor):
    assert set(processor(pose=fake_pose(16)[0])) == BASE_KEYS
    with pytest.raises(ValueError, match="pose.*lip"):
        processor()


@pytest.mark.parametrize("num_points", [543, 553, 576, 586])
def test_holistic_layouts_select_203_joints(processor, num_points):
    values, mask = keypoints_from_array(holistic(8, num_points))
    face_size = 468 if num_points in (543, 576) else 478
    assert values.shape == (8, NUM_JOINTS, 3)
    np.testing.assert_array_equal(values[0, 33:161, 0], 33 + np.asarray(FACE_MESH_INDICES))
    np.testing.assert_array_equal(values[0, 161:182, 0], 33 + face_size + np.arange(21))
    assert not mask[:, 25:33].any()  # legs hidden


def test_normalisation_centres_and_scales(processor):
    pose, _ = fake_pose(20, seed=3)
    pose[:, LEFT_SHOULDER] = [2.0, 1.0, 0.0]
    pose[:, RIGHT_SHOULDER] = [-2.0, 1.0, 0.0]  # shoulder width 4, centre (0, 1)
    values = processor(pose=pose)["pose_values"][0, :20].numpy()
    np.testing.assert_allclose(values[:, LEFT_SHOULDER], [[0.5, 0.0, 0.0]] * 20, atol=1e-6)
    np.testing.assert_allclose(values[:, RIGHT_SHOULDER], [[-0.5, 0.0, 0.0]] * 20, atol=1e-6)


def test_resampling_to_25_fps(processor):
    pose, mask = fake_pose(40)
    values = resample_sequence(KeypointSequence(pose, mask, 50.0), 25.0).values
    assert values.shape[0] == 20
    np.testing.assert_allclose(values[3], pose[6])
    batch = processor(pose={"values": pose, "mask": mask, "fps": 50.0})
    assert int(batch["pose_attention_mask"].sum()) == 20


def test_bad_inputs_raise_clear_errors(processor):
    pose, _ = fake_pose(20)
    with pytest.raises(ValueError, match="Empty"):
        processor(pose=np.zeros((0, NUM_JOINTS, 3), np.float32))
    with pytest.raises(ValueError, match="missing"):
        processor(pose=np.full((20, NUM_JOINTS, 3), np.nan, np.float32))
    with pytest.raises(ValueError, match="Wrong joint count 100"):
        processor(pose=np.zeros((20, 100, 3), np.float32))
    with pytest.raises(ValueError, match="too short"):
        processor(pose=pose[:2])
    with pytest.raises(ValueError, match="too long"):
        processor(pose=fake_pose(40)[0])
    assert processor(pose=fake_pose(40)[0], truncation="center")["pose_attention_mask"].sum() == NUM_FRAMES
    with pytest.raises(ValueError, match="task"):
        processor(pose=pose, task="islr")
    with pytest.raises(ValueError, match="subtitle"):
        processor(pose=pose, task="ssa")
    with pytest.raises(ValueError, match="Lip"):
        processor(pose=pose, lip=np.zeros((20, 7), np.float32))
    with pytest.raises(ValueError, match="no target"):
        processor(pose=[pose, pose], text=["a", None])


def test_ssa_prompt_targets_and_parsing(processor):
    pose, _ = fake_pose(20)
    batch = processor(pose=pose, task="ssa", subtitle="Hello there", prior=(3, 17), targets=(5, 12))
    assert processor.decode(batch["input_ids"][0]) == "Align the subtitle to the signing: Hello there Prior: 003 017"
    assert processor.decode(batch["labels"][0]) == "005 012"
    assert batch["task_ids"].tolist() == [1]
    assert processor.parse_ssa_output("005 012") == (5, 12)
    assert processor.parse_ssa_output(" 0 0 5 0 1 2 ", return_seconds=True) == (0.2, 0.52)  # end inclusive: 13 / 25
    for bad in ("", "5 to 12", "0051", "012 005", "012 999", "٠٠٥ ٠١٢", "００５ ０１２"):  # non-ASCII digits too
        with pytest.raises(ValueError, match="SSA output"):
            processor.parse_ssa_output(bad)
    with pytest.raises(ValueError, match="start <= end"):
        processor.format_ssa_target(20, 40)


def test_integer_prior_template_from_the_model_config():
    processor = tiny_processor(ssa_prior_template=" Prior: {start:03d} {end:03d}")
    prompt = processor.build_prompt("ssa", "hi", (3, 17))
    assert prompt == "Align the subtitle to the signing: hi Prior: 003 017"


def test_mixed_batch_task_ids_and_labels(processor):
    pose, _ = fake_pose(20)
    batch = processor(pose=[pose, pose], task=["slt", "ssa"], text=["a sentence", None], subtitle=[None, "sub"],
                      targets=[None, (1, 2)])  # fmt: skip
    assert batch["task_ids"].tolist() == [0, 1]
    assert processor.decode(batch["labels"][1][batch["labels"][1] >= 0]) == "001 002"


def test_byte_tokenizer_digits_are_single_tokens(processor):
    assert processor.digit_separator == ""
    ids = processor.tokenizer(processor.format_ssa_target(12, 31), add_special_tokens=False)["input_ids"]
    assert [i for i in ids if i in processor.digit_token_ids] == [
        processor.digit_token_ids[d] for d in (0, 1, 2, 0, 3, 1)
    ]
    assert len(set(processor.digit_token_ids)) == 10


def test_sentencepiece_tokenizer_digits_are_single_tokens():
    tokenizer = train_unigram_tokenizer(
        how2sign_sentences(shared_data_path("how2sign_samples", "how2sign_realigned_val.csv"))
    )
    processor = SignLLMProcessor(tokenizer, num_frames=500)
    target = processor.format_ssa_target(123, 456)
    pieces = tokenizer.tokenize(target)
    assert [p for p in pieces if p.strip("▁")] == list("123456")  # every digit its own token
    digit_ids = processor.digit_token_ids
    labels = tokenizer(target)["input_ids"]
    assert [digit_ids.index(i) for i in labels if i in digit_ids] == [1, 2, 3, 4, 5, 6]
    assert processor.parse_ssa_output(processor.decode(labels)) == (123, 456)


def test_save_load_round_trip(processor, tmp_path):
    processor.save_pretrained(tmp_path)
    reloaded = SignLLMProcessor.from_pretrained(tmp_path)
    assert (reloaded.num_frames, reloaded.min_frames, reloaded.lip_feature_size) == (NUM_FRAMES, 4, 24)
    pose, _ = fake_pose(20)
    a, b = processor(pose=pose, text="hi"), reloaded(pose=pose, text="hi")
    assert set(a) == set(b) and all(bool((a[k] == b[k]).all()) for k in a)


def test_kaggle_parquet_and_table(processor):
    import pandas as pd
    path = next(iter(sorted(shared_data_path("gislr_asl_signs_subset", "train_landmark_files").rglob("*.parquet"))))
    from_path = processor(pose=str(path), truncation="center")
    from_table = processor(pose=pd.read_parquet(path), truncation="center")
    assert bool((from_path["pose_values"] == from_table["pose_values"]).all())
    assert from_path["pose_joint_mask"].any()


def test_pose_format_files(processor):
    folder = shared_data_path("signsuisse_holistic_poses_unlabeled")
    batch = processor(pose=str(next(iter(sorted(folder.glob("*.pose"))))), truncation="center")
    assert int(batch["pose_attention_mask"].sum()) == NUM_FRAMES
    assert batch["pose_joint_mask"][0, :, 33:161].float().mean() > 0.5  # face found
    reduced = processor(pose=str(shared_data_path("pose_format_samples", "mediapipe.pose")), truncation="center")
    assert reduced["pose_joint_mask"][0, :, [11, 12]].all()  # the 8 body points of a reduced file: shoulders kept
    assert not reduced["pose_joint_mask"][0, :, 0].any()  # the nose is not in a reduced file: masked


def test_npz_written_by_the_extraction_tools(processor, tmp_path):
    from signllm.processing import keypoint_io
    pose, mask = fake_pose(40, missing_hand_frames=3)
    keypoint_io.write_npz(tmp_path / "clip.npz", keypoint_io.KeypointSequence(values=pose, mask=mask, fps=50.0))
    from_file = processor(pose=str(tmp_path / "clip.npz"))
    from_array = processor(pose={"values": pose, "mask": mask, "fps": 50.0})
    assert int(from_file["pose_attention_mask"].sum()) == 20  # resampled from 50 to 25 fps
    assert bool((from_file["pose_values"] == from_array["pose_values"]).all())
    assert bool((from_file["pose_joint_mask"] == from_array["pose_joint_mask"]).all())
