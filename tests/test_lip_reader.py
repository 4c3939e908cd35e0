"""The Auto-AVSR lip reader module (tiny configs), the checkpoint converter and windowed lip-feature extraction."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import shared_data_path
from signllm.configuration_signllm import SignLLMConfig, SignLLMLipEncoderConfig
from signllm.modeling_lip_reader import SignLLMLipReader, SignLLMLipReaderAttention, relative_positional_encoding
from signllm.processing import lip_features
from signllm.processing import lip_reader_convert as convert
from signllm.processing.mouth_crops import crop_mouth, crops_to_model_input, prepare_anchors


def tiny_config() -> dict:
    return SignLLMConfig.from_preset("tiny").lip_config.lip_reader_config


def randomised_reader(seed: int = 0, config: dict | None = None) -> SignLLMLipReader:
    """A tiny reader whose every tensor (BatchNorm statistics included) is random, so a bad load shows."""
    torch.manual_seed(seed)
    model = SignLLMLipReader(config or tiny_config())
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("running_var"):
                tensor.uniform_(0.5, 1.5)
            elif tensor.is_floating_point():
                tensor.normal_(0.0, 0.2)
    return model


def frames(batch: int = 2, time: int = 9, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, time, 1, 88, 88, generator=torch.Generator().manual_seed(seed))


def test_auto_avsr_key_names_shapes_and_size():
    """Paper-size reader on the meta device: Auto-AVSR key names/shapes and 182 M parameters (architecture §7)."""
    with torch.device("meta"):
        model = SignLLMLipReader(SignLLMLipEncoderConfig().lip_reader_config)
    shapes = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    expected = {
        "frontend.frontend3D.0.weight": (64, 1, 5, 7, 7),
        "frontend.frontend3D.1.running_var": (64,),
        "frontend.trunk.layer1.0.conv1.weight": (64, 64, 3, 3),
        "frontend.trunk.layer2.0.downsample.0.weight": (128, 64, 1, 1),
        "frontend.trunk.layer4.1.bn2.weight": (512,),
        "proj_encoder.weight": (768, 512),
        "encoder.encoders.0.self_attn.pos_bias_u": (12, 64),
        "encoder.encoders.0.self_attn.linear_pos.weight": (768, 768),
        "encoder.encoders.0.feed_forward_macaron.w_1.weight": (3072, 768),
        "encoder.encoders.0.conv_module.pointwise_cov1.weight": (1536, 768, 1),
        "encoder.encoders.0.conv_module.depthwise_conv.weight": (768, 1, 31),
        "encoder.encoders.0.conv_module.pointwise_cov2.weight": (768, 768, 1),
        "encoder.encoders.11.norm_final.bias": (768,),
        "encoder.after_norm.weight": (768,),
    }
    for key, shape in expected.items():
        assert shapes[key] == shape, key
    assert "frontend.trunk.layer1.0.downsample.0.weight" not in shapes  # stage 1 keeps width and stride
    assert not any(key.startswith(("decoder.", "ctc.", "encoder.embed")) for key in shapes)
    assert len([k for k in shapes if k.endswith("pos_bias_v")]) == 12
    num_parameters = sum(p.numel() for p in model.parameters())
    assert 181e6 < num_parameters < 183e6


def test_forward_shapes_frozen_and_eval_kept():
    model = randomised_reader()
    out = model(frames())
    assert out.shape == (2, 9, 24)
    assert torch.isfinite(out).all()
    assert not out.requires_grad and not any(p.requires_grad for p in model.parameters())
    parent = torch.nn.Sequential(model)
    parent.train()
    assert not model.training  # BatchNorm statistics must not move under a training parent
    model.unfreeze().train()
    assert model.training and model(frames()).requires_grad


def test_padding_invariance_batched_equals_single():
    model = randomised_reader()
    x = frames(batch=2, time=12)
    padding_mask = torch.zeros(2, 12, dtype=torch.bool)
    padding_mask[1, 7:] = True
    batched = model(x, padding_mask)
    alone = model(x[1:2, :7])
    torch.testing.assert_close(batched[1, :7], alone[0], atol=1e-5, rtol=1e-5)
    assert (batched[1, 7:] == 0).all()
    torch.testing.assert_close(batched[0], model(x[:1])[0], atol=1e-5, rtol=1e-5)


def test_frames_mix_in_time():
    """The Conv3d stem (kernel 5) and the Conformer both see neighbouring frames: changing frame 0 moves frame 3."""
    model = randomised_reader()
    x = frames(batch=1, time=8)
    y = x.clone()
    y[0, 0] += 1.0
    assert not torch.allclose(model(x)[0, 3], model(y)[0, 3])


def test_rel_shift_selects_offset_i_minus_j():
    t, heads = 6, 2
    scores = torch.randn(1, heads, t, 2 * t - 1)  # column c = offset (t-1) - c
    shifted = SignLLMLipReaderAttention.rel_shift(scores)
    for i in range(t):
        for j in range(t):
            torch.testing.assert_close(shifted[0, :, i, j], scores[0, :, i, (t - 1) - (i - j)])
    table = relative_positional_encoding(t, 8, torch.float32, "cpu")
    assert table.shape == (1, 2 * t - 1, 8)
    torch.testing.assert_close(table[0, t - 1], torch.tensor([0.0, 1.0] * 4))  # offset 0: sin 0, cos 0


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (torch.randn(2, 9, 88, 88), "batch, time, 1"),
        (torch.randn(1, 4, 3, 88, 88), "batch, time, 1"),
        (torch.full((1, 4, 1, 88, 88), float("nan")), "NaN"),
        (torch.zeros(1, 4, 1, 88, 88, dtype=torch.uint8), "float"),
    ],
)
def test_bad_frames_raise_value_error(bad, message):
    with pytest.raises(ValueError, match=message):
        randomised_reader()(bad)


def test_bad_padding_mask_and_config_raise_value_error():
    model = randomised_reader()
    with pytest.raises(ValueError, match="padding_mask"):
        model(frames(), torch.zeros(2, 9))
    with pytest.raises(ValueError, match="divisible"):
        SignLLMLipReader({**tiny_config(), "num_attention_heads": 5})
    with pytest.raises(ValueError, match="unknown keys"):
        SignLLMLipReader({**tiny_config(), "dropout": 0.1})
    with pytest.raises(ValueError, match="odd"):
        SignLLMLipReader({**tiny_config(), "conv_kernel_size": 4})


def fake_auto_avsr_checkpoint(model: SignLLMLipReader, layout: str) -> dict:
    """Save `model` the way Auto-AVSR checkpoints look, with a text decoder and CTC head beside it."""
    state = {key: value.clone() for key, value in model.state_dict().items()}
    if layout == "legacy":  # older ESPnet E2E: frontend and projection inside the encoder
        state = {("encoder." + k if k.startswith("frontend.") else k): v for k, v in state.items()}
        state["encoder.embed.0.weight"] = state.pop("proj_encoder.weight")
        state["encoder.embed.0.bias"] = state.pop("proj_encoder.bias")
    state["decoder.embed.0.weight"] = torch.randn(11, 24)
    state["decoder.decoders.0.self_attn.linear_q.weight"] = torch.randn(24, 24)
    state["ctc.ctc_lo.weight"] = torch.randn(11, 24)
    state["ctc.ctc_lo.bias"] = torch.randn(11)
    if layout == "lightning":
        return {"state_dict": {"model." + k: v for k, v in state.items()}, "epoch": 3}
    return state


@pytest.mark.parametrize("layout", ["plain", "lightning", "legacy"])
def test_converter_round_trip_gives_identical_outputs(tmp_path, layout):
    reference = randomised_reader(seed=3)
    checkpoint = tmp_path / "vsr.pth"
    torch.save(fake_auto_avsr_checkpoint(reference, layout), checkpoint)
    assert convert.main([str(checkpoint), str(tmp_path / "out")]) == 0
    assert json.loads((tmp_path / "out" / convert.CONFIG_NAME).read_text()) == tiny_config()
    loaded = convert.load_lip_reader(tmp_path / "out")
    direct = SignLLMLipReader(tiny_config())
    direct.load_state_dict(reference.state_dict())
    x = frames(seed=5)
    torch.testing.assert_close(loaded(x), direct(x), atol=0, rtol=0)
    assert loaded.frozen and not loaded.training


def test_converter_reports_missing_unexpected_and_shape_errors(tmp_path):
    state = fake_auto_avsr_checkpoint(randomised_reader(), "plain")
    broken = dict(state)
    del broken["encoder.encoders.1.conv_module.norm.running_mean"]
    broken["encoder.extra_head.weight"] = torch.zeros(3)
    torch.save(broken, tmp_path / "broken.pth")
    with pytest.raises(ValueError, match=r"missing 1: \['encoder.encoders.1.conv_module.norm.running_mean'\]"):
        convert.convert_auto_avsr_checkpoint(tmp_path / "broken.pth", tmp_path / "out")
    reshaped = dict(state)
    reshaped["encoder.encoders.0.norm_ff.weight"] = torch.zeros(5)
    torch.save(reshaped, tmp_path / "reshaped.pth")
    with pytest.raises(ValueError, match="shape mismatches 1"):
        convert.convert_auto_avsr_checkpoint(tmp_path / "reshaped.pth", tmp_path / "out")
    torch.save({"optimizer": {"lr": 1.0}}, tmp_path / "empty.pth")
    with pytest.raises(ValueError, match="no state dict"):
        convert.load_checkpoint(tmp_path / "empty.pth")
    assert convert.main([str(tmp_path / "missing.pth"), str(tmp_path / "out")]) == 1


def test_inferred_config_of_paper_size_keys():
    with torch.device("meta"):
        model = SignLLMLipReader(SignLLMLipEncoderConfig().lip_reader_config)
    assert convert.infer_lip_reader_config(model.state_dict()) == SignLLMLipEncoderConfig().lip_reader_config


# --- lip features over a video ------------------------------------------------------------------------------------


def synthetic_clip(num_frames: int, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """Textured RGB frames and a full face mesh (pixels) drifting slowly across them."""
    from test_mouth_crops import similarity, synthetic_frame, synthetic_mesh

    rng = np.random.default_rng(seed)
    frames, meshes = [], []
    for i in range(num_frames):
        transform = similarity(1.3 + 0.01 * i, 3.0 * np.sin(i / 4), (150.0 + 2 * i, 60.0))
        frame = synthetic_frame(transform)
        frame = np.clip(frame.astype(int) + rng.integers(-30, 30, frame.shape), 0, 255).astype(np.uint8)
        frames.append(frame)
        meshes.append(synthetic_mesh(transform))
    return frames, np.stack(meshes)


def test_plan_windows_tile_every_frame_once():
    for num_frames, window, context in [(5, 200, 25), (200, 200, 25), (201, 200, 25), (1000, 200, 25), (37, 10, 0)]:
        windows = lip_features.plan_windows(num_frames, window, context)
        covered = np.concatenate([np.arange(w.core_start, w.core_end) for w in windows])
        np.testing.assert_array_equal(covered, np.arange(num_frames))
        assert all(w.end - w.start <= window and w.start <= w.core_start < w.core_end <= w.end for w in windows)
        inner = [w for w in windows if 0 < w.core_start and w.core_end < num_frames]
        assert all(w.core_start - w.start == context and w.end - w.core_end == context for w in inner)
    with pytest.raises(ValueError, match="window - 2"):
        lip_features.plan_windows(100, 10, 5)


def test_lip_features_match_the_reader_on_each_window():
    frames, mesh = synthetic_clip(23)
    model = randomised_reader(seed=4)
    anchors, reference = prepare_anchors(mesh)
    crops = np.stack([crop_mouth(f, a, reference) for f, a in zip(frames, anchors)])
    inputs = torch.from_numpy(crops_to_model_input(crops))
    whole = lip_features.extract_lip_features(frames, mesh, model, window=64, context=4)
    assert whole.shape == (23, 24) and whole.dtype == np.float32
    torch.testing.assert_close(torch.from_numpy(whole), model(inputs[None])[0], atol=1e-5, rtol=1e-5)
    windowed = lip_features.extract_lip_features(frames, mesh, model, window=12, context=3, batch_size=2)
    for w in lip_features.plan_windows(23, 12, 3):
        expected = model(inputs[None, w.start : w.end])[0, w.core_start - w.start : w.core_end - w.start]
        torch.testing.assert_close(
            torch.from_numpy(windowed[w.core_start : w.core_end]), expected, atol=1e-5, rtol=1e-5
        )
    assert not np.allclose(windowed, whole, atol=1e-4)  # windows see less context than one pass


def test_lip_features_from_203_keypoints_and_frame_count_checks():
    from test_mouth_crops import FACE_MESH_INDICES

    frames, mesh = synthetic_clip(10)
    values = np.zeros((10, 203, 3), dtype=np.float32)
    values[:, 33:161] = mesh[:, list(FACE_MESH_INDICES)]  # pixels, as our keypoint files store them
    mask = np.ones((10, 203), dtype=bool)
    keypoints = SimpleNamespace(values=values, mask=mask)
    model = randomised_reader()
    features = lip_features.extract_lip_features(frames, keypoints, model, window=8, context=2)
    assert features.shape == (10, 24) and np.isfinite(features).all()
    shorter = lip_features.extract_lip_features(frames[:8], keypoints, model, window=8, context=2)
    assert shorter.shape == (10, 24)  # two lost trailing frames repeat the last crop
    with pytest.raises(ValueError, match="video has 7 frames but the keypoints have 10"):
        lip_features.extract_lip_features(frames[:7], keypoints, model)
    with pytest.raises(ValueError, match="more than 10"):
        lip_features.extract_lip_features(frames + frames[:3], mesh[:8], model)
    with pytest.raises(ValueError, match="extracted at 1280×720 but the video is 640×480"):
        lip_features.extract_lip_features(
            frames, SimpleNamespace(values=values, mask=mask, width=1280, height=720), model
        )
    no_face = SimpleNamespace(values=values, mask=np.zeros_like(mask))
    with pytest.raises(ValueError, match="no frame has a detected face"):
        lip_features.extract_lip_features(frames, no_face, model)


def test_lip_features_decode_a_real_video_path():
    from signllm.processing.video import iter_video_frames
    from test_mouth_crops import similarity, synthetic_mesh

    clip = min(shared_data_path("how2sign_samples", "clips_train_unlabeled").glob("*.mp4"))
    num_frames = sum(1 for _ in iter_video_frames(clip))
    # the face of this signer sits near (x 640, y 200) in 1280×720; a rough fixed face box is enough for plumbing
    mesh = np.repeat(synthetic_mesh(similarity(0.9, 0.0, (520.0, 80.0)))[None], num_frames, axis=0)
    features = lip_features.extract_lip_features(clip, mesh, randomised_reader(), window=40, context=5, batch_size=2)
    assert features.shape == (num_frames, 24) and np.isfinite(features).all()
