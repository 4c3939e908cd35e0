"""SignLLMForSignClassification: config, shapes, loss switches, articulator path, masking, save/load, remote code."""

import json
import subprocess
import sys

import pytest
import torch
from signllm.configuration_signllm_islr import SignLLMClassificationConfig
from signllm.keypoint_layout import ARTICULATOR_SLICES, ARTICULATORS
from signllm.modeling_signllm_islr import SignLLMForSignClassification, articulator_auxiliary_loss
from torch.nn import functional as F

LABELS = {0: "hello", 1: "thankyou", 2: "please"}
# smaller than the "tiny" preset's AGCN: the 128-joint face graph dominates CPU time
SMALL_POSE = {"agcn_in_channels": 4, "articulator_hidden_size": 8}



def make_config(**overrides) -> SignLLMClassificationConfig:
    overrides.setdefault("pose_config", SMALL_POSE)
    return SignLLMClassificationConfig.from_preset("tiny", id2label=LABELS, **overrides)


def make_model(**overrides) -> SignLLMForSignClassification:
    torch.manual_seed(0)
    model = SignLLMForSignClassification(make_config(**overrides))
    if model.config.use_contrastive_loss:
        model.set_label_text_embeddings(torch.randn(3, model.config.text_embedding_size))
    return model


def pose_inputs(batch: int = 4, frames: int = 8, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    mask = torch.ones(batch, frames, dtype=torch.long)
    mask[0, frames - 3 :] = 0  # a padded clip
    return {
        "pose_values": torch.randn(batch, frames, 203, 3, generator=generator),
        "pose_attention_mask": mask,
        "labels": torch.tensor([0, 1, 1, 2][:batch]),
    }


def test_config_round_trip_and_label_maps(tmp_path):
    config = make_config()
    assert config.label2id == {"hello": 0, "thankyou": 1, "please": 2}
    assert config.num_labels == 3 and config.clip_length == 8
    # the pose encoder owns masking; the classifier config is the single switch
    assert config.pose_config.articulator_masking and config.pose_config.max_masked_articulators == 2
    config.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == "signllm_islr"
    reloaded = SignLLMClassificationConfig.from_pretrained(tmp_path)
    assert reloaded.to_dict() == config.to_dict()
    assert not make_config(use_articulator_masking=False).pose_config.articulator_masking
    assert not make_config(modality="lip").pose_config.articulator_masking


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"modality": "video"}, "allowed values"),
        ({"max_masked_articulators": 3}, "at most half"),
        ({"contrastive_temperature": 0.0}, "temperature"),
        ({"use_classification_loss": False, "use_articulator_loss": False, "use_contrastive_loss": False}, "At least"),
        ({"late_fusion_weights": [1.0]}, "late_fusion_weights"),
    ],
)
def test_config_rejects_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_config(**kwargs)


def test_pose_forward_all_losses_and_gradients():
    model = make_model().train()
    output = model(**pose_inputs())
    assert output.logits.shape == (4, 3)
    assert output.pooled_output.shape == (4, 32)
    assert output.articulator_logits.shape == (4, 4, 3)
    terms = output.classification_loss + output.articulator_loss + output.contrastive_loss
    torch.testing.assert_close(output.loss, terms)
    output.loss.backward()
    for name in ("pose_encoder.articulator_encoders", "pose_encoder.conformer", "articulator_conformer",
                 "visual_projection", "text_projection", "classifier"):  # fmt: skip
        grads = [p.grad for n, p in model.named_parameters() if n.startswith(name)]
        assert grads and all(g is not None and torch.isfinite(g).all() for g in grads), name
    assert model.label_text_embeddings.grad is None  # frozen buffer


def test_loss_switches_and_weights():
    inputs = pose_inputs()
    model = make_model(use_articulator_loss=False, use_contrastive_loss=False).eval()
    output = model(**inputs)
    assert output.articulator_loss is None and output.contrastive_loss is None
    torch.testing.assert_close(output.loss, F.cross_entropy(output.logits, inputs["labels"]))
    assert not hasattr(model, "articulator_conformer") and not hasattr(model, "label_text_embeddings")
    model = make_model(use_classification_loss=False, articulator_loss_weight=0.5, contrastive_loss_weight=2.0).eval()
    output = model(**inputs)
    assert output.classification_loss is None
    torch.testing.assert_close(output.loss, 0.5 * output.articulator_loss + 2.0 * output.contrastive_loss)
    assert model(pose_values=inputs["pose_values"]).loss is None  # no labels, no loss


