"""SignLLMForConditionalGeneration: shapes, losses, DoRA, padding invariance, missing modalities, save/load,
generation, freezing, gradient checkpointing, pretrained-part loading and the meta-device paper build."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import fake_pose
from signllm.configuration_signllm import SignLLMConfig
from signllm.modeling_agcn import SignLLMAdaptiveGraphConv
from signllm.modeling_signllm import SignLLMForConditionalGeneration, SignLLMPreTrainedModel, soft_decoding_l1
from signllm_tiny import BYT5_DIGIT_IDS, NUM_FRAMES, random_lip, tiny_config, tiny_model, tiny_processor


@pytest.fixture(scope="module")
def processor():
    return tiny_processor()


@pytest.fixture(scope="module")
def model():
    return tiny_model()


def make_batch(processor, **kwargs):
    poses = [fake_pose(20, seed=1)[0], fake_pose(14, seed=2, missing_hand_frames=4)[0]]
    return processor(pose=poses, lip=[random_lip(20, 1), random_lip(14, 2)], **kwargs)


def test_forward_shapes_and_finite_loss(model, processor):
    batch = make_batch(processor, text=["hello there", "a b"])
    out = model(**batch)
    expected_tokens = model.config.num_visual_tokens
    assert out.logits.shape == (2, batch["labels"].shape[1], model.config.text_config.vocab_size)
    assert out.visual_attention_mask.shape == (2, expected_tokens)
    assert out.visual_attention_mask.sum(1).tolist()[0] > out.visual_attention_mask.sum(1).tolist()[1]
    assert torch.isfinite(out.loss) and out.soft_decoding_loss is None
    assert torch.allclose(out.loss, out.text_loss)


def test_gradients_reach_encoders_resampler_and_adapters_only():
    model = tiny_model().train()
    processor = tiny_processor()
    model(**make_batch(processor, text=["hello there", "a b"])).loss.backward()
    grads = {name: p.grad for name, p in model.named_parameters() if p.requires_grad}
    for prefix in ("pose_encoder.", "lip_encoder.", "resampler."):
        assert any(g is not None and g.abs().sum() > 0 for n, g in grads.items() if n.startswith(prefix)), prefix
    language_trainable = [n for n in grads if n.startswith("language_model.")]
    assert language_trainable and all("lora_" in n for n in language_trainable)  # DoRA only, base T5 frozen
    assert any(grads[n] is not None and grads[n].abs().sum() > 0 for n in language_trainable if "lora_B" in n)
    assert any("lora_magnitude_vector" in n for n in language_trainable)  # DoRA, not plain LoRA


def test_ssa_soft_decoding_loss_mixed_batch(model, processor):
    batch = make_batch(
        processor, task=["slt", "ssa"], text=["hello", None], subtitle=[None, "hi"], targets=[None, (3, 12)]
    )
    out = model(**batch)
    assert out.soft_decoding_loss is not None and out.soft_decoding_loss > 0
    torch.testing.assert_close(out.loss, out.text_loss + model.config.ssa_soft_decoding_weight * out.soft_decoding_loss)


def test_soft_decoding_l1_hand_computed():
    digits = torch.tensor(BYT5_DIGIT_IDS)
    labels = torch.tensor([[digits[0], digits[1], digits[2], 35, digits[3], digits[4], digits[5], 1]])
    logits = torch.full((1, 8, 384), -1e4)
    for position, token in enumerate(labels[0]):
        logits[0, position, token] = 10.0  # confident and right
    assert soft_decoding_l1(logits, labels, digits).item() == pytest.approx(0.0, abs=1e-4)
    uniform = torch.zeros(1, 8, 384)  # expected digit 4.5 everywhere
    expected = np.mean([abs(4.5 - d) for d in (0, 1, 2, 3, 4, 5)])
    assert soft_decoding_l1(uniform, labels, digits).item() == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="6 digit"):
        soft_decoding_l1(uniform, labels.masked_fill(labels == digits[5], -100), digits)


def test_padding_invariance(model, processor):
    pose, _ = fake_pose(14, seed=2)
    single = processor(pose=pose, lip=random_lip(14, 2), text="ab")
    batched = processor(pose=[fake_pose(20, seed=1)[0], pose], lip=[random_lip(20, 1), random_lip(14, 2)],
                        task=["ssa", "slt"], subtitle=["a long subtitle that pads the other prompt", None],
                        targets=[(1, 2), None], text=[None, "ab"])  # fmt: skip
    with torch.no_grad():
        alone = model(**single).logits[0]
        together = model(**batched).logits[1, : alone.shape[0]]
    torch.testing.assert_close(together, alone, atol=1e-4, rtol=1e-4)


def test_missing_modality_per_sample_is_zeroed(model, processor):
    pose, _ = fake_pose(20, seed=1)
    with_lip = processor(pose=[pose, pose], lip=[random_lip(20), None], text=["ab", "ab"])
    without = processor(pose=pose, text="ab")
    with torch.no_grad():
        torch.testing.assert_close(model(**with_lip).logits[1], model(**without).logits[0], atol=1e-5, rtol=1e-5)
        lip_only = model(**processor(lip=random_lip(20), text="ab"))  # pose absent for the whole batch
    assert torch.isfinite(lip_only.logits).all()


def test_pose_only_config_ignores_lip_inputs(processor):
    model = tiny_model(use_lip=False)
    assert model.lip_encoder is None and model.resampler.config.input_size == model.config.pose_config.hidden_size
    pose, _ = fake_pose(20)
    with torch.no_grad():
        with_lip = model(**processor(pose=pose, lip=random_lip(20), text="ab")).logits
        without = model(**processor(pose=pose, text="ab")).logits
    torch.testing.assert_close(with_lip, without)


def test_generate_greedy_and_beam(model, processor):
    batch = make_batch(processor)
    assert model.generation_config.num_beams == 5  # [paper] default
    beams = model.generate(**batch, max_new_tokens=6)
    greedy = model.generate(**batch, max_new_tokens=6, num_beams=1)
    assert beams.shape[0] == greedy.shape[0] == 2 and greedy.shape[1] <= 7 and beams.dtype == torch.long
    assert all(isinstance(text, str) for text in processor.batch_decode(beams))


def test_save_load_and_merge(tmp_path, processor):
    model = tiny_model(seed=1)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.1)  # make the adapters matter
    batch = make_batch(processor, text=["ab", "cd"])
    with torch.no_grad():
        reference = model(**batch).logits
    model.save_pretrained(tmp_path / "dora")
    assert (tmp_path / "dora" / "model.safetensors").is_file()
    reloaded = SignLLMForConditionalGeneration.from_pretrained(tmp_path / "dora").eval()
    half = SignLLMForConditionalGeneration.from_pretrained(tmp_path / "dora", dtype=torch.float16).eval()
    dtypes = {n.rsplit(".", 3)[-3]: p.dtype for n, p in half.named_parameters() if n.endswith("base_layer.weight")}
    assert dtypes["wo"] == torch.float32 and dtypes["q"] == torch.float16  # Flan-T5's wo stays fp32
    # the non-persistent AGCN partitions come back through `_init_weights`, with no from_pretrained override
    assert "from_pretrained" not in vars(SignLLMPreTrainedModel)
    graph_convs = [m for m in (*reloaded.modules(), *half.modules()) if isinstance(m, SignLLMAdaptiveGraphConv)]
    assert graph_convs and all(torch.equal(m.adjacency.float(), m._partition) for m in graph_convs)
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**batch).logits, reference)
        assert torch.isfinite(half(**batch).logits).all()  # fp32 processor outputs are cast to the model dtype
        model.merge_dora()
        assert not model.config.use_dora and not any("lora_" in n for n, _ in model.named_parameters())
        torch.testing.assert_close(model(**batch).logits, reference, atol=1e-4, rtol=1e-4)
        model.save_pretrained(tmp_path / "merged")
        merged = SignLLMForConditionalGeneration.from_pretrained(tmp_path / "merged").eval()
        torch.testing.assert_close(merged(**batch).logits, reference, atol=1e-4, rtol=1e-4)


def test_bad_tensor_inputs_raise_value_errors(model, processor):
    batch = make_batch(processor)
    nan_pose = batch["pose_values"].clone()
    nan_pose[0, 3, 5] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        model(**{**batch, "pose_values": nan_pose})
    with pytest.raises(ValueError, match="203"):
        model(**{**batch, "pose_values": batch["pose_values"][:, :, :100]})
    with pytest.raises(ValueError, match="too short"):
        model(**{**batch, "pose_values": batch["pose_values"][:, :6], "pose_attention_mask": None,
                 "pose_joint_mask": None, "lip_values": None})  # fmt: skip
    with pytest.raises(ValueError, match="pose_values and/or lip_values"):
        model(input_ids=batch["input_ids"])
    with pytest.raises(ValueError, match="share"):
        model(**{**batch, "lip_values": batch["lip_values"][:, :16], "lip_attention_mask": None})
    with pytest.raises(ValueError, match="mouth crops"):
        model(**{**batch, "lip_values": torch.zeros(2, NUM_FRAMES, 1, 88, 88), "lip_attention_mask": None})


def test_lip_reader_frozen_and_backbone_freezing():
    model = tiny_model(lip_config={"use_lip_reader": True})
    assert model.lip_reader is not None and not any(p.requires_grad for p in model.lip_reader.parameters())
    model.freeze_backbones(True)
    assert not any(p.requires_grad for p in model.pose_encoder.parameters())
    assert all(p.requires_grad for p in model.resampler.parameters())
    model.freeze_backbones(False)
    model.train()
    assert all(p.requires_grad for p in model.lip_encoder.parameters())
    assert not any(p.requires_grad for p in model.lip_reader.parameters()) and not model.lip_reader.training
    crops = torch.randn(1, NUM_FRAMES, 1, 88, 88)
    out = model(lip_values=crops, lip_attention_mask=torch.ones(1, NUM_FRAMES, dtype=torch.long),
                input_ids=torch.tensor([[5, 6, 1]]), labels=torch.tensor([[7, 1]]))  # fmt: skip
    out.loss.backward()
    assert all(p.grad is None for p in model.lip_reader.parameters())
    assert any(p.grad is not None for p in model.lip_encoder.parameters())


CHECKPOINTED_BLOCKS = {  # block class name → a submodule its recomputation runs again
    "SignLLMAGCNLayer": "graph_conv",
    "SignLLMConformerBlock": "ffn_in",
    "SignLLMPerceiverLayer": "norm_latents",
    "T5Block": "layer.0",
}


def _training_step(model, batch, seed: int = 0):
    """One forward + backward in train mode (dropout active); returns loss, gradients, BN running statistics and
    how often each checkpointable block's first submodule ran."""
    calls: dict[str, int] = dict.fromkeys(CHECKPOINTED_BLOCKS, 0)
    handles = []
    for module in model.modules():
        name = type(module).__name__
        if name in CHECKPOINTED_BLOCKS:
            def count(*_, name=name):
                calls[name] += 1

            handles.append(module.get_submodule(CHECKPOINTED_BLOCKS[name]).register_forward_pre_hook(count))
    model.zero_grad(set_to_none=True)
    torch.manual_seed(seed)
    loss = model(**batch).loss
    loss.backward()
    for handle in handles:
        handle.remove()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    stats = {n: b.clone() for n, b in model.named_buffers() if "running_" in n}
    return loss.detach(), grads, stats, calls


