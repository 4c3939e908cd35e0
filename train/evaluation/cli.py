"""signllm evaluate: score predictions against references and print a metrics table (and JSON).

Examples::

    # SLT: one sentence per line (.txt), JSON lines with "prediction"/"reference", or cue texts of a .vtt/.srt
    signllm evaluate --task slt predictions.txt --references references.txt --json metrics.json
    signllm evaluate --task slt predictions.jsonl          # each line has both "prediction" and "reference"

    # SSA (SAT protocol): aligned subtitles vs manually aligned ones; files, or folders matched by file name
    signllm evaluate --task ssa aligned/ --references manually_aligned/

    # ISLR: an .npz with "scores" (n, classes) and "labels" (n,)
    signllm evaluate --task islr islr_scores.npz

SLT reports BLEU-4 twice: sacreBLEU (with its signature) and the paper-compatible number (PTB-lowercased,
punctuation-stripped, pycocoevalcap, hypotheses/references swapped as in the predecessor paper's code), which is
what the published tables of this line of work report; always say which one you quote.
"""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from pathlib import Path

SUBTITLE_SUFFIXES = (".vtt", ".srt")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("predictions", type=Path, help="predictions file (or folder of subtitle files for ssa)")
    parser.add_argument("--references", "-r", type=Path, help="references file/folder (optional for jsonl with both)")
    parser.add_argument("--task", choices=("slt", "ssa", "islr"), default="slt")
    parser.add_argument("--json", type=Path, help="also write the metrics as JSON here")
    parser.add_argument("--bleurt-checkpoint", type=Path, help="local BLEURT checkpoint folder (optional metric)")
    parser.add_argument("--llm-judge", help="'module:function' returning a client Callable[[str], str] (optional)")
    parser.add_argument("--llm-rubric", type=Path, help="rubric template for the LLM judge (default: built-in)")
    parser.add_argument("--fps", type=float, default=25.0, help="frame rate of the SSA evaluation (SAT: 25)")


# -------------------------------------------------------------------------------------------------- readers


def read_sentences(path: Path, field: str | None = None) -> list[str]:
    """Sentences from .txt (one per line), .jsonl/.json (strings, or objects with ``field``), or .vtt/.srt (cue
    texts in file order). Raises ValueError naming the file and the line (or JSON item) of anything malformed."""
    if not path.is_file():
        raise FileNotFoundError(f"file not found: {path}")
    suffix = path.suffix.lower()
    if suffix in SUBTITLE_SUFFIXES:
        from signllm.datasets_scripts.subtitles import read_subtitles

        return [cue.text for cue in sorted(read_subtitles(path), key=lambda cue: cue.index)]
    text = _utf8_text(path)
    if suffix == ".json":
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{error.lineno}: not valid JSON: {error.msg} (column {error.colno})") from None
        if not isinstance(rows, list):
            raise ValueError(f"{path}: expected a JSON list of strings or of objects, got {type(rows).__name__}")
        return [_sentence(row, field, f"{path}: item {number}") for number, row in enumerate(rows, start=1)]
    if suffix == ".jsonl":
        sentences = []
        for number, line in enumerate(text.split("\n"), start=1):  # JSON Lines: "\n"-separated
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number}: not valid JSON: {error.msg} (column {error.colno})") from None
            sentences.append(_sentence(row, field, f"{path}:{number}"))
        return sentences
    return text.splitlines()


