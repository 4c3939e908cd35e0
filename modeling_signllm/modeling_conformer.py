"""Conformer encoder (Gulati et al., 2020) with attention maps for attentive pooling, in pure torch.

Own implementation (no torchaudio): macaron FFN ×½ residuals, multi-head self-attention, convolution module
(pointwise → GLU → depthwise → BatchNorm → SiLU → pointwise), final LayerNorm (architecture §3).

Axis legend: b batch, t frames, d width, h heads.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn
from transformers.modeling_layers import GradientCheckpointingLayer

_RECOMPUTING = contextvars.ContextVar("signllm_checkpoint_recompute", default=False)


@contextlib.contextmanager
def _recomputing() -> Iterator[None]:
    token = _RECOMPUTING.set(True)
    try:
        yield
    finally:
        _RECOMPUTING.reset(token)


def _recompute_context() -> tuple[contextlib.AbstractContextManager, contextlib.AbstractContextManager]:
    """``context_fn`` for ``torch.utils.checkpoint``: nothing around the forward, the recompute flag around the
    recomputation."""
    return contextlib.nullcontext(), _recomputing()


def checkpoint_keeping_running_stats(checkpoint_function: Callable) -> Callable:
    """Wrap a (non-reentrant) checkpoint function so BatchNorm running statistics update once per step.

    Activation checkpointing runs a layer's forward twice; a BatchNorm in training mode would fold the batch
    statistics into its running mean / variance on both runs (momentum 0.1 applied twice), so the eval-mode model
    would differ from the one trained without checkpointing. The recomputation runs under a flag that
    [`RecomputeSafeBatchNorm1d`] reads: it normalises with the batch statistics and leaves the running ones alone.
    Only ``functools.partial(checkpoint, use_reentrant=False, ...)`` (what transformers builds by default) is
    wrapped; reentrant checkpointing and a caller's own ``context_fn`` are returned unchanged.
    """
    keywords = getattr(checkpoint_function, "keywords", None) or {}
    if keywords.get("use_reentrant") is not False or "context_fn" in keywords:
        return checkpoint_function
    return functools.partial(checkpoint_function, context_fn=_recompute_context)


class RecomputeSafeBatchNorm1d(nn.BatchNorm1d):
    """``nn.BatchNorm1d`` (same parameters and buffers) that does not update its running statistics while an
    activation-checkpointed layer is recomputed (see [`checkpoint_keeping_running_stats`])."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and _RECOMPUTING.get():
            # batch statistics as in the first run; momentum 0 leaves the running ones as they are (passing them
            # keeps the saved tensors identical to the first run, which non-reentrant checkpointing checks)
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, True, 0.0, self.eps)
        return super().forward(x)


def _lengths_to_padding_mask(lengths: torch.Tensor, max_length: int) -> torch.Tensor:
    """``(b,)`` lengths → ``(b, max_length)`` bool padding mask, True = PAD."""
    return torch.arange(max_length, device=lengths.device)[None, :] >= lengths[:, None]


class SignLLMConformerFeedForward(nn.Module):
    """LN → Linear(d, f) → SiLU → dropout → Linear(f, d) → dropout; ``(b, t, d) → (b, t, d)``."""

    def __init__(self, hidden_size: int, intermediate_size: int, dropout: float, layer_norm_eps: float):
        super().__init__()
        self.layer_norm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.fc_in = nn.Linear(hidden_size, intermediate_size)
        self.fc_out = nn.Linear(intermediate_size, hidden_size)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer_norm(x)
        x = self.dropout(F.silu(self.fc_in(x)))
        return self.dropout(self.fc_out(x))