def test_gradient_checkpointing_covers_every_block_and_changes_nothing(processor):
    """One switch (transformers' `gradient_checkpointing_enable`) recomputes the AGCN layers, Conformer blocks,
    Perceiver layers and T5 blocks; loss, gradients and BatchNorm running statistics equal the run without it."""
    batch = make_batch(processor, text=["ab", "cd"])
    reference_model = tiny_model(seed=4).train()
    checkpointed = tiny_model(seed=4).train()
    checkpointed.gradient_checkpointing_enable()
    assert checkpointed.is_gradient_checkpointing
    loss, grads, stats, calls = _training_step(reference_model, batch)
    loss_ckpt, grads_ckpt, stats_ckpt, calls_ckpt = _training_step(checkpointed, batch)
    assert all(count > 0 for count in calls.values()), calls
    assert calls_ckpt == {name: 2 * count for name, count in calls.items()}  # every block recomputed once
    torch.testing.assert_close(loss_ckpt, loss, atol=0, rtol=0)
    assert grads_ckpt.keys() == grads.keys() and any("lora_A" in n for n in grads)
    for name, grad in grads.items():
        torch.testing.assert_close(grads_ckpt[name], grad, atol=1e-6, rtol=1e-5, msg=name)
    assert stats and all(torch.equal(stats_ckpt[n], s) for n, s in stats.items())  # running stats updated once
    checkpointed.gradient_checkpointing_disable()
    assert not any(getattr(m, "gradient_checkpointing", False) for m in checkpointed.modules())


