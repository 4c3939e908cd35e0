"""The frozen lip reader: Auto-AVSR's visual encoder, mouth crops `(b, t, 1, 88, 88)` → features `(b, t, 768)`.

A re-implementation of the encoder half of Auto-AVSR (Ma et al., ICASSP 2023, github.com/mpc001/auto_avsr,
`espnet/nets/pytorch_backend/`) with the **same parameter names and shapes**, so the released visual-only
checkpoints load once `decoder.*` / `ctc.*` are dropped (`signllm.processing.lip_reader_convert`):

| checkpoint keys | module |
|---|---|
| `frontend.frontend3D.{0,1}.*` | Conv3d(1→C, k=(5,7,7), s=(1,2,2), p=(2,3,3), no bias) + BatchNorm3d, then SiLU + MaxPool3d((1,3,3), (1,2,2), (0,1,1)) |
| `frontend.trunk.layer{1..4}.*` | 2-D ResNet-18 of BasicBlocks (widths C, 2C, 4C, 8C, SiLU), adaptive average pool → 8C per frame |
| `proj_encoder.*` | Linear 8C → d |
| `encoder.encoders.{i}.*` | ESPnet Conformer block: macaron ReLU FFNs (½ residual), relative-position MHSA, conv module (GLU → depthwise k → BatchNorm → SiLU), final LayerNorm |
| `encoder.after_norm.*` | LayerNorm |

Paper sizes (C 64, d 768, 12 blocks, 12 heads, FFN 3072, kernel 31, LayerNorm eps 1e-12) are the defaults of
`SignLLMLipEncoderConfig.lip_reader_config`. The relative positional encoding (`x·√d` plus sinusoidal encodings of
the offsets i−j) has no parameters. The module is inference-only (no dropout): it is frozen in SignLLM.

Axes: b batch, t frames, c channels, h/w crop height/width, d hidden size, n heads, k head size.

Only torch is imported: this file ships in the Hub folder so a checkpoint can go from mouth crops to text.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

#: Keys of `lip_reader_config` and their meaning (Auto-AVSR values in brackets).
LIP_READER_CONFIG_KEYS = {
    "hidden_size": "Conformer width d [768]",
    "num_hidden_layers": "Conformer blocks [12]",
    "num_attention_heads": "attention heads [12]",
    "intermediate_size": "feed-forward width [3072]",
    "conv_kernel_size": "depthwise convolution kernel, odd [31]",
    "frontend_channels": "channels C of the 3-D stem; the ResNet widths are C, 2C, 4C, 8C [64]",
    "resnet_layers": "BasicBlocks per ResNet stage, 4 ints [[2, 2, 2, 2]]",
    "layer_norm_eps": "LayerNorm epsilon [1e-12]",
}


def check_lip_reader_config(lip_reader_config: dict) -> dict:
    """Validate a `lip_reader_config` dict and return a clean copy (ValueError naming the problem otherwise)."""
    if not isinstance(lip_reader_config, dict):
        raise ValueError(f"lip_reader_config must be a dict, got {type(lip_reader_config).__name__}.")  # noqa: TRY004
    missing = sorted(set(LIP_READER_CONFIG_KEYS) - set(lip_reader_config))
    unknown = sorted(set(lip_reader_config) - set(LIP_READER_CONFIG_KEYS))
    if missing or unknown:
        raise ValueError(
            f"lip_reader_config: missing keys {missing}, unknown keys {unknown}; expected exactly "
            f"{sorted(LIP_READER_CONFIG_KEYS)}."
        )
    config = dict(lip_reader_config)
    config["resnet_layers"] = [int(n) for n in config["resnet_layers"]]
    for key in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                "conv_kernel_size", "frontend_channels"):  # fmt: skip
        if int(config[key]) != config[key] or config[key] < 1:
            raise ValueError(f"lip_reader_config[{key!r}] must be a positive int, got {config[key]!r}.")
        config[key] = int(config[key])
    if len(config["resnet_layers"]) != 4 or min(config["resnet_layers"]) < 1:
        raise ValueError(f"lip_reader_config['resnet_layers'] must be 4 positive ints, got {config['resnet_layers']}.")
    if config["hidden_size"] % config["num_attention_heads"]:
        raise ValueError(
            f"lip_reader_config: hidden_size ({config['hidden_size']}) must be divisible by "
            f"num_attention_heads ({config['num_attention_heads']})."
        )
    if config["conv_kernel_size"] % 2 == 0:
        raise ValueError(f"lip_reader_config['conv_kernel_size'] must be odd, got {config['conv_kernel_size']}.")
    config["layer_norm_eps"] = float(config["layer_norm_eps"])
    return config


# ----------------------------------------------------------------------------------------------------------------
# Visual front-end: 3-D stem + 2-D ResNet-18 (espnet/.../backbones/conv3d_extractor.py, modules/resnet.py)
# ----------------------------------------------------------------------------------------------------------------


class SignLLMLipReaderBasicBlock(nn.Module):
    """ResNet BasicBlock with SiLU ("swish"); `(b·t, c_in, h, w)` → `(b·t, c_out, h/stride, w/stride)`."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu1 = nn.SiLU()
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu2 = nn.SiLU()
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        x = self.relu1(self.bn1(self.conv1(x)))
        x = self.bn2(self.conv2(x))
        return self.relu2(x + residual)


