"""Training with transformers' Seq2SeqTrainer on a handful of tiny SLT + SSA samples: the loss goes down,
predict_with_generate works, and training resumes from a checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import fake_pose
from signllm_tiny import random_lip, tiny_model, tiny_processor
from transformers import Seq2SeqTrainer, Seq2SeqTrainingArguments

SAMPLES = [
    {"pose": fake_pose(20, seed=1)[0], "lip": random_lip(20, 1), "task": "slt", "text": "hello", "targets": None},
    {"pose": fake_pose(16, seed=2)[0], "lip": None, "task": "slt", "text": "thank you", "targets": None},
    {"pose": fake_pose(24, seed=3)[0], "lip": random_lip(24, 3), "task": "ssa", "text": None, "targets": (2, 11),
     "subtitle": "hello"},
    {"pose": fake_pose(18, seed=4)[0], "lip": None, "task": "slt", "text": "good morning", "targets": None},
]  # fmt: skip


class Collator:
    """The processor is the collator: raw clips + targets → a padded batch with labels and task ids."""

    def __init__(self, processor):
        self.processor = processor

    def __call__(self, samples: list[dict]):
        lips = [s["lip"] for s in samples]
        return self.processor(
            pose=[s["pose"] for s in samples], lip=lips if any(x is not None for x in lips) else None,
            task=[s["task"] for s in samples], text=[s["text"] for s in samples],
            subtitle=[s.get("subtitle") for s in samples], targets=[s["targets"] for s in samples],
        )  # fmt: skip


def make_trainer(model, output_dir, max_steps: int) -> Seq2SeqTrainer:
    args = Seq2SeqTrainingArguments(
        output_dir=str(output_dir), per_device_train_batch_size=4, per_device_eval_batch_size=4, max_steps=max_steps,
        learning_rate=1e-2, warmup_steps=0, logging_steps=1, save_strategy="steps", save_steps=5, report_to=[],
        use_cpu=True, remove_unused_columns=False, predict_with_generate=True, generation_max_length=8,
        generation_num_beams=1, dataloader_num_workers=0, seed=0, disable_tqdm=True, save_only_model=False,
    )  # fmt: skip
    return Seq2SeqTrainer(model=model, args=args, train_dataset=SAMPLES, data_collator=Collator(tiny_processor()))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("run")
    # curriculum stage 1 (backbones frozen: perceiver + DoRA train), which also keeps the test fast
    trainer = make_trainer(tiny_model(freeze_backbones=True).train(), output_dir, max_steps=10)
    trainer.train()
    return trainer, output_dir


def test_loss_goes_down(trained):
    trainer, _ = trained
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 10 and all(np.isfinite(losses))
    assert np.mean(losses[-3:]) < 0.8 * np.mean(losses[:3])


def test_predict_with_generate(trained):
    trainer, _ = trained
    output = trainer.predict(SAMPLES, max_new_tokens=6)
    assert output.predictions.shape[0] == len(SAMPLES)
    assert np.isfinite(output.metrics["test_loss"])
    texts = trainer.data_collator.processor.batch_decode(np.where(output.predictions < 0, 0, output.predictions))
    assert len(texts) == 4 and all(len(text) <= 6 for text in texts)  # ByT5: one token per character


def test_resume_from_checkpoint(trained):
    trainer, output_dir = trained
    checkpoint = output_dir / "checkpoint-5"
    assert (checkpoint / "model.safetensors").is_file() and (checkpoint / "optimizer.pt").is_file()
    resumed = make_trainer(tiny_model(seed=5, freeze_backbones=True).train(), output_dir / "resumed", max_steps=10)
    resumed.train(resume_from_checkpoint=str(checkpoint))
    assert resumed.state.global_step == 10
    # the restored history holds steps 1-5 from the checkpoint; steps 6-10 were trained again after resuming
    first = {e["step"]: e["loss"] for e in trainer.state.log_history if "loss" in e}
    again = {e["step"]: e["loss"] for e in resumed.state.log_history if "loss" in e}
    assert sorted(again) == list(range(1, 11))
    # same weights, optimiser, scheduler and data order as the original run → the same losses
    np.testing.assert_allclose([again[s] for s in range(6, 11)], [first[s] for s in range(6, 11)], rtol=1e-3)
    base = resumed.model.language_model.get_base_model()
    assert base.lm_head.weight is base.shared.weight  # T5's tied embeddings survive the checkpoint round trip
