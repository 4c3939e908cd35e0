"""SignLLM configuration: composite config with pose / lip / resampler sub-configs and a T5 text config.

Values marked [paper] come from Jang et al. (2025); values marked [ours] are choices where the paper is
silent (architecture.md §3), kept here so they can change without touching code.
"""

from __future__ import annotations

from typing import Any

from transformers import CONFIG_MAPPING, PretrainedConfig

TASKS = ("slt", "ssa")
FROZEN_WEIGHTS_DTYPES = (None, "bfloat16", "float16")
TASK_TO_ID = {task: index for index, task in enumerate(TASKS)}

FLAN_T5_XL = {  # google/flan-t5-xl config.json, so the paper preset builds without downloading anything
    "model_type": "t5",
    "vocab_size": 32128,
    "d_model": 2048,
    "d_kv": 64,
    "d_ff": 5120,
    "num_layers": 24,
    "num_decoder_layers": 24,
    "num_heads": 32,
    "relative_attention_num_buckets": 32,
    "relative_attention_max_distance": 128,
    "dropout_rate": 0.1,
    "layer_norm_epsilon": 1e-6,
    "feed_forward_proj": "gated-gelu",
    "tie_word_embeddings": False,
    "decoder_start_token_id": 0,
    "pad_token_id": 0,
    "eos_token_id": 1,
}


