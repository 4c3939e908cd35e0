"""The Hub model card: metadata the Hub can read (parsed back with ``huggingface_hub.ModelCard``), field by field."""

from __future__ import annotations

import math

import pytest
import yaml
from huggingface_hub import ModelCard
from signllm.datasets_scripts import prepare_bobsl, prepare_folder, prepare_how2sign
from signllm.train.hub.model_card import PIPELINE_TAG, hub_model_id, render_model_card, write_model_card
from signllm.train.slt.curriculum import resolve_config
from signllm_tiny import tiny_config
from test_datasets_builders import make_bobsl, make_how2sign, prepare, write_keypoints

SIGNATURE = "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0"
#: what the SLT trainer reports after `trainer.evaluate()` on an SLT and an SSA eval set (recipe.export_folder)
TRAINER_METRICS = {
    "eval_slt_bleu4_sacrebleu": 12.5, "eval_slt_bleu4_paper_compatible": 14.25, "eval_slt_bleu1_paper_compatible": 40.0,
    "eval_slt_rouge_l": 33.3, "eval_slt_cider_d": 0.81, "eval_slt_word_iou": 21.0, "eval_slt_num_sentences": 120.0,
    "eval_slt_loss": 2.5, "eval_slt_runtime": 3.2, "eval_ssa_span_iou": 0.42, "eval_ssa_parse_rate": 1.0,
    "eval_ssa_boundary_error_frames": float("nan"), "train_loss": 3.1,
}  # fmt: skip


@pytest.fixture
def corpora(tmp_path):
    """Two folders written by the real `signllm data prepare` builders: BOBSL (train) and How2Sign (eval)."""
    (tmp_path / "b").mkdir(), (tmp_path / "h").mkdir()
    bobsl_root, bobsl_kp = make_bobsl(tmp_path / "b")
    _, bobsl = prepare(prepare_bobsl, bobsl_root, tmp_path / "b", keypoints_dir=bobsl_kp)
    how2sign_root, how2sign_kp = make_how2sign(tmp_path / "h")
    _, how2sign = prepare(prepare_how2sign, how2sign_root, tmp_path / "h", keypoints_dir=how2sign_kp,
                          sign_language="ase")  # fmt: skip
    return bobsl, how2sign


def _run_config(train, evaluation, stage="3"):
    config = resolve_config(stage, ["tiny_debug"])
    config["data"]["train"], config["data"]["eval"] = [str(p) for p in train], [str(p) for p in evaluation]
    return config


def test_card_metadata_parses_back_with_every_field(corpora, tmp_path):
    bobsl, how2sign = corpora
    config = tiny_config(text_model_name_or_path="google/flan-t5-xl")
    path = write_model_card(tmp_path, _run_config([bobsl, how2sign], [how2sign]), metrics=TRAINER_METRICS,
                            stage_description="80 % SLT / 20 % SSA", model_config=config, repo_id="me/signllm-bobsl",
                            revision="abc123", sacrebleu_signature=SIGNATURE)  # fmt: skip
    card = ModelCard.load(path)
    data = card.data
    assert data.license == "apache-2.0" and data.library_name == "transformers"
    assert data.pipeline_tag == PIPELINE_TAG == "video-text-to-text"
    assert {"sign-language", "sign-language-translation", "keypoints", "video", "custom_code"} <= set(data.tags)
    assert data.base_model == "google/flan-t5-xl"
    assert data.datasets == ["bobsl", "how2sign"]  # the corpora recorded by `signllm data prepare`, not "custom"
    assert data.language == ["en", "ase"]
    assert sorted(data.metrics) == ["accuracy", "bleu", "cider", "iou", "rouge", "sacrebleu", "word_iou"]
    assert data.model_name == "signllm-bobsl"

    results = {(r.metric_type, r.metric_name): r for r in data.eval_results}
    sacre = results["sacrebleu", "BLEU-4 (sacreBLEU)"]
    assert sacre.metric_value == 12.5 and sacre.metric_config == SIGNATURE
    paper = results["bleu", "BLEU-4 (paper-compatible)"]
    assert paper.metric_value == 14.25 and "paper-compatible" in paper.metric_config
    assert results["bleu", "BLEU-1 (paper-compatible)"].metric_value == 40.0
    assert results["rouge", "ROUGE-L"].metric_value == 33.3 and results["cider", "CIDEr-D"].metric_value == 0.81
    for result in data.eval_results:  # every result names the dataset, split and task
        assert (result.dataset_type, result.dataset_name, result.dataset_split) == ("how2sign", "How2Sign", "val")
        assert result.task_type == PIPELINE_TAG and math.isfinite(result.metric_value)
    by_task = {(r.task_name, r.dataset_config, r.metric_name.endswith("(20 s windows)")) for r in data.eval_results}
    assert by_task == {("Sign language translation", "slt", False), ("Sign-subtitle alignment", "ssa", True)}
    names = {r.metric_name for r in data.eval_results}
    assert not any("loss" in n or "runtime" in n or "boundary" in n for n in names)  # no loss, no NaN, no counts
    assert len(data.eval_results) == 8

    front = yaml.safe_load(path.read_text().split("---")[1])  # the raw YAML the Hub reads
    assert front["model-index"][0]["name"] == "signllm-bobsl"
    assert front["model-index"][0]["results"][0]["dataset"]["type"] == "how2sign"
    text = card.text
    assert "${" not in path.read_text() and "| eval_slt_bleu4_sacrebleu | 12.5 |" in text
    assert "tested with transformers <6,>=5.10.1" in text  # the range this install declares
    assert 'revision = "abc123"' in text and "[google/flan-t5-xl](https://huggingface.co/google/flan-t5-xl)" in text


