"""Adaptive graph convolution (2s-AGCN, Shi et al. 2019) units and the per-articulator encoder (architecture §3).

Inside the encoder, activations use a joint-major, channels-last layout ``(n, v, t, c)``: each joint's time series
is contiguous, so every operation is one large GEMM or a free view, with no per-frame loop and no copy:

* the graph conv aggregates joints first, ``z_k = (A_k + B_k + C_k)ᵀ x`` for the 3 subsets in one GEMM per sample
  (``(k·w, v) @ (v, t·c)``), then mixes channels, ``y = Σ_k z_k W_k``, accumulated in place. Aggregating on the
  ``c_in`` input channels instead of the ``c_out`` outputs costs ``c_in / c_out`` of the graph FLOPs (the paper's
  layers widen: 64 → 128 → 128 → 192 → 384) and keeps ``3·c_in`` instead of ``3·c_out`` values per joint and
  frame for backward;
* the data-dependent graph ``C_k = softmax(θᵀφ)`` takes θ and φ from one transposed GEMM whose output is already
  ``(θ|φ, k, e, n, v, t)``, so the similarity over (t, e) is a batched matmul on free views;
* the temporal conv is a channels-last ``conv2d`` (oneDNN) with a ``(1, K)`` kernel on the free ``(n, c, v, t)``
  view; the encoder's flatten over joints is the only transpose (one per encoder).

Axis legend: n batch (× articulators sharing an encoder), t frames, v / w joints, c / o channels, k subsets,
e graph-embedding channels.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn
from transformers.modeling_layers import GradientCheckpointingLayer

from .modeling_conformer import RecomputeSafeBatchNorm1d


def _masked_frames(x: torch.Tensor, frame_mask: torch.Tensor | None) -> torch.Tensor:
    """Zero padded frames of ``x (n, v, t, c)``; ``frame_mask (n, t)`` float 1 = valid, ``None`` = all valid."""
    return x if frame_mask is None else x * frame_mask[:, None, :, None]


def _inplace_ok(*tensors: torch.Tensor) -> bool:
    """In-place updates are safe when autograd is not recording through these tensors (eval / no_grad)."""
    return not (torch.is_grad_enabled() and any(t.requires_grad for t in tensors))


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
    sum and the scale, so padding does not change it). ``y_w = Σ_k W_k Σ_v (A_k + B_k + C_k)[v, w] · x_v`` (the
    joint sum first, see the module docstring). ``(n, v, t, c_in) → (n, v, t, c_out)`` (before the residual). The
    per-subset conv biases of 2s-AGCN are dropped: the BatchNorm right after has its own shift.
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
        n, v, t, c = x.shape
        k, e = self.num_subsets, self.embed_channels
        # one GEMM for θ and φ of every subset and sample, laid out (θ|φ, k, e, n, v, t): no transpose needed
        embedded = torch.mm(self.embed.weight, x.reshape(n * v * t, c).t())
        embedded = embedded.view(2, k, e, n, v, t)
        bias = self.embed.bias.view(2, k, e, 1, 1, 1)
        embedded = embedded.add_(bias) if _inplace_ok(embedded, bias) else embedded + bias
        if frame_mask is not None:  # padded frames contribute nothing (not even the bias)
            embedded = embedded * frame_mask[:, None, :]
        theta, phi = embedded[0].reshape(k * e * n, v, t), embedded[1].reshape(k * e * n, v, t)
        similarity = torch.bmm(theta, phi.transpose(1, 2)).view(k, e, n, v, v).sum(1).transpose(0, 1)
        valid_frames = torch.full((n,), float(t), device=x.device) if frame_mask is None else frame_mask.sum(1)
        scale = 1.0 / (e * valid_frames.clamp_min(1.0))  # 2s-AGCN divides by e·t; only valid frames count
        # in the activations' dtype: an fp32 scale would promote a bf16 / fp16 model's graph to fp32
        return (similarity * scale.to(similarity.dtype)[:, None, None, None]).softmax(dim=-2)

    def forward(self, x: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        n, v, t, c = x.shape
        k, o = self.num_subsets, self.out_channels
        graph = self.adjacency.to(self.graph_offset) + self.graph_offset + self.data_graph(x, frame_mask)  # (n, k, v, w)
        # joints first: z[n, k, w, (t c)] = Σ_v graph[n, k, v, w] · x[n, v, (t c)], one GEMM per sample
        aggregated = torch.bmm(graph.transpose(2, 3).reshape(n, k * v, v), x.reshape(n, v, t * c))
        aggregated = aggregated.view(n, k, v * t, c)
        weight = self.project.weight.view(k, o, c)
        folded = self.batch_norm.folded()
        if folded is not None:  # eval: BN scale folded into W_k, its shift added at the end
            weight = weight * folded[0][:, None]
        # channels: y = Σ_k z_k W_kᵀ, accumulated in place (the GEMMs' backward does not need their output; an
        # out-of-place baddbmm would first copy y, one more pass over the layer's output per subset)
        y = torch.matmul(aggregated[:, 0], weight[0].t())
        for subset in range(1, k):  # in-place ops are not autocast: operands in y's dtype (a no-op in fp32)
            y.baddbmm_(aggregated[:, subset].to(y.dtype), weight[subset].t().to(y.dtype).expand(n, c, o))
        y = y.view(n, v, t, o)
        if folded is None:
            return self.batch_norm(y)
        return y.add_(folded[1]) if _inplace_ok(y) else y + folded[1]


class SignLLMSqueezeExcitation(nn.Module):
    """SE recalibration: masked mean over (t, v) → FC c→c/2 → ReLU → FC → sigmoid → ``y·s + y``."""

    def __init__(self, channels: int):
        super().__init__()
        self.fc_squeeze = nn.Linear(channels, max(1, channels // 2))
        self.fc_excite = nn.Linear(max(1, channels // 2), channels)

    def forward(self, y: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``y (n, v, t, c)`` → same shape."""
        v = y.shape[1]
        if frame_mask is None:
            squeezed = y.mean(dim=(1, 2))
        else:
            total = torch.einsum("nvtc,nt->nc", y, frame_mask)
            squeezed = total / (v * frame_mask.sum(1, keepdim=True).clamp_min(1.0))
        scale = torch.sigmoid(self.fc_excite(F.relu(self.fc_squeeze(squeezed))))[:, None, None, :]
        return y.mul_(1.0 + scale) if _inplace_ok(y, scale) else y * (1.0 + scale)


