"""Configuration of the ISLR (isolated sign recognition) classifier used to pretrain the SignLLM backbones.

Architecture §5: a pose (or lip) backbone is pretrained on short sign clips with cross-entropy, an articulator
auxiliary loss, a contrastive loss to LLM text embeddings of the class names and articulator masking; its weights
then initialise the backbones of [`SignLLMForConditionalGeneration`]. Values marked [paper] come from Jang et al.
(2025); [ours] marks choices where the paper is silent.
"""

from __future__ import annotations

from typing import Any, ClassVar

from transformers import PretrainedConfig

from .configuration_signllm import SignLLMLipEncoderConfig, SignLLMPoseEncoderConfig, _as_config, _check_choice

MODALITIES = ("pose", "lip")


class SignLLMClassificationConfig(PretrainedConfig):
    r"""Configuration of [`SignLLMForSignClassification`]: backbone → attentive pooling → classifier.

    Args:
        pose_config (`dict` or [`SignLLMPoseEncoderConfig`], *optional*): pose backbone (used when `modality="pose"`).
        lip_config (`dict` or [`SignLLMLipEncoderConfig`], *optional*): lip backbone (used when `modality="lip"`).
        modality (`str`, *optional*, defaults to `"pose"`): `"pose"` or `"lip"`; one classifier per modality, the two
            are combined by late fusion at evaluation [paper].
        id2label / label2id / num_labels: the sign vocabulary (standard [`PretrainedConfig`] fields).
        classifier_dropout (`float`, *optional*, defaults to 0.1): dropout before the linear classifier [ours].
        use_classification_loss (`bool`, *optional*, defaults to `True`): CE on the pooled clip feature [paper].
        use_articulator_loss (`bool`, *optional*, defaults to `True`): pose only — each of the 4 articulator streams
            alone through one shared auxiliary Conformer and the shared classifier, CE averaged over articulators [paper].
        articulator_loss_weight (`float`, *optional*, defaults to 1.0): weight of that loss [ours].
        auxiliary_num_hidden_layers (`int`, *optional*): blocks of the auxiliary Conformer; defaults to the pose
            Conformer's depth [ours]. Its width, heads and FFN follow `pose_config`.
        use_contrastive_loss (`bool`, *optional*, defaults to `True`): symmetric InfoNCE between the projected clip
            feature and the projected LLM text embedding of its class name [paper].
        contrastive_loss_weight (`float`, *optional*, defaults to 1.0) [ours].
        contrastive_temperature (`float`, *optional*, defaults to 0.1) [paper].
        contrastive_projection_size (`int`, *optional*, defaults to 256): output width of both FC-ReLU-FC projectors
            (their hidden width too) [ours].
        text_embedding_size (`int`, *optional*, defaults to 2048): width of the class-name text embeddings
            (`d_model` of the text model; Flan-T5-XL: 2048).
        text_embedding_source (`str`, *optional*, defaults to `"google/flan-t5-xl"`): which text model's input
            embedding matrix (+ tokenizer) the stored `label_text_embeddings` were computed from; recorded so the
            checkpoint says where its text targets came from. Tests use `"random-byt5"` (random table + `ByT5Tokenizer`).
        use_articulator_masking (`bool`, *optional*, defaults to `True`): zero whole articulators while training
            (pose only) [paper]; copied into `pose_config.articulator_masking`, which the pose encoder implements.
        max_masked_articulators (`int`, *optional*, defaults to 2): at most this many of the 4 articulators are
            masked per clip (≤ 50 %) [paper]; copied into `pose_config.max_masked_articulators`.
        late_fusion_weights (`list[float]`, *optional*, defaults to `[0.7, 0.3]`): pose:lip logit weights used when
            the two classifiers are fused at evaluation [paper].
        initializer_range (`float`, *optional*, defaults to 0.02): std of the head initialisation.

    Example:

    ```python
    >>> from signllm.configuration_signllm_islr import SignLLMClassificationConfig
    >>> config = SignLLMClassificationConfig.from_preset("tiny", id2label={0: "hello", 1: "thankyou"})
    >>> config.num_labels, config.clip_length
    (2, 8)
    ```
    """

    model_type = "signllm_islr"
    # only the logits go to Trainer.compute_metrics; the loss terms are logged separately
    keys_to_ignore_at_inference: ClassVar[list[str]] = [
        "classification_loss", "articulator_loss", "contrastive_loss", "pooled_output", "articulator_logits",
        "attentions",
    ]  # fmt: skip
    sub_configs: ClassVar[dict[str, type]] = {"pose_config": SignLLMPoseEncoderConfig, "lip_config": SignLLMLipEncoderConfig}

    def __init__(
        self,
        pose_config: dict | SignLLMPoseEncoderConfig | None = None,
        lip_config: dict | SignLLMLipEncoderConfig | None = None,
        modality: str = "pose",
        classifier_dropout: float = 0.1,
        use_classification_loss: bool = True,
        use_articulator_loss: bool = True,
        articulator_loss_weight: float = 1.0,
        auxiliary_num_hidden_layers: int | None = None,
        use_contrastive_loss: bool = True,
        contrastive_loss_weight: float = 1.0,
        contrastive_temperature: float = 0.1,
        contrastive_projection_size: int = 256,
        text_embedding_size: int = 2048,
        text_embedding_source: str = "google/flan-t5-xl",
        use_articulator_masking: bool = True,
        max_masked_articulators: int = 2,
        late_fusion_weights: list[float] | tuple[float, float] = (0.7, 0.3),
        initializer_range: float = 0.02,
        **kwargs,
    ):
        _check_choice("modality", modality, MODALITIES)
        if contrastive_temperature <= 0:
            raise ValueError(f"contrastive_temperature must be > 0, got {contrastive_temperature}.")
        if not 0 <= max_masked_articulators <= 2:
            # the paper masks at most 50 % of the articulators; more would leave a clip with one stream or none
            raise ValueError(f"max_masked_articulators must be in [0, 2] (at most half of 4), got {max_masked_articulators}.")
        if len(late_fusion_weights) != 2:
            raise ValueError(f"late_fusion_weights must be [pose_weight, lip_weight], got {late_fusion_weights!r}.")
        self.pose_config = _as_config(pose_config, SignLLMPoseEncoderConfig)
        self.lip_config = _as_config(lip_config, SignLLMLipEncoderConfig)
        self.modality = modality
        self.classifier_dropout = classifier_dropout
        self.use_classification_loss = use_classification_loss
        self.use_articulator_loss = use_articulator_loss
        self.articulator_loss_weight = articulator_loss_weight
        self.auxiliary_num_hidden_layers = (
            auxiliary_num_hidden_layers if auxiliary_num_hidden_layers is not None else self.pose_config.num_hidden_layers
        )
        self.use_contrastive_loss = use_contrastive_loss
        self.contrastive_loss_weight = contrastive_loss_weight
        self.contrastive_temperature = contrastive_temperature
        self.contrastive_projection_size = contrastive_projection_size
        self.text_embedding_size = text_embedding_size
        self.text_embedding_source = text_embedding_source
        self.use_articulator_masking = use_articulator_masking
        self.max_masked_articulators = max_masked_articulators
        self.late_fusion_weights = [float(w) for w in late_fusion_weights]
        self.initializer_range = initializer_range
        # one switch, one owner: the pose encoder implements the masking, the classifier never masks again
        self.pose_config.articulator_masking = use_articulator_masking and modality == "pose"
        self.pose_config.max_masked_articulators = max_masked_articulators
        super().__init__(**kwargs)
        if self.id2label and not self.label2id:
            self.label2id = {label: int(index) for index, label in self.id2label.items()}
        if not (self.use_classification_loss or self.use_articulator_loss or self.use_contrastive_loss):
            raise ValueError("At least one of use_classification_loss / use_articulator_loss / use_contrastive_loss must be True.")

    @property
    def backbone_config(self) -> PretrainedConfig:
        """The sub-config of the active modality."""
        return self.pose_config if self.modality == "pose" else self.lip_config

    @property
    def clip_length(self) -> int:
        """ISLR clip length in frames (24 at 25 fps [paper])."""
        return self.backbone_config.clip_length

    @property
    def uses_articulator_loss(self) -> bool:
        """The articulator auxiliary loss only exists for the pose modality."""
        return self.use_articulator_loss and self.modality == "pose"

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> SignLLMClassificationConfig:
        """``"paper"`` (pose/lip backbones of [`SignLLMConfig`]'s paper preset, Flan-T5-XL text embeddings) or
        ``"tiny"`` (the tiny backbones, 16-d random text table) — the backbones match ``SignLLMConfig.from_preset``
        of the same name, so exported weights load into that model."""
        from .configuration_signllm import PRESETS

        _check_choice("preset", name, tuple(PRESETS))
        preset = PRESETS[name]()
        base: dict[str, Any] = {"pose_config": preset["pose_config"], "lip_config": preset["lip_config"]}
        if name == "tiny":
            base.update(contrastive_projection_size=16, text_embedding_size=16, text_embedding_source="random-byt5",
                        auxiliary_num_hidden_layers=1)  # fmt: skip
        for key in ("pose_config", "lip_config"):
            if key in overrides and isinstance(overrides[key], dict):
                base[key] = {**base[key], **overrides.pop(key)}
        return cls(**{**base, **overrides})


if __package__ == "signllm":  # installed package only (see configuration_signllm.py)
    from transformers import AutoConfig

    AutoConfig.register(SignLLMClassificationConfig.model_type, SignLLMClassificationConfig, exist_ok=True)
