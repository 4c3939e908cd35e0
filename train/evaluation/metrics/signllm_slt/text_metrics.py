"""Sign language translation text metrics, each following its reference implementation (architecture.md §7).

This file is the single definition of the text metrics (standard library + sacrebleu + simplemma, imported when
used): ``signllm.train.evaluation.slt_metrics`` re-exports it (adding BLEURT and the LLM judge, which need model
checkpoints or clients) and the `evaluate` module beside it (``signllm_slt.py``) loads it, so the folder works
without signllm installed.

- **BLEU-4, sacreBLEU** (default): `sacrebleu_bleu`, 13a tokenisation, mixed case, with the sacreBLEU signature.
- **BLEU-4, paper-compatible** (`paper_bleu`): how this line of work scored BLEU: PTB-style tokenisation with
  lower-casing and punctuation removal (pycocoevalcap ``PTBTokenizer``), corpus BLEU as pycocoevalcap's
  ``BleuScorer.compute_score(option="closest")`` computes it (1e-9 / 1e-15 smoothing, corpus totals), and, as the
  reference code of the predecessor paper LiTFiC (Jang et al. 2024) does, **hypotheses and references passed in
  swapped order** (the reference is scored as the "test" against the hypothesis as its only "reference"). The swap
  makes the n-gram precisions reference-side (recall-like) and flips the brevity penalty (it now punishes
  hypotheses that are *longer* than the references). Every report labels this number "paper-compatible".
- **ROUGE-L** (`rouge_l`): pycocoevalcap ``Rouge``: LCS precision/recall per reference, max over references,
  F-measure with beta 1.2, mean over sentences.
- **CIDEr-D** (`cider_d`): pycocoevalcap/vrama91 ``CiderD``: n = 1..4, tf-idf with document frequency from the
  references of the test corpus, clipping, Gaussian length penalty sigma = 6, x10.
- **Word-set IoU** (`word_iou`): |H ∩ R| / |H ∪ R| over sets of lemmatised non-stopword words, sentence mean.
- `text_metrics`: all of the above in one dict (what ``signllm evaluate`` and the Trainer report).

PTB tokenisation: pycocoevalcap runs Stanford CoreNLP 3.4.1's Java ``PTBTokenizer -preserveLines -lowerCase``
and then drops the tokens in `PTB_PUNCTUATIONS`. We cannot run Java here, so `ptb_tokenize` re-implements the
rules that matter for English subtitles in Python: lower-casing; contractions split PTB-style (``don't`` ->
``do n't``, ``it's`` -> ``it 's``, ``cannot`` -> ``can not``, ``gonna`` -> ``gon na``); punctuation split off words
except inside numbers (``3.5``, ``1,000``, ``10:30``) and initialisms (``u.s.``); quotes, dashes and ellipses
become PTB tokens (then dropped); brackets become ``-lrb-``/``-rrb-``/... — lower-cased, so, as with the Java
tokenizer plus ``-lowerCase``, they are *not* in the (upper-case) punctuation list and stay. It is an approximation:
rare CoreNLP rules (e.g. ``\\/`` escaping, some abbreviation lists) are not reproduced; since they affect
hypotheses and references the same way their effect on scores is small, but a number computed here is not
guaranteed to equal the Java pipeline's to the last digit.

ROUGE-L, CIDEr-D and the paper BLEU score PTB-tokenised text, as pycocoevalcap's ``COCOEvalCap`` does.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

References = Sequence[str] | Sequence[Sequence[str]]

# pycocoevalcap/tokenizer/ptbtokenizer.py
PTB_PUNCTUATIONS = frozenset(
    ["''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-", "--", "...", ";"]
)

# ----------------------------------------------------------------------------------------------- inputs


def normalize_references(hypotheses: Sequence[str], references: References) -> list[list[str]]:
    """Accept one reference string per hypothesis or a list of references per hypothesis -> ``list[list[str]]``."""
    if isinstance(hypotheses, str) or isinstance(references, str):
        raise ValueError("hypotheses and references must be sequences of strings, not a single string")
    if len(hypotheses) != len(references):
        raise ValueError(f"got {len(hypotheses)} hypotheses but {len(references)} references; they must pair up")
    if not hypotheses:
        raise ValueError("no sentences to score: hypotheses and references are empty")
    refs: list[list[str]] = []
    for position, ref in enumerate(references):
        group = [ref] if isinstance(ref, str) else list(ref)
        if not group or not all(isinstance(item, str) for item in group):
            raise ValueError(f"reference {position} must be a string or a non-empty list of strings, got {ref!r}")
        refs.append(group)
    for position, hyp in enumerate(hypotheses):
        if not isinstance(hyp, str):
            raise ValueError(f"hypothesis {position} must be a string, got {type(hyp).__name__}")
    return refs


# ----------------------------------------------------------------------------------------- PTB tokenizer

_UNICODE = {"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2014": " -- ", "\u2013": " -- ",
            "\u2026": " ... ", "\u00a0": " "}
_BRACKETS = {"(": "-lrb-", ")": "-rrb-", "[": "-lsb-", "]": "-rsb-", "{": "-lcb-", "}": "-rcb-"}
_ABBREVIATIONS = frozenset(
    ["mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "vs", "etc", "inc", "ltd", "co", "corp", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "mt", "ft"]
)
_SPLIT_WORDS = {"cannot": "can not", "gonna": "gon na", "wanna": "wan na", "gotta": "got ta", "gimme": "gim me",
                "lemme": "lem me"}
_CLITICS = ("'s", "'m", "'d", "'ll", "'re", "'ve")
_CLITIC = re.compile(r"^(.+?)('s|'m|'d|'ll|'re|'ve|n't)$")
_INITIALISM = re.compile(r"^(?:[a-z]\.){2,}$")
_NUMBER = re.compile(r"^[+-]?\d[\d,.:/]*\d$|^\d$")


def _split_token(token: str) -> list[str]:
    """PTB rules for one whitespace token (already lower-cased)."""
    if not token:
        return []
    if token in PTB_PUNCTUATIONS or token in ("``", "''"):
        return [token]
    # leading quotes / symbols become their own tokens ("'cause" is rare enough to split too)
    if token[0] in "`'" and len(token) > 1 and token not in _CLITICS:
        return ["`"] + _split_token(token[1:])
    if token[0] in "$#" and len(token) > 1:
        return [token[0]] + _split_token(token[1:])
    # trailing punctuation, innermost last
    trailing: list[str] = []
    while token:
        if token.endswith("..."):
            trailing.insert(0, "...")
            token = token[:-3]
        elif token[-1] in ",;:!?%":
            trailing.insert(0, token[-1])
            token = token[:-1]
        elif token[-1] == "'" and not token.endswith("n't"):
            trailing.insert(0, "'")
            token = token[:-1]
        elif token[-1] == "." and not (_INITIALISM.match(token) or token[:-1] in _ABBREVIATIONS or _NUMBER.match(token)):
            trailing.insert(0, ".")
            token = token[:-1]
        else:
            break
    if not token:
        return trailing
    if token in _SPLIT_WORDS:
        return _SPLIT_WORDS[token].split() + trailing
    match = _CLITIC.match(token)
    if match:
        stem, clitic = match.groups()
        return [stem, clitic] + trailing
    return [token] + trailing


def ptb_tokenize(text: str, remove_punctuation: bool = True) -> str:
    """Lower-cased PTB-style tokens joined by single spaces, PTB punctuation removed (pycocoevalcap semantics).

    >>> ptb_tokenize("Don't worry, it's 3.5 miles -- fine!")
    "do n't worry it 's 3.5 miles fine"
    """
    text = text.replace("\n", " ").lower()
    for source, target in _UNICODE.items():
        text = text.replace(source, target)
    text = text.replace('"', " '' ")  # opening/closing double quotes are both dropped; direction does not matter
    text = re.sub(r"-{2,}", " -- ", text)
    text = re.sub(r"\.{3,}", " ... ", text)
    for bracket, name in _BRACKETS.items():
        text = text.replace(bracket, f" {name} ")
    tokens: list[str] = []
    for raw in text.split():
        tokens.extend(_split_token(raw))
    if remove_punctuation:
        # PUNCTUATIONS is case-sensitive in pycocoevalcap; "-lrb-" (lower-cased by -lowerCase) is not removed.
        tokens = [token for token in tokens if token not in PTB_PUNCTUATIONS]
    return " ".join(tokens)


# ------------------------------------------------------------------------------------ pycocoevalcap BLEU


def _precook(sentence: str, n: int = 4) -> tuple[int, dict[tuple[str, ...], int]]:
    words = sentence.split()
    counts: dict[tuple[str, ...], int] = defaultdict(int)
    for k in range(1, n + 1):
        for i in range(len(words) - k + 1):
            counts[tuple(words[i : i + k])] += 1
    return len(words), counts


def _cook_test(test: str, refs: list[str], n: int) -> dict:
    reflens = []
    maxcounts: dict[tuple[str, ...], int] = {}
    for ref in refs:
        length, counts = _precook(ref, n)
        reflens.append(length)
        for ngram, count in counts.items():
            maxcounts[ngram] = max(maxcounts.get(ngram, 0), count)
    testlen, counts = _precook(test, n)
    correct = [0] * n
    for ngram, count in counts.items():
        correct[len(ngram) - 1] += min(maxcounts.get(ngram, 0), count)
    return {"reflens": reflens, "testlen": testlen, "guess": [max(0, testlen - k + 1) for k in range(1, n + 1)],
            "correct": correct}


def coco_bleu(tests: Sequence[str], references: Sequence[Sequence[str]], n: int = 4) -> tuple[list[float], list[list[float]]]:
    """pycocoevalcap ``Bleu(n).compute_score`` on already-tokenised text: ``BleuScorer(option="closest")``.

    Returns ``([BLEU-1, ..., BLEU-n], per-sentence n-gram scores)`` in [0, 1]; corpus totals of matched and guessed
    n-grams, effective reference length = closest reference length per sentence (ties -> shorter), brevity penalty
    ``exp(1 - 1/ratio)`` when ``ratio = testlen / reflen < 1``, and the reference's ``tiny = 1e-15`` /
    ``small = 1e-9`` smoothing.
    """
    small, tiny = 1e-9, 1e-15
    total_guess, total_correct = [0] * n, [0] * n
    testlen_sum, reflen_sum = 0, 0
    per_sentence: list[list[float]] = [[] for _ in range(n)]
    for test, refs in zip(tests, references):
        comps = _cook_test(test, list(refs), n)
        testlen = comps["testlen"]
        testlen_sum += testlen
        reflen_sum += min((abs(length - testlen), length) for length in comps["reflens"])[1]
        for k in range(n):
            total_guess[k] += comps["guess"][k]
            total_correct[k] += comps["correct"][k]
            per_sentence[k].append(((comps["correct"][k] + tiny) / (comps["guess"][k] + small)) ** (1.0 / (k + 1.0)))
    bleus = []
    ratio = (testlen_sum + tiny) / (reflen_sum + small)
    for nn in range(1, n + 1):
        bleu = 1.0
        for k in range(nn):
            bleu *= (total_correct[k] + tiny) / (total_guess[k] + small)
        bleu = bleu ** (1.0 / nn)
        if ratio < 1:
            bleu *= math.exp(1 - 1 / ratio)
        bleus.append(bleu)
    return bleus, per_sentence


@dataclass
class PaperBleuResult:
    """Paper-compatible corpus BLEU-1..4 (x100) plus the length statistics that explain the brevity penalty."""

    bleu: list[float]
    hyp_len: int
    ref_len: int
    label: str = "BLEU-4 (paper-compatible: PTB-lowercased, punctuation-stripped, pycocoevalcap, hyp/ref swapped)"

    @property
    def bleu4(self) -> float:
        return self.bleu[3]


def paper_bleu(hypotheses: Sequence[str], references: References, swap: bool = True) -> PaperBleuResult:
    """Paper-compatible BLEU (see module docstring). ``swap=False`` gives plain pycocoevalcap BLEU for comparison.

    With ``swap=True`` and several references per sentence, each reference is scored as its own "test" sentence
    against the hypothesis (LiTFiC evaluates single-reference corpora, where this question does not arise).
    """
    refs = normalize_references(hypotheses, references)
    hyps = [ptb_tokenize(h) for h in hypotheses]
    toks = [[ptb_tokenize(r) for r in group] for group in refs]
    if swap:
        tests = [r for group in toks for r in group]
        swapped_refs = [[h] for h, group in zip(hyps, toks) for _ in group]
        scores, _ = coco_bleu(tests, swapped_refs)
    else:
        scores, _ = coco_bleu(hyps, toks)
    hyp_len = sum(len(h.split()) for h in hyps)
    ref_len = sum(len(r.split()) for group in toks for r in group)
    label = PaperBleuResult.__dataclass_fields__["label"].default
    if not swap:
        label = "BLEU-4 (pycocoevalcap: PTB-lowercased, punctuation-stripped)"
    return PaperBleuResult(bleu=[100.0 * s for s in scores], hyp_len=hyp_len, ref_len=ref_len, label=label)


# ---------------------------------------------------------------------------------------------- sacreBLEU


@dataclass
class SacreBleuResult:
    score: float
    precisions: list[float]
    bp: float
    sys_len: int
    ref_len: int
    signature: str
    label: str = "BLEU-4 (sacreBLEU)"


def sacrebleu_bleu(hypotheses: Sequence[str], references: References, **bleu_kwargs) -> SacreBleuResult:
    """Corpus BLEU-4 with sacreBLEU (default 13a tokeniser, mixed case) and its signature string."""
    from sacrebleu.metrics import BLEU

    refs = normalize_references(hypotheses, references)
    num_refs = {len(group) for group in refs}
    if len(num_refs) != 1:
        raise ValueError("sacreBLEU needs the same number of references for every sentence; got counts "
                         f"{sorted(num_refs)}")
    streams = [[group[i] for group in refs] for i in range(num_refs.pop())]
    metric = BLEU(**bleu_kwargs)
    result = metric.corpus_score(list(hypotheses), streams)
    return SacreBleuResult(score=result.score, precisions=list(result.precisions), bp=result.bp,
                           sys_len=result.sys_len, ref_len=result.ref_len, signature=str(metric.get_signature()))


# ------------------------------------------------------------------------------------------------ ROUGE-L


def _lcs(a: list[str], b: list[str]) -> int:
    if len(a) < len(b):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for token in a:
        current = [0] * (len(b) + 1)
        for j, other in enumerate(b, start=1):
            current[j] = previous[j - 1] + 1 if token == other else max(previous[j], current[j - 1])
        previous = current
    return previous[-1]


def rouge_l_sentence(candidate: str, refs: Sequence[str], beta: float = 1.2) -> float:
    """pycocoevalcap ``Rouge.calc_score``: tokens split on single spaces, max precision / recall over references."""
    token_c = candidate.split(" ")
    precisions, recalls = [], []
    for reference in refs:
        token_r = reference.split(" ")
        lcs = _lcs(token_r, token_c)
        precisions.append(lcs / float(len(token_c)))
        recalls.append(lcs / float(len(token_r)))
    prec_max, rec_max = max(precisions), max(recalls)
    if prec_max != 0 and rec_max != 0:
        return ((1 + beta**2) * prec_max * rec_max) / float(rec_max + beta**2 * prec_max)
    return 0.0


def rouge_l(hypotheses: Sequence[str], references: References, tokenize: bool = True) -> tuple[float, list[float]]:
    """Mean ROUGE-L F (beta 1.2) x100 over sentences, and the per-sentence scores (x100)."""
    refs = normalize_references(hypotheses, references)
    prep = ptb_tokenize if tokenize else (lambda s: s)
    scores = [100.0 * rouge_l_sentence(prep(h), [prep(r) for r in group]) for h, group in zip(hypotheses, refs)]
    return sum(scores) / len(scores), scores


# ------------------------------------------------------------------------------------------------ CIDEr-D


def _counts_to_vec(counts, document_frequency, ref_len: float, n: int):
    vec = [defaultdict(float) for _ in range(n)]
    norm = [0.0] * n
    length = 0
    for ngram, term_freq in counts.items():
        df = math.log(max(1.0, document_frequency.get(ngram, 0.0)))
        k = len(ngram) - 1
        vec[k][ngram] = float(term_freq) * (ref_len - df)
        norm[k] += vec[k][ngram] ** 2
        if k == 1:  # the reference counts *bigrams* as the length (kept for exact compatibility)
            length += term_freq
    return vec, [math.sqrt(x) for x in norm], length


def _cider_sim(vec_hyp, vec_ref, norm_hyp, norm_ref, length_hyp, length_ref, n: int, sigma: float) -> list[float]:
    delta = float(length_hyp - length_ref)
    val = [0.0] * n
    for k in range(n):
        for ngram in vec_hyp[k]:
            val[k] += min(vec_hyp[k][ngram], vec_ref[k][ngram]) * vec_ref[k][ngram]  # clipping (CIDEr-D)
        if norm_hyp[k] != 0 and norm_ref[k] != 0:
            val[k] /= norm_hyp[k] * norm_ref[k]
        val[k] *= math.e ** (-(delta**2) / (2 * sigma**2))
    return val


def cider_d(
    hypotheses: Sequence[str], references: References, n: int = 4, sigma: float = 6.0, tokenize: bool = True
) -> tuple[float, list[float]]:
    """CIDEr-D (``CiderD`` of pycocoevalcap / vrama91, ``df="corpus"``): corpus mean and per-sentence scores.

    Document frequencies come from the references of the scored corpus; ``ref_len = log(#sentences)``; each
    sentence score is the mean over n of the clipped, length-penalised tf-idf cosine, averaged over its
    references and multiplied by 10 (so the scale is 0-10, not 0-100).
    """
    refs = normalize_references(hypotheses, references)
    prep = ptb_tokenize if tokenize else (lambda s: s)
    crefs = [[_precook(prep(r), n)[1] for r in group] for group in refs]
    ctest = [_precook(prep(h), n)[1] for h in hypotheses]
    document_frequency: dict[tuple[str, ...], float] = defaultdict(float)
    for group in crefs:
        for ngram in {ngram for ref in group for ngram in ref}:
            document_frequency[ngram] += 1
    ref_len = math.log(float(len(crefs)))
    scores = []
    for test, group in zip(ctest, crefs):
        vec, norm, length = _counts_to_vec(test, document_frequency, ref_len, n)
        total = [0.0] * n
        for ref in group:
            vec_ref, norm_ref, length_ref = _counts_to_vec(ref, document_frequency, ref_len, n)
            total = [a + b for a, b in zip(total, _cider_sim(vec, vec_ref, norm, norm_ref, length, length_ref, n, sigma))]
        scores.append(sum(total) / n / len(group) * 10.0)
    return sum(scores) / len(scores), scores


# -------------------------------------------------------------------------------------------- word-set IoU

# A fixed English stopword list (NLTK's 179-word list, reproduced so nothing is downloaded at run time).
STOPWORDS = frozenset(["i", "me", "my", "myself", "we", "our", "ours", "ourselves", "you", "you're", "you've", "you'll", "you'd", "your", "yours", "yourself", "yourselves", "he", "him", "his", "himself", "she", "she's", "her", "hers", "herself", "it", "it's", "its", "itself", "they", "them", "their", "theirs", "themselves", "what", "which", "who", "whom", "this", "that", "that'll", "these", "those", "am", "is", "are", "was", "were", "be", "been", "being", "have", "has", "had", "having", "do", "does", "did", "doing", "a", "an", "the", "and", "but", "if", "or", "because", "as", "until", "while", "of", "at", "by", "for", "with", "about", "against", "between", "into", "through", "during", "before", "after", "above", "below", "to", "from", "up", "down", "in", "out", "on", "off", "over", "under", "again", "further", "then", "once", "here", "there", "when", "where", "why", "how", "all", "any", "both", "each", "few", "more", "most", "other", "some", "such", "no", "nor", "not", "only", "own", "same", "so", "than", "too", "very", "s", "t", "can", "will", "just", "don", "don't", "should", "should've", "now", "d", "ll", "m", "o", "re", "ve", "y", "ain", "aren", "aren't", "couldn", "couldn't", "didn", "didn't", "doesn", "doesn't", "hadn", "hadn't", "hasn", "hasn't", "haven", "haven't", "isn", "isn't", "ma", "mightn", "mightn't", "mustn", "mustn't", "needn", "needn't", "shan", "shan't", "shouldn", "shouldn't", "wasn", "wasn't", "weren", "weren't", "won", "won't", "wouldn", "wouldn't"])


def content_words(text: str, lemmatize: Callable[[str], str] | None = None) -> set[str]:
    """Lower-cased alphanumeric words, stopwords removed (before and after lemmatisation), lemmatised."""
    lemmatize = lemmatize or _default_lemmatizer()
    words = re.findall(r"[a-z0-9]+(?:'[a-z]+)?", text.lower().replace("\u2019", "'"))
    lemmas = {lemmatize(word) for word in words if word not in STOPWORDS}
    return {lemma for lemma in lemmas if lemma and lemma not in STOPWORDS}


def _default_lemmatizer() -> Callable[[str], str]:
    """simplemma (ships its English data in the wheel, works offline)."""
    try:
        import simplemma
    except ImportError as error:  # pragma: no cover - simplemma is a declared dependency
        raise ImportError("word-set IoU needs `simplemma` for lemmatisation: pip install simplemma") from error
    return lambda word: simplemma.lemmatize(word, lang="en").lower()


def word_iou(
    hypotheses: Sequence[str], references: References, lemmatize: Callable[[str], str] | None = None
) -> tuple[float, list[float]]:
    """Mean word-set IoU x100 and per-sentence IoU (x100); several references -> best reference.

    Convention [ours]: when both word sets are empty the sentence scores 100 (nothing to disagree on); when
    exactly one is empty it scores 0.
    """
    refs = normalize_references(hypotheses, references)
    lemmatize = lemmatize or _default_lemmatizer()
    scores = []
    for hyp, group in zip(hypotheses, refs):
        hyp_words = content_words(hyp, lemmatize)
        best = 0.0
        for ref in group:
            ref_words = content_words(ref, lemmatize)
            union = hyp_words | ref_words
            best = max(best, 1.0 if not union else len(hyp_words & ref_words) / len(union))
        scores.append(100.0 * best)
    return sum(scores) / len(scores), scores


# ----------------------------------------------------------------------------------------------- summary


def text_metrics(hypotheses: Sequence[str], references: References) -> dict[str, float | str]:
    """sacreBLEU (when every sentence has the same number of references), paper-compatible BLEU-4 / BLEU-1,
    ROUGE-L, CIDEr-D and word-set IoU in one dict (x100, CIDEr-D on its 0-10 scale) plus ``num_sentences``."""
    refs = normalize_references(hypotheses, references)
    results: dict[str, float | str] = {}
    if len({len(group) for group in refs}) == 1:
        sacre = sacrebleu_bleu(hypotheses, refs)
        results["bleu4_sacrebleu"] = sacre.score
        results["sacrebleu_signature"] = sacre.signature
    paper = paper_bleu(hypotheses, refs)
    results["bleu4_paper_compatible"] = paper.bleu4
    results["bleu1_paper_compatible"] = paper.bleu[0]
    results["rouge_l"] = rouge_l(hypotheses, refs)[0]
    results["cider_d"] = cider_d(hypotheses, refs)[0]
    results["word_iou"] = word_iou(hypotheses, refs)[0]
    results["num_sentences"] = len(hypotheses)
    return results
