"""ISLR recipe: data, metrics, Trainer run on real GISLR landmarks, resume, late fusion, ISLR -> SLT weight transfer."""

import csv
import json
import logging

import numpy as np
import pytest
import torch
from conftest import shared_data_path
from signllm.configuration_signllm_islr import SignLLMClassificationConfig
from signllm.modeling_backbones import SignLLMPoseEncoder
from signllm.modeling_signllm_islr import SignLLMForSignClassification
from signllm.train.evaluation.islr_metrics import islr_accuracy, topk_hits
from signllm.train.islr.recipe import (
    SignClipDataset,
    build_model,
    clip_frame_indices,
    collate_sign_clips,
    evaluate_islr,
    export_backbone,
    load_backbone_weights,
    predict_logits,
    read_clip_list,
    read_keypoint_clip,
    resolve_config,
    train_islr,
)

SMALL_POSE = "model.overrides.pose_config={agcn_in_channels: 4, articulator_hidden_size: 8}"



@pytest.fixture(scope="module")
def gislr():
    return shared_data_path("gislr_asl_signs_subset")


def write_manifest(path, clips, lip_dir=None):
    """A CSV manifest over GISLR clips (absolute keypoint paths), optionally with random lip features."""
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["path", "label", "lip_path", "split"])
        for index, clip in enumerate(clips):
            lip = ""
            if lip_dir is not None:
                lip = str(lip_dir / f"{index}.npy")
                np.save(lip, np.random.default_rng(index).normal(size=(20, 24)).astype(np.float32))
            writer.writerow([clip.keypoints_path, clip.label, lip, "train"])
    return path


def balanced(clips, per_label):
    by_label = {}
    for clip in clips:
        by_label.setdefault(clip.label, []).append(clip)
    return [clip for label in sorted(by_label) for clip in by_label[label][:per_label]]


# ------------------------------------------------------------------------------------------------ data + metrics
def test_clip_frame_indices():
    np.testing.assert_array_equal(clip_frame_indices(3, 5, "resample", None), [0, 1, 2, -1, -1])
    np.testing.assert_array_equal(clip_frame_indices(9, 5, "resample", None), [0, 2, 4, 6, 8])
    np.testing.assert_array_equal(clip_frame_indices(9, 5, "crop", None), [2, 3, 4, 5, 6])  # centred
    crops = {tuple(clip_frame_indices(9, 5, "crop", np.random.default_rng(s))) for s in range(20)}
    assert len(crops) > 1 and all(np.all(np.diff(c) == 1) for c in crops)  # random contiguous windows
    with pytest.raises(ValueError, match="empty"):
        clip_frame_indices(0, 5, "crop", None)


def test_islr_accuracy_hand_computed():
    scores = np.array([[0.9, 0.1, 0.0], [0.2, 0.5, 0.3], [0.1, 0.3, 0.6], [0.5, 0.4, 0.1]])
    labels = np.array([0, 2, 2, 1])
    # top-1: clip 0 and 2 right -> 2/4; per class: class 0 1/1, class 1 0/1, class 2 1/2 -> 0.5
    result = islr_accuracy(scores, labels, top_k=(1, 2))
    assert result["top1"] == pytest.approx(0.5) and result["top1_per_class"] == pytest.approx(0.5)
    # top-2: all but none missing -> clip 1 (label 2 is 2nd) ok, clip 3 (label 1 is 2nd) ok -> 1.0
    assert result["top2"] == pytest.approx(1.0) and result["top2_per_class"] == pytest.approx(1.0)
    # ties count against the prediction: constant scores are not "correct"
    assert not topk_hits(np.zeros((2, 3)), np.array([0, 1]), 1).any()
    with pytest.raises(ValueError, match="class ids"):
        islr_accuracy(scores, np.array([0, 1, 2, 3]))


def test_evaluate_metric_module():
    import evaluate
    from signllm.train.evaluation import METRICS_DIR

    metric = evaluate.load(str(METRICS_DIR / "signllm_islr_accuracy"))
    scores = [[0.9, 0.1, 0.0], [0.2, 0.5, 0.3], [0.1, 0.3, 0.6], [0.5, 0.4, 0.1]]
    result = metric.compute(predictions=scores, references=[0, 2, 2, 1], top_k=[1, 5])
    assert result == {"top1": 0.5, "top1_per_class": 0.5, "top5": 1.0, "top5_per_class": 1.0}


