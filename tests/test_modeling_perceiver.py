"""Sliding Perceiver: window counts (250 -> 122), token masks, padding invariance, gradients, errors."""

from __future__ import annotations

import pytest
import torch
from signllm.configuration_signllm import SignLLMResamplerConfig
from signllm.modeling_perceiver import SignLLMPerceiverResampler


def make_resampler(**overrides) -> SignLLMPerceiverResampler:
    torch.manual_seed(0)
    kwargs = {"input_size": 24, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
              "window_size": 8, "window_stride": 2, "max_positions": 250}  # fmt: skip
    return SignLLMPerceiverResampler(SignLLMResamplerConfig(**{**kwargs, **overrides}))


def test_250_features_give_122_tokens():
    resampler = make_resampler().eval()
    tokens, token_mask = resampler(torch.randn(2, 250, 24))
    assert tokens.shape == (2, 122, 32) and token_mask.shape == (2, 122) and token_mask.all()
    assert resampler.config.num_windows(250) == 122
    assert resampler.layers[0].ff_in.out_features == 4 * 32  # FFN x4 of the real hidden size


@pytest.mark.parametrize("attend_to_latent", [True, False])
def test_token_mask_and_padding_invariance(attend_to_latent):
    resampler = make_resampler(attend_to_latent=attend_to_latent).eval()
    features = torch.randn(2, 20, 24)
    mask = torch.ones(2, 20, dtype=torch.bool)
    mask[1, 11:] = False  # windows start at 0,2,..,12; those starting at >= 11 are all padding
    tokens, token_mask = resampler(features, mask)
    assert token_mask[1].tolist() == [True] * 6 + [False] * 1
    assert torch.all(tokens[1, 6:] == 0) and torch.isfinite(tokens).all()
    changed = features.clone()
    changed[1, 11:] = 1e3
    torch.testing.assert_close(resampler(changed, mask)[0], tokens)
    alone, _ = resampler(features[1:, :11])
    torch.testing.assert_close(tokens[1, : alone.shape[1]], alone[0], atol=1e-5, rtol=1e-4)


def test_gradients_and_determinism():
    resampler = make_resampler().train()
    tokens, _ = resampler(torch.randn(2, 16, 24))
    tokens.pow(2).sum().backward()
    for name, parameter in resampler.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    resampler.eval()
    features = torch.randn(1, 16, 24)
    torch.testing.assert_close(resampler(features)[0], resampler(features)[0], rtol=0, atol=0)


def test_bad_inputs_raise():
    resampler = make_resampler(max_positions=20)
    with pytest.raises(ValueError, match="max_positions"):
        resampler(torch.randn(1, 21, 24))
    with pytest.raises(ValueError, match="window_size"):
        resampler(torch.randn(1, 7, 24))
    with pytest.raises(ValueError, match="features must have shape"):
        resampler(torch.randn(1, 10, 23))
    with pytest.raises(ValueError, match="mask shape"):
        resampler(torch.randn(1, 10, 24), torch.ones(1, 9, dtype=torch.bool))
