"""signllm align: align subtitles to the signing of a whole video (SSA per subtitle + monotone DTW).

Examples::

    signllm align episode.npz subtitles.vtt -o aligned.vtt --model checkpoints/signllm
    signllm align episode.mp4 subtitles.srt -o aligned.srt --model checkpoints/signllm \\
        --eaf aligned.eaf --plot aligned.png --json aligned.json --ground-truth manual.vtt

The input is a keypoint file (``.pose`` / ``.npz`` / ``.npy`` / Kaggle ``.parquet``, see ``signllm extract``) or a
video (keypoints are extracted first, which needs MediaPipe). The subtitles' own times are the prior: each
window is centred on it, and a subtitle without a usable prediction keeps it. Outputs: the aligned subtitles
(VTT or SRT by the ``-o`` suffix), optionally an ELAN file with prior / aligned / predicted / confidence tiers,
a PNG timeline and a JSON report; with ``--ground-truth`` the SAT metrics of the prior and of the alignment are
printed.

Every cue of the input comes out. A cue with a negative start or an end before its start is repaired (negative
times clipped to 0, then start and end swapped), aligned like the others and flagged: ``prior_repaired`` in the
JSON, a ``prior repaired`` tier in the ELAN file, a line in the summary. A cue whose times cannot be read at all
stops the command (exit 2) with its line number. Undecodable bytes in the subtitle file become U+FFFD with a warning
naming the lines.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

INFERENCE_DTYPES = ("float32", "bfloat16", "float16")
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".mpg", ".mpeg", ".m4v")
KEYPOINT_SUFFIXES = (".pose", ".npz", ".npy", ".parquet")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments shared by ``align`` and ``translate``."""
    parser.add_argument("--model", "-m", required=True, type=Path,
                        help="folder with a saved SignLLM model and processor (save_pretrained)")  # fmt: skip
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="let the model folder run its own Python code (a custom tokenizer class saved with it); "
                        "by default only the installed signllm / transformers classes load it")  # fmt: skip
    parser.add_argument("--lip-features", type=Path, help="lip-reader features of the video: .npy/.npz (t, 768)")
    parser.add_argument("--keypoint-fps", type=float, help="frame rate of a keypoint file that stores none")
    parser.add_argument("--num-beams", type=int, default=5, help="beam search width [paper: 5]")
    parser.add_argument("--batch-size", type=int, default=16, help="windows per forward pass")
    parser.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    parser.add_argument("--dtype", choices=INFERENCE_DTYPES, default="float32",
                        help="weights for inference: bfloat16 halves the memory and runs faster on GPUs and CPUs "
                             "with bf16 units; float16 keeps Flan-T5's `wo` in fp32 (default: float32)")  # fmt: skip
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="video or keypoint file")
    parser.add_argument("subtitles", type=Path, help="subtitles to align (.vtt/.srt); their times are the prior")
    parser.add_argument("--output", "-o", type=Path, required=True, help="aligned subtitles (.vtt or .srt)")
    parser.add_argument("--eaf", type=Path, help="also write an ELAN .eaf (prior / aligned / confidence tiers)")
    parser.add_argument("--plot", type=Path, help="also write a PNG timeline of the alignment")
    parser.add_argument("--json", type=Path, help="also write a JSON report (prior, raw prediction, confidence)")
    parser.add_argument("--ground-truth", type=Path, help="manually aligned subtitles: plotted and scored (SAT)")
    parser.add_argument("--no-prior-prompt", action="store_true", help="do not put the prior in the SSA prompt")
    parser.add_argument("--unconstrained", action="store_true", help="free decoding instead of the 'sss eee' grammar")
    parser.add_argument("--alpha", type=float, default=0.2, help="plateau fraction of the DTW profile [paper: 0.2]")
    parser.add_argument("--dtw-normalize", choices=("mass", "none"), default="mass",
                        help="per-subtitle profile weighting in the DTW (see signllm.train.inference.alignment)")  # fmt: skip
    add_model_arguments(parser)


# -------------------------------------------------------------------------------------------------- loading