def test_articulator_loss_is_each_stream_alone_through_shared_head():
    model = make_model().eval()  # eval: no dropout, no masking -> deterministic
    inputs = pose_inputs()
    output = model(**inputs)
    streams = model.pose_encoder.articulator_features(inputs["pose_values"], inputs["pose_attention_mask"])
    padding = ~inputs["pose_attention_mask"].bool()
    per_articulator = []
    for name in ARTICULATORS:  # one stream at a time, batch of its own
        hidden, attentions = model.articulator_conformer(
            model.articulator_projection(streams[name]), padding, output_attentions=True
        )
        from signllm.modeling_conformer import attentive_pooling

        logits = model.classifier(attentive_pooling(hidden, attentions, padding))
        per_articulator.append(F.cross_entropy(logits, inputs["labels"]))
    expected = torch.stack(per_articulator).mean()
    torch.testing.assert_close(output.articulator_loss, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(articulator_auxiliary_loss(output.articulator_logits, inputs["labels"]), expected,
                               atol=1e-5, rtol=1e-5)  # fmt: skip


def test_articulator_masking_at_most_half_and_not_doubled():
    model = make_model().train()
    encoder = model.pose_encoder
    joint_valid = torch.ones(2000, 1, 203, dtype=torch.bool)
    torch.manual_seed(1)
    kept = encoder._mask_articulators(joint_valid)[:, 0]
    dropped = torch.stack([~kept[:, ARTICULATOR_SLICES[name]].any(dim=1) for name in ARTICULATORS], dim=1)
    per_clip = dropped.sum(dim=1)
    assert per_clip.max().item() == 2 and per_clip.min().item() == 0
    assert set(torch.unique(per_clip).tolist()) == {0, 1, 2}
    assert dropped.float().mean(dim=0).min() > 0.1  # every articulator gets masked sometimes
    # one forward draws one mask: the articulator streams are encoded once, shared by the main and auxiliary paths
    calls = []
    original = encoder.encode_articulators
    encoder.encode_articulators = lambda *a, **k: calls.append(1) or original(*a, **k)
    model(**pose_inputs())
    assert len(calls) == 1
    # evaluation never masks: two eval passes agree
    model.eval()
    inputs = pose_inputs()
    torch.testing.assert_close(model(**inputs).logits, model(**inputs).logits)


def test_lip_modality():
    model = make_model(modality="lip").train()
    assert hasattr(model, "lip_encoder") and not hasattr(model, "pose_encoder")
    lip = torch.randn(3, 8, 24)
    output = model(lip_values=lip, lip_attention_mask=torch.ones(3, 8), labels=torch.tensor([0, 2, 2]))
    assert output.logits.shape == (3, 3) and output.articulator_loss is None
    torch.testing.assert_close(output.loss, output.classification_loss + output.contrastive_loss)
    with pytest.raises(ValueError, match="lip classifier"):
        model(pose_values=torch.zeros(1, 8, 203, 3))


def test_clear_errors():
    model = make_model(use_articulator_loss=False)
    with pytest.raises(ValueError, match="pose classifier"):
        model(lip_values=torch.zeros(1, 8, 24))
    with pytest.raises(ValueError, match="class ids"):
        model(**{**pose_inputs(), "labels": torch.tensor([0, 1, 2, 3])})
    with pytest.raises(ValueError, match="num_labels, text_embedding_size"):
        model.set_label_text_embeddings(torch.zeros(2, 16))
    unset = SignLLMForSignClassification(make_config(use_articulator_loss=False))
    with pytest.raises(ValueError, match="label_text_embeddings are not set"):
        unset(**pose_inputs())


def test_save_load_same_logits(tmp_path):
    model = make_model().eval()
    inputs = pose_inputs()
    model.save_pretrained(tmp_path)
    reloaded = SignLLMForSignClassification.from_pretrained(tmp_path).eval()
    torch.testing.assert_close(reloaded.label_text_embeddings, model.label_text_embeddings)
    out, out2 = model(**inputs), reloaded(**inputs)
    torch.testing.assert_close(out2.logits, out.logits)
    torch.testing.assert_close(out2.loss, out.loss)


def _save_with_auto_map(tmp_path) -> SignLLMForSignClassification:
    from signllm.train.islr.recipe import register_islr_auto_classes

    register_islr_auto_classes()
    model = make_model(use_articulator_loss=False).eval()
    model.save_pretrained(tmp_path)
    return model


def test_saved_with_auto_map_and_module_files(tmp_path):
    _save_with_auto_map(tmp_path)
    auto_map = json.loads((tmp_path / "config.json").read_text())["auto_map"]
    assert auto_map["AutoModelForVideoClassification"] == "modeling_signllm_islr.SignLLMForSignClassification"
    assert auto_map["AutoConfig"] == "configuration_signllm_islr.SignLLMClassificationConfig"
    # the remote code and every sibling it imports relatively travel with the weights
    for name in ("modeling_signllm_islr.py", "configuration_signllm_islr.py", "configuration_signllm.py",
                 "modeling_backbones.py", "modeling_conformer.py", "modeling_agcn.py", "keypoint_layout.py"):
        assert (tmp_path / name).is_file(), name


@pytest.mark.slow
def test_remote_code_auto_class(tmp_path):
    """Saved with auto_map, the classifier loads through AutoModelForVideoClassification in a fresh process."""
    model = _save_with_auto_map(tmp_path)
    torch.save(pose_inputs(2), tmp_path / "inputs.pt")
    expected = model(**pose_inputs(2)).logits
    script = f"""
import sys, torch
sys.path = [p for p in sys.path if 'main' not in p]
from transformers import AutoModelForVideoClassification
model = AutoModelForVideoClassification.from_pretrained({str(tmp_path)!r}, trust_remote_code=True).eval()
assert type(model).__module__.startswith('transformers_modules'), type(model).__module__
inputs = torch.load({str(tmp_path / 'inputs.pt')!r})
torch.save(model(**inputs).logits, {str(tmp_path / 'logits.pt')!r})
"""
    result = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, timeout=120, check=False,
                            env={"HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules"),
                                 "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    torch.testing.assert_close(torch.load(tmp_path / "logits.pt"), expected)
