"""AGCN: the folded graph conv equals a per-subset 2s-AGCN reference, data graph normalisation, padding invariance,
and the pose backbone still gives the outputs saved from the code before the joint-major rewrite (issue 18)."""

from __future__ import annotations

import copy

import pytest
import torch
from signllm.keypoint_layout import articulator_adjacency
from signllm.modeling_agcn import (
    SignLLMAdaptiveGraphConv,
    SignLLMAGCNLayer,
    SignLLMArticulatorEncoder,
    SignLLMTemporalConv,
)


def hand_adjacency() -> torch.Tensor:
    return torch.from_numpy(articulator_adjacency("left_hand"))


def reference_graph_conv(module: SignLLMAdaptiveGraphConv, x: torch.Tensor) -> torch.Tensor:
    """2s-AGCN ``unit_gcn`` written per subset in its own (n, c, t, v) layout, from the module's weights;
    ``x (n, t, v, c)`` → ``(n, t, v, o)``."""
    n, t, v, c = x.shape
    k, e = module.num_subsets, module.embed_channels
    x_nctv = x.permute(0, 3, 1, 2)
    w_embed = module.embed.weight.view(2, k, e, c)
    b_embed = module.embed.bias.view(2, k, e)
    w_proj = module.project.weight.view(k, -1, c)
    out = 0
    for subset in range(k):
        a1 = torch.einsum("nctv,ec->netv", x_nctv, w_embed[0, subset]) + b_embed[0, subset][None, :, None, None]
        a2 = torch.einsum("nctv,ec->netv", x_nctv, w_embed[1, subset]) + b_embed[1, subset][None, :, None, None]
        a1 = a1.permute(0, 3, 1, 2).reshape(n, v, e * t)
        a2 = a2.reshape(n, e * t, v)
        graph = (a1 @ a2 / (e * t)).softmax(dim=-2) + module.adjacency[subset] + module.graph_offset[subset]
        aggregated = (x_nctv.reshape(n, c * t, v) @ graph).view(n, c, t, v)
        out = out + torch.einsum("nctv,oc->notv", aggregated, w_proj[subset])
    out = out.permute(0, 2, 3, 1)  # (n, t, v, o)
    return module.batch_norm(out)


@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("out_channels", [8, 128], ids=["narrow", "wide"])
def test_folded_subsets_match_per_subset_reference(out_channels, training):
    """Joints aggregated first, subsets summed by accumulation, joint-major layout: equal to 2s-AGCN's per-subset
    form, with the BatchNorm folded (eval) or on batch statistics (train)."""
    torch.manual_seed(0)
    module = SignLLMAdaptiveGraphConv(6, out_channels, hand_adjacency(), embedding_ratio=4).train(training)
    with torch.no_grad():
        module.graph_offset.normal_(0, 0.1)
        module.batch_norm.running_mean.normal_()
    x = torch.randn(2, 5, 21, 6)
    expected = reference_graph_conv(copy.deepcopy(module), x)
    torch.testing.assert_close(module(x.transpose(1, 2)).transpose(1, 2), expected, atol=1e-5, rtol=1e-4)


def test_data_graph_is_column_softmax_and_ignores_padded_frames():
    torch.manual_seed(0)
    module = SignLLMAdaptiveGraphConv(6, 8, hand_adjacency())
    x = torch.randn(1, 21, 7, 6)  # (n, v, t, c)
    graph = module.data_graph(x, None)
    assert graph.shape == (1, 3, 21, 21)
    torch.testing.assert_close(graph.sum(dim=-2), torch.ones(1, 3, 21))
    padded = torch.cat([x, torch.randn(1, 21, 3, 6) * 50], dim=2)
    frame_mask = torch.tensor([[1.0] * 7 + [0.0] * 3])
    torch.testing.assert_close(module.data_graph(padded, frame_mask), graph, atol=1e-6, rtol=1e-5)


