"""Adaptive graph convolution (2s-AGCN, Shi et al. 2019) units and the per-articulator encoder (architecture §3).

Activations use a joint-major, channels-last layout ``(n, v, t, c)`` so that every channel mix is one GEMM over
contiguous rows, the 3 adjacency subsets are aggregated by one batched matmul and mixed by one Linear over the
concatenated subsets (instead of 3 separate 1×1 convs), and the temporal convolution runs as a channels-last
``conv2d`` (oneDNN) without layout copies.

Axis legend: n batch (× articulators sharing an encoder), v joints, t frames, c channels, k adjacency subsets.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _masked_frames(x: torch.Tensor, frame_mask: torch.Tensor | None) -> torch.Tensor:
    """Zero padded frames of ``x (n, v, t, c)``; ``frame_mask (n, t)`` float 1 = valid."""
    return x if frame_mask is None else x * frame_mask[:, None, :, None]


class SignLLMAdaptiveGraphConv(nn.Module):
    """Graph conv with adjacency ``A_k + B_k + C_k`` per subset k (2s-AGCN ``unit_gcn``), then BN.

    ``A_k`` is the fixed normalised partition, ``B_k`` a learned offset (init ≈ 0), ``C_k = softmax_v(θ(x)ᵀφ(x))``
    the data-dependent graph, computed from all valid frames of the sample (padded frames are excluded from the
    sum and the scale, so padding does not change it). ``(n, v, t, c_in) → (n, v, t, c_out)`` (before residual).
    """

    def __init__(self, in_channels: int, out_channels: int, adjacency: torch.Tensor, embedding_ratio: int = 4):
        super().__init__()
        num_subsets, num_joints, _ = adjacency.shape
        self.num_subsets = num_subsets
        self.embed_channels = max(1, out_channels // embedding_ratio)
        self.register_buffer("adjacency", adjacency.clone().float(), persistent=False)
        self.graph_offset = nn.Parameter(torch.full((num_subsets, num_joints, num_joints), 1e-6))
        # θ and φ of all subsets in one Linear: (c_in) → (2, k, e)
        self.embed = nn.Linear(in_channels, 2 * num_subsets * self.embed_channels)
        # the k per-subset 1×1 convs, summed, == one Linear over the k aggregated copies concatenated
        self.project = nn.Linear(num_subsets * in_channels, out_channels)
        self.batch_norm = nn.BatchNorm1d(out_channels)

    def data_graph(self, x: torch.Tensor, frame_mask: torch.Tensor | None) -> torch.Tensor:
        """``C_k``: ``(n, k, v, w)`` softmax-normalised over the source joint v (2s-AGCN ``dim=-2``)."""
        n, v, t, _ = x.shape
        k, e = self.num_subsets, self.embed_channels
        embedded = _masked_frames(self.embed(x), frame_mask).view(n, v, t, 2, k, e)
        theta = embedded[:, :, :, 0].permute(0, 3, 1, 2, 4).reshape(n, k, v, t * e)
        phi = embedded[:, :, :, 1].permute(0, 3, 2, 4, 1).reshape(n, k, t * e, v)
        valid_frames = torch.full((n,), float(t), device=x.device) if frame_mask is None else frame_mask.sum(1)
        scale = 1.0 / (e * valid_frames.clamp_min(1.0))  # 2s-AGCN divides by e·t; only valid frames count
        similarity = torch.matmul(theta, phi) * scale[:, None, None, None]
        return similarity.softmax(dim=-2)

    def forward(self, x: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        n, v, t, c = x.shape
        k = self.num_subsets
        graph = self.adjacency + self.graph_offset + self.data_graph(x, frame_mask)  # (n, k, v, w)
        # aggregated[n, k, w, (t c)] = Σ_v graph[n, k, v, w] · x[n, v, (t c)]: one bmm for all subsets
        aggregated = torch.matmul(graph.transpose(-1, -2).reshape(n, k * v, v), x.reshape(n, v, t * c))
        aggregated = aggregated.view(n, k, v, t, c).permute(0, 2, 3, 1, 4).reshape(n * v * t, k * c)
        y = self.batch_norm(self.project(aggregated))
        return y.view(n, v, t, -1)


class SignLLMSqueezeExcitation(nn.Module):
    """SE recalibration: masked mean over (v, t) → FC c→c/2 → ReLU → FC → sigmoid → ``y·s + y``."""

    def __init__(self, channels: int):
        super().__init__()
        self.fc_squeeze = nn.Linear(channels, max(1, channels // 2))
        self.fc_excite = nn.Linear(max(1, channels // 2), channels)

    def forward(self, y: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        n, v, t, c = y.shape
        if frame_mask is None:
            squeezed = y.mean(dim=(1, 2))
        else:
            total = torch.einsum("nvtc,nt->nc", y, frame_mask)
            squeezed = total / (v * frame_mask.sum(1, keepdim=True).clamp_min(1.0))
        scale = torch.sigmoid(self.fc_excite(F.relu(self.fc_squeeze(squeezed))))
        return y * (1.0 + scale[:, None, None, :])


class SignLLMTemporalConv(nn.Module):
    """Temporal conv (kernel k, same padding, stride 1) per joint + BN on channels-last ``(n, v, t, c)``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 7):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"temporal_kernel_size must be odd (same padding), got {kernel_size}.")
        self.conv = nn.Conv2d(in_channels, out_channels, (1, kernel_size), padding=(0, kernel_size // 2))
        self.batch_norm = nn.BatchNorm1d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (n, v, t, c) viewed as NCHW (n, c, v, t) is already channels-last: oneDNN runs it without copies
        y = self.conv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        shape = y.shape
        return self.batch_norm(y.reshape(-1, shape[-1])).view(shape)


class SignLLMAGCNLayer(nn.Module):
    """One AGCN unit: graph conv + BN + residual → ReLU → SE → temporal conv + BN → + residual → ReLU.

    The residual projection (1×1 conv + BN when the widths differ) is shared by the graph-conv and unit
    residuals (2s-AGCN has two identical-shaped ones) [ours: saves one GEMM per layer].
    ``(n, v, t, c_in)`` → ``(n, v, t, c_out)``; padded frames are zeroed before the temporal conv.
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
            self.residual = nn.Sequential(nn.Linear(in_channels, out_channels), _ChannelsLastBatchNorm(out_channels))
        else:
            self.residual = nn.Identity()

    def forward(self, x: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        residual = self.residual(x)
        y = F.relu(self.graph_conv(x, frame_mask) + residual)
        y = self.squeeze_excitation(y, frame_mask)
        y = self.temporal_conv(_masked_frames(y, frame_mask))
        return F.relu(y + residual)


class _ChannelsLastBatchNorm(nn.BatchNorm1d):
    """BatchNorm over the last axis of any ``(..., c)`` tensor."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.reshape(-1, x.shape[-1])).view(x.shape)


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
            for c_in, c_out in zip(widths[:-1], widths[1:])
        )
        aggregated = self.num_joints * widths[-1] if joint_aggregation == "flatten" else widths[-1]
        self.output_projection = nn.Linear(aggregated, hidden_size)

    def forward(self, values: torch.Tensor, joint_mask: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
        n, t, v, _ = values.shape
        if v != self.num_joints:
            raise ValueError(f"Articulator encoder expects {self.num_joints} joints, got {v}.")
        joint_valid = (joint_mask & frame_mask[..., None]).to(values.dtype)  # (n, t, v)
        frames = frame_mask.to(values.dtype)
        # invalid joints carry zero features (not the input bias), so missing hands read as "nothing there"
        x = self.input_projection(values).transpose(1, 2) * joint_valid.transpose(1, 2)[..., None]
        x = x.contiguous()  # (n, v, t, C_in)
        for layer in self.layers:
            x = layer(x, frames)
        if self.joint_aggregation == "flatten":
            pooled = x.permute(0, 2, 1, 3).reshape(n, t, -1)
        else:
            pooled = x.mean(dim=1)
        return self.output_projection(pooled) * frames[..., None]
