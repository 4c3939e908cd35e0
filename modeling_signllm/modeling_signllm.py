"""SignLLM: pose + lip backbones → Sliding Perceiver → Flan-T5 with DoRA (Jang et al., 2025, architecture §3).

Axis legend: b batch, t frames, k keypoints (203), c coordinates (3), f lip feature width, n dense features
(t // clip_stride), w visual tokens (windows), p prompt tokens, l label tokens, v vocabulary, d LM width.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import os
import re
import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F
import torch.utils.checkpoint
import transformers
from torch import nn
from transformers import AutoModelForSeq2SeqLM, GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import Seq2SeqLMOutput

from .configuration_signllm import TASK_TO_ID, SignLLMConfig
from .dora import (
    adapter_input_casting,
    apply_dora,
    count_adapter_parameters,
    is_dora_applied,
    merge_dora,
    set_adapter_input_casting,
    unwrap,
)
from .keypoint_layout import NUM_JOINTS
from .modeling_agcn import SignLLMAdaptiveGraphConv
from .modeling_backbones import SignLLMLipEncoder, SignLLMPoseEncoder
from .modeling_conformer import checkpoint_keeping_running_stats
from .modeling_lip_reader import SignLLMLipReader
from .modeling_perceiver import SignLLMPerceiverResampler

TESTED_TRANSFORMERS = ("5.0", "6.0")  # [low, high) range the remote code is tested with
#: the language model's own weights (not its DoRA adapters) in the state dict; regex for transformers' loading rules
BASE_LANGUAGE_MODEL_KEYS = r"^language_model\.(?!.*lora_)"
#: where `save_language_model_adapter` writes the adapters in PEFT format (not at the folder root: transformers would
#: take an adapter_config.json there for a plain PEFT adapter of the base LM and load that instead of SignLLM)
ADAPTER_SUBFOLDER = "language_model"
_HUB_KWARGS = ("cache_dir", "token", "local_files_only", "force_download", "proxies")
SSA_ID = TASK_TO_ID["ssa"]
NUM_SSA_DIGITS = 6  # "sss eee"
#: [ours] largest |pose value| the model accepts: normalised keypoints stay within ~10 (the processor masks joints
#: beyond `keypoint_layout.MAX_KEYPOINT_DISTANCE`); raw pixels stay below it; 1e30 turned the logits to NaN
MAX_POSE_MAGNITUDE = 1e4


# transformers renamed Seq2SeqLMOutput.past_key_values to `cache` during 5.x; support both
_CACHE_FIELD = "cache" if "cache" in getattr(Seq2SeqLMOutput, "__dataclass_fields__", {}) else "past_key_values"


@dataclass
class SignLLMForConditionalGenerationOutput(Seq2SeqLMOutput):
    r"""[`Seq2SeqLMOutput`] plus the loss parts and the visual tokens.

    Args:
        text_loss (`torch.FloatTensor`, *optional*): token cross-entropy (mean over label tokens of the batch).
        soft_decoding_loss (`torch.FloatTensor`, *optional*): SSA digit L1 summed over SSA samples / batch size.
        visual_attention_mask (`torch.BoolTensor` of shape `(b, w)`, *optional*): valid visual tokens.
    """

    text_loss: torch.FloatTensor | None = None
    soft_decoding_loss: torch.FloatTensor | None = None
    visual_attention_mask: torch.BoolTensor | None = None


def soft_decoding_l1(logits: torch.Tensor, labels: torch.Tensor, digit_token_ids: torch.Tensor) -> torch.Tensor:
    """SSA soft decoding: expected digit under the softmax over the 10 digit tokens vs. the target digit.

    Args:
        logits: ``(b, l, v)`` decoder logits.
        labels: ``(b, l)`` target ids (-100 = ignore); every row holds the 6 digit tokens of ``"sss eee"``.
        digit_token_ids: ``(10,)`` token id of digit 0..9.
    Returns:
        ``(b,)`` mean absolute error over the 6 digits, per sample.
    """
    is_digit = (labels[..., None] == digit_token_ids).any(-1)  # (b, l)
    counts = is_digit.sum(-1)
    if bool((counts < NUM_SSA_DIGITS).any()):
        raise ValueError(
            f"Every SSA label must contain {NUM_SSA_DIGITS} digit tokens ('sss eee'); got counts {counts.tolist()}. "
            "Check config.ssa_digit_token_ids matches the tokenizer (processor.digit_token_ids)."
        )
    # the first 6 digit positions of each row (the target text has exactly six)
    order = torch.arange(labels.shape[1], device=labels.device).expand_as(labels)
    rank = torch.where(is_digit, order, labels.shape[1] + order)
    positions = rank.argsort(-1)[:, :NUM_SSA_DIGITS]  # (b, 6)
    digit_logits = logits.gather(1, positions[..., None].expand(-1, -1, logits.shape[-1]))  # (b, 6, v)
    probabilities = digit_logits[..., digit_token_ids].float().softmax(-1)  # (b, 6, 10)
    values = torch.arange(10, device=logits.device, dtype=probabilities.dtype)
    expected = (probabilities * values).sum(-1)  # (b, 6)
    target_ids = labels.gather(1, positions)
    target = (target_ids[..., None] == digit_token_ids).float().argmax(-1).to(expected.dtype)
    return (expected - target).abs().mean(-1)


def _warn_if_untested_transformers(version: str | None = None) -> None:
    """Remote code runs against whatever transformers the user has: warn (not fail) outside the tested range."""
    version = version or transformers.__version__
    major_minor = tuple(int(part) for part in re.findall(r"\d+", version)[:2])
    low, high = (tuple(int(part) for part in bound.split(".")) for bound in TESTED_TRANSFORMERS)
    if not low <= major_minor < high:
        warnings.warn(
            f"SignLLM is tested with transformers >={TESTED_TRANSFORMERS[0]},<{TESTED_TRANSFORMERS[1]}; found "
            f"{version}. Loading or generation may fail.",
            stacklevel=3,
        )


class SignLLMPreTrainedModel(PreTrainedModel):
    config_class = SignLLMConfig
    base_model_prefix = "signllm"
    main_input_name = "pose_values"
    input_modalities = ("video", "text")
    supports_gradient_checkpointing = True
    # blocks that `device_map="auto"` keeps on one device (residuals and masks cross their insides)
    _no_split_modules = [
        "SignLLMAGCNLayer", "SignLLMConformerBlock", "SignLLMPerceiverLayer", "SignLLMLipReaderLayer", "T5Block",
    ]  # fmt: skip
    _keep_in_fp32_modules = ["wo"]  # Flan-T5's FFN output overflows in fp16
    _skip_keys_device_placement = "past_key_values"

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, SignLLMPerceiverResampler):
            d = module.config.hidden_size
            init.normal_(module.position_embedding, std=d**-0.5)
            init.normal_(module.latent, std=d**-0.5)
        elif isinstance(module, SignLLMAdaptiveGraphConv):
            # the AGCN partitions A_k are non-persistent buffers: not in checkpoints, left as uninitialised memory by
            # the meta-device loading of transformers 5, so rebuilt here from the skeleton (like rotary inv_freq)
            init.copy_(module.adjacency, module._partition)

    def _set_gradient_checkpointing(self, enable: bool = True, gradient_checkpointing_func=None, **kwargs) -> None:
        """transformers' switch (``gradient_checkpointing_enable()`` / ``activation_checkpointing_enable()`` /
        ``TrainingArguments(gradient_checkpointing=True)``) reaches every `GradientCheckpointingLayer`: the AGCN
        layers, Conformer blocks, Perceiver layers and T5 blocks. The checkpoint function is wrapped so the
        recomputation does not update BatchNorm running statistics a second time."""
        if gradient_checkpointing_func is None:
            gradient_checkpointing_func = functools.partial(torch.utils.checkpoint.checkpoint, use_reentrant=False)
        super()._set_gradient_checkpointing(
            enable, checkpoint_keeping_running_stats(gradient_checkpointing_func), **kwargs
        )


class SignLLMForConditionalGeneration(SignLLMPreTrainedModel, GenerationMixin):
    r"""SignLLM for SLT and SSA: visual tokens from pose / lip backbones, prompted Flan-T5 (DoRA) generates text.

    Args:
        config ([`SignLLMConfig`]): all sizes; `text_model_name_or_path` is only used by
            [`~SignLLMForConditionalGeneration.from_components`], never in `__init__` (no downloads there).

    Example:

    ```python
    >>> from transformers import ByT5Tokenizer
    >>> from signllm.configuration_signllm import SignLLMConfig
    >>> from signllm.modeling_signllm import SignLLMForConditionalGeneration
    >>> from signllm.processing_signllm import SignLLMProcessor
    >>> config = SignLLMConfig.from_preset("tiny")
    >>> model = SignLLMForConditionalGeneration(config).eval()
    >>> processor = SignLLMProcessor(ByT5Tokenizer(), num_frames=config.num_frames, lip_feature_size=24)
    >>> batch = processor(pose="clip.pose", truncation="center")  # or (t, 203, 3) / holistic (t, 543, 3) arrays
    >>> ids = model.generate(**batch)  # beam search, 5 beams (generation_config)
    >>> processor.batch_decode(ids)
    ```
    """

    # forward() takes **kwargs, but its loss is a per-sample mean (CE + SSA L1), not a sum over
    # `num_items_in_batch`: tell Trainer so it does not rescale it under gradient accumulation / DDP.
    accepts_loss_kwargs = False

    def __init__(self, config: SignLLMConfig):
        _warn_if_untested_transformers()
        super().__init__(config)
        self.pose_encoder = SignLLMPoseEncoder(config.pose_config) if config.use_pose else None
        use_reader = config.use_lip and config.lip_config.use_lip_reader
        self.lip_reader = SignLLMLipReader(config.lip_config.lip_reader_config) if use_reader else None
        self.lip_encoder = SignLLMLipEncoder(config.lip_config) if config.use_lip else None
        self.resampler = SignLLMPerceiverResampler(config.resampler_config)
        self.language_model = AutoModelForSeq2SeqLM.from_config(config.text_config)
        self.post_init()
        # after post_init so the generic init never touches the adapters (DoRA starts as the identity: B = 0)
        if config.use_dora:
            self.apply_dora()
        if self.lip_reader is not None:
            self.lip_reader.freeze()
        if config.freeze_backbones:
            self.freeze_backbones(True)
        if self.generation_config is not None:
            self.generation_config.num_beams = 5  # [paper] beam search, 5 beams
            self.generation_config.max_new_tokens = 64
        self._text_model_source: tuple[str, str | None] | None = None  # (name, revision) the LM weights came from
        if config.text_model_weights == "referenced":  # a saved folder without its frozen base LM: see from_pretrained
            self._keys_to_ignore_on_load_missing = {*(self._keys_to_ignore_on_load_missing or ()), BASE_LANGUAGE_MODEL_KEYS}

    # ------------------------------------------------------------------------------------------ delegation
    def get_input_embeddings(self) -> nn.Module:
        return self.language_model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.language_model.set_input_embeddings(value)

    def get_output_embeddings(self) -> nn.Module:
        return self.language_model.get_output_embeddings()

    def set_output_embeddings(self, value: nn.Module) -> None:
        self.language_model.set_output_embeddings(value)

    def get_encoder(self) -> nn.Module:
        return unwrap(self.language_model).get_encoder()

    def get_decoder(self) -> nn.Module:
        return unwrap(self.language_model).get_decoder()

    # ------------------------------------------------------------------------------------ adapters / freezing
    def apply_dora(self) -> None:
        """Wrap ``language_model`` with DoRA (r, α, dropout, targets from the config); base LM weights freeze."""
        self.language_model = apply_dora(
            self.language_model, self.config.dora_r, self.config.dora_alpha, self.config.dora_dropout,
            self.config.dora_target_modules,
        )  # fmt: skip
        self.config.use_dora = True
        self._refresh_tied_weights()

    def merge_dora(self) -> None:
        """Fold the adapters into T5 (release checkpoints load without peft); sets ``config.use_dora = False``."""
        if getattr(self, "_frozen_weights_cast", None) is not None:
            self.cast_frozen_weights(torch.float32)  # fold the fp32 adapters into fp32 base weights, not bf16 ones
        self.language_model = merge_dora(self.language_model)
        self.config.use_dora = False
        self._refresh_tied_weights()

    def _refresh_tied_weights(self) -> None:
        # the PEFT wrapper renames T5's parameters (language_model.base_model.model.*): re-derive the tied pairs
        self.all_tied_weights_keys = self.get_expanded_tied_weights_keys(all_submodels=True)

    def freeze_backbones(self, frozen: bool = True) -> None:
        """Curriculum switch: stage 1 freezes the pose / lip backbones; the lip reader stays frozen regardless."""
        for module in (self.pose_encoder, self.lip_encoder):
            if module is not None:
                module.requires_grad_(not frozen)
        if self.lip_reader is not None:
            self.lip_reader.freeze()
        self.config.freeze_backbones = frozen

    def cast_frozen_weights(self, dtype: str | torch.dtype | None = None) -> int:
        """Hold the weights that never train in ``dtype`` (default ``config.frozen_weights_dtype``; no-op if None).

        Covers the frozen parameters of the language model (its base weights under DoRA; the adapters and anything
        trainable stay fp32) and the whole lip reader (always frozen). Backbones frozen in curriculum stage 1 are
        left alone: they train again in stage 2. With ``float16``, modules in ``_keep_in_fp32_modules`` (T5's
        ``wo``) stay fp32. Call it after the stage's ``requires_grad`` is set and before the optimizer / a
        distributed wrapper is built; train under bf16 / fp16 autocast. Returns the number of tensors cast.
        """
        dtype = self.config.frozen_weights_dtype if dtype is None else dtype
        if dtype is None:
            return 0
        dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
        if dtype not in (torch.bfloat16, torch.float16, torch.float32):
            raise ValueError(f"frozen weights can be cast to bfloat16 / float16 / float32, not {dtype}.")
        keep_fp32 = set(self._keep_in_fp32_modules or ()) if dtype == torch.float16 else set()
        self._frozen_weights_cast = None if dtype == torch.float32 else dtype
        set_adapter_input_casting(self.language_model, enabled=dtype == torch.float32)
        cast = 0
        for name, parameter in self.language_model.named_parameters():
            if parameter.requires_grad or not parameter.is_floating_point() or parameter.dtype == dtype:
                continue
            if keep_fp32 & set(name.split(".")):
                continue
            parameter.data = parameter.data.to(dtype)
            cast += 1
        if self.lip_reader is not None:
            tensors = [t for t in (*self.lip_reader.parameters(), *self.lip_reader.buffers()) if t.is_floating_point()]
            cast += sum(t.dtype != dtype for t in tensors)
            self.lip_reader.to(dtype)
        return cast

    def parameter_counts(self) -> dict[str, int]:
        """Parameters per component (works on the meta device), plus adapters, total and trainable."""

        def count(module: nn.Module | None) -> int:
            return 0 if module is None else sum(p.numel() for p in module.parameters())

        adapters = count_adapter_parameters(self.language_model)
        counts = {
            "pose_encoder": count(self.pose_encoder),
            "lip_encoder": count(self.lip_encoder),
            "lip_reader": count(self.lip_reader),
            "resampler": count(self.resampler),
            "language_model": count(self.language_model) - adapters,
            "dora_adapters": adapters,
        }
        counts["total"] = sum(counts.values())
        counts["trainable"] = sum(p.numel() for p in self.parameters() if p.requires_grad)
        return counts

    # ------------------------------------------------------------------------------------------ visual path
    def encode_visual(
        self,
        pose_values: torch.Tensor | None = None,
        pose_attention_mask: torch.Tensor | None = None,
        pose_joint_mask: torch.Tensor | None = None,
        lip_values: torch.Tensor | None = None,
        lip_attention_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Backbones → fused dense features → Sliding Perceiver.

        Returns ``visual_tokens (b, w, d)`` and ``visual_attention_mask (b, w)`` bool, True = valid.
        """
        if not self.config.use_pose:
            pose_values = None
        if not self.config.use_lip:
            lip_values = None
        if pose_values is None and lip_values is None:
            raise ValueError("SignLLM needs pose_values and/or lip_values (after the config's use_pose/use_lip).")
        _check_visual_inputs(pose_values, lip_values)
        batch_size, num_frames = (pose_values if pose_values is not None else lip_values).shape[:2]
        device = (pose_values if pose_values is not None else lip_values).device
        streams, masks = [], []
        if self.pose_encoder is not None:
            streams_mask = self._pose_stream(pose_values, pose_attention_mask, pose_joint_mask, batch_size, num_frames,
                                             device)  # fmt: skip
            streams.append(streams_mask[0])
            masks.append(streams_mask[1])
        if self.lip_encoder is not None:
            streams_mask = self._lip_stream(lip_values, lip_attention_mask, batch_size, num_frames, device)
            streams.append(streams_mask[0])
            masks.append(streams_mask[1])
        features = torch.cat([stream.to(_parameter_dtype(self.resampler)) for stream in streams], dim=-1)  # (b, n, D)
        feature_mask = torch.stack(masks).any(0)  # a position is valid when either modality is
        if self.resampler.config.num_windows(features.shape[1]) == 0:
            raise ValueError(
                f"Clip too short for the model: {num_frames} frames give {features.shape[1]} dense features, fewer "
                f"than the perceiver window ({self.resampler.config.window_size})."
            )
        return self.resampler(features, feature_mask)

    def _pose_stream(self, values, attention_mask, joint_mask, batch_size, num_frames, device):
        width = self.config.pose_config.hidden_size
        num_features = num_frames // self.config.pose_config.clip_stride
        if values is None:  # modality absent for the whole batch
            return torch.zeros(batch_size, num_features, width, device=device), _false(batch_size, num_features, device)
        values = values.to(_parameter_dtype(self.pose_encoder))  # processor outputs fp32; the model may be bf16/fp16
        features, mask = self.pose_encoder.dense_features(values, attention_mask, joint_mask)
        # a sample whose pose is missing (all-zero mask) contributes exactly zero
        return features * mask[..., None].to(features.dtype), mask

    def _lip_stream(self, values, attention_mask, batch_size, num_frames, device):
        width = self.config.lip_config.hidden_size
        num_features = num_frames // self.config.lip_config.clip_stride
        if values is None:
            return torch.zeros(batch_size, num_features, width, device=device), _false(batch_size, num_features, device)
        if values.dim() == 5:  # mouth crops → frozen lip reader → (b, t, f)
            if self.lip_reader is None:
                raise ValueError(
                    "lip_values look like mouth crops (b, t, 1, h, w) but this model has no lip reader; pass lip "
                    "features (b, t, f) or use a config with lip_config.use_lip_reader=True."
                )
            padding = None if attention_mask is None else ~attention_mask.bool()
            values = self.lip_reader(values.to(_parameter_dtype(self.lip_reader)), padding)
        values = values.to(_parameter_dtype(self.lip_encoder))
        features, mask = self.lip_encoder.dense_features(values, attention_mask)
        return features * mask[..., None].to(features.dtype), mask

    def _build_inputs_embeds(
        self, input_ids, attention_mask, **visual
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``[embed(prompt); visual tokens]`` and the concatenated attention mask (T5 has no absolute positions)."""
        visual_tokens, visual_mask = self.encode_visual(**visual)
        if input_ids is None:
            return visual_tokens, visual_mask.long(), visual_mask
        if input_ids.shape[0] != visual_tokens.shape[0]:
            raise ValueError(f"input_ids has batch size {input_ids.shape[0]}, visual inputs {visual_tokens.shape[0]}.")
        prompt_embeds = self.get_input_embeddings()(input_ids)
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        inputs_embeds = torch.cat([prompt_embeds, visual_tokens.to(prompt_embeds.dtype)], dim=1)
        full_mask = torch.cat([attention_mask.to(torch.long), visual_mask.to(torch.long)], dim=1)
        # pack valid positions first: T5's relative position bias would otherwise see prompt padding as distance
        # between prompt and visual tokens, and outputs would depend on the batch's longest prompt
        order = torch.argsort((full_mask == 0).to(torch.int8), dim=1, stable=True)
        inputs_embeds = inputs_embeds.gather(1, order[..., None].expand_as(inputs_embeds))
        full_mask = full_mask.gather(1, order)
        return inputs_embeds, full_mask, visual_mask

    # ---------------------------------------------------------------------------------------------- forward
    def forward(
        self,
        pose_values: torch.FloatTensor | None = None,
        pose_attention_mask: torch.LongTensor | None = None,
        pose_joint_mask: torch.BoolTensor | None = None,
        lip_values: torch.FloatTensor | None = None,
        lip_attention_mask: torch.LongTensor | None = None,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.LongTensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.LongTensor | None = None,
        labels: torch.LongTensor | None = None,
        task_ids: torch.LongTensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> SignLLMForConditionalGenerationOutput | tuple:
        r"""
        Args:
            pose_values (`torch.FloatTensor` of shape `(b, t, 203, 3)`): normalised keypoints (processor output).
            pose_attention_mask (`torch.LongTensor` of shape `(b, t)`): 1 = real frame, 0 = padding / missing.
            pose_joint_mask (`torch.BoolTensor` of shape `(b, t, 203)`, *optional*): valid joints.
            lip_values (`torch.FloatTensor` of shape `(b, t, f)` or `(b, t, 1, 88, 88)`): lip features or crops.
            lip_attention_mask (`torch.LongTensor` of shape `(b, t)`): 1 = real frame.
            input_ids / attention_mask (`(b, p)`): the prompt.
            labels (`torch.LongTensor` of shape `(b, l)`): target ids, -100 ignored.
            task_ids (`torch.LongTensor` of shape `(b,)`): 0 = SLT, 1 = SSA (SSA adds λ·soft-decoding L1).
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        adapter_input_casting = self._adapter_input_casting()
        # step 1: visual tokens, [prompt; visual] embeddings and the concatenated mask
        inputs_embeds, full_mask, visual_mask = self._build_inputs_embeds(
            input_ids, attention_mask, pose_values=pose_values, pose_attention_mask=pose_attention_mask,
            pose_joint_mask=pose_joint_mask, lip_values=lip_values, lip_attention_mask=lip_attention_mask,
        )  # fmt: skip
        # step 2: T5 encoder-decoder (teacher forcing on the shifted labels)
        if labels is not None and decoder_input_ids is None:
            decoder_input_ids = self._shift_right(labels)
        with adapter_input_casting:
            outputs = self.language_model(
                inputs_embeds=inputs_embeds,
                attention_mask=full_mask,
                decoder_input_ids=decoder_input_ids,
                decoder_attention_mask=decoder_attention_mask,
                output_attentions=output_attentions,
                output_hidden_states=output_hidden_states,
                return_dict=True,
            )
        # step 3: losses — token CE for every sample, + λ·digit L1 for SSA samples
        loss = text_loss = soft_loss = None
        if labels is not None:
            loss, text_loss, soft_loss = self._loss(outputs.logits, labels, task_ids)
        output = SignLLMForConditionalGenerationOutput(
            loss=loss,
            logits=outputs.logits,
            **{_CACHE_FIELD: getattr(outputs, _CACHE_FIELD, None)},
            decoder_hidden_states=outputs.decoder_hidden_states,
            decoder_attentions=outputs.decoder_attentions,
            cross_attentions=outputs.cross_attentions,
            encoder_last_hidden_state=outputs.encoder_last_hidden_state,
            encoder_hidden_states=outputs.encoder_hidden_states,
            encoder_attentions=outputs.encoder_attentions,
            text_loss=text_loss,
            soft_decoding_loss=soft_loss,
            visual_attention_mask=visual_mask,
        )
        return output if return_dict else output.to_tuple()

    def _adapter_input_casting(self) -> contextlib.AbstractContextManager:
        """Checked before any computation. Low-precision frozen weights train under autocast, which casts the
        adapter inputs (PEFT's own casting is off, see `set_adapter_input_casting`); without autocast (e.g. fp32
        inference) PEFT casts for the duration of the call."""
        frozen = getattr(self, "_frozen_weights_cast", None)
        if frozen is None:
            return contextlib.nullcontext()
        device_type = self.get_input_embeddings().weight.device.type
        if torch.is_autocast_enabled(device_type):
            if torch.get_autocast_dtype(device_type) != frozen:
                raise ValueError(
                    f"the frozen weights are {frozen} (config.frozen_weights_dtype) but autocast runs in "
                    f"{torch.get_autocast_dtype(device_type)}: use the same dtype for both."
                )
            return contextlib.nullcontext()
        checkpointing = any(getattr(m, "gradient_checkpointing", False) for m in self.language_model.modules())
        if self.training and torch.is_grad_enabled() and checkpointing:
            raise ValueError(
                f"training with the frozen weights in {frozen} and gradient checkpointing needs {frozen} autocast "
                "(mixed precision); without it call model.cast_frozen_weights('float32') first."
            )
        return adapter_input_casting(self.language_model, True)

    def _shift_right(self, labels: torch.Tensor) -> torch.Tensor:
        start = self.config.text_config.decoder_start_token_id
        pad = self.config.text_config.pad_token_id
        shifted = labels.new_full(labels.shape, start)
        shifted[:, 1:] = labels[:, :-1]
        return shifted.masked_fill(shifted == -100, pad)

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor, task_ids: torch.Tensor | None):
        text_loss = F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=-100)
        is_ssa = torch.zeros(labels.shape[0], dtype=torch.bool, device=labels.device)
        if task_ids is not None:
            if task_ids.shape != (labels.shape[0],):
                raise ValueError(f"task_ids must have shape ({labels.shape[0]},), got {tuple(task_ids.shape)}.")
            is_ssa = task_ids.to(labels.device) == SSA_ID
        weight = self.config.ssa_soft_decoding_weight
        if not bool(is_ssa.any()) or weight == 0:
            return text_loss, text_loss, None
        if self.config.ssa_digit_token_ids is None or len(self.config.ssa_digit_token_ids) != 10:
            raise ValueError(
                "SSA samples need config.ssa_digit_token_ids (10 ids, digit 0..9) for the soft-decoding loss; "
                "set it from processor.digit_token_ids."
            )
        digit_ids = torch.tensor(self.config.ssa_digit_token_ids, device=labels.device)
        per_sample = soft_decoding_l1(logits[is_ssa], labels[is_ssa], digit_ids)
        soft_loss = per_sample.sum() / labels.shape[0]  # mean over the batch, SLT samples contribute 0
        return text_loss + weight * soft_loss, text_loss, soft_loss

    # --------------------------------------------------------------------------------------------- generate
    @torch.no_grad()
    def generate(
        self,
        pose_values: torch.FloatTensor | None = None,
        pose_attention_mask: torch.LongTensor | None = None,
        pose_joint_mask: torch.BoolTensor | None = None,
        lip_values: torch.FloatTensor | None = None,
        lip_attention_mask: torch.LongTensor | None = None,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.LongTensor | None = None,
        **generate_kwargs,
    ) -> torch.LongTensor:
        """Beam search (5 beams by default, from ``generation_config``) → decoder token ids ``(b, l)``."""
        for key in ("labels", "task_ids", "decoder_input_ids", "decoder_attention_mask"):
            generate_kwargs.pop(key, None)  # training-only keys that Seq2SeqTrainer may pass along
        adapter_input_casting = self._adapter_input_casting()
        inputs_embeds, full_mask, _ = self._build_inputs_embeds(
            input_ids, attention_mask, pose_values=pose_values, pose_attention_mask=pose_attention_mask,
            pose_joint_mask=pose_joint_mask, lip_values=lip_values, lip_attention_mask=lip_attention_mask,
        )  # fmt: skip
        # our generation_config (5 beams) updated with the call's generation arguments; the rest are model kwargs
        generation_config = copy.deepcopy(generate_kwargs.pop("generation_config", None) or self.generation_config)
        model_kwargs = generation_config.update(**generate_kwargs)
        with adapter_input_casting:
            return self.language_model.generate(
                inputs_embeds=inputs_embeds, attention_mask=full_mask, generation_config=generation_config,
                **model_kwargs,
            )  # fmt: skip

    # -------------------------------------------------------------------------------------- loading helpers
    @classmethod
    def from_components(
        cls,
        config: SignLLMConfig,
        text_model_name_or_path: str | None = None,
        backbone_checkpoints: dict[str, str | os.PathLike] | None = None,
        **text_model_kwargs,
    ) -> SignLLMForConditionalGeneration:
        """Build a model from pretrained parts: Flan-T5 weights and ISLR-pretrained backbones.

        Args:
            text_model_name_or_path: hub id or folder of a seq2seq LM (defaults to ``config.text_model_name_or_path``).
            backbone_checkpoints: ``{"pose": path, "lip": path}`` ISLR checkpoints (folder or weights file).
        """
        model = cls(config)
        name = text_model_name_or_path or config.text_model_name_or_path
        if name is not None:
            model.load_text_model(name, **text_model_kwargs)
        for modality, path in (backbone_checkpoints or {}).items():
            model.load_backbone(path, modality)
        return model

    def load_text_model(self, name_or_path: str | os.PathLike, **kwargs) -> None:
        """Replace the LM with pretrained weights (e.g. ``google/flan-t5-xl``), then re-apply DoRA if configured.

        The config records where the weights came from (a local folder as an absolute path; a Hub id with the
        commit loaded), so that a saved model can reference this base LM instead of copying it.
        """
        use_dora = is_dora_applied(self.language_model)
        language_model = AutoModelForSeq2SeqLM.from_pretrained(name_or_path, **kwargs)
        if language_model.config.d_model != self.config.text_config.d_model:
            raise ValueError(
                f"{name_or_path} has d_model {language_model.config.d_model} but the config expects "
                f"{self.config.text_config.d_model}; build the config with its text_config."
            )
        self.language_model = language_model
        self.config.text_config = language_model.config
        name, revision = _text_model_reference(name_or_path, kwargs)
        self.config.text_model_name_or_path, self.config.text_model_revision = name, revision
        if use_dora:
            self.apply_dora()
        self._text_model_source = (name, revision)
        self._sync_language_model_storage()

    # ------------------------------------------------------------------ saving without the frozen base LM
    def references_base_language_model(self) -> bool:
        """Whether a save can name the base LM instead of copying it: DoRA adapters on an LM whose weights were
        loaded from ``config.text_model_name_or_path`` (`load_text_model`, or a referencing folder) and stay frozen."""
        if self._text_model_source is None or not is_dora_applied(self.language_model):
            return False
        if self._text_model_source != (self.config.text_model_name_or_path, self.config.text_model_revision):
            return False
        return not any(p.requires_grad for n, p in self.language_model.named_parameters() if "lora_" not in n)

    def _sync_language_model_storage(self) -> None:
        """``config.text_model_weights`` and the keys ``save_pretrained`` leaves out (transformers'
        ``_keys_to_ignore_on_save``, which the Trainer also reads when it resumes: the base LM is expected missing)."""
        referenced = self.references_base_language_model()
        self.config.text_model_weights = "referenced" if referenced else "included"
        keep = {key for key in (self._keys_to_ignore_on_save or ()) if not key.startswith("language_model.")}
        if referenced:
            keep |= {key for key in self.state_dict() if re.match(BASE_LANGUAGE_MODEL_KEYS, key)}
        self._keys_to_ignore_on_save = keep

    def save_pretrained(self, save_directory: str | os.PathLike, *args, **kwargs):
        """``PreTrainedModel.save_pretrained``; a model that references its frozen base LM
        (`references_base_language_model`) writes every weight but the base LM's: the backbones, the Perceiver and
        the DoRA adapters. Trainer checkpoints go through here too, so they do not carry the frozen LM either."""
        self._sync_language_model_storage()
        return super().save_pretrained(save_directory, *args, **kwargs)

    def save_language_model_adapter(self, save_directory: str | os.PathLike) -> str | None:
        """The DoRA adapters in PEFT format in ``<save_directory>/language_model/`` (``adapter_config.json`` naming the
        base LM and its revision, ``adapter_model.safetensors``), readable by ``PeftModel.from_pretrained(base, ...)``.
        Only for a model that references its base LM; returns the folder, or ``None``."""
        if not self.references_base_language_model():
            return None
        for adapter_config in self.language_model.peft_config.values():
            adapter_config.base_model_name_or_path = self.config.text_model_name_or_path
            adapter_config.revision = self.config.text_model_revision
        folder = os.path.join(os.fspath(save_directory), ADAPTER_SUBFOLDER)
        self.language_model.save_pretrained(folder, safe_serialization=True)
        return folder

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        """``PreTrainedModel.from_pretrained``; a folder saved with ``text_model_weights="referenced"`` gets its
        frozen base LM from ``config.text_model_name_or_path`` at ``config.text_model_revision`` (downloaded like
        any model), the rest — adapters included — from the folder."""
        output = super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)
        model = output[0] if isinstance(output, tuple) else output
        if model.config.text_model_weights == "referenced":
            model._load_referenced_text_model(**{key: kwargs[key] for key in _HUB_KWARGS if key in kwargs})
        return output

    def tie_weights(self, missing_keys: set[str] | None = None, recompute_mapping: bool = True):
        # loading a folder that references its base LM: the LM's tied weights are all absent by design (they come
        # from the reference after loading), so tie them as in a fresh model instead of warning "checkpoint corrupted"
        if missing_keys is not None and self.config.text_model_weights == "referenced":
            missing_keys = None
        return super().tie_weights(missing_keys=missing_keys, recompute_mapping=recompute_mapping)

    @torch.no_grad()
    def _load_referenced_text_model(self, **hub_kwargs) -> None:
        name, revision = self.config.text_model_name_or_path, self.config.text_model_revision
        if not name:
            raise ValueError("config.text_model_weights is 'referenced' but config.text_model_name_or_path is empty.")
        target = unwrap(self.language_model)  # T5 with the adapter layers injected (weights under .base_layer.)
        dtype = next(p.dtype for n, p in target.named_parameters() if "lora_" not in n)
        base = AutoModelForSeq2SeqLM.from_pretrained(name, revision=revision, dtype=dtype, **hub_kwargs)
        source = base.state_dict()
        missing = []
        for key, tensor in target.state_dict(keep_vars=True).items():
            if "lora_" in key:
                continue
            base_key = key.replace(".base_layer.", ".")
            if base_key not in source or source[base_key].shape != tensor.shape:
                missing.append(key)
                continue
            tensor.copy_(source[base_key])
        if missing:
            raise ValueError(f"the base language model {name} (revision {revision}) does not match this model: "
                             f"{len(missing)} weights missing or of another shape, e.g. {missing[:3]}.")  # fmt: skip
        self._text_model_source = (name, revision)
        self._sync_language_model_storage()

    def load_backbone(self, checkpoint: str | os.PathLike | dict, modality: str, prefix: str | None = None) -> None:
        """Load ISLR-pretrained backbone weights into ``pose_encoder`` / ``lip_encoder``.

        Args:
            checkpoint: a folder with ``model.safetensors``, a ``.safetensors`` / ``.bin`` / ``.pt`` file, or a state dict.
            modality: ``"pose"`` or ``"lip"``.
            prefix: key prefix of the backbone in the checkpoint; by default the first of ``"{modality}_encoder."``,
                ``"encoder."``, ``"backbone."``, ``""`` that holds every backbone weight.
        """
        if modality not in ("pose", "lip"):
            raise ValueError(f"modality={modality!r} is not supported; allowed values: 'pose', 'lip'.")
        target = self.pose_encoder if modality == "pose" else self.lip_encoder
        if target is None:
            raise ValueError(f"This model has no {modality} backbone (config.use_{modality}=False).")
        state = _read_state_dict(checkpoint)
        needed = set(target.state_dict())
        candidates = [prefix] if prefix is not None else [f"{modality}_encoder.", "encoder.", "backbone.", ""]
        for candidate in candidates:
            selected = {key[len(candidate) :]: value for key, value in state.items() if key.startswith(candidate)}
            if needed <= set(selected):
                target.load_state_dict({key: selected[key] for key in needed}, strict=True)
                return
        raise ValueError(
            f"No {modality} backbone weights found in the checkpoint (tried prefixes {candidates}); "
            f"e.g. missing {sorted(needed)[:3]}."
        )


