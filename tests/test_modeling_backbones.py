"""Pose / lip backbones: shapes, masks, padding invariance, sliding windows, mirroring, missing articulators."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import fake_pose, shared_data_path
from signllm.configuration_signllm import SignLLMConfig, SignLLMPoseEncoderConfig
from signllm.keypoint_layout import ARTICULATOR_SLICES, ARTICULATORS, holistic_to_203, normalize_keypoints
from signllm.modeling_backbones import BackboneOutput, SignLLMLipEncoder, SignLLMPoseEncoder, sliding_windows


def tiny_pose_config(**overrides) -> SignLLMPoseEncoderConfig:
    config = SignLLMConfig.from_preset("tiny").pose_config
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


def pose_batch(lengths: list[int], num_frames: int, seed: int = 0):
    """Batch of fake poses padded to ``num_frames``: values (b, t, 203, 3), frame mask (b, t), joint mask."""
    values = torch.zeros(len(lengths), num_frames, 203, 3)
    joints = torch.zeros(len(lengths), num_frames, 203, dtype=torch.bool)
    frames = torch.zeros(len(lengths), num_frames)
    for i, length in enumerate(lengths):
        pose, mask = fake_pose(length, seed=seed + i, missing_hand_frames=2)
        values[i, :length] = torch.from_numpy(pose)
        joints[i, :length] = torch.from_numpy(mask)
        frames[i, :length] = 1
    return values, frames, joints


@pytest.fixture(scope="module")
def pose_encoder() -> SignLLMPoseEncoder:
    torch.manual_seed(0)
    return SignLLMPoseEncoder(tiny_pose_config()).eval()


def test_pose_forward_and_dense_shapes(pose_encoder):
    values, frames, joints = pose_batch([16, 11], 16)
    output = pose_encoder(values, frames, joints, output_attentions=True, output_articulator_features=True)
    assert isinstance(output, BackboneOutput)
    assert output.last_hidden_state.shape == (2, 16, 32) and output.pooled.shape == (2, 32)
    assert len(output.attentions) == 2 and output.attentions[0].shape == (2, 4, 16, 16)
    assert set(output.articulator_features) == set(ARTICULATORS)
    assert all(f.shape == (2, 16, 16) for f in output.articulator_features.values())
    features, mask = pose_encoder.dense_features(values, frames, joints)
    assert features.shape == (2, 8, 32) and mask.dtype == torch.bool
    # window i is centred on frame 2i: valid iff that frame is valid (11 frames -> centres 0..10 -> 6 windows)
    assert mask.tolist() == [[True] * 8, [True] * 6 + [False] * 2]
    assert torch.all(features[1, 6:] == 0) and torch.isfinite(features).all()


def test_pose_padding_invariance_eval(pose_encoder):
    values, frames, joints = pose_batch([16, 11], 16)
    values[1, 11:] = torch.randn(5, 203, 3)  # padded frames hold garbage
    alone = pose_batch([11], 11, seed=1)
    batched = pose_encoder(values, frames, joints)
    single = pose_encoder(*alone)
    torch.testing.assert_close(batched.last_hidden_state[1, :11], single.last_hidden_state[0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(batched.pooled[1], single.pooled[0], atol=1e-5, rtol=1e-4)
    dense, _ = pose_encoder.dense_features(values, frames, joints)
    dense_single, mask_single = pose_encoder.dense_features(*alone)
    assert mask_single.tolist() == [[True] * 5]
    torch.testing.assert_close(dense[1, :5], dense_single[0], atol=1e-5, rtol=1e-4)


def test_sliding_window_indices_and_counts():
    frames = torch.arange(10.0).view(1, 10, 1)
    windows, window_valid, centre_valid = sliding_windows(frames, torch.ones(1, 10, dtype=torch.bool), 6, 2)
    assert windows.shape == (1, 5, 6, 1)
    # window 1 is centred on frame 2 (position 6 // 2 = 3 inside the window): frames -1..4, frame -1 padded
    assert windows[0, 1, :, 0].tolist() == [0.0, 0.0, 1.0, 2.0, 3.0, 4.0]
    assert window_valid[0, 1].tolist() == [False, True, True, True, True, True]
    assert centre_valid.all()
    config = SignLLMConfig.from_preset("paper")
    padded = torch.zeros(1, 500, 1)
    assert sliding_windows(padded, torch.ones(1, 500, dtype=torch.bool), 24, 2)[0].shape == (1, 250, 24, 1)
    assert config.num_dense_features == 250 and config.num_visual_tokens == 122


def test_hand_mirroring_shares_the_encoder(pose_encoder):
    values, frames, joints = pose_batch([8], 8)
    left = values[:, :, ARTICULATOR_SLICES["left_hand"]]
    mirrored = left * torch.tensor([-1.0, 1.0, 1.0])
    values[:, :, ARTICULATOR_SLICES["right_hand"]] = mirrored
    joints[:, :, ARTICULATOR_SLICES["right_hand"]] = joints[:, :, ARTICULATOR_SLICES["left_hand"]]
    features = pose_encoder.articulator_features(values, frames, joints)
    torch.testing.assert_close(features["right_hand"], features["left_hand"])
    unmirrored = SignLLMPoseEncoder(tiny_pose_config(mirror_right_hand=False)).eval()
    unmirrored.load_state_dict(pose_encoder.state_dict())
    features = unmirrored.articulator_features(values, frames, joints)
    assert not torch.allclose(features["right_hand"], features["left_hand"])


def test_missing_articulators_and_nan_inputs(pose_encoder):
    values, frames, joints = pose_batch([8], 8)
    values[:, :, 161:] = 0.0  # both hands missing in every frame
    joints[:, :, 161:] = False
    output = pose_encoder(values, frames, joints)
    assert torch.isfinite(output.pooled).all() and torch.isfinite(pose_encoder.dense_features(values, frames)[0]).all()
    with_nan = values.clone()
    with_nan[:, :, 161:] = float("nan")  # NaN at masked joints: treated as missing
    torch.testing.assert_close(pose_encoder(with_nan, frames, joints).pooled, output.pooled)
    with pytest.raises(ValueError, match="NaN/inf at a valid joint"):
        pose_encoder(with_nan, frames)  # no joint mask: the NaN joints count as valid
    with pytest.raises(ValueError, match="pose_values must have shape"):
        pose_encoder(values[:, :, :200], frames)
    with pytest.raises(ValueError, match="joint_mask"):
        pose_encoder(values, frames, joints[:, :4])


def test_articulator_masking_only_in_training():
    torch.manual_seed(0)
    encoder = SignLLMPoseEncoder(tiny_pose_config(articulator_masking=True, max_masked_articulators=2))
    joint_valid = torch.ones(64, 4, 203, dtype=torch.bool)
    kept = encoder._mask_articulators(joint_valid)
    per_articulator = torch.stack([kept[:, 0, ARTICULATOR_SLICES[n]].all(1) for n in ARTICULATORS], 1)
    whole = torch.stack([kept[:, 0, ARTICULATOR_SLICES[n]].any(1) for n in ARTICULATORS], 1)
    assert torch.equal(per_articulator, whole)  # articulators are dropped whole
    dropped = (~per_articulator).sum(1)
    assert dropped.max() == 2 and dropped.min() == 0
    values, frames, joints = pose_batch([8, 8], 8)
    encoder.eval()
    torch.testing.assert_close(encoder(values, frames, joints).pooled, encoder(values, frames, joints).pooled)


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    encoder = SignLLMPoseEncoder(tiny_pose_config(articulator_masking=False)).train()
    values, frames, joints = pose_batch([16, 12], 16)
    loss = encoder(values, frames, joints).pooled.pow(2).sum() + encoder.dense_features(values, frames, joints)[0].sum()
    loss.backward()
    for name, parameter in encoder.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, name


def test_mean_joint_aggregation_option():
    encoder = SignLLMPoseEncoder(tiny_pose_config(joint_aggregation="mean")).eval()
    assert encoder.articulator_encoders["face"].output_projection.in_features == encoder.config.agcn_channels[-1]
    assert encoder(*pose_batch([8], 8)).pooled.shape == (1, 32)


def test_lip_encoder_shapes_padding_and_sliding_equals_per_window():
    torch.manual_seed(0)
    config = SignLLMConfig.from_preset("tiny").lip_config
    encoder = SignLLMLipEncoder(config).eval()
    lips = torch.randn(2, 12, config.feature_size)
    mask = torch.tensor([[1] * 12, [1] * 9 + [0] * 3])
    output = encoder(lips, mask)
    assert output.last_hidden_state.shape == (2, 12, 32) and output.pooled.shape == (2, 32)
    torch.testing.assert_close(output.pooled[1], encoder(lips[1:, :9]).pooled[0], atol=1e-5, rtol=1e-4)
    features, window_mask = encoder.dense_features(lips, mask)
    assert features.shape == (2, 6, 32) and window_mask.tolist() == [[True] * 6, [True] * 5 + [False]]
    # the per-frame part of the lip backbone is a Linear, so the sliding scheme == whole backbone per window
    for centre in (0, 4, 10):
        start, stop = max(0, centre - 4), min(12, centre + 4)
        expected = encoder(lips[:1, start:stop]).pooled[0]
        torch.testing.assert_close(features[0, centre // 2], expected, atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="NaN/inf"):
        encoder(torch.full((1, 4, config.feature_size), float("nan")))
    with pytest.raises(ValueError, match="lip_values must have shape"):
        encoder(torch.randn(1, 4, 7))


def test_pose_sliding_equals_per_window_on_short_clip():
    """With fewer frames than the temporal receptive field matters, AGCN-once vs per-window agree in the window
    that covers the whole clip; elsewhere they differ only by the AGCN context (the paper's approximation)."""
    torch.manual_seed(0)
    encoder = SignLLMPoseEncoder(tiny_pose_config(clip_length=16)).eval()
    values, frames, joints = pose_batch([8], 8)
    efficient, mask = encoder.dense_features(values, frames, joints)
    naive, naive_mask = encoder.dense_features_per_window(values, frames, joints)
    assert torch.equal(mask, naive_mask)
    # every 16-frame window centred in an 8-frame clip sees the whole clip: identical AGCN input
    torch.testing.assert_close(efficient, naive, atol=1e-5, rtol=1e-4)


def test_real_gislr_clip_with_missing_hands():
    import pandas
    folder = shared_data_path("gislr_asl_signs_subset", "train_landmark_files")
    path = min(folder.rglob("*.parquet"))
    table = pandas.read_parquet(path)
    frames = int(table["frame"].nunique())
    landmarks = table[["x", "y", "z"]].to_numpy(np.float32).reshape(frames, 543, 3)  # NaN = not detected
    values, mask = normalize_keypoints(*holistic_to_203(landmarks))
    assert not mask[:, 161:].all()  # this clip really has frames without one of the hands
    encoder = SignLLMPoseEncoder(tiny_pose_config()).eval()
    values_t = torch.from_numpy(values)[None]
    output = encoder(values_t, torch.ones(1, frames), torch.from_numpy(mask)[None])
    assert torch.isfinite(output.pooled).all()
    assert encoder.dense_features(values_t, None, torch.from_numpy(mask)[None])[0].shape == (1, frames // 2, 32)


def _load_benchmark():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parent / "benchmarks" / "bench_backbones.py"
    spec = importlib.util.spec_from_file_location("bench_backbones", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, path


def test_benchmark_cost_and_throughput_on_the_tiny_preset(capsys):
    """Fast in-process smoke test of tests/benchmarks/bench_backbones.py parts (a) and (c)."""
    bench, _ = _load_benchmark()
    config = SignLLMConfig.from_preset("tiny")
    costs = bench.report_costs(config, "tiny", lip_reader=False)
    assert costs["pose_clip_flops"] > 0
    bench.report_throughput(config, costs["pose_clip_flops"], frames=16, naive_windows=2, repeats=1, matmul_size=256)
    out = capsys.readouterr().out
    for expected in ("(a) cost", "pose backbone", "(c) CPU inference", "efficiency"):
        assert expected in out


@pytest.mark.slow
def test_benchmark_script_runs_on_the_tiny_preset():
    """The whole script, memory subprocesses included (slow: several interpreter starts)."""
    import subprocess
    import sys

    _, script = _load_benchmark()
    command = [sys.executable, str(script), "--preset", "tiny", "--frames", "32", "--memory-frames", "16", "32",
               "--naive-windows", "2", "--repeats", "1"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    for expected in ("(a) cost", "(b) peak training memory", "ratio", "(c) CPU inference"):
        assert expected in result.stdout


def test_gradient_checkpointing_gives_the_same_gradients_and_running_stats():
    """Checkpointed AGCN layers and Conformer blocks (as transformers' switch sets them) give the same gradients,
    and the recomputation does not update the BatchNorm running statistics a second time."""
    import functools

    from signllm.modeling_conformer import checkpoint_keeping_running_stats
    from torch.utils.checkpoint import checkpoint
    from transformers.modeling_layers import GradientCheckpointingLayer

    config = tiny_pose_config(hidden_dropout=0.0, attention_dropout=0.0)
    values, frames, joints = pose_batch([8, 6], 8)

    def step(checkpointing: bool):
        torch.manual_seed(0)
        encoder = SignLLMPoseEncoder(config).train()
        layers = [m for m in encoder.modules() if isinstance(m, GradientCheckpointingLayer)]
        assert len(layers) == 3 * len(config.agcn_channels) + config.num_hidden_layers
        for layer in layers:
            layer.gradient_checkpointing = checkpointing
            layer._gradient_checkpointing_func = checkpoint_keeping_running_stats(
                functools.partial(checkpoint, use_reentrant=False)
            )
        encoder.dense_features(values, frames, joints)[0].square().sum().backward()
        grads = {name: p.grad.clone() for name, p in encoder.named_parameters()}
        return grads, {name: b.clone() for name, b in encoder.named_buffers() if "running" in name}

    reference, reference_stats = step(False)
    grads, stats = step(True)
    for name, grad in grads.items():
        torch.testing.assert_close(grad, reference[name], atol=1e-5, rtol=1e-4, msg=name)
    for name, value in stats.items():
        torch.testing.assert_close(value, reference_stats[name], atol=0, rtol=0, msg=name)


def test_all_padding_sample_gives_zero_masked_features(pose_encoder):
    values, frames, joints = pose_batch([8], 8)
    features, mask = pose_encoder.dense_features(values, torch.zeros_like(frames), joints)
    assert not mask.any() and torch.all(features == 0)
