"""Pose and lip backbones: frame features → Conformer, pooled clip vectors and dense sliding features.

Architecture §3: the pose backbone runs 4 articulator AGCN encoders (hands share one; the right hand is mirrored),
concatenates them (4C), projects to D and applies a Conformer; the lip backbone projects 768-d lip-reader
features to D and applies its own Conformer. Both give
- ``forward``: whole-clip Conformer + attentive pooling (ISLR on 24-frame clips);
- ``dense_features``: the "Sliding Conformer" for SLT/SSA: the per-frame part (AGCN / Linear) runs once over all
  frames, then the Conformer + attentive pooling run on every ``clip_length`` window centred on every
  ``clip_stride``-th frame (edges padded and masked), batched as one ``(windows, clip_length, D)`` call.

Axis legend: b batch, t frames, k keypoints (203), c coords, w windows, l window length, d width.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers.utils import ModelOutput

from .configuration_signllm import SignLLMLipEncoderConfig, SignLLMPoseEncoderConfig
from .keypoint_layout import ARTICULATOR_SLICES, ARTICULATORS, NUM_JOINTS, articulator_adjacency
from .modeling_agcn import SignLLMArticulatorEncoder
from .modeling_conformer import SignLLMConformer, attentive_pooling


@dataclass
class BackboneOutput(ModelOutput):
    """Output of [`SignLLMPoseEncoder`] / [`SignLLMLipEncoder`] ``forward``.

    Args:
        last_hidden_state (`torch.FloatTensor` of shape `(b, t, D)`): frame-level Conformer output (padded frames 0).
        pooled (`torch.FloatTensor` of shape `(b, D)`): attentive-pooled clip vector.
        attentions (`tuple(torch.FloatTensor)`, *optional*): per-block `(b, h, t, t)` maps when requested.
        articulator_features (`dict[str, torch.FloatTensor]`, *optional*): the 4 `(b, t, C)` articulator streams
            (pose only, when `output_articulator_features=True`), for the ISLR auxiliary loss.
    """

    last_hidden_state: torch.FloatTensor | None = None
    pooled: torch.FloatTensor | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None
    articulator_features: dict[str, torch.FloatTensor] | None = None


def _frame_mask(attention_mask: torch.Tensor | None, batch: int, frames: int, device: torch.device) -> torch.Tensor:
    """``(b, t)`` 1 = valid (any dtype) → bool; ``None`` → all valid."""
    if attention_mask is None:
        return torch.ones(batch, frames, dtype=torch.bool, device=device)
    if tuple(attention_mask.shape) != (batch, frames):
        raise ValueError(
            f"attention mask shape {tuple(attention_mask.shape)} must be (batch, frames) = {(batch, frames)}."
        )
    return attention_mask.bool()


def sliding_windows(
    features: torch.Tensor, valid: torch.Tensor, length: int, stride: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Windows of ``length`` frames centred on frames ``0, stride, 2·stride, …`` (``t // stride`` windows).

    Window ``i`` covers frames ``[i·stride − length//2, i·stride + length − length//2)``; frames outside the clip
    are zero and masked. Returns views (no copy): ``windows (b, w, l, d)``, ``window_valid (b, w, l)`` bool
    True = valid frame, ``centre_valid (b, w)`` bool (True when the window's centre frame is valid).
    """
    num_windows = features.shape[1] // stride
    left = length // 2
    padded = F.pad(features, (0, 0, left, length - left))
    padded_valid = F.pad(valid, (left, length - left), value=False)
    windows = padded.unfold(1, length, stride)[:, :num_windows].transpose(2, 3)  # (b, w, l, d)
    window_valid = padded_valid.unfold(1, length, stride)[:, :num_windows]  # (b, w, l)
    centre_valid = valid[:, ::stride][:, :num_windows]
    return windows, window_valid, centre_valid


