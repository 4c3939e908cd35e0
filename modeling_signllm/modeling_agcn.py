"""Adaptive graph convolution (2s-AGCN, Shi et al. 2019) units and the per-articulator encoder (architecture §3).

Activations use a frame-major, channels-last layout ``(n, t, v, c)``: every channel mix is one GEMM over
contiguous rows, the temporal conv runs as a channels-last ``conv2d`` (oneDNN) on a free view, and the final
flatten over joints is a free view. The graph conv first mixes channels for all 3 adjacency subsets in one Linear
``c → k·o`` and then aggregates joints *and* subsets in one batched matmul with the ``(w, v·k)`` graph, so there is
no per-subset loop and no transpose of the activations.

Axis legend: n batch (× articulators sharing an encoder), t frames, v / w joints, c / o channels, k subsets.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn
from transformers.modeling_layers import GradientCheckpointingLayer

from .modeling_conformer import RecomputeSafeBatchNorm1d


def _masked_frames(x: torch.Tensor, frame_mask: torch.Tensor | None) -> torch.Tensor:
    """Zero padded frames of ``x (n, t, v, c)``; ``frame_mask (n, t)`` float 1 = valid, ``None`` = all valid."""
    return x if frame_mask is None else x * frame_mask[:, :, None, None]


class _ChannelsLastBatchNorm(RecomputeSafeBatchNorm1d):
    """BatchNorm over the last axis of any ``(..., c)`` tensor."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.reshape(-1, x.shape[-1])).view(x.shape)

    def folded(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Eval-mode ``(scale, shift)`` with ``bn(y) = y · scale + shift``; ``None`` while training."""
        if self.training or not self.track_running_stats:
            return None
        scale = self.weight * torch.rsqrt(self.running_var + self.eps)
        return scale, self.bias - self.running_mean * scale


class _LinearBatchNorm(nn.Module):
    """Linear (1×1 conv) + BN over the last axis; in eval the BN is folded into the Linear (exact, one pass less)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.linear = nn.Linear(in_channels, out_channels)
        self.batch_norm = _ChannelsLastBatchNorm(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        folded = self.batch_norm.folded()
        if folded is None:
            return self.batch_norm(self.linear(x))
        scale, shift = folded
        return F.linear(x, self.linear.weight * scale[:, None], self.linear.bias * scale + shift)


class SignLLMAdaptiveGraphConv(nn.Module):
    """Graph conv with adjacency ``A_k + B_k + C_k`` per subset k (2s-AGCN ``unit_gcn``), then BN.

    ``A_k`` is the fixed normalised partition, ``B_k`` a learned offset (init ≈ 0), ``C_k = softmax_v(θ(x)ᵀφ(x))``
    the data-dependent graph, computed from all valid frames of the sample (padded frames are excluded from the
    sum and the scale, so padding does not change it). ``y_w = Σ_k Σ_v (A_k + B_k + C_k)[v, w] · W_k x_v``.
    ``(n, t, v, c_in) → (n, t, v, c_out)`` (before the residual). The per-subset conv biases of 2s-AGCN are dropped:
    the BatchNorm right after has its own shift.
    """

    def __init__(self, in_channels: int, out_channels: int, adjacency: torch.Tensor, embedding_ratio: int = 4):
        super().__init__()
        num_subsets, num_joints, _ = adjacency.shape
        self.num_subsets = num_subsets
        self.out_channels = out_channels
        self.embed_channels = max(1, out_channels // embedding_ratio)
        # A_k is not a weight: a non-persistent buffer (not in checkpoints), refilled from this CPU copy by the
        # model's `_init_weights` after meta-device loading
        self._partition = adjacency.detach().to("cpu", torch.float32).clone()
        self.register_buffer("adjacency", self._partition.clone(), persistent=False)
        self.graph_offset = nn.Parameter(torch.full((num_subsets, num_joints, num_joints), 1e-6))
        # θ and φ of all subsets in one Linear: c_in → (2, k, e)
        self.embed = nn.Linear(in_channels, 2 * num_subsets * self.embed_channels)
        # W_k of all subsets in one Linear: c_in → (k, o)
        self.project = nn.Linear(in_channels, num_subsets * out_channels, bias=False)
        self.batch_norm = _ChannelsLastBatchNorm(out_channels)

    def data_graph(self, x: torch.Tensor, frame_mask: torch.Tensor | None) -> torch.Tensor:
        """``C_k``: ``(n, k, v, w)`` softmax-normalised over the source joint v (2s-AGCN ``dim=-2``)."""
        n, t, v, _ = x.shape
        k, e = self.num_subsets, self.embed_channels
        embedded = _masked_frames(self.embed(x), frame_mask).view(n, t, v, 2, k, e)
        embedded = embedded.permute(3, 0, 4, 2, 1, 5).reshape(2, n, k, v, t * e)  # (θ|φ, n, k, v, t·e)
        valid_frames = torch.full((n,), float(t), device=x.device) if frame_mask is None else frame_mask.sum(1)
        scale = 1.0 / (e * valid_frames.clamp_min(1.0))  # 2s-AGCN divides by e·t; only valid frames count
        similarity = torch.matmul(embedded[0], embedded[1].transpose(-1, -2)) * scale[:, None, None, None]
        return similarity.softmax(dim=-2)

    def forward(self, x: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        n, t, v, _ = x.shape
        k, o = self.num_subsets, self.out_channels
        graph = self.adjacency.to(self.graph_offset) + self.graph_offset + self.data_graph(x, frame_mask)  # (n, k, v, w)
        graph = graph.permute(0, 3, 2, 1).reshape(n, 1, v, v * k)  # (n, 1, w, (v k))
        folded = self.batch_norm.folded()
        if folded is None:
            mixed = self.project(x).view(n, t, v * k, o)  # ((v k), o) rows per frame
            return self.batch_norm(_graph_matmul(graph, mixed))  # (n, t, w, o)
        # eval: BN scale folded into W_k, its shift added after the graph matmul
        scale, shift = folded
        mixed = F.linear(x, self.project.weight * scale.repeat(k)[:, None]).view(n, t, v * k, o)
        return _graph_matmul(graph, mixed).add_(shift)


#: below this many output channels the graph matmul folds time into the GEMM columns (see `_graph_matmul`)
NARROW_GRAPH_CHANNELS = 128


def _graph_matmul(graph: torch.Tensor, mixed: torch.Tensor) -> torch.Tensor:
    """``graph (n, 1, w, u) @ mixed (n, t, u, o)`` → ``(n, t, w, o)``, contiguous.

    The frame-major broadcast matmul materialises the graph once per frame; that is cheap next to wide layers
    (o ≥ 128, the paper's widths) but dominates narrow ones (tiny presets, the demo). For narrow layers the frames
    are folded into the columns instead — one ``(w, u) @ (u, t·o)`` GEMM per sample, about 10× faster on CPU at
    o = 8 (measured: 4 × 48 frames, 128 face joints: 128 ms → 13 ms forward + backward); the result is the same.
    """
    n, t, u, o = mixed.shape
    if o >= NARROW_GRAPH_CHANNELS:
        return torch.matmul(graph, mixed)
    w = graph.shape[2]
    columns = mixed.permute(0, 2, 1, 3).reshape(n, u, t * o)
    return torch.matmul(graph[:, 0], columns).view(n, w, t, o).permute(0, 2, 1, 3).contiguous()


class SignLLMSqueezeExcitation(nn.Module):
    """SE recalibration: masked mean over (t, v) → FC c→c/2 → ReLU → FC → sigmoid → ``y·s + y``."""

    def __init__(self, channels: int):
        super().__init__()
        self.fc_squeeze = nn.Linear(channels, max(1, channels // 2))
        self.fc_excite = nn.Linear(max(1, channels // 2), channels)

    def forward(self, y: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        v = y.shape[2]
        if frame_mask is None:
            squeezed = y.mean(dim=(1, 2))
        else:
            total = torch.einsum("ntvc,nt->nc", y, frame_mask)
            squeezed = total / (v * frame_mask.sum(1, keepdim=True).clamp_min(1.0))
        scale = torch.sigmoid(self.fc_excite(F.relu(self.fc_squeeze(squeezed))))
        return y * (1.0 + scale[:, None, None, :])


class SignLLMTemporalConv(nn.Module):
    """Temporal conv (kernel k, same padding, stride 1) per joint + BN on channels-last ``(n, t, v, c)``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 7):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"temporal_kernel_size must be odd (same padding), got {kernel_size}.")
        self.conv = nn.Conv2d(in_channels, out_channels, (kernel_size, 1), padding=(kernel_size // 2, 0))
        self.conv.weight.data = self.conv.weight.data.contiguous(memory_format=torch.channels_last)
        self.batch_norm = _ChannelsLastBatchNorm(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (n, t, v, c) viewed as NCHW (n, c, t, v) is already channels-last: oneDNN runs it without copies
        x = x.permute(0, 3, 1, 2)
        folded = self.batch_norm.folded()
        if folded is None:
            return self.batch_norm(self.conv(x).permute(0, 2, 3, 1))
        # eval: fold the BN into the conv (exact), saving one full pass over the activations
        scale, shift = folded
        weight = self.conv.weight * scale[:, None, None, None]
        return F.conv2d(x, weight, self.conv.bias * scale + shift, padding=self.conv.padding).permute(0, 2, 3, 1)


class SignLLMAGCNLayer(GradientCheckpointingLayer):
    """One AGCN unit: graph conv + BN + residual → ReLU → SE → temporal conv + BN → + residual → ReLU.

    A [`~transformers.modeling_layers.GradientCheckpointingLayer`]: ``model.gradient_checkpointing_enable()``
    recomputes it in the backward pass (the AGCN activations are the largest part of a sample's training memory).

    The residual projection (1×1 conv + BN when the widths differ) is shared by the graph-conv and unit
    residuals (2s-AGCN has two identical-shaped ones) [ours: saves one GEMM per layer].
    ``(n, t, v, c_in)`` → ``(n, t, v, c_out)``; padded frames are zeroed before the temporal conv.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        adjacency: torch.Tensor,
        temporal_kernel_size: int = 7,
        embedding_ratio: int = 4,
    ):
        super().__init__()
        self.graph_conv = SignLLMAdaptiveGraphConv(in_channels, out_channels, adjacency, embedding_ratio)
        self.squeeze_excitation = SignLLMSqueezeExcitation(out_channels)
        self.temporal_conv = SignLLMTemporalConv(out_channels, out_channels, temporal_kernel_size)
        if in_channels != out_channels:
            self.residual = _LinearBatchNorm(in_channels, out_channels)
        else:
            self.residual = nn.Identity()

    def forward(self, x: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        residual = self.residual(x)
        y = self.graph_conv(x, frame_mask).add_(residual).relu_()  # in place: BN/add outputs are not saved
        y = self.squeeze_excitation(y, frame_mask)
        y = self.temporal_conv(_masked_frames(y, frame_mask))
        return y.add_(residual).relu_()


class SignLLMArticulatorEncoder(nn.Module):
    """Per-articulator encoder: Linear(coords → C_in) → 4 AGCN layers → joint aggregation → Linear → C.

    Args:
        adjacency (`torch.Tensor`): ``(3, v, v)`` partition of the articulator graph.
        num_coordinates (`int`): c (3).
        in_channels (`int`): C_in.
        channels (`list[int]`): output widths of the AGCN layers.
        hidden_size (`int`): C.
        joint_aggregation (`str`): ``"flatten"`` (flatten joints + Linear) or ``"mean"`` (mean over joints, the ablation).
        temporal_kernel_size / embedding_ratio (`int`).

    forward: ``values (n, t, v, c)``, ``joint_mask (n, t, v)`` bool, ``frame_mask (n, t)`` bool → ``(n, t, C)``
    with padded frames set to 0.
    """

    def __init__(
        self,
        adjacency: torch.Tensor,
        num_coordinates: int,
        in_channels: int,
        channels: list[int],
        hidden_size: int,
        joint_aggregation: str = "flatten",
        temporal_kernel_size: int = 7,
        embedding_ratio: int = 4,
    ):
        super().__init__()
        if joint_aggregation not in ("flatten", "mean"):
            raise ValueError(f"joint_aggregation must be 'flatten' or 'mean', got {joint_aggregation!r}.")
        self.num_joints = adjacency.shape[-1]
        self.joint_aggregation = joint_aggregation
        self.input_projection = nn.Linear(num_coordinates, in_channels)
        widths = [in_channels, *channels]
        self.layers = nn.ModuleList(
            SignLLMAGCNLayer(c_in, c_out, adjacency, temporal_kernel_size, embedding_ratio)
            for c_in, c_out in itertools.pairwise(widths)
        )
        aggregated = self.num_joints * widths[-1] if joint_aggregation == "flatten" else widths[-1]
        self.output_projection = nn.Linear(aggregated, hidden_size)

    def forward(self, values: torch.Tensor, joint_mask: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
        n, t, v, _ = values.shape
        if v != self.num_joints:
            raise ValueError(f"Articulator encoder expects {self.num_joints} joints, got {v}.")
        joint_valid = (joint_mask & frame_mask[..., None]).to(values.dtype)  # (n, t, v)
        frames = frame_mask.to(values.dtype)
        # all-valid batches skip every frame-masking pass
        layer_mask = None if bool(frame_mask.all()) else frames
        # invalid joints carry zero features (not the input bias), so missing hands read as "nothing there"
        x = self.input_projection(values) * joint_valid[..., None]  # (n, t, v, C_in)
        for layer in self.layers:
            x = layer(x, layer_mask)  # checkpointed when gradient checkpointing is enabled
        if self.joint_aggregation == "flatten":
            pooled = x.reshape(n, t, -1)  # (n, t, v·c): free view in the frame-major layout
        else:
            pooled = x.mean(dim=2)
        out = self.output_projection(pooled)
        return out if layer_mask is None else out * frames[..., None]
