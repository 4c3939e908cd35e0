"""ISLR backbone pretraining: [`SignLLMForSignClassification`] and its losses (architecture §5).

Axis legend: b batch, t frames, a articulators (4), d backbone width, c articulator width, p projection width,
e text-embedding width, n number of classes (labels).

The losses are plain functions on tensors so each can be checked on hand-computed cases:
- `classification_loss`: CE on the pooled clip feature.
- `articulator_auxiliary_loss`: CE of every articulator stream through the shared head, averaged over articulators.
- `label_contrastive_loss`: symmetric InfoNCE between clip features and class-name text embeddings, with
  duplicate labels weighted by the inverse of their batch frequency, so every label of a batch counts equally.
Articulator masking itself lives in `SignLLMPoseEncoder.encode_articulators` (switched on through
`config.use_articulator_masking`), so the main and the auxiliary paths see the same masked streams and nothing
is masked twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_signllm_islr import SignLLMClassificationConfig
from .keypoint_layout import ARTICULATORS
from .modeling_agcn import SignLLMAdaptiveGraphConv
from .modeling_backbones import SignLLMLipEncoder, SignLLMPoseEncoder
from .modeling_conformer import SignLLMConformer, attentive_pooling


# ----------------------------------------------------------------------------------------------------------- losses
def classification_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy. ``logits (b, n)``, ``labels (b,)`` int64 → scalar."""
    _check_labels(logits, labels)
    return F.cross_entropy(logits.float(), labels)


def articulator_auxiliary_loss(articulator_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """CE of each articulator stream alone, averaged over articulators (and clips).

    Args:
        articulator_logits: ``(a, b, n)`` logits of the shared classifier on each articulator stream.
        labels: ``(b,)`` class ids.
    Returns:
        scalar ``mean_a CE_a`` where ``CE_a`` is the batch-mean CE of articulator ``a``. Articulators zeroed by
        articulator masking are kept in the mean, as the paper averages over all four.
    """
    if articulator_logits.dim() != 3:
        raise ValueError(f"articulator_logits must be (articulators, batch, classes), got {tuple(articulator_logits.shape)}.")
    num_articulators, batch_size, num_classes = articulator_logits.shape
    _check_labels(articulator_logits[0], labels)
    flat_logits = articulator_logits.reshape(num_articulators * batch_size, num_classes).float()
    return F.cross_entropy(flat_logits, labels.repeat(num_articulators))


def label_contrastive_loss(
    visual_embeds: torch.Tensor, text_embeds: torch.Tensor, labels: torch.Tensor, temperature: float = 0.1
) -> torch.Tensor:
    r"""Symmetric InfoNCE between clips and the text embeddings of their labels, label-frequency weighted.

    Exact formulation. The batch has ``b`` clips with features ``v_i`` and labels ``y_i``; column ``j`` of the text
    side is the embedding ``u_j`` of label ``y_j`` — so a label that occurs ``m`` times in the batch gives ``m``
    identical text columns. With cosine similarities ``s_ij = cos(v_i, u_j) / τ``, the label frequency
    ``m_i = #{k : y_k = y_i}`` and ``C`` distinct labels in the batch, every pair with the same label is a positive
    weighted ``1 / m_i`` (architecture §5), and every row (column) is weighted ``1 / (C · m_i)``:

    - clip → text: ``L_v = -1/C Σ_i (1/m_i) Σ_{j: y_j = y_i} (1/m_i) · log softmax_j(s_i·)_j``
    - text → clip: ``L_u = -1/C Σ_j (1/m_j) Σ_{i: y_i = y_j} (1/m_j) · log softmax_i(s_·j)_i``
    - loss ``= (L_v + L_u) / 2``.

    The inner weights make the target of each row a uniform distribution over its positives, so a same-label pair is
    never a negative; the outer weights make every label of the batch contribute ``1 / C`` of the loss however
    often it occurs — a sign seen ``m`` times no longer counts ``m`` times in the batch mean (the plain mean over
    rows is what a CLIP loss with the diagonal as target gives, and it over-weights frequent signs). Without
    repeated labels (``m_i = 1``, ``C = b``) this is the usual CLIP loss.

    Args:
        visual_embeds: ``(b, p)`` projected clip features.
        text_embeds: ``(b, p)`` projected text embeddings of each clip's label (row ``j`` belongs to label ``y_j``).
        labels: ``(b,)`` class ids.
        temperature: τ (0.1 [paper]).
    """
    if visual_embeds.shape != text_embeds.shape or visual_embeds.dim() != 2:
        raise ValueError(
            f"visual_embeds and text_embeds must both be (batch, dim), got {tuple(visual_embeds.shape)} "
            f"and {tuple(text_embeds.shape)}."
        )
    if labels.shape != (visual_embeds.shape[0],):
        raise ValueError(f"labels must be ({visual_embeds.shape[0]},), got {tuple(labels.shape)}.")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}.")
    visual = F.normalize(visual_embeds.float(), dim=-1)
    text = F.normalize(text_embeds.float(), dim=-1)
    similarity = visual @ text.T / temperature  # (b, b): rows clips, columns text
    same_label = (labels[:, None] == labels[None, :]).float()
    frequency = same_label.sum(dim=1)  # (b,) m_i; same_label is symmetric, so the column weights are the same
    targets = same_label / frequency[:, None]  # row i: 1/m_i on each of its positives
    row_weights = 1.0 / (frequency * labels.unique().numel())  # (b,) 1/(C·m_i): every label sums to 1/C
    clip_to_text = -(targets * similarity.log_softmax(dim=1)).sum(dim=1)  # (b,) per clip
    text_to_clip = -(targets * similarity.log_softmax(dim=0)).sum(dim=0)  # (b,) per text column
    return ((row_weights * clip_to_text).sum() + (row_weights * text_to_clip).sum()) / 2


