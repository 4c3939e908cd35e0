import json

import pytest
from signllm import SignLLMConfig, SignLLMPoseEncoderConfig


def test_round_trip(tmp_path):
    config = SignLLMConfig.from_preset("tiny")
    config.save_pretrained(tmp_path)
    reloaded = SignLLMConfig.from_pretrained(tmp_path)
    assert reloaded.to_dict() == config.to_dict()
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == "signllm"


def test_paper_preset_derived_sizes():
    config = SignLLMConfig.from_preset("paper")
    assert config.text_config.d_model == 2048
    assert config.resampler_config.hidden_size == 2048
    assert config.resampler_config.input_size == config.pose_config.hidden_size + config.lip_config.hidden_size
    assert config.num_dense_features == 250
    assert config.num_visual_tokens == 122
    c_in = config.pose_config.agcn_in_channels  # multipliers x2, x1, x1.5, x2 compound to 6 * C_in per joint
    assert config.pose_config.agcn_channels == [2 * c_in, 2 * c_in, 3 * c_in, 6 * c_in]
    assert (config.dora_r, config.dora_alpha) == (32, 64)


def test_single_modality_input_size():
    config = SignLLMConfig.from_preset("tiny", use_lip=False)
    assert config.resampler_config.input_size == config.pose_config.hidden_size


@pytest.mark.parametrize(
    "kwargs",
    [{"joint_aggregation": "max"}, {"hidden_size": 30, "num_attention_heads": 4}, {"max_masked_articulators": 5}],
)
def test_invalid_pose_options(kwargs):
    with pytest.raises(ValueError):
        SignLLMPoseEncoderConfig(**kwargs)


def test_invalid_preset_and_modalities():
    with pytest.raises(ValueError, match="allowed values"):
        SignLLMConfig.from_preset("huge")
    with pytest.raises(ValueError):
        SignLLMConfig.from_preset("tiny", use_pose=False, use_lip=False)