def test_base_model_is_a_hub_id_or_absent(tmp_path):
    config = _run_config([], [])
    random_lm = ModelCard(render_model_card(config, model_config=tiny_config()))
    assert random_lm.data.base_model is None and "randomly initialised T5" in random_lm.text
    local = tmp_path / "flan-t5-xl"
    local.mkdir()
    local_lm = ModelCard(render_model_card(config, model_config=tiny_config(text_model_name_or_path=str(local))))
    assert local_lm.data.base_model is None and "local folder `flan-t5-xl`" in local_lm.text
    pinned = ModelCard(render_model_card(config, base_model="google/flan-t5-base", base_model_revision="7bcac57"))
    assert pinned.data.base_model == "google/flan-t5-base" and "revision `7bcac57`" in pinned.text
    assert [hub_model_id(n) for n in ("t5-small", "./runs/lm", "/abs/lm", "a random T5 (no LM)", None)] == [
        "t5-small", None, None, None, None]  # fmt: skip


def test_own_data_and_no_evaluation(tmp_path):
    root, kp = tmp_path / "my_corpus", tmp_path / "poses"
    (root / "videos").mkdir(parents=True), kp.mkdir()
    (root / "videos" / "talk1.mp4").write_bytes(b"")
    (root / "videos" / "talk1.srt").write_text("1\n00:00:01,000 --> 00:00:03,500\nHallo Welt\n", encoding="utf-8")
    write_keypoints(kp / "talk1.npz", 6.0)
    _, own = prepare(prepare_folder, root, tmp_path, keypoints_dir=kp, sign_language="gsg")
    card = ModelCard(render_model_card(_run_config([own], [own]), {"eval_slt_bleu4_sacrebleu": 3.0}, eval_split="test"))
    assert card.data.datasets is None  # a user's own folder is not a Hub dataset: no "custom" placeholder
    (result,) = card.data.eval_results
    assert result.dataset_type == "out" and "not a public dataset" in result.dataset_name
    assert (result.dataset_split, result.dataset_config, result.metric_type) == ("test", "slt", "sacrebleu")
    assert card.data.language == ["en", "gsg"]
    demo = tmp_path / "demo_prepared"  # `signllm demo` prepares its synthetic corpus with the BOBSL builder
    demo.mkdir()
    (demo / "dataset_info.json").write_text('{"corpus": "signllm-demo", "options": {"sign_language": "demo"}}')
    demo_card = ModelCard(render_model_card(_run_config([demo], [demo]), {"eval_slt_rouge_l": 9.0}))
    assert demo_card.data.datasets is None and demo_card.data.language == ["en"]
    assert demo_card.data.eval_results[0].dataset_type == "signllm-demo"
    untested = ModelCard(render_model_card(_run_config([own], []), {"train_loss": 1.0}))
    assert untested.data.eval_results is None and untested.data.metrics is None  # no invented results
    assert "| train_loss | 1 |" in untested.text


def test_card_names_the_keypoint_extractor(tmp_path):
    """The card says which extractor made the training keypoints (extractor drift is the field's most common
    complaint); without a record it says so instead of guessing."""
    extractor = {"name": "mediapipe-holistic", "backend": "legacy", "version": "0.10.21",
                 "settings": {"model_complexity": 1}}  # fmt: skip
    card = ModelCard(render_model_card(_run_config([], []), keypoint_extractor=extractor))
    assert "**Keypoints:** mediapipe-holistic legacy 0.10.21 (model_complexity=1)" in card.text
    assert "**Keypoints:** not recorded" in ModelCard(render_model_card(_run_config([], []))).text