def late_fusion(
    pose_logits: torch.Tensor, lip_logits: torch.Tensor, weights: Sequence[float] = (0.7, 0.3)
) -> torch.Tensor:
    """Late fusion of the two ISLR classifiers: ``w_pose · pose_logits + w_lip · lip_logits`` [paper: 0.7 : 0.3]."""
    if pose_logits.shape != lip_logits.shape:
        raise ValueError(f"pose and lip logits must have the same shape, got {tuple(pose_logits.shape)} and "
                         f"{tuple(lip_logits.shape)} (are both classifiers trained on the same label set?).")  # fmt: skip
    if len(weights) != 2:
        raise ValueError(f"weights must be (pose_weight, lip_weight), got {weights!r}.")
    return weights[0] * pose_logits + weights[1] * lip_logits


def _check_labels(logits: torch.Tensor, labels: torch.Tensor) -> None:
    if labels.dim() != 1 or labels.shape[0] != logits.shape[0]:
        raise ValueError(f"labels must be ({logits.shape[0]},), got {tuple(labels.shape)}.")
    if labels.numel() and (labels.min() < 0 or labels.max() >= logits.shape[-1]):
        raise ValueError(
            f"labels must be class ids in [0, {logits.shape[-1]}), got values in [{int(labels.min())}, {int(labels.max())}]."
        )


# ------------------------------------------------------------------------------------------------ text embeddings
@torch.no_grad()
def build_label_text_embeddings(tokenizer, embeddings: nn.Embedding | torch.Tensor, label_names: Sequence[str]) -> torch.Tensor:
    """Class-name text embeddings: mean of the text model's input-token embeddings over each name's tokens.

    Args:
        tokenizer: a transformers tokenizer of the text model (special tokens such as ``</s>`` are not added).
        embeddings: the text model's input embedding (``model.get_input_embeddings()``) or its ``(vocab, e)`` weight.
        label_names: one name per class id, in id order.
    Returns:
        ``(n, e)`` float32.
    """
    weight = embeddings.weight if isinstance(embeddings, nn.Embedding) else embeddings
    rows = []
    for name in label_names:
        token_ids = tokenizer(str(name), add_special_tokens=False)["input_ids"]
        if not token_ids:
            raise ValueError(f"Label {name!r} tokenizes to no tokens; cannot build its text embedding.")
        if max(token_ids) >= weight.shape[0]:
            raise ValueError(f"Label {name!r} has token ids beyond the embedding table ({weight.shape[0]} rows).")
        rows.append(weight[torch.as_tensor(token_ids, device=weight.device)].float().mean(dim=0))
    return torch.stack(rows).cpu()


