"""Conformer: shapes, attention maps, padding invariance, attentive pooling, all-padding rows, gradients."""

from __future__ import annotations

import pytest
import torch
from signllm.modeling_conformer import SignLLMConformer, _lengths_to_padding_mask, attentive_pooling


def make_conformer(**overrides) -> SignLLMConformer:
    torch.manual_seed(0)
    kwargs = {"hidden_size": 32, "num_layers": 2, "num_heads": 4, "intermediate_size": 37, "conv_expansion_factor": 2,
              "conv_kernel_size": 5, "dropout": 0.1, "attention_dropout": 0.1, "layer_norm_eps": 1e-5}  # fmt: skip
    return SignLLMConformer(**{**kwargs, **overrides})


def test_shapes_and_attention_maps():
    model = make_conformer().eval()
    x = torch.randn(3, 11, 32)
    y, attentions = model(x, output_attentions=True)
    assert y.shape == (3, 11, 32)
    assert len(attentions) == 2 and all(a.shape == (3, 4, 11, 11) for a in attentions)
    torch.testing.assert_close(attentions[0].sum(-1), torch.ones(3, 4, 11))
    assert model(x)[1] is None


def test_padding_does_not_change_valid_outputs():
    model = make_conformer().eval()
    x = torch.randn(2, 12, 32)
    padding = _lengths_to_padding_mask(torch.tensor([12, 7]), 12)
    garbage = x.clone()
    garbage[1, 7:] = 100.0  # padded frames hold anything
    y, attentions = model(garbage, padding, output_attentions=True)
    alone, alone_attentions = model(x[1:, :7], output_attentions=True)
    torch.testing.assert_close(y[1, :7], alone[0], atol=1e-5, rtol=1e-4)
    assert torch.all(y[1, 7:] == 0)
    pooled = attentive_pooling(y, attentions, padding)
    torch.testing.assert_close(pooled[1], attentive_pooling(alone, alone_attentions)[0], atol=1e-5, rtol=1e-4)


def test_attentive_pooling_matches_definition():
    """mean over blocks/heads of the maps, applied to the last output, then the masked temporal mean."""
    y = torch.randn(2, 6, 8)
    attentions = [torch.rand(2, 3, 6, 6).softmax(-1) for _ in range(4)]
    padding = torch.tensor([[False] * 6, [False] * 4 + [True] * 2])
    # padded keys receive (near) zero attention in a real model; the definition here zeroes them exactly
    attentions_masked = [a.masked_fill(padding[:, None, None, :], 0.0) for a in attentions]
    mean_map = torch.stack(attentions_masked).mean(dim=(0, 2))  # mean over blocks and heads: (b, t, t)
    expected = torch.stack([(mean_map[0] @ y[0]).mean(0), (mean_map[1, :4] @ y[1]).mean(0)])
    torch.testing.assert_close(attentive_pooling(y, attentions_masked, padding), expected)
    with pytest.raises(ValueError, match="output_attentions"):
        attentive_pooling(y, [], padding)


def test_all_padding_sequence_is_finite_zero():
    model = make_conformer().eval()
    x = torch.randn(2, 5, 32)
    padding = torch.tensor([[False] * 5, [True] * 5])
    y, attentions = model(x, padding, output_attentions=True)
    pooled = attentive_pooling(y, attentions, padding)
    assert torch.isfinite(y).all() and torch.isfinite(pooled).all()
    assert torch.all(pooled[1] == 0)


def test_gradients_reach_every_parameter_and_eval_is_deterministic():
    model = make_conformer().train()
    x = torch.randn(2, 9, 32)
    padding = _lengths_to_padding_mask(torch.tensor([9, 6]), 9)
    y, attentions = model(x, padding, output_attentions=True)
    attentive_pooling(y, attentions, padding).pow(2).sum().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    model.eval()
    torch.testing.assert_close(model(x, padding)[0], model(x, padding)[0], rtol=0, atol=0)


def test_bad_inputs_raise():
    model = make_conformer()
    with pytest.raises(ValueError, match="shape"):
        model(torch.randn(2, 5, 31))
    with pytest.raises(ValueError, match="padding_mask"):
        model(torch.randn(2, 5, 32), torch.zeros(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="odd"):
        make_conformer(conv_kernel_size=4)


def test_eval_conv_module_folds_batch_norm_exactly():
    torch.manual_seed(0)
    module = make_conformer().layers[0].conv_module
    bn = module.batch_norm
    with torch.no_grad():
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.normal_()
        bn.bias.normal_()
    module.eval()
    x = torch.randn(2, 7, 32)
    hidden = torch.nn.functional.glu(module.pointwise_in(module.layer_norm(x)), dim=-1)
    hidden = module.depthwise(hidden.transpose(1, 2).unsqueeze(-1)).squeeze(-1)
    expected = module.pointwise_out(torch.nn.functional.silu(bn(hidden)).transpose(1, 2))
    torch.testing.assert_close(module(x, None), expected, atol=1e-5, rtol=1e-4)