class SignLLMLipReaderResNet(nn.Module):
    """2-D ResNet trunk applied to every frame: `(b·t, C, h, w)` → `(b·t, 8C)`."""

    def __init__(self, channels: int, layers: list[int]):
        super().__init__()
        widths = [channels, 2 * channels, 4 * channels, 8 * channels]
        in_channels = channels
        for stage, (width, num_blocks) in enumerate(zip(widths, layers), start=1):
            stride = 1 if stage == 1 else 2
            blocks = [SignLLMLipReaderBasicBlock(in_channels, width, stride)]
            blocks += [SignLLMLipReaderBasicBlock(width, width) for _ in range(num_blocks - 1)]
            setattr(self, f"layer{stage}", nn.Sequential(*blocks))
            in_channels = width
        self.avgpool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.avgpool(x).flatten(1)


class SignLLMLipReaderFrontend(nn.Module):
    """Auto-AVSR `Conv3dResNet`: frames `(b, t, 1, h, w)` → per-frame features `(b, t, 8C)` (t unchanged)."""

    def __init__(self, channels: int, layers: list[int]):
        super().__init__()
        self.frontend3D = nn.Sequential(
            nn.Conv3d(1, channels, kernel_size=(5, 7, 7), stride=(1, 2, 2), padding=(2, 3, 3), bias=False),
            nn.BatchNorm3d(channels),
            nn.SiLU(),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
        )
        self.trunk = SignLLMLipReaderResNet(channels, layers)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        batch_size = frames.shape[0]
        x = self.frontend3D(frames.transpose(1, 2))  # (b, C, t, h/4, w/4): the only op that mixes frames (kernel 5)
        x = x.transpose(1, 2).flatten(0, 1)  # (b·t, C, h/4, w/4)
        x = self.trunk(x)
        return x.view(batch_size, -1, x.shape[-1])


# ----------------------------------------------------------------------------------------------------------------
# ESPnet Conformer (encoder/conformer_encoder.py, transformer/attention.py, transformer/embedding.py)
# ----------------------------------------------------------------------------------------------------------------


def relative_positional_encoding(length: int, hidden_size: int, dtype: torch.dtype, device) -> torch.Tensor:
    """ESPnet `RelPositionalEncoding` table for offsets t−1, …, 0, …, −(t−1): `(1, 2t−1, d)` sin/cos."""
    positions = torch.arange(length - 1, -length, -1, dtype=torch.float32, device=device).unsqueeze(1)
    inv_freq = torch.exp(
        torch.arange(0, hidden_size, 2, dtype=torch.float32, device=device) * -(math.log(10000.0) / hidden_size)
    )
    table = torch.zeros(2 * length - 1, hidden_size, device=device)
    table[:, 0::2] = torch.sin(positions * inv_freq)
    table[:, 1::2] = torch.cos(positions * inv_freq)
    return table.unsqueeze(0).to(dtype)


