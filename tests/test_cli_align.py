"""CLIs end to end: `signllm align` / `translate` on a tiny random model and a synthetic episode, `evaluate`."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from conftest import fake_pose
from signllm.datasets_scripts.subtitles import Subtitle, read_subtitles, write_subtitles
from signllm.train.cli import main

FPS = 25.0


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    """A tiny random SignLLM (32-frame windows) + processor with a ByT5 tokenizer, saved like a checkpoint."""
    import torch
    from signllm.configuration_signllm import SignLLMConfig
    from signllm.modeling_signllm import SignLLMForConditionalGeneration
    from signllm.processing_signllm import SignLLMProcessor
    from transformers import ByT5Tokenizer

    torch.manual_seed(0)
    config = SignLLMConfig.from_preset("tiny")
    model = SignLLMForConditionalGeneration(config).eval()
    processor = SignLLMProcessor(ByT5Tokenizer(), num_frames=config.num_frames, fps=FPS)
    path = tmp_path_factory.mktemp("tiny_signllm")
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def episode(tmp_path_factory):
    """6 s of synthetic keypoints (.npz) and 4 subtitles whose priors overlap, plus a 'manual' alignment."""
    path = tmp_path_factory.mktemp("episode")
    values, mask = fake_pose(150, seed=3, missing_hand_frames=10)
    np.savez(path / "episode.npz", values=values, mask=mask, fps=np.float32(FPS))
    prior = [Subtitle(0.2, 1.6, "Hello and welcome."), Subtitle(1.2, 2.8, "Today we cook pasta."),
             Subtitle(2.6, 4.4, "First boil the water [NOT SURE WHERE]"), Subtitle(4.2, 5.8, "Then add salt.")]
    truth = [Subtitle(0.4, 1.4, prior[0].text), Subtitle(1.5, 2.6, prior[1].text),
             Subtitle(2.8, 4.0, prior[2].text), Subtitle(4.1, 5.6, prior[3].text)]
    write_subtitles(prior, path / "subtitles.vtt")
    write_subtitles(truth, path / "manual.vtt")
    return path


def test_align_end_to_end(tiny_model_dir, episode, tmp_path, capsys):
    import pympi
    import webvtt
    out = tmp_path / "aligned.vtt"
    code = main(["align", str(episode / "episode.npz"), str(episode / "subtitles.vtt"), "-o", str(out),
                 "--model", str(tiny_model_dir), "--eaf", str(tmp_path / "aligned.eaf"),
                 "--plot", str(tmp_path / "aligned.png"), "--json", str(tmp_path / "aligned.json"),
                 "--ground-truth", str(episode / "manual.vtt"), "--num-beams", "2", "--batch-size", "3",
                 "--no-progress", "--device", "cpu"])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "SAT metrics against the ground truth" in printed and "f1@0.50" in printed

    captions = webvtt.read(str(out))  # a standard parser accepts the output
    assert len(captions) == 4
    assert sorted(c.text for c in captions) == sorted(cue.text for cue in read_subtitles(episode / "subtitles.vtt"))
    assert (tmp_path / "aligned.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    eaf = pympi.Elan.Eaf(str(tmp_path / "aligned.eaf"))
    assert {"prior", "aligned", "confidence", "ground truth"} <= set(eaf.get_tier_names())

    report = json.loads((tmp_path / "aligned.json").read_text())
    subs = report["subtitles"]
    # constrained decoding: every window gives a parsable span, so every subtitle went through the DTW
    assert {s["source"] for s in subs} <= {"aligned", "dtw_dropped"} and any(s["source"] == "aligned" for s in subs)
    aligned = sorted((s["start"], s["end"]) for s in subs if s["source"] == "aligned")
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(aligned)), "aligned spans never overlap"
    assert all(0.0 <= s["start"] <= s["end"] <= 150 / FPS for s in subs)
    assert all(0.0 < s["confidence"] <= 1.0 for s in subs if s["confidence"] is not None)
    assert report["metadata"]["window_frames"] == 32


def test_translate_end_to_end(tiny_model_dir, episode, tmp_path):
    out = tmp_path / "translations.srt"
    code = main(["translate", str(episode / "episode.npz"), "-o", str(out), "--model", str(tiny_model_dir),
                 "--segment-seconds", "3", "--num-beams", "1", "--max-new-tokens", "6", "--no-progress",
                 "--json", str(tmp_path / "translations.json")])  # fmt: skip
    assert code == 0
    report = json.loads((tmp_path / "translations.json").read_text())
    assert [(s["start"], s["end"]) for s in report["segments"]] == [(0.0, 3.0), (3.0, 6.0)]
    assert all(s["confidence"] is None or 0.0 < s["confidence"] <= 1.0 for s in report["segments"])
    assert out.exists()


def test_align_reports_bad_inputs(tiny_model_dir, episode, tmp_path, capsys):
    code = main(["align", str(tmp_path / "missing.npz"), str(episode / "subtitles.vtt"), "-o", str(tmp_path / "a.vtt"),
                 "--model", str(tiny_model_dir)])  # fmt: skip
    assert code == 2 and "input not found" in capsys.readouterr().err
    code = main(["align", str(episode / "episode.npz"), str(episode / "subtitles.vtt"), "-o", str(tmp_path / "a.txt"),
                 "--model", str(tiny_model_dir)])  # fmt: skip
    assert code == 2 and ".vtt or .srt" in capsys.readouterr().err


def test_ssa_constraint_only_allows_valid_spans(tiny_model_dir):
    import torch
    from signllm.processing_signllm import SignLLMProcessor
    from signllm.train.inference.alignment import ssa_output_constraint

    processor = SignLLMProcessor.from_pretrained(tiny_model_dir)
    allowed_fn, length = ssa_output_constraint(processor)
    tokenizer = processor.tokenizer

    def allowed(prefix: str) -> str:
        ids = [0] + tokenizer(prefix, add_special_tokens=False)["input_ids"]
        return tokenizer.decode(allowed_fn(0, torch.tensor(ids)))

    assert length == 8  # "sss eee" + </s>, one byte per token
    assert allowed("") == "0"  # window of 32 frames: indices 000-031
    assert allowed("03") == "01" and allowed("031") == " "
    assert allowed("020 02") == "0123456789" and allowed("020 0") == "23"  # end >= start
    assert allowed("020 029") == "</s>"


# ---------------------------------------------------------------------------------------------- evaluate


def test_evaluate_slt_table_and_json(tmp_path, capsys):
    (tmp_path / "pred.txt").write_text("the cat sat on the mat\nhello there friend\n")
    (tmp_path / "ref.txt").write_text("the cat sat on the mat\nhello there my friend\n")
    code = main(["evaluate", str(tmp_path / "pred.txt"), "--references", str(tmp_path / "ref.txt"),
                 "--json", str(tmp_path / "m.json")])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "BLEU-4 (sacreBLEU)" in printed and "paper-compatible" in printed and "nrefs:1|case:mixed" in printed
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["task"] == "slt" and "swapped" in metrics["bleu4_paper_compatible_label"]
    rows = [json.dumps({"prediction": "a b c d", "reference": "a b c d"})]
    (tmp_path / "both.jsonl").write_text("\n".join(rows))
    assert main(["evaluate", str(tmp_path / "both.jsonl")]) == 0
    assert main(["evaluate", str(tmp_path / "pred.txt"), "-r", str(tmp_path / "both.jsonl")]) == 2


def test_evaluate_ssa_folders(tmp_path, capsys):
    (tmp_path / "pred").mkdir()
    (tmp_path / "gt").mkdir()
    gt = [Subtitle(0.0, 4.0, "a"), Subtitle(5.0, 6.0, "b [NOT SURE]")]
    write_subtitles(gt, tmp_path / "gt" / "ep1.vtt")
    write_subtitles([Subtitle(0.0, 1.0, "a"), Subtitle(0.0, 9.0, "b")], tmp_path / "pred" / "ep1.vtt")
    code = main(["evaluate", "--task", "ssa", str(tmp_path / "pred"), "-r", str(tmp_path / "gt"),
                 "--json", str(tmp_path / "ssa.json")])  # fmt: skip
    assert code == 0
    metrics = json.loads((tmp_path / "ssa.json").read_text())
    # one evaluated subtitle, IoU 0.25: TP at 0.10 / 0.25, not at 0.50; the "[...]" cue is ignored
    assert (metrics["f1@0.25"], metrics["f1@0.50"], metrics["num_subtitles"]) == (100.0, 0.0, 1.0)
    assert "F1@0.50" in capsys.readouterr().out


def test_evaluate_islr(tmp_path):
    np.savez(tmp_path / "islr.npz", scores=np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]), labels=np.array([0, 1, 1]))
    assert main(["evaluate", "--task", "islr", str(tmp_path / "islr.npz"), "--json", str(tmp_path / "i.json")]) == 0
    metrics = json.loads((tmp_path / "i.json").read_text())
    assert any(value == pytest.approx(2 / 3) or value == pytest.approx(200 / 3) for value in metrics.values())


# ------------------------------------------------------------------------------------ hostile input (issue 16)

TWELVE_CUES = [(0.0, 0.5), (-0.4, 0.9), (1.0, 1.4), (1.9, 1.5), (2.0, 2.4), (2.5, 2.9), (3.0, 3.4), (3.5, 3.9),
               (4.0, 4.4), (4.5, 4.9), (5.0, 5.4), (5.5, 5.9)]  # cue 2 starts before 0, cue 4 ends before it starts


def _timestamp(seconds: float) -> str:
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    return f"{sign}00:00:{int(seconds):02d}.{round(seconds % 1 * 1000):03d}"


def test_align_keeps_every_cue_repairs_bad_times_and_decodes_utf8(tiny_model_dir, episode, tmp_path, capsys):
    """The user's file as the issue describes it: 12 cues, one with a negative start, one ending before it starts,
    and one stray non-UTF-8 byte; all 12 cues come out, the repaired ones flagged in the JSON and the .eaf, and
    the accented text stays UTF-8 (16.2, 16.3)."""
    import pympi
    import webvtt

    blocks = [f"{_timestamp(a)} --> {_timestamp(b)}\nCue {i} café crème" for i, (a, b) in enumerate(TWELVE_CUES, 1)]
    raw = ("WEBVTT\n\n" + "\n\n".join(blocks) + "\n").encode("utf-8").replace(b"Cue 12", b"Cue \xff12")
    (tmp_path / "subs.vtt").write_bytes(raw)
    out = tmp_path / "aligned.vtt"
    with pytest.warns(UserWarning) as caught:
        code = main(["align", str(episode / "episode.npz"), str(tmp_path / "subs.vtt"), "-o", str(out),
                     "--model", str(tiny_model_dir), "--json", str(tmp_path / "a.json"), "--eaf", str(tmp_path / "a.eaf"),
                     "--num-beams", "1", "--batch-size", "12", "--no-progress", "--device", "cpu"])  # fmt: skip
    assert code == 0
    messages = " | ".join(str(w.message) for w in caught)
    assert "repaired the times of 2 cue(s): line 6" in messages and "U+FFFD on line(s) 37" in messages, messages
    printed = capsys.readouterr()
    assert "2 subtitle(s) had invalid times" in printed.out

    captions = webvtt.read(str(out))
    assert len(captions) == 12  # none dropped
    texts = sorted(c.text for c in captions)
    assert all("café crème" in text for text in texts) and not any("Ã" in text for text in texts)
    assert "Cue \ufffd12 café crème" in texts
    report = json.loads((tmp_path / "a.json").read_text(encoding="utf-8"))
    flagged = {s["text"].split()[1]: s for s in report["subtitles"] if s["prior_repaired"]}
    assert sorted(flagged) == ["2", "4"]
    assert (flagged["2"]["prior_start"], flagged["2"]["prior_end"]) == (0.0, 0.9) and "negative" in flagged["2"]["prior_repaired"]
    assert (flagged["4"]["prior_start"], flagged["4"]["prior_end"]) == (1.5, 1.9) and "swapped" in flagged["4"]["prior_repaired"]
    eaf = pympi.Elan.Eaf(str(tmp_path / "a.eaf"))
    notes = sorted(value for _, _, value in eaf.get_annotation_data_for_tier("prior repaired"))
    assert len(notes) == 2 and "negative" in notes[1] + notes[0] and "swapped" in notes[0] + notes[1]


def test_align_refuses_cues_whose_times_cannot_be_read(tiny_model_dir, episode, tmp_path, capsys):
    (tmp_path / "subs.vtt").write_text("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nfine\n\n"
                                       "00:00:0x.000 --> 00:00:04.000\nunreadable\n")  # fmt: skip
    code = main(["align", str(episode / "episode.npz"), str(tmp_path / "subs.vtt"), "-o", str(tmp_path / "a.vtt"),
                 "--model", str(tiny_model_dir), "--no-progress"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "subs.vtt" in err and "line 6" in err and "malformed timestamp" in err, err
    assert not (tmp_path / "a.vtt").exists()


def test_inference_loading_merges_adapters_without_changing_predictions(tmp_path, episode):
    """Issue 18: the CLIs fold DoRA into T5 once at load (beam search no longer recomputes weight norms each step);
    predictions are those of the unmerged model; --dtype bfloat16 loads for a faster, smaller inference."""
    import torch
    from signllm.configuration_signllm import SignLLMConfig
    from signllm.modeling_signllm import SignLLMForConditionalGeneration
    from signllm.processing_signllm import SignLLMProcessor
    from signllm.train.inference.cli_align import load_model_and_processor
    from signllm.train.inference.generation import generate_for_windows
    from signllm.train.inference.translation import make_slt_windows
    from transformers import ByT5Tokenizer

    torch.manual_seed(1)
    model = SignLLMForConditionalGeneration(SignLLMConfig.from_preset("tiny")).eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.2)  # adapters that change the output
    model.save_pretrained(tmp_path / "model")
    SignLLMProcessor(ByT5Tokenizer(), num_frames=32, fps=FPS).save_pretrained(tmp_path / "model")
    values, mask = fake_pose(150, seed=3)
    windows = make_slt_windows([(0.0, 2.0), (2.0, 4.0), (4.0, 6.0)], FPS, 32)
    runs = {}
    for name, dtype in (("unmerged", None), ("merged", "float32"), ("bf16", "bfloat16")):
        if dtype is None:
            loaded = SignLLMForConditionalGeneration.from_pretrained(tmp_path / "model").eval()
            processor = SignLLMProcessor.from_pretrained(tmp_path / "model")
        else:
            loaded, processor = load_model_and_processor(tmp_path / "model", "cpu", dtype)
        runs[name] = (loaded, generate_for_windows(loaded, processor, windows, values, mask, None, num_beams=3,
                                                   max_new_tokens=8, task="slt"))  # fmt: skip
    assert runs["unmerged"][0].config.use_dora and not runs["merged"][0].config.use_dora
    assert {p.dtype for p in runs["bf16"][0].parameters()} == {torch.bfloat16}
    assert [r[0] for r in runs["merged"][1]] == [r[0] for r in runs["unmerged"][1]]  # same texts
    np.testing.assert_allclose([r[1] for r in runs["merged"][1]], [r[1] for r in runs["unmerged"][1]], rtol=1e-4)
    assert all(r is not None and 0.0 < r[1] <= 1.0 for r in runs["bf16"][1])
    code = main(["translate", str(episode / "episode.npz"), "-o", str(tmp_path / "t.vtt"), "--model",
                 str(tmp_path / "model"), "--dtype", "bfloat16", "--num-beams", "2", "--max-new-tokens", "4",
                 "--no-progress"])  # fmt: skip
    assert code == 0 and (tmp_path / "t.vtt").exists()
