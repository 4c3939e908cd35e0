"""Sliding Perceiver resampler: dense backbone features → visual tokens for the LM (architecture §3).

Linear to d_llm + a learnable global temporal positional table, then windows of ``window_size`` features at
``window_stride`` without padding (250 → 122 for the paper); one learnable latent query per window cross-attends
to its window (keys/values = window [+ the latent], Flamingo style), then FFN ×4; several such layers.

Axis legend: b batch, n input features, w windows, l window length, d width (= d_llm), h heads.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers.modeling_layers import GradientCheckpointingLayer

from .configuration_signllm import SignLLMResamplerConfig


class SignLLMPerceiverLayer(GradientCheckpointingLayer):
    """Latent cross-attention + FFN: ``latents (m, 1, d)``, ``window (m, l, d)``, ``key_valid (m, l)`` → ``(m, 1, d)``.

    A [`~transformers.modeling_layers.GradientCheckpointingLayer`] (recomputed in backward when gradient
    checkpointing is enabled).
    """

    def __init__(self, config: SignLLMResamplerConfig):
        super().__init__()
        d = config.hidden_size
        self.num_heads = config.num_attention_heads
        self.head_dim = d // self.num_heads
        self.attend_to_latent = config.attend_to_latent
        self.norm_media = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.norm_latents = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.to_q = nn.Linear(d, d, bias=False)
        self.to_kv = nn.Linear(d, 2 * d, bias=False)
        self.to_out = nn.Linear(d, d, bias=False)
        self.attention_dropout = config.attention_dropout
        self.norm_ff = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.ff_in = nn.Linear(d, config.ffn_size)
        self.ff_out = nn.Linear(config.ffn_size, d)
        self.dropout = nn.Dropout(config.hidden_dropout)

    def forward(self, latents: torch.Tensor, window: torch.Tensor, key_valid: torch.Tensor) -> torch.Tensor:
        m, d = window.shape[0], window.shape[2]
        residual = latents
        latents_normed = self.norm_latents(latents)
        media = self.norm_media(window)
        if self.attend_to_latent:
            media = torch.cat([media, latents_normed], dim=1)
            key_valid = torch.cat([key_valid, key_valid.new_ones(m, 1)], dim=1)
        q = self.to_q(latents_normed).view(m, 1, self.num_heads, self.head_dim).transpose(1, 2)
        k, v = self.to_kv(media).view(m, -1, 2, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        # windows with no valid key (all padding) attend to everything instead of producing NaN; their tokens are
        # masked by the caller
        key_valid = key_valid | ~key_valid.any(dim=1, keepdim=True)
        context = F.scaled_dot_product_attention(
            q, k, v, attn_mask=key_valid[:, None, None, :],
            dropout_p=self.attention_dropout if self.training else 0.0,
        )  # fmt: skip
        latents = residual + self.dropout(self.to_out(context.transpose(1, 2).reshape(m, 1, d)))
        residual = latents
        hidden = self.dropout(F.gelu(self.ff_in(self.norm_ff(latents))))
        return residual + self.dropout(self.ff_out(hidden))


class SignLLMPerceiverResampler(nn.Module):
    """Sliding Perceiver resampler.

    Args:
        config ([`SignLLMResamplerConfig`]): `input_size` (fused backbone width), `hidden_size` (d_llm), layers,
            heads, `window_size`, `window_stride`, `max_positions` (length of the global positional table).

    forward: ``features (b, n, input_size)``, ``mask (b, n)`` bool True = valid → ``tokens (b, w, hidden_size)``,
    ``token_mask (b, w)`` bool True = valid (a window with at least one valid feature); masked tokens are 0.
    ``w = config.num_windows(n)``.
    """

    def __init__(self, config: SignLLMResamplerConfig):
        super().__init__()
        self.config = config
        d = config.hidden_size
        self.input_projection = nn.Linear(config.input_size, d)
        self.position_embedding = nn.Parameter(torch.randn(config.max_positions, d) / math.sqrt(d))
        # one latent query shared by all windows [ours]: windows differ through the global positions of their keys
        self.latent = nn.Parameter(torch.randn(1, 1, d) / math.sqrt(d))
        self.layers = nn.ModuleList(SignLLMPerceiverLayer(config) for _ in range(config.num_hidden_layers))
        self.final_layer_norm = nn.LayerNorm(d, eps=config.layer_norm_eps)

    def forward(self, features: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if features.dim() != 3 or features.shape[-1] != self.config.input_size:
            raise ValueError(
                f"features must have shape (batch, n, {self.config.input_size}), got {tuple(features.shape)}."
            )
        b, n, _ = features.shape
        if n > self.config.max_positions:
            raise ValueError(f"{n} features exceed the positional table (max_positions={self.config.max_positions}).")
        num_windows = self.config.num_windows(n)
        if num_windows == 0:
            raise ValueError(f"Need at least window_size={self.config.window_size} features, got {n}.")
        if mask is None:
            mask = torch.ones(b, n, dtype=torch.bool, device=features.device)
        elif tuple(mask.shape) != (b, n):
            raise ValueError(f"mask shape {tuple(mask.shape)} must be (batch, n) = {(b, n)}.")
        mask = mask.bool()
        x = self.input_projection(features) + self.position_embedding[:n]
        size, stride = self.config.window_size, self.config.window_stride
        windows = x.unfold(1, size, stride).transpose(2, 3).reshape(b * num_windows, size, -1)  # (b·w, l, d)
        key_valid = mask.unfold(1, size, stride).reshape(b * num_windows, size)
        latents = self.latent.expand(b * num_windows, 1, -1)
        for layer in self.layers:
            latents = layer(latents, windows, key_valid)
        token_mask = key_valid.any(dim=1).view(b, num_windows)
        tokens = self.final_layer_norm(latents).view(b, num_windows, -1) * token_mask[..., None]
        return tokens, token_mask