def _utf8_text(path: Path) -> str:
    """The file decoded as UTF-8 (a BOM is dropped); ValueError naming the line of an undecodable byte."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        column = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
        raise ValueError(f"{path}:{line}: not valid UTF-8 (byte 0x{raw[error.start]:02x} at column {column}); "
                         "save the file as UTF-8") from None  # fmt: skip


def _sentence(row, field: str | None, where: str) -> str:
    """One JSON row -> its sentence: the row itself when it is a string, else ``row[field]`` (a string).

    A row of the wrong shape is a malformed *file*: ValueError (what the CLI reports), not TypeError.
    """
    if isinstance(row, str):
        return row
    if not isinstance(row, dict):
        shown = f"{type(row).__name__} {json.dumps(row)[:80]}"
        raise ValueError(f"{where}: expected a string or an object with a {field!r} field, got {shown}")  # noqa: TRY004
    if field is None or field not in row:
        raise ValueError(f"{where}: the object has no {field!r} field (fields: {sorted(row)[:10]})")
    if not isinstance(row[field], str):
        raise ValueError(f"{where}: {field!r} must be a string, got {type(row[field]).__name__}")  # noqa: TRY004
    return row[field]


def load_slt_pairs(predictions: Path, references: Path | None) -> tuple[list[str], list]:
    if references is not None and {predictions.suffix.lower(), references.suffix.lower()} <= set(SUBTITLE_SUFFIXES):
        return subtitle_pairs(predictions, references)
    hyps = read_sentences(predictions, "prediction")
    if references is None:
        if predictions.suffix.lower() not in (".jsonl", ".json"):
            raise ValueError("--references is required unless the predictions file is JSON with 'reference' fields")
        refs = read_sentences(predictions, "reference")
    else:
        refs = read_sentences(references, "reference")
    if len(hyps) != len(refs):
        raise ValueError(f"{len(hyps)} predictions but {len(refs)} references: files must have one line per sentence")
    return hyps, refs


def subtitle_pairs(predictions: Path, references: Path) -> tuple[list[str], list[str]]:
    """Predicted and reference cues paired by time (``signllm translate --segments REF`` keeps the reference times):
    each reference cue takes the predicted cue that overlaps it most. A reference cue with none counts as an empty
    translation (``translate`` leaves out segments without a usable output), said in a warning, never dropped."""
    import warnings

    from signllm.datasets_scripts.subtitles import read_subtitles

    predicted, reference = read_subtitles(predictions), read_subtitles(references)
    hyps, missing = [], 0
    for cue in reference:
        overlaps = [(min(cue.end, p.end) - max(cue.start, p.start), p.text) for p in predicted]
        best = max(overlaps, default=(0.0, ""))
        missing += best[0] <= 0
        hyps.append(best[1] if best[0] > 0 else "")
    if missing:
        warnings.warn(f"{predictions}: {missing} of {len(reference)} reference cue(s) of {references} have no "
                      "overlapping predicted cue; counted as empty translations", stacklevel=2)  # fmt: skip
    return hyps, [cue.text for cue in reference]


def load_ssa_videos(predictions: Path, references: Path) -> list[tuple[str, list, list]]:
    """(name, predicted cues, ground-truth cues) per video: two files, or two folders paired by relative path."""
    from signllm.datasets_scripts.subtitles import read_subtitles

    if predictions.is_dir():
        if references is None or not references.is_dir():
            raise ValueError("with a predictions folder, --references must be a folder of ground-truth subtitles")
        gt_files = sorted(p for p in references.rglob("*") if p.suffix.lower() in SUBTITLE_SUFFIXES)
        if not gt_files:
            raise ValueError(f"no .vtt/.srt files in {references}")
        pairs = []
        for gt in gt_files:
            relative = gt.relative_to(references)
            candidates = [predictions / relative, (predictions / relative).with_suffix(".vtt"),
                          (predictions / relative).with_suffix(".srt")]  # fmt: skip
            pred = next((c for c in candidates if c.is_file()), None)
            if pred is None:
                raise FileNotFoundError(f"no prediction for {relative} in {predictions}")
            pairs.append((str(relative), pred, gt))
    else:
        if references is None:
            raise ValueError("--references (ground-truth subtitles) is required for --task ssa")
        pairs = [(predictions.name, predictions, references)]
    return [(name, read_subtitles(pred), read_subtitles(gt)) for name, pred, gt in pairs]


# ------------------------------------------------------------------------------------------------- reporting


def format_table(metrics: dict, title: str) -> str:
    """Two-column text table; floats with 2 decimals."""
    rows = [(key, f"{value:.2f}" if isinstance(value, float) else str(value)) for key, value in metrics.items()]
    width = max(len(key) for key, _ in rows)
    lines = [title, "-" * max(len(title), width + 12)]
    lines += [f"{key:<{width}}  {value}" for key, value in rows]
    return "\n".join(lines)


def _load_client(spec: str):
    import importlib

    module_name, _, attribute = spec.partition(":")
    if not attribute:
        raise ValueError("--llm-judge must look like 'package.module:function'")
    return getattr(importlib.import_module(module_name), attribute)()


def evaluate_slt(args: argparse.Namespace) -> tuple[dict, str]:
    from .slt_metrics import LLMJudge, compute_slt_metrics

    hyps, refs = load_slt_pairs(args.predictions, args.references)
    judge = LLMJudge(_load_client(args.llm_judge), args.llm_rubric) if args.llm_judge else None
    metrics = compute_slt_metrics(hyps, refs, bleurt_checkpoint=args.bleurt_checkpoint, llm_judge=judge)
    signature = metrics.pop("sacrebleu_signature", None)
    table = {
        "BLEU-4 (sacreBLEU)": metrics.get("bleu4_sacrebleu"),
        "BLEU-4 (paper-compatible*)": metrics["bleu4_paper_compatible"],
        "BLEU-1 (paper-compatible*)": metrics["bleu1_paper_compatible"],
        "ROUGE-L": metrics["rouge_l"],
        "CIDEr-D (0-10)": metrics["cider_d"],
        "word-set IoU": metrics["word_iou"],
        "BLEURT": metrics.get("bleurt"),
        "LLM judge (0-5)": metrics.get("llm_judge"),
        "sentences": metrics["num_sentences"],
    }
    table = {key: value for key, value in table.items() if value is not None}
    notes = [f"sacreBLEU signature: {signature}" if signature else "sacreBLEU: skipped (varying number of references)",
             f"* {_paper_label()}"]  # fmt: skip
    if signature:
        metrics["sacrebleu_signature"] = signature
    metrics["bleu4_paper_compatible_label"] = _paper_label()
    return metrics, format_table(table, "SLT metrics") + "\n" + "\n".join(notes)


def _paper_label() -> str:
    from .slt_metrics import PaperBleuResult

    return PaperBleuResult.__dataclass_fields__["label"].default


def evaluate_ssa(args: argparse.Namespace) -> tuple[dict, str]:
    from .ssa_metrics import evaluate_alignment

    videos = load_ssa_videos(args.predictions, args.references)
    for name, pred, gt in videos:
        if len(pred) != len(gt):
            raise ValueError(f"{name}: {len(pred)} predicted cue(s) but {len(gt)} ground-truth cue(s); they are "
                             "paired by position in file order")  # fmt: skip
    metrics = evaluate_alignment([(pred, gt) for _, pred, gt in videos], fps=args.fps)
    table = {"frame accuracy": metrics["frame_accuracy"], "CB-Acc": metrics["cb_accuracy"],
             "F1@0.10": metrics["f1@0.10"], "F1@0.25": metrics["f1@0.25"], "F1@0.50": metrics["f1@0.50"],
             "edit": metrics["edit"], "videos": int(metrics["num_videos"]), "subtitles": int(metrics["num_subtitles"]),
             "frames": int(metrics["num_frames"])}  # fmt: skip
    note = f"SAT protocol: {args.fps:g} fps, span to last GT end + 10 s, '[...]' subtitles excluded, TP/FP/FN summed."
    return metrics, format_table(table, "SSA metrics") + "\n" + note


def evaluate_islr(args: argparse.Namespace) -> tuple[dict, str]:
    import numpy as np

    from .islr_metrics import islr_accuracy

    if not args.predictions.is_file():
        raise FileNotFoundError(f"file not found: {args.predictions}")
    try:
        with np.load(args.predictions) as data:
            if "scores" not in data or "labels" not in data:
                raise ValueError(f"{args.predictions}: expected arrays 'scores' (n, classes) and 'labels' (n,)")
            scores, labels = data["scores"], data["labels"]
    except (OSError, EOFError, zipfile.BadZipFile, AttributeError, ValueError) as error:  # empty/truncated/not .npz
        if str(args.predictions) in str(error):
            raise
        raise ValueError(f"{args.predictions}: not a readable .npz with 'scores' and 'labels' ({error})") from None
    try:
        metrics = islr_accuracy(scores, labels)
    except ValueError as error:
        raise ValueError(f"{args.predictions}: {error}") from None
    return metrics, format_table(metrics, "ISLR metrics")


def run(args: argparse.Namespace) -> int:
    try:
        metrics, table = {"slt": evaluate_slt, "ssa": evaluate_ssa, "islr": evaluate_islr}[args.task](args)
    except (ValueError, FileNotFoundError) as error:
        print(f"signllm evaluate: error: {error}", file=sys.stderr)
        return 2
    print(table)
    if args.json is not None:
        from signllm.datasets_scripts.manifest import write_json

        write_json(args.json, {"task": args.task, **metrics}, sort_keys=False)
        print(f"wrote {args.json}")
    return 0