def _text_model_reference(name_or_path: str | os.PathLike, load_kwargs: dict) -> tuple[str, str | None]:
    """How a saved model names its base LM: an absolute path for a local folder; a Hub id with the commit hash that
    was loaded (read from the cache's snapshot folder; the requested revision when that cannot be found)."""
    name = os.fspath(name_or_path)
    if os.path.isdir(name):
        return os.path.abspath(name), None
    revision = load_kwargs.get("revision")
    try:
        from transformers.utils import cached_file

        hub_kwargs = {key: load_kwargs[key] for key in _HUB_KWARGS if key in load_kwargs}
        parts = os.path.normpath(cached_file(name, "config.json", revision=revision, **hub_kwargs)).split(os.sep)
        if "snapshots" in parts:
            revision = parts[parts.index("snapshots") + 1]
    except (OSError, ValueError):
        pass
    return name, revision


def _read_state_dict(checkpoint: str | os.PathLike | dict) -> dict[str, torch.Tensor]:
    if isinstance(checkpoint, dict):
        return checkpoint
    path = os.fspath(checkpoint)
    if os.path.isdir(path):
        for name in ("model.safetensors", "pytorch_model.bin"):
            if os.path.isfile(os.path.join(path, name)):
                path = os.path.join(path, name)
                break
        else:
            index = os.path.join(path, "model.safetensors.index.json")
            if not os.path.isfile(index):
                raise ValueError(f"No model.safetensors / pytorch_model.bin in {path}.")
            with open(index) as handle:
                files = sorted(set(json.load(handle)["weight_map"].values()))
            state: dict[str, torch.Tensor] = {}
            for name in files:
                state.update(_read_state_dict(os.path.join(path, name)))
            return state
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        return load_file(path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state.get("state_dict", state) if isinstance(state, dict) else state


def _parameter_dtype(module: nn.Module) -> torch.dtype:
    return next((p.dtype for p in module.parameters() if p.is_floating_point()), torch.float32)


def _false(batch_size: int, length: int, device: torch.device) -> torch.Tensor:
    return torch.zeros(batch_size, length, dtype=torch.bool, device=device)


def _check_visual_inputs(pose_values: torch.Tensor | None, lip_values: torch.Tensor | None) -> None:
    """Clear errors before anything reaches torch kernels."""
    if pose_values is not None:
        if pose_values.dim() != 4 or pose_values.shape[2:] != (NUM_JOINTS, 3):
            raise ValueError(
                f"pose_values must have shape (batch, frames, {NUM_JOINTS}, 3), got {tuple(pose_values.shape)}."
            )
        if pose_values.shape[1] == 0:
            raise ValueError("pose_values has 0 frames.")
        if not bool(torch.isfinite(pose_values).all()):
            raise ValueError(
                "pose_values contains NaN or inf; missing joints must be 0 and masked (use the processor)."
            )
        largest = float(pose_values.abs().amax())
        if largest > MAX_POSE_MAGNITUDE:  # finite but huge (e.g. 1e30) overflows inside the encoders -> NaN logits
            raise ValueError(
                f"pose_values reaches |{largest:.3g}|, beyond {MAX_POSE_MAGNITUDE:g}: SignLLM expects shoulder-"
                "normalised keypoints (|value| ~ 10 at most). Use the processor, which masks implausible joints."
            )
    if lip_values is not None:
        if lip_values.dim() not in (3, 5):
            raise ValueError(
                f"lip_values must be (batch, frames, features) or (batch, frames, 1, h, w), got {tuple(lip_values.shape)}."
            )
        if not bool(torch.isfinite(lip_values).all()):
            raise ValueError("lip_values contains NaN or inf.")
    if pose_values is not None and lip_values is not None and pose_values.shape[:2] != lip_values.shape[:2]:
        raise ValueError(
            f"pose_values {tuple(pose_values.shape[:2])} and lip_values {tuple(lip_values.shape[:2])} must share "
            "(batch, frames): both streams are windowed on the same frames."
        )


if __package__ == "signllm":  # installed package only: Auto classes resolve to these classes (configuration_signllm.py)
    from transformers import AutoModel

    AutoModel.register(SignLLMConfig, SignLLMForConditionalGeneration, exist_ok=True)
    AutoModelForSeq2SeqLM.register(SignLLMConfig, SignLLMForConditionalGeneration, exist_ok=True)
