"""SLT metrics on hand-computed cases (each expected value is worked out in the comment next to it)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from signllm.train.evaluation.slt_metrics import (
    LLMJudge,
    bleurt_score,
    cider_d,
    coco_bleu,
    compute_slt_metrics,
    paper_bleu,
    ptb_tokenize,
    rouge_l,
    sacrebleu_bleu,
    word_iou,
)

METRICS_DIR = Path(__file__).resolve().parents[1] / "train" / "evaluation" / "metrics"


# ------------------------------------------------------------------------------------------------ PTB


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Don't worry, it's 3.5 miles -- fine!", "do n't worry it 's 3.5 miles fine"),
        ("I can't go; we're gonna be late...", "i ca n't go we 're gon na be late"),
        ('The U.S. said "Hello" (twice) to 1,000 people at 10:30.', "the u.s. said hello -lrb- twice -rrb- to 1,000 people at 10:30"),
        ("Dogs' toys: 50% off!", "dogs toys 50 % off"),
        ("", ""),
        ("  Hello\nWORLD  ", "hello world"),
    ],
)
def test_ptb_tokenize(text, expected):
    assert ptb_tokenize(text) == expected


# ------------------------------------------------------------------------------------------------ BLEU


def test_coco_bleu_hand_computed_precisions_and_smoothing():
    # hyp "the cat sat on the mat" vs ref "the cat is on the mat": matched 1-grams 5/6, 2-grams 3/5, 3-grams 1/4,
    # 4-grams 0/3 -> BLEU-2 = sqrt(5/6 * 3/5) = sqrt(0.5); BLEU-4 = (0.125 * 1e-15 / 3) ** 0.25 (tiny/small smoothing)
    scores, per_sentence = coco_bleu(["the cat sat on the mat"], [["the cat is on the mat"]])
    assert scores[0] == pytest.approx(5 / 6, rel=1e-6)
    assert scores[1] == pytest.approx(math.sqrt(0.5), rel=1e-6)
    assert scores[3] == pytest.approx((0.125 * 1e-15 / (3 + 1e-9)) ** 0.25, rel=1e-3)
    assert len(per_sentence) == 4 and len(per_sentence[0]) == 1


def test_coco_bleu_closest_reference_length():
    # hyp length 5, refs of length 2 and 7: "closest" picks 7 -> BP = exp(1 - 7/5); all unigrams match ref 2
    scores, _ = coco_bleu(["a b c d e"], [["a b", "a b c d e f g"]])
    assert scores[0] == pytest.approx(math.exp(1 - 7 / 5), rel=1e-6)
    # equal distance (refs of 3 and 5 for a 4-word hyp): the shorter wins -> 3 < 4, no brevity penalty
    scores, _ = coco_bleu(["a b c d"], [["a b c", "a b c d e"]])
    assert scores[0] == pytest.approx(1.0, rel=1e-6)


def test_paper_bleu_swaps_hypotheses_and_references():
    # hyp "a b c" ref "a b c d e f".  Unswapped: p1 = 3/3 but BP = exp(1 - 6/3) -> BLEU-1 = e^-1.
    # Swapped (reference scored against the hypothesis): p1 = 3/6, the "test" is longer -> no BP -> BLEU-1 = 0.5,
    # BLEU-2 = sqrt(3/6 * 2/5).
    plain = paper_bleu(["A b, c."], ["a B c d e f!"], swap=False)
    assert plain.bleu[0] == pytest.approx(100 * math.exp(-1), rel=1e-6)
    swapped = paper_bleu(["A b, c."], ["a B c d e f!"])
    assert swapped.bleu[0] == pytest.approx(50.0, rel=1e-6)
    assert swapped.bleu[1] == pytest.approx(100 * math.sqrt(0.5 * 0.4), rel=1e-6)
    assert "paper-compatible" in swapped.label and "swapped" in swapped.label
    assert (swapped.hyp_len, swapped.ref_len) == (3, 6)


def test_paper_bleu_identical_and_empty():
    identical = paper_bleu(["The cat sat on the mat.", "Hello there, friend!"], ["the cat sat on the mat", "hello there friend"])
    assert identical.bleu4 == pytest.approx(100.0, abs=1e-6)
    empty = paper_bleu(["", ""], ["the cat sat on the mat", "hello there friend"])
    assert empty.bleu4 == pytest.approx(0.0, abs=1e-6)
    assert paper_bleu([""], ["x y"], swap=False).bleu4 == pytest.approx(0.0, abs=1e-6)


def test_sacrebleu_hand_computed_and_signature():
    # 13a tokens; precisions 5/6, 3/5, 2/4, 1/3, equal lengths -> BLEU = (5/6 * 3/5 * 1/2 * 1/3) ** 0.25
    result = sacrebleu_bleu(["the cat sat on the mat"], ["the cat sat on a mat"])
    assert result.score == pytest.approx(100 * (5 / 6 * 3 / 5 * 1 / 2 * 1 / 3) ** 0.25, rel=1e-6)
    assert result.signature.startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:")
    assert sacrebleu_bleu(["four words right here"], ["four words right here"]).score == pytest.approx(100.0)
    # no 4-gram at all (3 words): sacreBLEU scores 0, as it should
    assert sacrebleu_bleu(["three words here"], ["three words here"]).score == 0.0
    assert sacrebleu_bleu([""], ["some words"]).score == 0.0


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="pair up"):
        paper_bleu(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="empty"):
        rouge_l([], [])
    with pytest.raises(ValueError, match="same number of references"):
        sacrebleu_bleu(["a", "b"], [["a"], ["b", "c"]])


# ----------------------------------------------------------------------------------------------- ROUGE


def test_rouge_l_hand_computed():
    # LCS("a b c d", "a c d e f") = 3 -> P = 3/4, R = 3/5, F(beta=1.2) = 2.44 * 0.45 / (0.6 + 1.44 * 0.75)
    mean, scores = rouge_l(["a b c d"], ["a c d e f"])
    assert mean == pytest.approx(100 * 2.44 * 0.45 / (0.6 + 1.44 * 0.75), rel=1e-9)
    # precision and recall are maximised over references separately: P = 1 (ref 1), R = 0.5 (both)
    mean, _ = rouge_l(["a b"], [["a b c d", "a x"]])
    assert mean == pytest.approx(100 * 2.44 * 0.5 / (0.5 + 1.44), rel=1e-9)
    mean, scores = rouge_l(["Same sentence.", "", "no overlap"], ["same sentence", "something", "at all"])
    assert scores == pytest.approx([100.0, 0.0, 0.0])
    assert mean == pytest.approx(100 / 3)


# ----------------------------------------------------------------------------------------------- CIDEr-D


def test_cider_d_hand_computed():
    # Two sentences, every n-gram in exactly one reference -> idf weight log(2) for all.  Sentence 1, hyp "a b c d"
    # vs ref "a b c d e": cosines 4/(2*sqrt5), 3/(sqrt3*2), 2/(sqrt2*sqrt3), 1/sqrt2; bigram counts 3 vs 4 ->
    # length penalty exp(-1/72); x10.  Sentence 2 is identical -> 10.
    cosines = [4 / (2 * math.sqrt(5)), 3 / (math.sqrt(3) * 2), 2 / (math.sqrt(2) * math.sqrt(3)), 1 / math.sqrt(2)]
    expected_1 = sum(cosines) / 4 * math.exp(-1 / 72) * 10
    mean, scores = cider_d(["a b c d", "f g h i j"], ["a b c d e", "f g h i j"])
    assert scores[0] == pytest.approx(expected_1, rel=1e-9)
    assert scores[1] == pytest.approx(10.0, rel=1e-9)
    assert mean == pytest.approx((expected_1 + 10) / 2, rel=1e-9)


def test_cider_d_clipping_and_empty():
    # "a a a a" vs "a b c d": the repeated unigram is clipped to the reference weight: 1 * 1 / (4 * 2) per log2^2
    # -> unigram cosine 1/8 ... times length penalty (bigram counts 3 vs 3 -> 1); higher orders 0.
    _, scores = cider_d(["a a a a", "x y z w"], ["a b c d", "x y z w"])
    assert scores[0] == pytest.approx((1 / 8) / 4 * 10, rel=1e-9)
    _, scores = cider_d(["", "x y z w"], ["a b c d", "x y z w"])
    assert scores[0] == 0.0


# ------------------------------------------------------------------------------------------ word-set IoU


def test_word_iou_hand_computed():
    # content lemmas {child, run, home} vs {child, run, house} -> 2 / 4
    mean, scores = word_iou(["The children were running home"], ["A child runs to his house"])
    assert mean == pytest.approx(50.0)
    _, scores = word_iou(["", "the of and", "cats", "dogs bark"], ["something", "a the", "Cats!", "birds sing"])
    assert scores == pytest.approx([0.0, 100.0, 100.0, 0.0])


# ------------------------------------------------------------------------------------ optional metrics


def test_llm_judge_with_fake_client(tmp_path):
    prompts = []

    def client(prompt: str) -> str:
        prompts.append(prompt)
        return "4\nClose in meaning." if "cat" in prompt.split("Candidate:")[1].splitlines()[0] else "Score: 1 - unrelated"

    judge = LLMJudge(client)
    mean, scores = judge(["the cat sleeps", "blue sky"], ["a cat is sleeping", "the dog runs"])
    assert scores == [4, 1] and mean == 2.5
    assert "Reference: a cat is sleeping" in prompts[0]
    (tmp_path / "bad.txt").write_text("no fields")
    with pytest.raises(ValueError, match="reference"):
        LLMJudge(client, tmp_path / "bad.txt")
    with pytest.raises(ValueError, match="no score"):
        LLMJudge.parse_score("excellent translation")


def test_bleurt_needs_an_existing_checkpoint(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        bleurt_score(["a"], ["a"], tmp_path / "missing")


def test_compute_slt_metrics_report_keys():
    results = compute_slt_metrics(["the cat sat on the mat"], ["the cat sat on the mat"])
    assert results["bleu4_sacrebleu"] == pytest.approx(100.0)
    assert results["bleu4_paper_compatible"] == pytest.approx(100.0, abs=1e-6)
    assert results["rouge_l"] == pytest.approx(100.0)
    assert "tok:13a" in results["sacrebleu_signature"]


# ---------------------------------------------------------------------------------- evaluate modules


def test_local_evaluate_modules_load_offline():
    import evaluate
    bleu = evaluate.load(str(METRICS_DIR / "signllm_slt"), "sacrebleu")
    out = bleu.compute(predictions=["the cat sat on the mat"], references=["the cat sat on a mat"])
    assert out["score"] == pytest.approx(100 * (5 / 6 * 3 / 5 * 1 / 2 * 1 / 3) ** 0.25, rel=1e-6)
    assert out["signature"].startswith("nrefs:1")
    paper = evaluate.load(str(METRICS_DIR / "signllm_slt"), "paper")
    out = paper.compute(predictions=["A b, c."], references=["a B c d e f!"])
    assert out["bleu"][0] == pytest.approx(50.0) and "paper-compatible" in out["label"]
    rouge = evaluate.load(str(METRICS_DIR / "signllm_slt"), "rouge_l")
    assert rouge.compute(predictions=["a b c d"], references=["a c d e f"])["rouge_l"] == pytest.approx(65.357142857)
    cider = evaluate.load(str(METRICS_DIR / "signllm_slt"), "cider_d")
    assert cider.compute(predictions=["f g h i j", "a b"], references=["f g h i j", "c d"])["cider_d"] == pytest.approx(5.0)
    iou = evaluate.load(str(METRICS_DIR / "signllm_slt"), "word_iou")
    assert iou.compute(predictions=["children running"], references=["a child runs"])["word_iou"] == pytest.approx(100.0)
    everything = evaluate.load(str(METRICS_DIR / "signllm_slt"))
    hyps, refs = ["the cat sat on the mat", "hello there friend"], ["the cat sat on the mat", "hello there my friend"]
    assert everything.compute(predictions=hyps, references=refs) == compute_slt_metrics(hyps, refs)
    with pytest.raises(ValueError, match="unknown configuration"):
        evaluate.load(str(METRICS_DIR / "signllm_slt"), "bleu")


def test_matches_pycocoevalcap():
    """Optional cross-check against the reference package itself (not a dependency: it ships 100 MB of jars)."""
    import contextlib
    import io
    import random

    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    rng = random.Random(0)
    vocab = ["a", "b", "c", "d", "e", "f", "the", "cat"]
    for _ in range(10):
        n = rng.randint(2, 6)
        hyps = [" ".join(rng.choice(vocab) for _ in range(rng.randint(1, 10))) for _ in range(n)]
        refs = [[" ".join(rng.choice(vocab) for _ in range(rng.randint(1, 10))) for _ in range(rng.randint(1, 3))]
                for _ in range(n)]  # fmt: skip
        gts, res = dict(enumerate(refs)), {i: [h] for i, h in enumerate(hyps)}
        with contextlib.redirect_stdout(io.StringIO()):
            reference_bleu, _ = Bleu(4).compute_score(gts, res)
        assert coco_bleu(hyps, refs)[0] == pytest.approx(reference_bleu, rel=1e-12)
        assert rouge_l(hyps, refs, tokenize=False)[0] == pytest.approx(100 * Rouge().compute_score(gts, res)[0])
        assert cider_d(hyps, refs, tokenize=False)[0] == pytest.approx(Cider().compute_score(gts, res)[0])