def test_read_gislr_and_dataset(gislr):
    clips = read_clip_list(gislr)
    assert len(clips) == 126 and {c.label for c in clips} == {"hello", "thankyou"}
    assert read_clip_list(gislr, "val") == []  # train.csv has no split column: it is all training data
    dataset = SignClipDataset(clips[:3], {"hello": 0, "thankyou": 1}, clip_length=8)
    item = dataset[0]
    assert item["pose_values"].shape == (8, 203, 3) and item["joint_mask"].shape == (8, 203)
    assert item["pose_attention_mask"].shape == (8,) and item["labels"] == 0
    assert np.isfinite(item["pose_values"]).all()
    assert not item["pose_values"][~item["joint_mask"]].any()  # missing (NaN) landmarks -> masked zeros
    # shoulders normalised: mean shoulder width ~1 over the valid frames
    valid = item["joint_mask"][:, 11] & item["joint_mask"][:, 12]
    width = np.linalg.norm(item["pose_values"][valid, 11] - item["pose_values"][valid, 12], axis=-1).mean()
    assert 0.6 < width < 1.5
    batch = collate_sign_clips([dataset[i] for i in range(3)])
    assert batch["joint_mask"].dtype == torch.bool and batch["labels"].tolist() == [0, 0, 0]


def test_read_prepared_dataset_folder(tmp_path, gislr):
    import pyarrow as pa
    import pyarrow.parquet as pq

    source = read_clip_list(gislr)[:2]
    (tmp_path / "signs").mkdir()
    rows = [{"keypoints_path": c.keypoints_path, "label": c.label, "start": 10.2, "end": 10.6, "keypoints_offset": 10.0,
             "lip_path": None, "signer": "p1"} for c in source]  # fmt: skip
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "signs" / "val.parquet")
    clips = read_clip_list(tmp_path, "val")
    assert [c.label for c in clips] == [c.label for c in source]
    assert clips[0].start == pytest.approx(0.2) and clips[0].end == pytest.approx(0.6)
    item = SignClipDataset(clips, {"hello": 0, "thankyou": 1}, clip_length=16)[0]
    num_frames = len(read_keypoint_clip(clips[0].keypoints_path)[0])
    assert item["pose_attention_mask"].sum() == min(15, num_frames) - 5  # frames 5..14: 0.2 s .. 0.6 s at 25 fps
    with pytest.raises(ValueError, match="no signs/train"):
        read_clip_list(tmp_path, "train")


# ------------------------------------------------------------------------------------------------------ training
def run_config(tmp_path, manifest, *overrides):
    return resolve_config(["islr_tiny_debug"], [
        f"data.train={manifest}", f"output_dir={tmp_path / 'run'}", SMALL_POSE, "training.disable_tqdm=true",
        "training.per_device_train_batch_size=8", *overrides,
    ])  # fmt: skip


def test_tiny_classifier_improves_top1_on_real_gislr(tmp_path, gislr):
    """End to end with the Trainer recipe (AdamW, warm-up + cosine) on 16 real GISLR clips (8 hello, 8 thankyou).

    CE + articulator masking only: the auxiliary and contrastive terms slow the first steps of a tiny random model
    beyond a test budget (all terms train together in `test_all_losses_train_together`).
    """
    manifest = write_manifest(tmp_path / "train.csv", balanced(read_clip_list(gislr), 8))
    run = run_config(
        tmp_path, manifest, f"data.eval={manifest}", "data.eval_split=train", "training.max_steps=24",
        "training.save_strategy='no'", "training.eval_strategy='no'",
        "model.overrides.use_articulator_loss=false", "model.overrides.use_contrastive_loss=false",
    )  # fmt: skip
    from transformers import set_seed

    clips = read_clip_list(manifest)
    set_seed(run["training"]["seed"])  # train_islr seeds the same way: this is its initial model
    before_model = build_model(run, ["hello", "thankyou"])
    before = islr_accuracy(*predict_logits(before_model, SignClipDataset(clips, before_model.config.label2id, 8)))
    metrics = train_islr(run)
    assert metrics["eval_top1"] >= before["top1"] + 0.125, (before, metrics)  # at least 2 more of 16 clips right
    final = tmp_path / "run" / "final"
    assert (final / "model.safetensors").is_file() and (final / "run_config.yaml").is_file()
    reloaded = SignLLMForSignClassification.from_pretrained(final)
    assert reloaded.config.id2label == {0: "hello", 1: "thankyou"}
    history = json.loads((final / "trainer_state.json").read_text())["log_history"]
    logged = [entry["loss"] for entry in history if "loss" in entry]
    assert len(logged) == 12 and np.mean(logged[-3:]) < np.mean(logged[:3])
    assert all("classification_loss" in entry for entry in history if "loss" in entry)