def load_model_and_processor(
    path: Path, device: str | None = None, dtype: str = "float32", trust_remote_code: bool = False
):
    """A saved SignLLM model for inference (eval mode, on ``device``, in ``dtype``) and its processor, with the
    installed classes.

    No Python file of the folder runs unless ``trust_remote_code`` (``--trust-remote-code``): a folder whose
    tokenizer needs its own code is refused with a ``ValueError`` that says so. A folder that references its base
    LM loads it from its id or path (``SignLLMForConditionalGeneration.from_pretrained``). DoRA adapters are folded
    into the T5 weights here (in fp32, before any cast): an unmerged DoRA layer recomputes its weight norm over the
    whole base weight at every decoding step, which made beam search several times slower
    (``tests/benchmarks/bench_speed.py``); the merged model computes the same function.
    """
    import torch
    from signllm.modeling_signllm import SignLLMForConditionalGeneration
    from signllm.processing_signllm import SignLLMProcessor

    if not path.is_dir():
        raise FileNotFoundError(f"model folder not found: {path}")
    if dtype not in INFERENCE_DTYPES:
        raise ValueError(f"dtype={dtype!r}; allowed: {', '.join(INFERENCE_DTYPES)}")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        processor = SignLLMProcessor.from_pretrained(path, trust_remote_code=trust_remote_code)
    except ValueError as error:
        if trust_remote_code or "trust_remote_code" not in str(error):
            raise
        raise ValueError(f"{path} holds code of its own (a custom tokenizer or processor class), which is not run "
                         "unless you pass --trust-remote-code; read it first.") from error  # fmt: skip
    model = SignLLMForConditionalGeneration.from_pretrained(path, dtype=torch.float32).eval()
    if model.config.use_dora:
        model.merge_dora()
    model = cast_for_inference(model, getattr(torch, dtype)).to(device)
    return model, processor


def cast_for_inference(model, dtype):
    """``model.to(dtype)``, except that float16 keeps the modules in ``_keep_in_fp32_modules`` (T5's ``wo``, whose
    output overflows in fp16) in fp32, as transformers' ``from_pretrained(dtype=float16)`` does."""
    import torch

    model = model.to(dtype)
    if dtype == torch.float16:
        keep = set(getattr(model, "_keep_in_fp32_modules", None) or ())
        for name, module in model.named_modules():
            if name.rsplit(".", 1)[-1] in keep:
                module.float()
    return model