class SignLLMTemporalConv(nn.Module):
    """Temporal conv (kernel k, same padding, stride 1) per joint + BN on joint-major ``(n, v, t, c)``.

    The weight keeps the 2s-AGCN shape ``(o, c, k, 1)`` (checkpoints are unchanged); it runs transposed, as a
    ``(1, k)`` kernel over the frames of the ``(n, c, v, t)`` channels-last view.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 7):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"temporal_kernel_size must be odd (same padding), got {kernel_size}.")
        self.conv = nn.Conv2d(in_channels, out_channels, (kernel_size, 1), padding=(kernel_size // 2, 0))
        self.batch_norm = _ChannelsLastBatchNorm(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (n, v, t, c) viewed as NCHW (n, c, v, t) is already channels-last: oneDNN runs it without copies
        x = x.permute(0, 3, 1, 2)
        # (o, c, k, 1) → (o, c, 1, k); contiguous: torch's non-oneDNN conv backward needs a contiguous weight
        weight, bias = self.conv.weight.transpose(2, 3).contiguous(), self.conv.bias
        padding = (0, self.conv.padding[0])
        folded = self.batch_norm.folded()
        if folded is None:
            return self.batch_norm(F.conv2d(x, weight, bias, padding=padding).permute(0, 2, 3, 1))
        # eval: fold the BN into the conv (exact), saving one full pass over the activations
        scale, shift = folded
        weight = weight * scale[:, None, None, None]
        return F.conv2d(x, weight, bias * scale + shift, padding=padding).permute(0, 2, 3, 1)


class SignLLMAGCNLayer(GradientCheckpointingLayer):
    """One AGCN unit: graph conv + BN + residual → ReLU → SE → temporal conv + BN → + residual → ReLU.

    A [`~transformers.modeling_layers.GradientCheckpointingLayer`]: ``model.gradient_checkpointing_enable()``
    recomputes it in the backward pass (the AGCN activations are the largest part of a sample's training memory).

    The residual projection (1×1 conv + BN when the widths differ) is shared by the graph-conv and unit
    residuals (2s-AGCN has two identical-shaped ones) [ours: saves one GEMM per layer].
    ``(n, v, t, c_in)`` → ``(n, v, t, c_out)`` (joint-major); padded frames are zeroed before the temporal conv.
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
        # joint-major from here on; invalid joints carry zero features (not the input bias), so missing hands read
        # as "nothing there"
        x = self.input_projection(values.transpose(1, 2)) * joint_valid.transpose(1, 2)[..., None]  # (n, v, t, C_in)
        for layer in self.layers:
            x = layer(x, layer_mask)  # checkpointed when gradient checkpointing is enabled
        if self.joint_aggregation == "flatten":
            pooled = x.transpose(1, 2).reshape(n, t, -1)  # (n, t, v·c): the encoder's one transpose
        else:
            pooled = x.mean(dim=1)
        out = self.output_projection(pooled)
        return out if layer_mask is None else out * frames[..., None]