def test_all_losses_train_together(tmp_path, gislr):
    """CE + articulator auxiliary + contrastive + masking: a few Trainer steps on 8 real clips lower every term."""
    clips = read_clip_list(gislr)[:8]
    manifest = write_manifest(tmp_path / "train.csv", clips)
    run = run_config(tmp_path, manifest, "training.max_steps=12", "training.save_strategy='no'",
                     "training.eval_strategy='no'")
    from transformers import set_seed

    set_seed(run["training"]["seed"])
    model = build_model(run, ["hello", "thankyou"])
    batch = collate_sign_clips([SignClipDataset(clips, model.config.label2id, 8)[i] for i in range(8)])

    def eval_losses(m):
        with torch.no_grad():
            out = m.eval()(**batch)
        return out.loss.item(), out.classification_loss.item(), out.contrastive_loss.item()

    before = eval_losses(model)
    train_islr(run)
    after = eval_losses(SignLLMForSignClassification.from_pretrained(tmp_path / "run" / "final"))
    assert after[0] < before[0] - 0.1, (before, after)
    assert after[1] < before[1] and after[2] < before[2], (before, after)


def test_cli_train_resume_and_export(tmp_path, gislr, caplog):
    from signllm.train.cli import main

    manifest = write_manifest(tmp_path / "train.csv", read_clip_list(gislr)[:4])
    common = ["train", "islr", "--config", "islr_tiny_debug", "--set", f"data.train={manifest}",
              "--set", f"output_dir={tmp_path / 'run'}", "--set", SMALL_POSE, "--set", "training.disable_tqdm=true",
              "--set", "training.per_device_train_batch_size=2", "--set", "training.save_strategy=steps",
              "--set", "training.save_steps=1", "--set", "model.overrides.use_articulator_loss=false"]  # fmt: skip
    assert main(common + ["--set", "training.max_steps=2"]) == 0
    assert (tmp_path / "run" / "checkpoint-2").is_dir()
    # the job died while writing checkpoint-2's weights: resume falls back to checkpoint-1, with a warning
    weights = tmp_path / "run" / "checkpoint-2" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1000])
    with caplog.at_level(logging.WARNING, logger="signllm.train.run_config"):
        assert main(common + ["--set", "training.max_steps=3", "--resume"]) == 0
    assert "resuming from checkpoint-1" in caplog.text and "checkpoint-2: model.safetensors is incomplete" in caplog.text
    state = json.loads((tmp_path / "run" / "checkpoint-3" / "trainer_state.json").read_text())
    assert state["global_step"] == 3
    assert [e["step"] for e in state["log_history"] if "loss" in e] == [2]  # logging_steps=2: step 2 trained again
    output = tmp_path / "backbone.safetensors"
    assert main(["train", "islr-export", str(tmp_path / "run" / "final"), "-o", str(output)]) == 0
    assert output.is_file()


# --------------------------------------------------------------------------------------------- late fusion
def test_late_fusion_evaluation(tmp_path, gislr):
    clips = balanced(read_clip_list(gislr), 3)
    (tmp_path / "lip").mkdir()
    manifest = write_manifest(tmp_path / "test.csv", clips, lip_dir=tmp_path / "lip")
    labels = {0: "hello", 1: "thankyou"}
    for modality in ("pose", "lip"):
        torch.manual_seed(0)
        config = SignLLMClassificationConfig.from_preset("tiny", modality=modality, id2label=labels,
                                                         use_contrastive_loss=False, pose_config={"agcn_in_channels": 4})
        SignLLMForSignClassification(config).save_pretrained(tmp_path / modality)
    results = evaluate_islr([tmp_path / "pose", tmp_path / "lip"], manifest, split="train")
    assert set(results) == {"pose", "lip", "fusion"}
    pose = SignLLMForSignClassification.from_pretrained(tmp_path / "pose")
    lip = SignLLMForSignClassification.from_pretrained(tmp_path / "lip")
    pose_logits, y = predict_logits(pose, SignClipDataset(read_clip_list(manifest), pose.config.label2id, 8))
    lip_logits, _ = predict_logits(lip, SignClipDataset(read_clip_list(manifest), lip.config.label2id, 8, ("lip",)))
    assert results["fusion"] == islr_accuracy(0.7 * pose_logits + 0.3 * lip_logits, y)
    assert results["pose"] == islr_accuracy(pose_logits, y)


# ---------------------------------------------------------------------------------------- ISLR -> SLT transfer
def _trained_like_classifier(modality: str, tmp_path, **pose_config) -> SignLLMForSignClassification:
    """A tiny classifier whose BatchNorm statistics moved (as after training), saved to ``tmp_path/modality``."""
    torch.manual_seed(3 if modality == "pose" else 4)
    config = SignLLMClassificationConfig.from_preset("tiny", modality=modality, id2label={0: "a", 1: "b"},
                                                     use_contrastive_loss=False, pose_config=pose_config)  # fmt: skip
    model = SignLLMForSignClassification(config).train()
    with torch.no_grad():
        if modality == "pose":
            model(pose_values=torch.randn(2, 8, 203, 3))
        else:
            model(lip_values=torch.randn(2, 8, 24))
    model.save_pretrained(tmp_path / modality)
    return model.eval()