class _ConformerBackbone(nn.Module):
    """Shared tail of both backbones: Conformer, attentive pooling and the sliding-window dense features."""

    def _build_conformer(self, config: SignLLMPoseEncoderConfig | SignLLMLipEncoderConfig) -> None:
        self.conformer = SignLLMConformer(
            hidden_size=config.hidden_size,
            num_layers=config.num_hidden_layers,
            num_heads=config.num_attention_heads,
            intermediate_size=config.intermediate_size,
            conv_expansion_factor=config.conv_expansion_factor,
            conv_kernel_size=config.conv_kernel_size,
            dropout=config.hidden_dropout,
            attention_dropout=config.attention_dropout,
            layer_norm_eps=config.layer_norm_eps,
        )

    def _encode_clip(self, frames: torch.Tensor, valid: torch.Tensor, output_attentions: bool) -> BackboneOutput:
        """Whole-clip Conformer + attentive pooling: ``frames (b, t, D)`` → BackboneOutput."""
        padding = ~valid
        hidden, attentions = self.conformer(frames, padding, output_attentions=True)
        pooled = attentive_pooling(hidden, attentions, padding)
        return BackboneOutput(
            last_hidden_state=hidden, pooled=pooled, attentions=tuple(attentions) if output_attentions else None
        )

    def _sliding_conformer(self, frames: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Dense clip features: ``frames (b, t, D)``, ``valid (b, t)`` → ``(b, t // stride, D)``, mask ``(b, w)``.

        Only windows whose centre frame is valid run through the Conformer (one batched call); the others
        come out as zeros with mask False.
        """
        b, t, d = frames.shape
        if t < self.config.clip_stride:
            raise ValueError(f"Need at least clip_stride={self.config.clip_stride} frames, got {t}.")
        windows, window_valid, centre_valid = sliding_windows(
            frames, valid, self.config.clip_length, self.config.clip_stride
        )
        num_windows = windows.shape[1]
        flat_valid = centre_valid.reshape(-1)
        selected = flat_valid.nonzero(as_tuple=True)[0]
        if selected.numel() == 0:  # every frame is padding
            return frames.new_zeros(b, num_windows, d), centre_valid
        batch_windows = windows.reshape(b * num_windows, -1, d)[selected]  # (w', l, D): the only copy
        padding = ~window_valid.reshape(b * num_windows, -1)[selected]
        hidden, attentions = self.conformer(batch_windows, padding, output_attentions=True)
        pooled = attentive_pooling(hidden, attentions, padding)
        features = pooled.new_zeros(b * num_windows, d).index_copy(0, selected, pooled)
        return features.view(b, num_windows, d), centre_valid


class SignLLMPoseEncoder(_ConformerBackbone):
    """Pose backbone: 4 articulator AGCN encoders → concat 4C → Linear D → Conformer (architecture §3).

    Args:
        config ([`SignLLMPoseEncoderConfig`]): all sizes.

    Inputs: ``pose_values (b, t, 203, c)`` normalised keypoints, ``pose_attention_mask (b, t)`` 1 = valid frame,
    ``joint_mask (b, t, 203)`` bool, True = detected joint (optional). NaN/inf at a valid (frame, joint) raises
    ``ValueError``; NaN at a masked joint or padded frame is ignored (treated as missing).
    """

    def __init__(self, config: SignLLMPoseEncoderConfig):
        super().__init__()
        self.config = config
        encoders = {}
        for name in ("body", "face", "hand"):
            adjacency = torch.from_numpy(articulator_adjacency("left_hand" if name == "hand" else name))
            encoders[name] = SignLLMArticulatorEncoder(
                adjacency=adjacency,
                num_coordinates=config.num_coordinates,
                in_channels=config.agcn_in_channels,
                channels=config.agcn_channels,
                hidden_size=config.articulator_hidden_size,
                joint_aggregation=config.joint_aggregation,
                temporal_kernel_size=config.temporal_kernel_size,
                embedding_ratio=config.graph_embedding_ratio,
            )
        self.articulator_encoders = nn.ModuleDict(encoders)
        self.fusion = nn.Linear(len(ARTICULATORS) * config.articulator_hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout)
        self._build_conformer(config)

    def _check_inputs(
        self, pose_values: torch.Tensor, pose_attention_mask: torch.Tensor | None, joint_mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Validate shapes and values → ``(values with invalid joints = 0, joint_valid (b,t,k), frame_valid (b,t))``."""
        if pose_values.dim() != 4 or pose_values.shape[2] != NUM_JOINTS:
            raise ValueError(
                f"pose_values must have shape (batch, frames, {NUM_JOINTS}, {self.config.num_coordinates}), "
                f"got {tuple(pose_values.shape)}."
            )
        if pose_values.shape[3] != self.config.num_coordinates:
            raise ValueError(
                f"pose_values has {pose_values.shape[3]} coordinates per joint; the config expects "
                f"{self.config.num_coordinates}."
            )
        b, t = pose_values.shape[:2]
        frame_valid = _frame_mask(pose_attention_mask, b, t, pose_values.device)
        joint_valid = frame_valid[..., None].expand(b, t, NUM_JOINTS)
        if joint_mask is not None:
            if tuple(joint_mask.shape) != (b, t, NUM_JOINTS):
                raise ValueError(f"joint_mask must have shape {(b, t, NUM_JOINTS)}, got {tuple(joint_mask.shape)}.")
            joint_valid = joint_valid & joint_mask.bool()
        finite = torch.isfinite(pose_values).all(dim=-1)
        if not bool(finite[joint_valid].all()):
            bad = (~finite & joint_valid).nonzero()[0].tolist()
            raise ValueError(
                f"pose_values contains NaN/inf at a valid joint (batch {bad[0]}, frame {bad[1]}, joint {bad[2]}). "
                "Mark missing joints in joint_mask (or set them to 0) instead of passing NaN."
            )
        values = torch.where(joint_valid[..., None], pose_values, torch.zeros((), dtype=pose_values.dtype))
        return values, joint_valid, frame_valid

    def _mask_articulators(self, joint_valid: torch.Tensor) -> torch.Tensor:
        """Articulator masking [paper]: per sample drop 0…max_masked_articulators whole articulators."""
        b = joint_valid.shape[0]
        num_masked = torch.randint(0, self.config.max_masked_articulators + 1, (b,), device=joint_valid.device)
        ranks = torch.rand(b, len(ARTICULATORS), device=joint_valid.device).argsort(dim=1)
        dropped = ranks < num_masked[:, None]  # (b, 4): the num_masked articulators with the lowest random ranks
        keep = torch.ones_like(joint_valid[:, 0])  # (b, k)
        for index, name in enumerate(ARTICULATORS):
            keep[:, ARTICULATOR_SLICES[name]] = ~dropped[:, index : index + 1]
        return joint_valid & keep[:, None, :]

    def encode_articulators(
        self,
        pose_values: torch.Tensor,
        pose_attention_mask: torch.Tensor | None = None,
        joint_mask: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """The 4 articulator streams ``{name: (b, t, C)}`` (padded frames 0). Applies articulator masking when
        training with ``config.articulator_masking`` (masked articulators get all-zero, invalid input)."""
        values, joint_valid, frame_valid = self._check_inputs(pose_values, pose_attention_mask, joint_mask)
        if self.training and self.config.articulator_masking and self.config.max_masked_articulators > 0:
            joint_valid = self._mask_articulators(joint_valid)
            values = values * joint_valid[..., None].to(values.dtype)
        parts = {name: (values[:, :, ARTICULATOR_SLICES[name]], joint_valid[:, :, ARTICULATOR_SLICES[name]])
                 for name in ARTICULATORS}  # fmt: skip
        features = {}
        for name in ("body", "face"):
            features[name] = self.articulator_encoders[name](*parts[name], frame_valid)
        # both hands through the shared encoder in one batch; the right hand mirrored in x
        left_values, left_valid = parts["left_hand"]
        right_values, right_valid = parts["right_hand"]
        if self.config.mirror_right_hand:
            right_values = right_values * right_values.new_tensor([-1.0] + [1.0] * (right_values.shape[-1] - 1))
        hands = self.articulator_encoders["hand"](
            torch.cat([left_values, right_values]), torch.cat([left_valid, right_valid]),
            torch.cat([frame_valid, frame_valid]),
        )  # fmt: skip
        features["left_hand"], features["right_hand"] = hands.chunk(2)
        return features

    def articulator_features(
        self,
        pose_values: torch.Tensor,
        pose_attention_mask: torch.Tensor | None = None,
        joint_mask: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """``{name: (b, t, C)}`` for the 4 articulators (ISLR auxiliary loss); same as `encode_articulators`."""
        return self.encode_articulators(pose_values, pose_attention_mask, joint_mask)

    def fuse_articulators(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """Concat the 4 streams in `ARTICULATORS` order → Linear → ``(b, t, D)``."""
        return self.dropout(self.fusion(torch.cat([features[name] for name in ARTICULATORS], dim=-1)))

    def forward(
        self,
        pose_values: torch.Tensor,
        pose_attention_mask: torch.Tensor | None = None,
        joint_mask: torch.Tensor | None = None,
        output_attentions: bool = False,
        output_articulator_features: bool = False,
    ) -> BackboneOutput:
        """Whole-clip features: ``last_hidden_state (b, t, D)`` and attentive-pooled ``pooled (b, D)``."""
        features = self.encode_articulators(pose_values, pose_attention_mask, joint_mask)
        valid = _frame_mask(pose_attention_mask, *pose_values.shape[:2], pose_values.device)
        output = self._encode_clip(self.fuse_articulators(features), valid, output_attentions)
        if output_articulator_features:
            output.articulator_features = features
        return output

    def dense_features(
        self,
        pose_values: torch.Tensor,
        pose_attention_mask: torch.Tensor | None = None,
        joint_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Sliding Conformer: AGCN once over all frames, Conformer + pooling per window.

        Returns ``features (b, t // clip_stride, D)`` and ``mask (b, t // clip_stride)`` bool, True = valid.
        """
        frames = self.fuse_articulators(self.encode_articulators(pose_values, pose_attention_mask, joint_mask))
        valid = _frame_mask(pose_attention_mask, *pose_values.shape[:2], pose_values.device)
        return self._sliding_conformer(frames, valid)

    def dense_features_per_window(
        self,
        pose_values: torch.Tensor,
        pose_attention_mask: torch.Tensor | None = None,
        joint_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Reference scheme: the whole backbone (AGCN included) on every window, exactly as in ISLR pretraining.

        Same windows and outputs as `dense_features`, ~12× the AGCN compute and memory (benchmark baseline).
        """
        b, t = pose_values.shape[:2]
        valid = _frame_mask(pose_attention_mask, b, t, pose_values.device)
        joints = (
            torch.ones(b, t, NUM_JOINTS, dtype=torch.bool, device=valid.device) if joint_mask is None else joint_mask
        )
        flat_values = pose_values.reshape(b, t, -1)
        windows, window_valid, centre_valid = sliding_windows(
            flat_values, valid, self.config.clip_length, self.config.clip_stride
        )
        joint_windows = sliding_windows(joints.bool(), valid, self.config.clip_length, self.config.clip_stride)[0]
        selected = centre_valid.reshape(-1).nonzero(as_tuple=True)[0]
        length = self.config.clip_length
        clip_values = windows.reshape(-1, length, NUM_JOINTS, pose_values.shape[-1])[selected]
        clip_valid = window_valid.reshape(-1, length)[selected]
        clip_joints = joint_windows.reshape(-1, length, NUM_JOINTS)[selected]
        pooled = self.forward(clip_values, clip_valid, clip_joints).pooled
        features = pooled.new_zeros(centre_valid.numel(), pooled.shape[-1]).index_copy(0, selected, pooled)
        return features.view(b, -1, pooled.shape[-1]), centre_valid


class SignLLMLipEncoder(_ConformerBackbone):
    """Lip backbone: 768-d lip-reader features → Linear D → Conformer (architecture §3).

    Args:
        config ([`SignLLMLipEncoderConfig`]): all sizes.

    Inputs: ``lip_values (b, t, feature_size)``, ``lip_attention_mask (b, t)`` 1 = valid frame.
    """

    def __init__(self, config: SignLLMLipEncoderConfig):
        super().__init__()
        self.config = config
        self.projection = nn.Linear(config.feature_size, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout)
        self._build_conformer(config)

    def _project(self, lip_values: torch.Tensor, lip_attention_mask: torch.Tensor | None):
        if lip_values.dim() != 3 or lip_values.shape[-1] != self.config.feature_size:
            raise ValueError(
                f"lip_values must have shape (batch, frames, {self.config.feature_size}), got {tuple(lip_values.shape)}."
            )
        b, t, _ = lip_values.shape
        valid = _frame_mask(lip_attention_mask, b, t, lip_values.device)
        finite = torch.isfinite(lip_values).all(dim=-1)
        if not bool(finite[valid].all()):
            raise ValueError("lip_values contains NaN/inf in a valid frame; mask the frame in lip_attention_mask.")
        values = torch.where(valid[..., None], lip_values, torch.zeros((), dtype=lip_values.dtype))
        return self.dropout(self.projection(values)), valid

    def forward(
        self, lip_values: torch.Tensor, lip_attention_mask: torch.Tensor | None = None, output_attentions: bool = False
    ) -> BackboneOutput:
        """Whole-clip features: ``last_hidden_state (b, t, D)`` and ``pooled (b, D)``."""
        frames, valid = self._project(lip_values, lip_attention_mask)
        return self._encode_clip(frames, valid, output_attentions)

    def dense_features(
        self, lip_values: torch.Tensor, lip_attention_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Sliding Conformer over lip features → ``(b, t // clip_stride, D)``, mask ``(b, t // clip_stride)``."""
        frames, valid = self._project(lip_values, lip_attention_mask)
        return self._sliding_conformer(frames, valid)