def load_pose(path: Path, processor, keypoint_fps: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints of the whole video at the model rate: ``(values (t, 203, 3), mask (t, 203))``, raw.

    Files and extracted videos go through the processor's one keypoint path (``processor.load_keypoints``: the
    readers, joint selection, frame-rate checks and resampling that training and the pipeline use), which also warns
    when the keypoints come from another extractor than the model was trained on; implausible joints are masked
    (with a warning that counts them, `SignLLMProcessor.screen_keypoints`). Videos are extracted like
    ``signllm extract`` does (legacy graph when ``$SIGNLLM_LEGACY_PYTHON`` is set, else the Tasks API).
    """
    if not path.is_file():
        raise FileNotFoundError(f"input not found: {path}")
    suffix = path.suffix.lower()
    if suffix in KEYPOINT_SUFFIXES:
        source = path
    elif suffix in VIDEO_SUFFIXES:
        from signllm.pipeline_signllm import video_extract_kwargs
        from signllm.processing.extract import extract_keypoints

        try:
            source = extract_keypoints(path, **video_extract_kwargs(None, None))
        except Exception as error:  # MediaPipe missing / model asset missing / no person: say what to do
            raise ValueError(f"could not extract keypoints from {path}: {error}. Run `signllm extract` first and "
                             "pass the keypoint file instead.") from error  # fmt: skip
    else:
        raise ValueError(f"unsupported input {path}: expected a video ({', '.join(VIDEO_SUFFIXES)}) or keypoints "
                         f"({', '.join(KEYPOINT_SUFFIXES)})")  # fmt: skip
    seq = processor.load_keypoints(source, fps=keypoint_fps)
    if seq.values.shape[0] == 0:
        raise ValueError(f"{path} holds no frames")
    return processor.screen_keypoints(seq.values, seq.mask, path)  # once per video, not once per window


def load_lip(path: Path | None, num_frames: int) -> np.ndarray | None:
    """Lip features ``(t, f)`` at the model frame rate (``.npy``, or ``.npz`` with ``features``/``values``)."""
    if path is None:
        return None
    if path.suffix.lower() == ".npz":
        with np.load(path) as data:
            key = next((k for k in ("features", "values", "lip") if k in data), None)
            if key is None:
                raise ValueError(f"{path}: expected an array named 'features' or 'values'")
            array = data[key]
    else:
        array = np.load(path)
    if array.ndim != 2:
        raise ValueError(f"{path}: lip features must be (frames, width), got shape {array.shape}")
    if abs(len(array) - num_frames) > 2:
        print(f"warning: {len(array)} lip frames vs {num_frames} pose frames; using the common part", file=sys.stderr)
    return array.astype(np.float32)


# ------------------------------------------------------------------------------------------------------ run


def _print_summary(results, output: Path) -> None:
    sources = {source: sum(r.source == source for r in results) for source in ("aligned", "dtw_dropped", "prior")}
    confidences = [r.confidence for r in results if r.confidence is not None]
    mean = f", mean confidence {np.mean(confidences):.3f}" if confidences else ""
    print(f"aligned {sources['aligned']} / {len(results)} subtitles ({sources['prior']} kept the prior, "
          f"{sources['dtw_dropped']} dropped by the DTW{mean}) -> {output}")  # fmt: skip
    repaired = sum(r.prior_repaired is not None for r in results)
    if repaired:
        print(f"{repaired} subtitle(s) had invalid times in the input: their prior was repaired and they were aligned "
              "(flagged as prior_repaired in --json, tier 'prior repaired' in --eaf)")  # fmt: skip


def _score_against(results, prior, ground_truth) -> None:
    from signllm.train.evaluation.cli import format_table
    from signllm.train.evaluation.ssa_metrics import evaluate_alignment

    if len(ground_truth) != len(results):
        print(f"warning: ground truth has {len(ground_truth)} cues, the subtitles {len(results)}: not scored",
              file=sys.stderr)
        return
    rows = {}
    for name, predicted in (("prior", prior), ("aligned", results)):
        metrics = evaluate_alignment([(predicted, ground_truth)])
        rows[name] = " ".join(f"{key} {metrics[key]:.2f}" for key in ("frame_accuracy", "f1@0.10", "f1@0.25", "f1@0.50"))
    print(format_table(rows, "SAT metrics against the ground truth"))


def read_subtitles_to_align(path: Path) -> list:
    """The subtitles to align: every cue is kept. Negative or reversed times are repaired (warned, and flagged as
    ``prior_repaired`` in the JSON and the ``.eaf``); a cue whose times cannot be read at all is an error, since it
    cannot be placed, and so is a file without cues. Empty cues (legal WebVTT) have nothing to align: warned."""
    from signllm.datasets_scripts.subtitles import parse_subtitle_file, warn_cue_problems

    parsed = parse_subtitle_file(path, repair_times=True)
    unreadable = [cue for cue in parsed.skipped if cue.malformed]
    if unreadable:
        shown = "; ".join(f"line {cue.line}: {cue.reason}" for cue in unreadable[:5])
        more = f" (+{len(unreadable) - 5} more)" if len(unreadable) > 5 else ""
        raise ValueError(f"{path}: {len(unreadable)} cue(s) cannot be aligned because their times cannot be read "
                         f"({shown}{more}); fix them and run again")  # fmt: skip
    warn_cue_problems(parsed, path)
    if not parsed.subtitles:
        raise ValueError(f"{path} has no subtitles")
    return parsed.subtitles


def run(args: argparse.Namespace) -> int:
    from signllm.datasets_scripts.subtitles import read_subtitles

    from .alignment import align_subtitles, model_span_predictor
    from .export import write_aligned_subtitles, write_alignment_json, write_elan
    from .plot import plot_alignment

    try:
        if args.output.suffix.lower() not in (".vtt", ".srt"):
            raise ValueError(f"--output must end in .vtt or .srt, got {args.output}")
        subtitles = read_subtitles_to_align(args.subtitles)
        ground_truth = read_subtitles(args.ground_truth) if args.ground_truth else None
        model, processor = load_model_and_processor(args.model, args.device, dtype=args.dtype,
                                                    trust_remote_code=args.trust_remote_code)  # fmt: skip
        pose_values, pose_mask = load_pose(args.input, processor, args.keypoint_fps)
        lip_values = load_lip(args.lip_features, len(pose_values))
    except (ValueError, FileNotFoundError) as error:
        print(f"signllm align: error: {error}", file=sys.stderr)
        return 2

    predict = model_span_predictor(model, processor, pose_values, pose_mask, lip_values, num_beams=args.num_beams,
                                   use_prior=not args.no_prior_prompt, constrained=not args.unconstrained)
    results = align_subtitles(subtitles, len(pose_values), predict, fps=processor.fps, num_frames=processor.num_frames,
                              batch_size=args.batch_size, alpha=args.alpha, normalize=args.dtw_normalize,
                              progress=not args.no_progress)  # fmt: skip
    write_aligned_subtitles(results, args.output)
    _print_summary(results, args.output)
    media = args.input if args.input.suffix.lower() in VIDEO_SUFFIXES else None
    if args.eaf:
        write_elan(results, args.eaf, media_path=media, ground_truth=ground_truth)
        print(f"wrote {args.eaf}")
    if args.plot:
        gt_for_plot = None
        if ground_truth is not None:  # pair by position in the files (read_subtitles keeps it in `index`)
            by_index = {cue.index: cue for cue in ground_truth}
            gt_for_plot = [by_index.get(item.index) for item in results]
            gt_for_plot = None if any(cue is None for cue in gt_for_plot) else gt_for_plot
        plot_alignment(results, args.plot, ground_truth=gt_for_plot)
        print(f"wrote {args.plot}")
    if args.json:
        write_alignment_json(results, args.json, input=str(args.input), subtitles=str(args.subtitles),
                             model=str(args.model), fps=processor.fps, window_frames=processor.num_frames,
                             num_beams=args.num_beams, alpha=args.alpha, dtw_normalize=args.dtw_normalize)  # fmt: skip
        print(f"wrote {args.json}")
    if ground_truth is not None:
        _score_against(results, subtitles, ground_truth)
    return 0