def test_transfer_round_trip_into_backbone_wrapper(tmp_path):
    classifier = _trained_like_classifier("pose", tmp_path, agcn_in_channels=4)
    output = tmp_path / "backbones.safetensors"
    keys = export_backbone(tmp_path / "pose", output)
    assert keys and all(k.startswith("pose_encoder.") for k in keys)

    class Wrapper(torch.nn.Module):  # the SLT model's attribute name for the pose backbone
        def __init__(self):
            super().__init__()
            torch.manual_seed(99)
            self.pose_encoder = SignLLMPoseEncoder(classifier.config.pose_config)

    wrapper = Wrapper().eval()
    pose = torch.randn(2, 8, 203, 3)
    assert not torch.allclose(wrapper.pose_encoder(pose).pooled, classifier.pose_encoder(pose).pooled)
    assert load_backbone_weights(wrapper, output) == keys
    expected = classifier.pose_encoder(pose)
    got = wrapper.pose_encoder(pose)
    torch.testing.assert_close(got.pooled, expected.pooled, rtol=0, atol=0)
    torch.testing.assert_close(got.last_hidden_state, expected.last_hidden_state, rtol=0, atol=0)
    # a wrong-size backbone is refused with the offending key named
    torch.manual_seed(0)
    other = Wrapper()
    other.pose_encoder = SignLLMPoseEncoder(SignLLMClassificationConfig.from_preset("tiny").pose_config)
    with pytest.raises(ValueError, match="shape"):
        load_backbone_weights(other, output)


def test_transfer_round_trip_into_slt_model(tmp_path):
    """Pose + lip ISLR backbones -> one file -> SignLLMForConditionalGeneration: identical backbone outputs."""
    from signllm import modeling_signllm as modeling
    from signllm.configuration_signllm import SignLLMConfig

    pose_classifier = _trained_like_classifier("pose", tmp_path)
    lip_classifier = _trained_like_classifier("lip", tmp_path)
    output = tmp_path / "backbones.safetensors"
    export_backbone([tmp_path / "pose", tmp_path / "lip"], output)
    torch.manual_seed(5)
    slt = modeling.SignLLMForConditionalGeneration(SignLLMConfig.from_preset("tiny")).eval()
    loaded = load_backbone_weights(slt, output)
    assert {k.split(".")[0] for k in loaded} == {"pose_encoder", "lip_encoder"}
    pose, lip = torch.randn(2, 8, 203, 3), torch.randn(2, 8, 24)
    torch.testing.assert_close(slt.pose_encoder(pose).pooled, pose_classifier.pose_encoder(pose).pooled, rtol=0, atol=0)
    torch.testing.assert_close(slt.lip_encoder(lip).pooled, lip_classifier.lip_encoder(lip).pooled, rtol=0, atol=0)
    # the dense (sliding) features the SLT model actually feeds the resampler match as well
    window = torch.randn(1, 16, 203, 3)
    torch.testing.assert_close(slt.pose_encoder.dense_features(window)[0],
                               pose_classifier.pose_encoder.dense_features(window)[0], rtol=0, atol=0)  # fmt: skip
    # the model's own loader reads the same file
    torch.manual_seed(6)
    other = modeling.SignLLMForConditionalGeneration(SignLLMConfig.from_preset("tiny")).eval()
    other.load_backbone(output, "pose")
    torch.testing.assert_close(other.pose_encoder(pose).pooled, pose_classifier.pose_encoder(pose).pooled)


def test_islr_eval_on_a_raw_kaggle_folder(gislr, tmp_path, capsys):
    """README's GISLR folder as it comes from Kaggle (train.csv, no split column) with islr-eval's default
    --split test: a clear error naming --split all (not numpy's "need at least one array to concatenate")."""
    from signllm.train.cli import main

    torch.manual_seed(0)
    config = SignLLMClassificationConfig.from_preset("tiny", modality="pose", id2label={0: "hello", 1: "thankyou"},
                                                     use_contrastive_loss=False)  # fmt: skip
    SignLLMForSignClassification(config).save_pretrained(tmp_path / "pose")
    assert main(["train", "islr-eval", str(tmp_path / "pose"), "--data", str(gislr)]) == 2
    error = capsys.readouterr().err
    assert "no 'test' split" in error and "no split column" in error and "--split all" in error
    assert main(["train", "islr-eval", str(tmp_path / "pose"), "--data", str(gislr), "--split", "all"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert set(results) == {"pose"} and 0 <= results["pose"]["top1"] <= 100
    assert len(read_clip_list(gislr, "all")) == len(read_clip_list(gislr, "train")) == 126