def test_no_split_modules_keep_blocks_on_one_device():
    """``device_map="auto"`` never cuts an AGCN layer, Conformer block, Perceiver layer or T5 block in two."""
    from transformers.integrations.accelerate import infer_auto_device_map  # what from_pretrained(device_map=) uses

    model = tiny_model(lip_config={"use_lip_reader": True})
    no_split = model._no_split_modules
    assert set(CHECKPOINTED_BLOCKS) | {"SignLLMLipReaderLayer"} <= set(no_split)
    total = sum(p.numel() * p.element_size() for p in model.parameters())
    budget = {0: total // 5, 1: total // 5, 2: total // 5, "cpu": total * 2}  # forces several cuts
    device_map = infer_auto_device_map(model, max_memory=budget, no_split_module_classes=no_split)
    assert len(set(device_map.values())) > 2

    def device_of(parameter_name: str):
        prefix = max((key for key in device_map if parameter_name == key or parameter_name.startswith(f"{key}.")
                      or key == ""), key=len)  # fmt: skip
        return device_map[prefix]

    blocks = [(name, module) for name, module in model.named_modules() if type(module).__name__ in no_split]
    assert {type(module).__name__ for _, module in blocks} >= set(CHECKPOINTED_BLOCKS)
    for name, module in blocks:
        devices = {device_of(f"{name}.{p}") for p, _ in module.named_parameters()}
        assert len(devices) == 1, (name, devices)


def test_frozen_weights_in_bf16_train_under_autocast_without_weight_copies(processor):
    """``frozen_weights_dtype="bfloat16"``: the base LM and the lip reader are held in bf16 (adapters, backbones and
    Perceiver stay fp32); under bf16 autocast the loss matches the fp32-weight model and autograd keeps no bf16
    copy of a frozen weight for backward (it keeps the weight itself)."""
    sys.path.insert(0, str(Path(__file__).parent / "benchmarks"))
    from bench_training_memory import SavedTensorLedger
    from signllm.train.slt.curriculum import apply_stage

    batch = make_batch(processor, text=["ab", "cd"])
    runs = {}
    for dtype in (None, "bfloat16"):
        model = tiny_model(seed=5, frozen_weights_dtype=dtype, lip_config={"use_lip_reader": True}).train()
        apply_stage(model, "3")
        assert (model.cast_frozen_weights() == 0) == (dtype is None)
        with SavedTensorLedger(model) as ledger, torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(**batch).loss
        runs[dtype] = (model, loss, ledger.breakdown())
        loss.backward()
    model, loss, saved = runs["bfloat16"]
    dtypes = {name: p.dtype for name, p in model.named_parameters()}
    assert {dtypes[n] for n in dtypes if "base_layer" in n or n.startswith("lip_reader.")} == {torch.bfloat16}
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(dtypes[n] == torch.float32 for n in trainable)
    assert all(b.dtype == torch.bfloat16 for b in model.lip_reader.buffers() if b.is_floating_point())
    torch.testing.assert_close(loss, runs[None][1], atol=0.05, rtol=0.01)
    assert runs[None][2].get("copies of frozen weights", 0) > 0  # fp32 frozen weights: autocast saves bf16 copies
    assert saved.get("copies of frozen weights", 0) == 0
    assert any(p.grad is not None for n, p in model.named_parameters() if "lora_A" in n)
    model.merge_dora()  # the adapters fold into fp32 weights, not bf16 ones
    assert {p.dtype for n, p in model.language_model.named_parameters()} == {torch.float32}


def test_frozen_weights_dtype_checks():
    model = tiny_model(frozen_weights_dtype="float16")
    from signllm.train.slt.curriculum import apply_stage

    apply_stage(model, "3")
    assert model.cast_frozen_weights() > 0
    dtypes = {n.rsplit(".", 3)[-3]: p.dtype for n, p in model.named_parameters() if n.endswith("base_layer.weight")}
    assert dtypes["wo"] == torch.float32 and dtypes["q"] == torch.float16  # _keep_in_fp32_modules, as transformers
    batch = make_batch(tiny_processor(), text=["ab", "cd"])
    with pytest.raises(ValueError, match="autocast runs in torch.bfloat16"), torch.autocast("cpu", dtype=torch.bfloat16):
        model(**batch)
    with torch.no_grad():  # without autocast (e.g. fp32 inference) PEFT casts the adapter inputs as usual
        assert torch.isfinite(model(**batch).logits).all()
    assert tiny_model().cast_frozen_weights() == 0  # default: nothing changes
    with pytest.raises(ValueError, match="frozen_weights_dtype"):
        tiny_config(frozen_weights_dtype="int8")


def test_load_pretrained_parts(tmp_path, processor):
    source = tiny_model(seed=3)
    source.merge_dora()
    source.language_model.save_pretrained(tmp_path / "t5")  # stands in for google/flan-t5-xl
    islr_state = {f"pose_encoder.{k}": v for k, v in source.pose_encoder.state_dict().items()}
    islr_state["classifier.weight"] = torch.zeros(3, 4)  # ISLR heads are ignored
    torch.save(islr_state, tmp_path / "islr.pt")
    model = SignLLMForConditionalGeneration.from_components(
        tiny_config(), text_model_name_or_path=str(tmp_path / "t5"), backbone_checkpoints={"pose": tmp_path / "islr.pt"}
    )
    for key, value in source.pose_encoder.state_dict().items():
        torch.testing.assert_close(model.pose_encoder.state_dict()[key], value)
    base = model.language_model.get_base_model()
    torch.testing.assert_close(base.shared.weight, source.language_model.shared.weight)
    assert any("lora_" in n for n, _ in model.named_parameters())  # DoRA re-applied on the pretrained LM
    with pytest.raises(ValueError, match="No lip backbone"):
        model.load_backbone(islr_state, "lip")


def test_paper_preset_builds_on_meta_device():
    with torch.device("meta"):
        model = SignLLMForConditionalGeneration(SignLLMConfig.from_preset("paper"))
    counts = model.parameter_counts()
    assert 2.7e9 < counts["language_model"] < 2.9e9  # Flan-T5-XL ≈ 2.85 B
    assert counts["dora_adapters"] > 0 and counts["pose_encoder"] > 0 and counts["resampler"] > 0
    assert counts["total"] == sum(v for k, v in counts.items() if k not in ("total", "trainable"))
    assert counts["trainable"] < 0.15 * counts["total"]  # base LM frozen
    assert model.resampler.config.hidden_size == 2048 and model.config.num_visual_tokens == 122


def test_load_backbone_from_islr_classifier_checkpoint(tmp_path):
    from signllm import modeling_signllm_islr as islr
    from signllm.configuration_signllm_islr import SignLLMClassificationConfig

    torch.manual_seed(7)
    config = SignLLMClassificationConfig.from_preset("tiny", modality="pose", id2label={0: "hello", 1: "thankyou"})
    classifier = islr.SignLLMForSignClassification(config)
    classifier.save_pretrained(tmp_path / "islr")
    model = tiny_model()
    model.load_backbone(tmp_path / "islr", "pose")
    for key, value in classifier.pose_encoder.state_dict().items():
        torch.testing.assert_close(model.pose_encoder.state_dict()[key], value)


def test_untested_transformers_version_warns():
    from signllm.modeling_signllm import _warn_if_untested_transformers

    with pytest.warns(UserWarning, match="tested with transformers"):
        _warn_if_untested_transformers("4.46.0")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _warn_if_untested_transformers("5.24.0.dev0")  # inside the range: silent