def test_layer_padding_invariance_eval():
    torch.manual_seed(0)
    layer = SignLLMAGCNLayer(6, 10, hand_adjacency(), temporal_kernel_size=7).eval()
    x = torch.randn(1, 21, 9, 6)  # (n, v, t, c)
    padded = torch.cat([x, torch.randn(1, 21, 4, 6)], dim=2)
    frame_mask = torch.tensor([[1.0] * 9 + [0.0] * 4])
    torch.testing.assert_close(layer(padded, frame_mask)[:, :, :9], layer(x), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("aggregation", ["flatten", "mean"])
def test_articulator_encoder_shapes_and_invalid_joints(aggregation):
    torch.manual_seed(0)
    encoder = SignLLMArticulatorEncoder(hand_adjacency(), 3, 4, [8, 8, 12, 24], 16, joint_aggregation=aggregation)
    values = torch.randn(2, 6, 21, 3)
    joints = torch.ones(2, 6, 21, dtype=torch.bool)
    frames = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    out = encoder(values, joints, frames)
    assert out.shape == (2, 6, 16)
    assert torch.all(out[1, 4:] == 0)
    # invalid joints are ignored whatever their values
    joints[:, :, 5:] = False
    noisy = values.clone()
    noisy[:, :, 5:] = 1e3
    encoder.eval()
    torch.testing.assert_close(encoder(noisy, joints, frames), encoder(values, joints, frames))
    with pytest.raises(ValueError, match="21 joints"):
        encoder(values[:, :, :20], joints[:, :, :20], frames)
    with pytest.raises(ValueError, match="joint_aggregation"):
        SignLLMArticulatorEncoder(hand_adjacency(), 3, 4, [8], 16, joint_aggregation="max")


def test_eval_temporal_conv_folds_batch_norm_exactly():
    torch.manual_seed(0)
    conv = SignLLMTemporalConv(6, 8, 7)
    with torch.no_grad():
        conv.batch_norm.running_mean.normal_()
        conv.batch_norm.running_var.uniform_(0.5, 2.0)
        conv.batch_norm.weight.normal_()
        conv.batch_norm.bias.normal_()
    x = torch.randn(2, 5, 9, 6)  # (n, v, t, c)
    conv.eval()
    # the stored (o, c, k, 1) kernel runs over frames: 2s-AGCN's own (n, c, t, v) layout gives the same result
    unfolded = conv.batch_norm(conv.conv(x.permute(0, 3, 2, 1)).permute(0, 3, 2, 1))
    torch.testing.assert_close(conv(x), unfolded, atol=1e-5, rtol=1e-4)


def test_eval_graph_conv_and_residual_fold_batch_norm_exactly():
    torch.manual_seed(0)
    layer = SignLLMAGCNLayer(6, 10, hand_adjacency())
    for bn in (layer.graph_conv.batch_norm, layer.residual.batch_norm):
        with torch.no_grad():
            bn.running_mean.normal_()
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.normal_()
            bn.bias.normal_()
    layer.eval()
    x = torch.randn(2, 21, 9, 6)  # (n, v, t, c)
    graph_conv = layer.graph_conv
    graph = graph_conv.adjacency + graph_conv.graph_offset + graph_conv.data_graph(x, None)
    unfolded = graph_conv.batch_norm(
        torch.einsum("nkvw,nvtko->nwto", graph, graph_conv.project(x).view(2, 21, 9, 3, 10))
    )
    torch.testing.assert_close(graph_conv(x), unfolded, atol=1e-5, rtol=1e-4)
    residual = layer.residual
    torch.testing.assert_close(residual(x), residual.batch_norm(residual.linear(x)), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("preset", ["paper", "tiny"])
def test_pose_backbone_matches_outputs_saved_before_the_rewrite(preset):
    """Same seeded encoder, same batch (padding, missing joints) as `tests/fixtures/backbone_reference.py` ran on the
    frame-major code: eval and train features, every gradient norm, every BatchNorm running statistic.

    Tolerances are float reassociation: the old code itself, run with 1 thread instead of the fixture's 2, moves
    train features by 3e-5 and gradient norms by up to 2.5e-3 (relative; backward through train-mode BatchNorm
    and the softmax graph). Biases right before a train-mode BatchNorm have a true gradient of 0 (float noise
    ~1e-4): the gradient tolerance is relative to the largest gradient norm.
    """
    import numpy as np
    from fixtures.backbone_reference import FIXTURE, reference_outputs

    saved = np.load(FIXTURE)
    tolerances = {"eval_features": (1e-4, 1e-5), "train_features": (1e-4, 1e-5), "running_stats": (1e-4, 1e-5),
                  "grad_norms": (5e-3, 1e-4)}  # (rtol, atol as a fraction of the largest value)  # fmt: skip
    for key, value in reference_outputs(preset).items():
        expected = saved[key]
        rtol, atol = tolerances[key.split("/")[1]]
        np.testing.assert_allclose(value, expected, rtol=rtol, atol=atol * float(np.abs(expected).max()), err_msg=key)