def _check_choice(name: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not supported; allowed values: {', '.join(map(repr, allowed))}.")


class SignLLMPoseEncoderConfig(PretrainedConfig):
    r"""Pose backbone: per-articulator AGCN encoders → Linear → Conformer (architecture §3).

    Paper-preset widths (the defaults) were chosen with `tests/benchmarks/bench_backbones.py`: C_in 64 (AGCN
    128/128/192/384), C 256, D 512 measure 25.4 GFLOPs per 24-frame clip = 0.530 GMACs per frame
    (torch.utils.flop_counter; AGCN encoders 0.502, Conformer 0.028; 0.548 before the graph conv aggregated joints
    on its input channels, 2026-11-30), 53.2 M parameters, against the paper's "0.53 GFLOPs" read as MACs per
    frame; C_in 32 would give ~0.15. Dense features for a 500-frame sample, one training step: 5.55 GiB (AGCN once
    + windowed Conformer) vs 46.8 GiB (whole backbone per window), 8.4x (H200, torch.cuda.max_memory_allocated,
    2026-11-26, before that change; paper 5.6 vs 29.6 GB).

    Args:
        num_coordinates (`int`, *optional*, defaults to 3): coordinates per keypoint (x, y, z).
        agcn_in_channels (`int`, *optional*, defaults to 64): C_in, width after the per-joint input Linear [ours].
        agcn_channel_multipliers (`list[float]`, *optional*, defaults to `[2, 1, 1.5, 2]`): width multiplier of each
            of the 4 AGCN layers over the previous layer [paper]; cumulative, so the last layer has 6·C_in channels
            per joint (architecture §3; see `agcn_channels`).
        temporal_kernel_size (`int`, *optional*, defaults to 7): temporal conv kernel of each AGCN unit [paper].
        graph_embedding_ratio (`int`, *optional*, defaults to 4): C_k embeddings use out_channels // ratio (2s-AGCN).
        articulator_hidden_size (`int`, *optional*, defaults to 256): C, per-articulator feature width [ours].
        joint_aggregation (`str`, *optional*, defaults to `"flatten"`): `"flatten"` (flatten joints + Linear,
            [paper]) or `"mean"` (mean over joints, the paper's ablation).
        hidden_size (`int`, *optional*, defaults to 512): D, Conformer width [ours].
        num_hidden_layers (`int`, *optional*, defaults to 4): Conformer blocks [paper].
        num_attention_heads (`int`, *optional*, defaults to 8): Conformer heads [paper].
        intermediate_size (`int`, *optional*): Conformer FFN width, defaults to 4·hidden_size [paper].
        conv_expansion_factor (`int`, *optional*, defaults to 2): Conformer conv-module expansion [paper].
        conv_kernel_size (`int`, *optional*, defaults to 5): Conformer depthwise kernel [paper].
        hidden_dropout / attention_dropout (`float`, *optional*, defaults to 0.1): dropout [ours].
        layer_norm_eps (`float`, *optional*, defaults to 1e-5).
        clip_length (`int`, *optional*, defaults to 24): ISLR clip length = sliding window length [paper].
        clip_stride (`int`, *optional*, defaults to 2): stride of the dense sliding features [paper].
        articulator_masking (`bool`, *optional*, defaults to `False`): zero whole articulators while training.
        max_masked_articulators (`int`, *optional*, defaults to 2): at most this many of the 4 are masked [paper].
        mirror_right_hand (`bool`, *optional*, defaults to `True`): x → −x for the right hand before the shared
            hand encoder [paper].
    """

    model_type = "signllm_pose_encoder"
    base_config_key = "pose_config"

    def __init__(
        self,
        num_coordinates: int = 3,
        agcn_in_channels: int = 64,
        agcn_channel_multipliers: list[float] | tuple[float, ...] = (2, 1, 1.5, 2),
        temporal_kernel_size: int = 7,
        graph_embedding_ratio: int = 4,
        articulator_hidden_size: int = 256,
        joint_aggregation: str = "flatten",
        hidden_size: int = 512,
        num_hidden_layers: int = 4,
        num_attention_heads: int = 8,
        intermediate_size: int | None = None,
        conv_expansion_factor: int = 2,
        conv_kernel_size: int = 5,
        hidden_dropout: float = 0.1,
        attention_dropout: float = 0.1,
        layer_norm_eps: float = 1e-5,
        clip_length: int = 24,
        clip_stride: int = 2,
        articulator_masking: bool = False,
        max_masked_articulators: int = 2,
        mirror_right_hand: bool = True,
        **kwargs,
    ):
        _check_choice("joint_aggregation", joint_aggregation, ("flatten", "mean"))
        if hidden_size % num_attention_heads:
            raise ValueError(f"hidden_size ({hidden_size}) must be divisible by num_attention_heads ({num_attention_heads}).")
        if not 0 <= max_masked_articulators <= 4:
            raise ValueError(f"max_masked_articulators must be in [0, 4], got {max_masked_articulators}.")
        self.num_coordinates = num_coordinates
        self.agcn_in_channels = agcn_in_channels
        self.agcn_channel_multipliers = list(agcn_channel_multipliers)
        self.temporal_kernel_size = temporal_kernel_size
        self.graph_embedding_ratio = graph_embedding_ratio
        self.articulator_hidden_size = articulator_hidden_size
        self.joint_aggregation = joint_aggregation
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size if intermediate_size is not None else 4 * hidden_size
        self.conv_expansion_factor = conv_expansion_factor
        self.conv_kernel_size = conv_kernel_size
        self.hidden_dropout = hidden_dropout
        self.attention_dropout = attention_dropout
        self.layer_norm_eps = layer_norm_eps
        self.clip_length = clip_length
        self.clip_stride = clip_stride
        self.articulator_masking = articulator_masking
        self.max_masked_articulators = max_masked_articulators
        self.mirror_right_hand = mirror_right_hand
        super().__init__(**kwargs)

    @property
    def agcn_channels(self) -> list[int]:
        """Output channels of the AGCN layers: cumulative products of the multipliers times C_in, so the last layer
        has 2·1·1.5·2 = 6·C_in channels per joint (architecture §3), e.g. [128, 128, 192, 384] for C_in = 64."""
        channels, width = [], float(self.agcn_in_channels)
        for multiplier in self.agcn_channel_multipliers:
            width *= multiplier
            channels.append(int(round(width)))
        return channels


class SignLLMLipEncoderConfig(PretrainedConfig):
    r"""Lip backbone: 768-d lip-reader features → Linear → Conformer; optionally the frozen lip reader itself.

    Measured at the defaults (`tests/benchmarks/bench_backbones.py`, 24-frame clip): lip Conformer 0.028 GMACs per
    frame + Auto-AVSR visual encoder 0.494 = 0.522, against the paper's 0.52 (read as MACs per frame).

    Args:
        feature_size (`int`, *optional*, defaults to 768): lip-reader feature width (Auto-AVSR) [paper].
        hidden_size, num_hidden_layers, num_attention_heads, intermediate_size, conv_expansion_factor,
        conv_kernel_size, hidden_dropout, attention_dropout, layer_norm_eps, clip_length, clip_stride:
            as in [`SignLLMPoseEncoderConfig`] (same Conformer recipe [paper], widths [ours]).
        use_lip_reader (`bool`, *optional*, defaults to `False`): include the frozen Auto-AVSR visual encoder so
            the model accepts mouth crops `(b, t, 1, 88, 88)` as well as features `(b, t, 768)`.
        lip_reader_config (`dict`, *optional*): sizes of that encoder; defaults to Auto-AVSR's
            (`hidden_size` 768, 12 blocks, 12 heads, FFN 3072, conv kernel 31, ResNet-18 trunk `[2, 2, 2, 2]`,
            frontend 64 channels, LayerNorm eps 1e-12).
    """

    model_type = "signllm_lip_encoder"
    base_config_key = "lip_config"

    def __init__(
        self,
        feature_size: int = 768,
        hidden_size: int = 512,
        num_hidden_layers: int = 4,
        num_attention_heads: int = 8,
        intermediate_size: int | None = None,
        conv_expansion_factor: int = 2,
        conv_kernel_size: int = 5,
        hidden_dropout: float = 0.1,
        attention_dropout: float = 0.1,
        layer_norm_eps: float = 1e-5,
        clip_length: int = 24,
        clip_stride: int = 2,
        use_lip_reader: bool = False,
        lip_reader_config: dict | None = None,
        **kwargs,
    ):
        if hidden_size % num_attention_heads:
            raise ValueError(f"hidden_size ({hidden_size}) must be divisible by num_attention_heads ({num_attention_heads}).")
        self.feature_size = feature_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size if intermediate_size is not None else 4 * hidden_size
        self.conv_expansion_factor = conv_expansion_factor
        self.conv_kernel_size = conv_kernel_size
        self.hidden_dropout = hidden_dropout
        self.attention_dropout = attention_dropout
        self.layer_norm_eps = layer_norm_eps
        self.clip_length = clip_length
        self.clip_stride = clip_stride
        self.use_lip_reader = use_lip_reader
        defaults = {
            "hidden_size": feature_size,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
            "intermediate_size": 3072,
            "conv_kernel_size": 31,
            "frontend_channels": 64,
            "resnet_layers": [2, 2, 2, 2],
            "layer_norm_eps": 1e-12,
        }
        self.lip_reader_config = {**defaults, **(lip_reader_config or {})}
        super().__init__(**kwargs)


class SignLLMResamplerConfig(PretrainedConfig):
    r"""Sliding Perceiver: Linear → d_llm, learnable global temporal position, windowed latent cross-attention.

    Args:
        input_size (`int`, *optional*): width of the fused backbone features; set by [`SignLLMConfig`].
        hidden_size (`int`, *optional*): latent width = d_llm; set by [`SignLLMConfig`] from the text config.
        num_hidden_layers (`int`, *optional*, defaults to 2): Perceiver layers [ours].
        num_attention_heads (`int`, *optional*, defaults to 8): [paper].
        intermediate_size (`int`, *optional*): FFN width; `None` means 4·hidden_size [paper] (see
            `ffn_size`), resolved late because `hidden_size` is set by [`SignLLMConfig`].
        window_size (`int`, *optional*, defaults to 8): features per window [paper].
        window_stride (`int`, *optional*, defaults to 2): window stride, no padding [paper] (250 → 122 tokens).
        max_positions (`int`, *optional*, defaults to 250): length of the global positional table; set by
            [`SignLLMConfig`] to num_frames // clip_stride.
        attend_to_latent (`bool`, *optional*, defaults to `True`): keys/values = window + latent (Flamingo-style).
        hidden_dropout / attention_dropout (`float`, *optional*, defaults to 0.1), layer_norm_eps (defaults to 1e-6).
    """

    model_type = "signllm_resampler"
    base_config_key = "resampler_config"

    def __init__(
        self,
        input_size: int = 1024,
        hidden_size: int = 2048,
        num_hidden_layers: int = 2,
        num_attention_heads: int = 8,
        intermediate_size: int | None = None,
        window_size: int = 8,
        window_stride: int = 2,
        max_positions: int = 250,
        attend_to_latent: bool = True,
        hidden_dropout: float = 0.1,
        attention_dropout: float = 0.1,
        layer_norm_eps: float = 1e-6,
        **kwargs,
    ):
        if hidden_size % num_attention_heads:
            raise ValueError(f"hidden_size ({hidden_size}) must be divisible by num_attention_heads ({num_attention_heads}).")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        # None = 4·hidden_size resolved when the model is built: SignLLMConfig sets hidden_size (= d_llm) after
        # this __init__, so a width computed here would follow the default 2048, not the real d_llm
        self.intermediate_size = intermediate_size
        self.window_size = window_size
        self.window_stride = window_stride
        self.max_positions = max_positions
        self.attend_to_latent = attend_to_latent
        self.hidden_dropout = hidden_dropout
        self.attention_dropout = attention_dropout
        self.layer_norm_eps = layer_norm_eps
        super().__init__(**kwargs)

    @property
    def ffn_size(self) -> int:
        """Perceiver FFN width: `intermediate_size`, or 4·hidden_size when unset."""
        return self.intermediate_size if self.intermediate_size is not None else 4 * self.hidden_size

    def num_windows(self, num_features: int) -> int:
        """Tokens produced from ``num_features`` inputs: ``(n - window) // stride + 1`` (no padding)."""
        if num_features < self.window_size:
            return 0
        return (num_features - self.window_size) // self.window_stride + 1


class SignLLMConfig(PretrainedConfig):
    r"""Composite SignLLM configuration (pose + lip backbones → Sliding Perceiver → Flan-T5 with DoRA).

    Args:
        pose_config (`dict` or [`SignLLMPoseEncoderConfig`], *optional*): pose backbone.
        lip_config (`dict` or [`SignLLMLipEncoderConfig`], *optional*): lip backbone.
        resampler_config (`dict` or [`SignLLMResamplerConfig`], *optional*): Sliding Perceiver; `input_size`,
            `hidden_size` and `max_positions` are derived here.
        text_config (`dict` or `PretrainedConfig`, *optional*): the text model, built through `CONFIG_MAPPING`
            (default `"t5"` with Flan-T5-XL sizes).
        text_model_name_or_path (`str`, *optional*): pretrained LM to load weights from
            (e.g. `"google/flan-t5-xl"`); `None` keeps the randomly initialised `text_config` model.
        text_model_revision (`str`, *optional*): the commit of `text_model_name_or_path` on the Hub that was loaded
            (`None` for a local folder); a saved model that references its base LM loads exactly this revision.
        text_model_weights (`str`, *optional*, defaults to `"included"`): where a saved model keeps its LM weights:
            `"included"` in `model.safetensors`, or `"referenced"`: the frozen base LM is not copied — it is loaded
            from `text_model_name_or_path` at `text_model_revision` — and only the DoRA adapters are saved (in
            `model.safetensors` and, in PEFT format, in `language_model/`). Set by `save_pretrained` [ours].
        use_pose / use_lip (`bool`, *optional*, defaults to `True`): which modalities the model has.
        num_frames (`int`, *optional*, defaults to 500): frames per SLT/SSA window (20 s at 25 fps) [paper].
        fps (`float`, *optional*, defaults to 25.0) [paper].

            SSA frame convention [ours]: the target / prior ``"sss eee"`` are the first and last frame of the span
            in the window, the end **inclusive** (``[start, end)`` seconds → ``round(start·fps)`` …
            ``round(end·fps) − 1``); one definition in `processing_signllm.seconds_to_span` / `span_to_seconds`.
        use_dora (`bool`, *optional*, defaults to `True`), dora_r (32), dora_alpha (64) [paper], dora_dropout (0.05),
            dora_target_modules (`["q", "k", "v", "o", "wi_0", "wi_1", "wo"]`) [ours].
        ssa_soft_decoding_weight (`float`, *optional*, defaults to 1.0): λ of the SSA digit L1 loss [ours].
        ssa_digit_token_ids (`list[int]`, *optional*): token id of each digit 0–9 in SSA targets (soft decoding);
            set from `SignLLMProcessor.digit_token_ids` for the tokenizer in use.
        slt_prompt / ssa_prompt / ssa_prior_template (`str`): prompts [ours] (architecture §4), handed to the
            processor by the training recipe; `{start}` / `{end}` receive the prior's frame indices as the
            processor writes SSA targets (3 digits, the tokenizer's digit separator).
        freeze_backbones (`bool`, *optional*, defaults to `False`): curriculum stage 1 freezes pose + lip backbones.
        frozen_weights_dtype (`str`, *optional*): `"bfloat16"` or `"float16"` holds the weights that never train (the
            base LM under DoRA and the lip reader) in that dtype once
            [`~SignLLMForConditionalGeneration.cast_frozen_weights`] runs (the SLT recipe calls it): half their
            memory, and no low-precision copy of them is saved for backward under autocast. `float16` keeps
            Flan-T5's `wo` in fp32 (transformers' `_keep_in_fp32_modules`); bf16 needs no exception (Flan-T5 was
            trained in bf16). Use it with bf16 / fp16 mixed precision. `None` (default) keeps them as loaded [ours].

    Example:

    ```python
    >>> from signllm import SignLLMConfig
    >>> config = SignLLMConfig.from_preset("tiny")
    >>> config.resampler_config.num_windows(config.num_frames // config.pose_config.clip_stride)
    7
    ```
    """

    model_type = "signllm"
    sub_configs = {
        "pose_config": SignLLMPoseEncoderConfig,
        "lip_config": SignLLMLipEncoderConfig,
        "resampler_config": SignLLMResamplerConfig,
        "text_config": PretrainedConfig,
    }

    def __init__(
        self,
        pose_config: dict | SignLLMPoseEncoderConfig | None = None,
        lip_config: dict | SignLLMLipEncoderConfig | None = None,
        resampler_config: dict | SignLLMResamplerConfig | None = None,
        text_config: dict | PretrainedConfig | None = None,
        text_model_name_or_path: str | None = None,
        text_model_revision: str | None = None,
        text_model_weights: str = "included",
        use_pose: bool = True,
        use_lip: bool = True,
        num_frames: int = 500,
        fps: float = 25.0,
        use_dora: bool = True,
        dora_r: int = 32,
        dora_alpha: int = 64,
        dora_dropout: float = 0.05,
        dora_target_modules: list[str] | None = None,
        ssa_soft_decoding_weight: float = 1.0,
        ssa_digit_token_ids: list[int] | None = None,
        slt_prompt: str = "Translate the sign language video to English.",
        ssa_prompt: str = "Align the subtitle to the signing: {subtitle}",
        ssa_prior_template: str = " Prior: {start} {end}",
        freeze_backbones: bool = False,
        frozen_weights_dtype: str | None = None,
        initializer_range: float = 0.02,
        **kwargs,
    ):
        if not (use_pose or use_lip):
            raise ValueError("At least one of use_pose / use_lip must be True.")
        self.pose_config = _as_config(pose_config, SignLLMPoseEncoderConfig)
        self.lip_config = _as_config(lip_config, SignLLMLipEncoderConfig)
        self.resampler_config = _as_config(resampler_config, SignLLMResamplerConfig)
        if isinstance(text_config, PretrainedConfig):
            self.text_config = text_config
        else:
            text_config = dict(FLAN_T5_XL if text_config is None else text_config)
            text_config.setdefault("model_type", "t5")
            self.text_config = CONFIG_MAPPING[text_config["model_type"]](**text_config)
        self.text_model_name_or_path = text_model_name_or_path
        _check_choice("text_model_weights", text_model_weights, ("included", "referenced"))
        self.text_model_revision = text_model_revision
        self.text_model_weights = text_model_weights
        self.use_pose = use_pose
        self.use_lip = use_lip
        self.num_frames = num_frames
        self.fps = fps
        self.use_dora = use_dora
        self.dora_r = dora_r
        self.dora_alpha = dora_alpha
        self.dora_dropout = dora_dropout
        self.dora_target_modules = list(dora_target_modules or ["q", "k", "v", "o", "wi_0", "wi_1", "wo"])
        self.ssa_soft_decoding_weight = ssa_soft_decoding_weight
        self.ssa_digit_token_ids = list(ssa_digit_token_ids) if ssa_digit_token_ids is not None else None
        self.slt_prompt = slt_prompt
        self.ssa_prompt = ssa_prompt
        self.ssa_prior_template = ssa_prior_template
        self.freeze_backbones = freeze_backbones
        _check_choice("frozen_weights_dtype", frozen_weights_dtype, FROZEN_WEIGHTS_DTYPES)
        self.frozen_weights_dtype = frozen_weights_dtype
        self.initializer_range = initializer_range
        if self.pose_config.clip_stride != self.lip_config.clip_stride:
            raise ValueError("pose_config.clip_stride and lip_config.clip_stride must match (features are fused).")
        # derived fields
        self.resampler_config.input_size = (
            self.pose_config.hidden_size * use_pose + self.lip_config.hidden_size * use_lip
        )
        self.resampler_config.hidden_size = self.text_config.d_model
        self.resampler_config.max_positions = self.num_dense_features
        if self.resampler_config.hidden_size % self.resampler_config.num_attention_heads:
            raise ValueError("text_config.d_model must be divisible by resampler_config.num_attention_heads.")
        kwargs.setdefault("is_encoder_decoder", True)
        kwargs.setdefault("decoder_start_token_id", self.text_config.decoder_start_token_id)
        kwargs.setdefault("pad_token_id", self.text_config.pad_token_id)
        kwargs.setdefault("eos_token_id", self.text_config.eos_token_id)
        super().__init__(**kwargs)

    @property
    def num_dense_features(self) -> int:
        """Dense sliding features per window: one per ``clip_stride`` frames (500 / 2 = 250)."""
        return self.num_frames // self.pose_config.clip_stride

    @property
    def num_visual_tokens(self) -> int:
        """Visual tokens fed to the LM (250 → 122 for the paper preset)."""
        return self.resampler_config.num_windows(self.num_dense_features)

    @classmethod
    def from_preset(cls, name: str, **overrides) -> SignLLMConfig:
        """Build a named preset: ``"paper"`` (Flan-T5-XL) or ``"tiny"`` (random small T5 for tests)."""
        _check_choice("preset", name, tuple(PRESETS))
        preset = PRESETS[name]()
        for key in ("pose_config", "lip_config", "resampler_config", "text_config"):
            if key in overrides and isinstance(overrides[key], dict):
                preset[key] = {**preset.get(key, {}), **overrides.pop(key)}
        return cls(**{**preset, **overrides})


def _as_config(value: dict | PretrainedConfig | None, config_class: type[PretrainedConfig]) -> PretrainedConfig:
    if value is None:
        return config_class()
    if isinstance(value, config_class):
        return value
    if isinstance(value, PretrainedConfig):
        return config_class(**value.to_dict())
    return config_class(**value)


def paper_preset() -> dict[str, Any]:
    """The paper's configuration: Flan-T5-XL + DoRA r=32/α=64, 500 frames, 24-frame windows at stride 2."""
    return {
        "pose_config": {},
        "lip_config": {},
        "resampler_config": {},
        "text_config": dict(FLAN_T5_XL),
        "text_model_name_or_path": "google/flan-t5-xl",
    }


def tiny_preset() -> dict[str, Any]:
    """A tiny random configuration that runs the same code paths in seconds on a CPU (tests, demo).

    The text vocabulary (384) matches transformers' ``ByT5Tokenizer`` so tests need no tokenizer files.
    """
    conformer = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 37,
                 "clip_length": 8, "clip_stride": 2}  # fmt: skip
    return {
        "pose_config": {**conformer, "agcn_in_channels": 8, "articulator_hidden_size": 16},
        "lip_config": {**conformer, "feature_size": 24, "lip_reader_config": {
            "hidden_size": 24, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 48,
            "conv_kernel_size": 7, "frontend_channels": 8, "resnet_layers": [1, 1, 1, 1]}},  # fmt: skip
        "resampler_config": {"num_hidden_layers": 2, "num_attention_heads": 4, "window_size": 4, "window_stride": 2},
        "text_config": {
            "model_type": "t5", "vocab_size": 384, "d_model": 32, "d_kv": 8, "d_ff": 37, "num_layers": 2,
            "num_decoder_layers": 2, "num_heads": 4, "relative_attention_num_buckets": 8,
            "feed_forward_proj": "gated-gelu", "tie_word_embeddings": False, "decoder_start_token_id": 0,
            "pad_token_id": 0, "eos_token_id": 1,
        },  # fmt: skip
        "text_model_name_or_path": None,
        "num_frames": 32,
        "dora_r": 4,
        "dora_alpha": 8,
    }


PRESETS = {"paper": paper_preset, "tiny": tiny_preset}


# The installed package registers its config with AutoConfig, so loading a SignLLM folder with the installed classes
# (or AutoConfig / AutoTokenizer, which the processor uses) finds local code: no remote-code prompt, no folder code
# run, no model-type warning. A Hub copy of this file (imported as transformers_modules.<repo>) registers nothing.
if __package__ == "signllm":
    from transformers import AutoConfig

    AutoConfig.register(SignLLMConfig.model_type, SignLLMConfig, exist_ok=True)