class SignLLMConformerSelfAttention(nn.Module):
    """Multi-head self-attention with key padding mask that returns its attention map.

    Attention is computed explicitly (not with fused SDPA) because attentive pooling needs the maps; clips are
    short (24 frames for ISLR and the sliding windows), so the ``(b, h, t, t)`` map is small.
    """

    def __init__(self, hidden_size: int, num_heads: int, attention_dropout: float, dropout: float, eps: float):
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(f"hidden_size ({hidden_size}) must be divisible by num_heads ({num_heads}).")
        self.num_heads = num_heads
        self.head_dim = hidden_size // num_heads
        self.layer_norm = nn.LayerNorm(hidden_size, eps=eps)
        self.to_qkv = nn.Linear(hidden_size, 3 * hidden_size)
        self.to_out = nn.Linear(hidden_size, hidden_size)
        self.attention_dropout = nn.Dropout(attention_dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """``x (b, t, d)``, ``padding_mask (b, t)`` True = PAD → ``(b, t, d)``, attention ``(b, h, t, t)``."""
        b, t, d = x.shape
        x = self.layer_norm(x)
        qkv = self.to_qkv(x).view(b, t, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # (b, h, t, dh)
        # in place on the fresh (b, h, t, t) scores (smaller than q when t < head_dim): matmul's backward does not
        # need its output
        scores = torch.matmul(q, k.transpose(-1, -2)).mul_(1.0 / math.sqrt(self.head_dim))
        if padding_mask is not None:
            scores.masked_fill_(padding_mask[:, None, None, :], torch.finfo(scores.dtype).min)
        attention = scores.softmax(dim=-1)
        context = torch.matmul(self.attention_dropout(attention), v)
        context = context.transpose(1, 2).reshape(b, t, d)
        return self.dropout(self.to_out(context)), attention


class SignLLMConformerConvModule(nn.Module):
    """LN → pointwise (d → 2·e·d) → GLU → depthwise conv (kernel k) → BN → SiLU → pointwise (e·d → d) → dropout.

    Padded frames are zeroed before the depthwise conv so they never leak into valid neighbours. The depthwise
    conv runs as a channels-last ``conv2d`` on a free view of ``(b, t, c)``, so no transpose is copied.
    """

    def __init__(self, hidden_size: int, expansion_factor: int, kernel_size: int, dropout: float, eps: float):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"conv_kernel_size must be odd (same padding), got {kernel_size}.")
        inner = hidden_size * expansion_factor
        self.layer_norm = nn.LayerNorm(hidden_size, eps=eps)
        self.pointwise_in = nn.Linear(hidden_size, 2 * inner)
        self.depthwise = nn.Conv2d(inner, inner, (kernel_size, 1), padding=(kernel_size // 2, 0), groups=inner)
        self.batch_norm = RecomputeSafeBatchNorm1d(inner)
        self.pointwise_out = nn.Linear(inner, hidden_size)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None) -> torch.Tensor:
        """``x (b, t, d)`` → ``(b, t, d)``."""
        x = F.glu(self.pointwise_in(self.layer_norm(x)), dim=-1)  # (b, t, e·d)
        if padding_mask is not None:  # in place: GLU's backward needs its input, not its output
            x.masked_fill_(padding_mask[..., None], 0.0)
        b, t, c = x.shape
        x = x.transpose(1, 2).unsqueeze(-1)  # (b, c, t, 1) channels-last view
        bn = self.batch_norm
        if self.training or not bn.track_running_stats:
            x = self.depthwise(x).squeeze(-1).transpose(1, 2)
            x = bn(x.reshape(b * t, c)).view(b, t, c)
        else:  # eval: BN folded into the depthwise conv (exact), one pass less
            scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
            bias = (self.depthwise.bias - bn.running_mean) * scale + bn.bias
            weight = self.depthwise.weight * scale[:, None, None, None]
            x = F.conv2d(x, weight, bias, padding=self.depthwise.padding, groups=c).squeeze(-1).transpose(1, 2)
        x = F.silu(x)
        return self.dropout(self.pointwise_out(x))


class SignLLMConformerBlock(GradientCheckpointingLayer):
    """Macaron Conformer block: ½FFN → MHSA → conv → ½FFN → LN; ``(b, t, d) → (b, t, d)``.

    A [`~transformers.modeling_layers.GradientCheckpointingLayer`]: ``model.gradient_checkpointing_enable()``
    recomputes it in the backward pass instead of keeping its activations.
    """

    def __init__(
        self,
        hidden_size: int,
        num_heads: int,
        intermediate_size: int,
        conv_expansion_factor: int,
        conv_kernel_size: int,
        dropout: float,
        attention_dropout: float,
        layer_norm_eps: float,
    ):
        super().__init__()
        self.ffn_in = SignLLMConformerFeedForward(hidden_size, intermediate_size, dropout, layer_norm_eps)
        self.self_attention = SignLLMConformerSelfAttention(
            hidden_size, num_heads, attention_dropout, dropout, layer_norm_eps
        )
        self.conv_module = SignLLMConformerConvModule(
            hidden_size, conv_expansion_factor, conv_kernel_size, dropout, layer_norm_eps
        )
        self.ffn_out = SignLLMConformerFeedForward(hidden_size, intermediate_size, dropout, layer_norm_eps)
        self.final_layer_norm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.add(x, self.ffn_in(x), alpha=0.5)  # macaron ½-residual in one pass
        residual = x
        attended, attention = self.self_attention(x, padding_mask)
        x = residual + attended
        x = x + self.conv_module(x, padding_mask)
        x = torch.add(x, self.ffn_out(x), alpha=0.5)
        return self.final_layer_norm(x), attention


class SignLLMConformer(nn.Module):
    """Stack of Conformer blocks over ``(b, t, d)`` with a key padding mask (True = PAD).

    Args:
        hidden_size (`int`): d.
        num_layers (`int`): number of blocks.
        num_heads (`int`): attention heads.
        intermediate_size (`int`): FFN width.
        conv_expansion_factor (`int`): conv-module expansion.
        conv_kernel_size (`int`): depthwise kernel (odd).
        dropout / attention_dropout (`float`), layer_norm_eps (`float`).
    """

    def __init__(
        self,
        hidden_size: int,
        num_layers: int,
        num_heads: int,
        intermediate_size: int,
        conv_expansion_factor: int = 2,
        conv_kernel_size: int = 5,
        dropout: float = 0.1,
        attention_dropout: float = 0.1,
        layer_norm_eps: float = 1e-5,
    ):
        super().__init__()
        self.hidden_size = hidden_size
        self.layers = nn.ModuleList(
            SignLLMConformerBlock(
                hidden_size,
                num_heads,
                intermediate_size,
                conv_expansion_factor,
                conv_kernel_size,
                dropout,
                attention_dropout,
                layer_norm_eps,
            )
            for _ in range(num_layers)
        )

    def forward(
        self, x: torch.Tensor, padding_mask: torch.Tensor | None = None, output_attentions: bool = False
    ) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
        """``x (b, t, d)``, ``padding_mask (b, t)`` bool True = PAD → ``y (b, t, d)`` (padded rows zeroed),
        attentions ``list[(b, h, t, t)]`` when ``output_attentions``.

        A sequence whose frames are all padding would make the softmax undefined; its padding is ignored inside
        the blocks and its output is zeroed, so the result stays finite.
        """
        if x.dim() != 3 or x.shape[-1] != self.hidden_size:
            raise ValueError(f"Expected input of shape (batch, frames, {self.hidden_size}), got {tuple(x.shape)}.")
        if padding_mask is not None:
            if padding_mask.shape != x.shape[:2]:
                raise ValueError(f"padding_mask {tuple(padding_mask.shape)} must match input {tuple(x.shape[:2])}.")
            padding_mask = padding_mask.bool()
            all_padded = padding_mask.all(dim=1, keepdim=True)
            block_mask = padding_mask & ~all_padded
            block_mask = block_mask if bool(block_mask.any()) else None  # no padding: skip all masking passes
        else:
            block_mask = None
        attentions = [] if output_attentions else None
        for layer in self.layers:
            x, attention = layer(x, block_mask)  # checkpointed when gradient checkpointing is enabled
            if attentions is not None:
                attentions.append(attention)
        if padding_mask is not None:
            x = x.masked_fill(padding_mask[..., None], 0.0)
        return x, attentions

    @staticmethod
    def attentive_pooling(
        y: torch.Tensor, attentions: list[torch.Tensor], padding_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """See [`attentive_pooling`]: ``(b, t, d)`` + maps → ``(b, d)``."""
        return attentive_pooling(y, attentions, padding_mask)


def attentive_pooling(
    y: torch.Tensor, attentions: list[torch.Tensor], padding_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Attentive pooling [paper]: mean attention map over blocks and heads applied to the last output, then the
    masked temporal mean.

    Args:
        y: ``(b, t, d)`` last Conformer output.
        attentions: list of ``(b, h, t, t)`` maps (one per block).
        padding_mask: ``(b, t)`` bool, True = PAD.
    Returns:
        ``(b, d)``; all-padding sequences give zeros.
    """
    if not attentions:
        raise ValueError("attentive_pooling needs the attention maps: call the Conformer with output_attentions=True.")
    # mean_q (mean_{l,h} A) @ y == (mean_q mean_{l,h} A) @ y: average the maps over blocks, heads and valid queries
    # first, so only one (b, t) weight vector multiplies y.
    attention = sum(a.mean(dim=1) for a in attentions) / len(attentions)  # (b, t_q, t_k)
    if padding_mask is None:
        weights = attention.mean(dim=1)
    else:
        valid = (~padding_mask.bool()).to(attention.dtype)  # (b, t)
        counts = valid.sum(dim=1, keepdim=True).clamp_min(1.0)
        weights = torch.einsum("bq,bqk->bk", valid, attention) / counts
        weights = weights * valid  # padded keys carry ~0 weight already; make it exact
    return torch.einsum("bk,bkd->bd", weights, y)