class SignLLMLipReaderAttention(nn.Module):
    """ESPnet `RelPositionMultiHeadedAttention` (Transformer-XL biases u, v); `(b, t, d)` → `(b, t, d)`."""

    def __init__(self, hidden_size: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.head_size = hidden_size // num_heads
        self.linear_q = nn.Linear(hidden_size, hidden_size)
        self.linear_k = nn.Linear(hidden_size, hidden_size)
        self.linear_v = nn.Linear(hidden_size, hidden_size)
        self.linear_out = nn.Linear(hidden_size, hidden_size)
        self.linear_pos = nn.Linear(hidden_size, hidden_size, bias=False)
        self.pos_bias_u = nn.Parameter(torch.empty(num_heads, self.head_size))
        self.pos_bias_v = nn.Parameter(torch.empty(num_heads, self.head_size))
        nn.init.xavier_uniform_(self.pos_bias_u)
        nn.init.xavier_uniform_(self.pos_bias_v)

    @staticmethod
    def rel_shift(scores: torch.Tensor) -> torch.Tensor:
        """`(b, n, t, 2t−1)` scores against offsets t−1…−(t−1) → `(b, n, t, t)` with entry [i, j] at offset i−j."""
        b, n, t, width = scores.shape
        padded = torch.cat([scores.new_zeros(b, n, t, 1), scores], dim=-1)
        padded = padded.view(b, n, width + 1, t)
        return padded[:, :, 1:].reshape(b, n, t, width)[:, :, :, : width // 2 + 1]

    def forward(self, x: torch.Tensor, pos_emb: torch.Tensor, padding_mask: torch.Tensor | None) -> torch.Tensor:
        b, t, d = x.shape
        q = self.linear_q(x).view(b, t, self.num_heads, self.head_size)  # (b, t, n, k)
        k = self.linear_k(x).view(b, t, self.num_heads, self.head_size).transpose(1, 2)  # (b, n, t, k)
        v = self.linear_v(x).view(b, t, self.num_heads, self.head_size).transpose(1, 2)
        p = self.linear_pos(pos_emb).view(pos_emb.shape[0], -1, self.num_heads, self.head_size).transpose(1, 2)
        q_u = (q + self.pos_bias_u).transpose(1, 2)  # content term (Transformer-XL a + c)
        q_v = (q + self.pos_bias_v).transpose(1, 2)  # position term (b + d)
        content = torch.matmul(q_u, k.transpose(-2, -1))
        position = self.rel_shift(torch.matmul(q_v, p.transpose(-2, -1)))
        scores = (content + position) / math.sqrt(self.head_size)  # (b, n, t, t)
        if padding_mask is not None:
            key_mask = padding_mask[:, None, None, :]
            scores = scores.masked_fill(key_mask, torch.finfo(scores.dtype).min)
            weights = torch.softmax(scores, dim=-1).masked_fill(key_mask, 0.0)
        else:
            weights = torch.softmax(scores, dim=-1)
        out = torch.matmul(weights, v).transpose(1, 2).reshape(b, t, d)
        return self.linear_out(out)


class SignLLMLipReaderFeedForward(nn.Module):
    """ESPnet `PositionwiseFeedForward` as in Auto-AVSR: Linear → ReLU → Linear, `(b, t, d)` → `(b, t, d)`."""

    def __init__(self, hidden_size: int, intermediate_size: int):
        super().__init__()
        self.w_1 = nn.Linear(hidden_size, intermediate_size)
        self.w_2 = nn.Linear(intermediate_size, hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w_2(torch.relu(self.w_1(x)))


class SignLLMLipReaderConvModule(nn.Module):
    """Conformer conv module (Auto-AVSR spells `pointwise_cov1/2`); `(b, t, d)` → `(b, t, d)`."""

    def __init__(self, hidden_size: int, kernel_size: int):
        super().__init__()
        self.pointwise_cov1 = nn.Conv1d(hidden_size, 2 * hidden_size, kernel_size=1)
        self.depthwise_conv = nn.Conv1d(
            hidden_size, hidden_size, kernel_size, padding=(kernel_size - 1) // 2, groups=hidden_size
        )
        self.norm = nn.BatchNorm1d(hidden_size)
        self.pointwise_cov2 = nn.Conv1d(hidden_size, hidden_size, kernel_size=1)
        self.activation = nn.SiLU()

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None) -> torch.Tensor:
        x = F.glu(self.pointwise_cov1(x.transpose(1, 2)), dim=1)  # (b, d, t)
        if padding_mask is not None:
            # Auto-AVSR does not mask here; zeroing padded steps makes a padded batch equal to one clip alone
            # (the depthwise convolution's own padding is zeros too).
            x = x.masked_fill(padding_mask[:, None, :], 0.0)
        x = self.activation(self.norm(self.depthwise_conv(x)))
        return self.pointwise_cov2(x).transpose(1, 2)


class SignLLMLipReaderLayer(nn.Module):
    """One ESPnet Conformer block (pre-norm, macaron FFNs with ½ residual); `(b, t, d)` → `(b, t, d)`."""

    def __init__(self, config: dict):
        super().__init__()
        d, eps = config["hidden_size"], config["layer_norm_eps"]
        self.self_attn = SignLLMLipReaderAttention(d, config["num_attention_heads"])
        self.feed_forward = SignLLMLipReaderFeedForward(d, config["intermediate_size"])
        self.feed_forward_macaron = SignLLMLipReaderFeedForward(d, config["intermediate_size"])
        self.conv_module = SignLLMLipReaderConvModule(d, config["conv_kernel_size"])
        self.norm_ff = nn.LayerNorm(d, eps=eps)
        self.norm_mha = nn.LayerNorm(d, eps=eps)
        self.norm_ff_macaron = nn.LayerNorm(d, eps=eps)
        self.norm_conv = nn.LayerNorm(d, eps=eps)
        self.norm_final = nn.LayerNorm(d, eps=eps)

    def forward(self, x: torch.Tensor, pos_emb: torch.Tensor, padding_mask: torch.Tensor | None) -> torch.Tensor:
        residual = x
        x = residual + 0.5 * self.feed_forward_macaron(self.norm_ff_macaron(x))
        residual = x
        x = residual + self.self_attn(self.norm_mha(x), pos_emb, padding_mask)
        residual = x
        x = residual + self.conv_module(self.norm_conv(x), padding_mask)
        residual = x
        x = residual + 0.5 * self.feed_forward(self.norm_ff(x))
        return self.norm_final(x)


class SignLLMLipReaderEncoder(nn.Module):
    """ESPnet `ConformerEncoder`: scale by √d, relative positions, blocks, `after_norm`; `(b, t, d)` → `(b, t, d)`."""

    def __init__(self, config: dict):
        super().__init__()
        self.hidden_size = config["hidden_size"]
        self.encoders = nn.ModuleList(SignLLMLipReaderLayer(config) for _ in range(config["num_hidden_layers"]))
        self.after_norm = nn.LayerNorm(self.hidden_size, eps=config["layer_norm_eps"])

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        pos_emb = relative_positional_encoding(x.shape[1], self.hidden_size, x.dtype, x.device)
        x = x * math.sqrt(self.hidden_size)
        for layer in self.encoders:
            x = layer(x, pos_emb, padding_mask)
        return self.after_norm(x)


# ----------------------------------------------------------------------------------------------------------------
# The lip reader
# ----------------------------------------------------------------------------------------------------------------


class SignLLMLipReader(nn.Module):
    r"""Auto-AVSR visual encoder, frozen by default: normalised mouth crops → one feature vector per frame (25 Hz).

    Args:
        lip_reader_config (`dict`): exactly the keys of `LIP_READER_CONFIG_KEYS`, as built by
            `SignLLMLipEncoderConfig.lip_reader_config`.
        frozen (`bool`, *optional*, defaults to `True`): call `freeze()` at construction (no gradients, eval mode
            kept even when a parent module calls `.train()`, so BatchNorm statistics never move).

    Inputs: `frames (b, t, 1, h, w)` float, crops prepared as Auto-AVSR does (gray, /255, centre 88×88, mean 0.421,
    std 0.165; see `signllm.processing.mouth_crops`); `padding_mask (b, t)` bool, True = padded frame.
    Output: `(b, t, hidden_size)`; padded frames are zero and do not change the other frames' outputs.
    """

    def __init__(self, lip_reader_config: dict, frozen: bool = True):
        super().__init__()
        self.config = check_lip_reader_config(lip_reader_config)
        channels = self.config["frontend_channels"]
        self.frontend = SignLLMLipReaderFrontend(channels, self.config["resnet_layers"])
        self.proj_encoder = nn.Linear(8 * channels, self.config["hidden_size"])
        self.encoder = SignLLMLipReaderEncoder(self.config)
        self.frozen = False
        if frozen:
            self.freeze()

    @property
    def hidden_size(self) -> int:
        return self.config["hidden_size"]

    def freeze(self) -> SignLLMLipReader:
        """No gradients, eval mode (also after a parent's `.train()`), forward under `torch.no_grad`."""
        for parameter in self.parameters():
            parameter.requires_grad_(False)
        self.frozen = True
        return self.eval()

    def unfreeze(self) -> SignLLMLipReader:
        for parameter in self.parameters():
            parameter.requires_grad_(True)
        self.frozen = False
        return self

    def train(self, mode: bool = True) -> SignLLMLipReader:
        return super().train(mode and not self.frozen)

    def forward(self, frames: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        self._check_inputs(frames, padding_mask)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            if padding_mask is not None:
                # Zero frames = the Conv3d's own zero padding, so padded frames do not leak into valid ones.
                frames = frames.masked_fill(padding_mask[:, :, None, None, None], 0.0)
            x = self.frontend(frames)  # (b, t, 8C)
            x = self.proj_encoder(x)  # (b, t, d)
            x = self.encoder(x, padding_mask)
            if padding_mask is not None:
                x = x.masked_fill(padding_mask[..., None], 0.0)
        return x

    @staticmethod
    def _check_inputs(frames: torch.Tensor, padding_mask: torch.Tensor | None) -> None:
        if not torch.is_tensor(frames) or frames.ndim != 5 or frames.shape[2] != 1:
            shape = tuple(frames.shape) if torch.is_tensor(frames) else type(frames).__name__
            raise ValueError(
                f"frames must be a (batch, time, 1, height, width) tensor of gray mouth crops, got {shape}."
            )
        if frames.shape[1] == 0 or min(frames.shape[-2:]) < 32:
            raise ValueError(
                f"frames need at least 1 frame of at least 32×32 pixels (88×88 expected), got {tuple(frames.shape)}."
            )
        if not frames.is_floating_point():
            raise ValueError(f"frames must be float (normalised crops), got {frames.dtype}.")
        if not torch.isfinite(frames).all():
            raise ValueError("frames contain NaN or inf.")
        if padding_mask is not None and (
            padding_mask.dtype != torch.bool or tuple(padding_mask.shape) != tuple(frames.shape[:2])
        ):
            raise ValueError(
                f"padding_mask must be a bool tensor of shape {tuple(frames.shape[:2])} (True = padding), "
                f"got {padding_mask.dtype} {tuple(padding_mask.shape)}."
            )