# ----------------------------------------------------------------------------------------------------------- model
class SignLLMProjectionHead(nn.Module):
    """FC-ReLU-FC projector of the contrastive loss: ``(b, in) -> (b, out)``."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int):
        super().__init__()
        self.fc1 = nn.Linear(input_size, hidden_size)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(hidden_size, output_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


@dataclass
class SignLLMClassificationOutput(ModelOutput):
    """Output of [`SignLLMForSignClassification`].

    Args:
        loss: weighted sum of the enabled losses (when `labels` are given).
        logits: ``(b, n)`` class scores.
        classification_loss / articulator_loss / contrastive_loss: the unweighted terms (None when off).
        pooled_output: ``(b, d)`` attentive-pooled clip feature.
        articulator_logits: ``(a, b, n)`` auxiliary logits (pose, when the articulator loss is on).
        attentions: the backbone Conformer's attention maps (when asked for).
    """

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    classification_loss: torch.Tensor | None = None
    articulator_loss: torch.Tensor | None = None
    contrastive_loss: torch.Tensor | None = None
    pooled_output: torch.Tensor | None = None
    articulator_logits: torch.Tensor | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


class SignLLMClassificationPreTrainedModel(PreTrainedModel):
    """Weight init and loading for the ISLR classifier.

    Only the classifier-side heads are initialised here (normal(0, initializer_range)); the backbone modules keep
    the initialisation their own constructors give them (PyTorch defaults, AGCN ``B ≈ 0``), the same as inside
    ``SignLLMForConditionalGeneration``.
    """

    config_class = SignLLMClassificationConfig
    base_model_prefix = "signllm"
    main_input_name = "pose_values"
    supports_gradient_checkpointing = False
    _no_split_modules: ClassVar[list[str]] = ["SignLLMAGCNLayer", "SignLLMConformerBlock"]

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear) and getattr(module, "_signllm_head", False):
            nn.init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
            nn.init.zeros_(module.bias)
        elif isinstance(module, SignLLMAdaptiveGraphConv):
            # non-persistent AGCN partitions A_k: not in checkpoints, rebuilt after meta-device loading
            init.copy_(module.adjacency, module._partition)


class SignLLMForSignClassification(SignLLMClassificationPreTrainedModel):
    r"""Isolated sign recognition on one modality: backbone → attentive pooling → linear classifier (architecture §5).

    Used to pretrain the pose / lip backbones; `train/islr/recipe.py` exports `pose_encoder.*` / `lip_encoder.*` for
    [`SignLLMForConditionalGeneration`], whose submodules carry the same names.

    Losses (each switchable in the config, for the paper's ablation): CE, the articulator auxiliary CE (pose), the
    label-text contrastive loss; articulator masking happens inside the pose encoder while training.

    Example:

    ```python
    >>> import torch
    >>> from signllm.configuration_signllm_islr import SignLLMClassificationConfig
    >>> from signllm.modeling_signllm_islr import SignLLMForSignClassification
    >>> config = SignLLMClassificationConfig.from_preset("tiny", id2label={0: "hello", 1: "thankyou"})
    >>> model = SignLLMForSignClassification(config).eval()
    >>> model(pose_values=torch.zeros(1, 8, 203, 3), pose_attention_mask=torch.ones(1, 8)).logits.shape
    torch.Size([1, 2])
    ```
    """

    def __init__(self, config: SignLLMClassificationConfig):
        super().__init__(config)
        backbone_config = config.backbone_config
        hidden_size = backbone_config.hidden_size
        if config.modality == "pose":
            self.pose_encoder = SignLLMPoseEncoder(config.pose_config)
        else:
            self.lip_encoder = SignLLMLipEncoder(config.lip_config)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(hidden_size, config.num_labels)
        if config.uses_articulator_loss:
            # each articulator stream (b, t, C) alone → Linear C→D → shared auxiliary Conformer → pooled → classifier
            self.articulator_projection = nn.Linear(config.pose_config.articulator_hidden_size, hidden_size)
            self.articulator_conformer = SignLLMConformer(
                hidden_size=hidden_size,
                num_layers=config.auxiliary_num_hidden_layers,
                num_heads=backbone_config.num_attention_heads,
                intermediate_size=backbone_config.intermediate_size,
                conv_expansion_factor=backbone_config.conv_expansion_factor,
                conv_kernel_size=backbone_config.conv_kernel_size,
                dropout=backbone_config.hidden_dropout,
                attention_dropout=backbone_config.attention_dropout,
                layer_norm_eps=backbone_config.layer_norm_eps,
            )
        if config.use_contrastive_loss:
            size = config.contrastive_projection_size
            self.visual_projection = SignLLMProjectionHead(hidden_size, size, size)
            self.text_projection = SignLLMProjectionHead(config.text_embedding_size, size, size)
            # frozen class-name embeddings, saved with the weights so a checkpoint is self-contained
            self.register_buffer("label_text_embeddings", torch.zeros(config.num_labels, config.text_embedding_size))
        for name, module in self.named_modules():
            if isinstance(module, nn.Linear) and not name.startswith(("pose_encoder", "lip_encoder")):
                module._signllm_head = True
        self.post_init()

    @property
    def backbone(self) -> SignLLMPoseEncoder | SignLLMLipEncoder:
        return self.pose_encoder if self.config.modality == "pose" else self.lip_encoder

    def set_label_text_embeddings(self, embeddings: torch.Tensor) -> None:
        """Store the ``(num_labels, text_embedding_size)`` class-name embeddings (see `build_label_text_embeddings`)."""
        if not self.config.use_contrastive_loss:
            raise ValueError("use_contrastive_loss is False: the model has no label_text_embeddings to set.")
        expected = (self.config.num_labels, self.config.text_embedding_size)
        if tuple(embeddings.shape) != expected:
            raise ValueError(f"label text embeddings must be {expected} (num_labels, text_embedding_size), "
                             f"got {tuple(embeddings.shape)}.")  # fmt: skip
        if not torch.isfinite(embeddings).all():
            raise ValueError("label text embeddings contain NaN/inf.")
        self.label_text_embeddings.copy_(embeddings.detach().to(self.label_text_embeddings))

    def articulator_logits(self, features: dict[str, torch.Tensor], frame_valid: torch.Tensor) -> torch.Tensor:
        """Each articulator stream alone through the shared auxiliary Conformer and the shared classifier.

        ``features {name: (b, t, C)}``, ``frame_valid (b, t)`` bool → ``(a, b, n)`` logits, a in `ARTICULATORS` order.
        """
        streams = torch.cat([features[name] for name in ARTICULATORS])  # (a·b, t, C): one batched Conformer call
        padding = ~frame_valid.repeat(len(ARTICULATORS), 1)
        hidden, attentions = self.articulator_conformer(
            self.articulator_projection(streams), padding, output_attentions=True
        )
        pooled = attentive_pooling(hidden, attentions, padding)
        logits = self.classifier(self.dropout(pooled))
        return logits.view(len(ARTICULATORS), -1, logits.shape[-1])

    def forward(
        self,
        pose_values: torch.Tensor | None = None,
        pose_attention_mask: torch.Tensor | None = None,
        joint_mask: torch.Tensor | None = None,
        lip_values: torch.Tensor | None = None,
        lip_attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_attentions: bool = False,
        return_dict: bool | None = None,
    ) -> SignLLMClassificationOutput | tuple:
        r"""
        Args:
            pose_values (`torch.FloatTensor` of shape `(b, t, 203, 3)`): normalised keypoints (modality `"pose"`).
            pose_attention_mask (`torch.Tensor` of shape `(b, t)`, *optional*): 1 = valid frame.
            joint_mask (`torch.BoolTensor` of shape `(b, t, 203)`, *optional*): True = detected joint.
            lip_values (`torch.FloatTensor` of shape `(b, t, 768)`): lip-reader features (modality `"lip"`).
            lip_attention_mask (`torch.Tensor` of shape `(b, t)`, *optional*): 1 = valid frame.
            labels (`torch.LongTensor` of shape `(b,)`, *optional*): class ids; the loss is returned when given.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        with_articulators = labels is not None and self.config.uses_articulator_loss
        # step 1: backbone → pooled clip feature (articulator masking happens inside, in training mode)
        if self.config.modality == "pose":
            if pose_values is None:
                raise ValueError("This is a pose classifier (modality='pose'): pass pose_values (b, t, 203, 3).")
            output = self.pose_encoder(
                pose_values, pose_attention_mask, joint_mask, output_attentions=output_attentions,
                output_articulator_features=with_articulators,
            )  # fmt: skip
        else:
            if lip_values is None:
                raise ValueError("This is a lip classifier (modality='lip'): pass lip_values (b, t, feature_size).")
            output = self.lip_encoder(lip_values, lip_attention_mask, output_attentions=output_attentions)
        pooled = output.pooled
        # step 2: shared classifier head
        logits = self.classifier(self.dropout(pooled))
        # step 3: the enabled losses
        loss = ce = articulator = contrastive = articulator_logits = None
        if labels is not None:
            labels = labels.to(logits.device).long()
            terms = []
            if self.config.use_classification_loss:
                ce = classification_loss(logits, labels)
                terms.append(ce)
            if with_articulators:
                frame_valid = _valid_frames(pose_attention_mask, pose_values)
                articulator_logits = self.articulator_logits(output.articulator_features, frame_valid)
                articulator = articulator_auxiliary_loss(articulator_logits, labels)
                terms.append(self.config.articulator_loss_weight * articulator)
            if self.config.use_contrastive_loss:
                contrastive = self.contrastive_loss(pooled, labels)
                terms.append(self.config.contrastive_loss_weight * contrastive)
            loss = torch.stack(terms).sum()
        if not return_dict:
            return tuple(v for v in (loss, logits, pooled) if v is not None)
        return SignLLMClassificationOutput(
            loss=loss, logits=logits, classification_loss=ce, articulator_loss=articulator,
            contrastive_loss=contrastive, pooled_output=pooled, articulator_logits=articulator_logits,
            attentions=output.attentions,
        )  # fmt: skip

    def contrastive_loss(self, pooled: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Project ``pooled (b, d)`` and the labels' text embeddings, then `label_contrastive_loss`."""
        if not bool(self.label_text_embeddings.any()):
            raise ValueError(
                "label_text_embeddings are not set (all zero): build them with build_label_text_embeddings("
                "tokenizer, text_model.get_input_embeddings(), label_names) and call set_label_text_embeddings(), "
                "or set use_contrastive_loss=False."
            )
        text = self.text_projection(self.label_text_embeddings[labels].to(pooled.dtype))
        visual = self.visual_projection(pooled)
        return label_contrastive_loss(visual, text, labels, self.config.contrastive_temperature)


def _valid_frames(attention_mask: torch.Tensor | None, values: torch.Tensor) -> torch.Tensor:
    """``(b, t)`` bool, True = valid frame (all valid without a mask)."""
    if attention_mask is None:
        return torch.ones(values.shape[:2], dtype=torch.bool, device=values.device)
    return attention_mask.bool()


if __package__ == "signllm":  # installed package only (see configuration_signllm.py)
    from transformers import AutoModel, AutoModelForVideoClassification

    AutoModel.register(SignLLMClassificationConfig, SignLLMForSignClassification, exist_ok=True)
    AutoModelForVideoClassification.register(SignLLMClassificationConfig, SignLLMForSignClassification, exist_ok=True)
