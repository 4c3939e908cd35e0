"""``signllm demo``: the whole system on a generated demo corpus, offline, in minutes on a CPU.

    signllm demo                      # default budget (< 10 min on 2 CPU cores), writes ./signllm-demo/
    signllm demo --quick              # shorter budget (< 3 min; what CI runs)
    signllm demo --output /tmp/demo --seed 1

Steps, all through the real code paths (nothing here re-implements a trainer, a metric or the alignment):

1. generate the procedural demo corpus (`signllm.train.demo.corpus`: an animated 203-joint signer with a
   20-word invented vocabulary — it exercises the pipeline and says nothing about sign-language accuracy) and
   prepare it with the BOBSL builder (``signllm data prepare bobsl``);
2. ISLR pretraining of the pose backbone (`signllm.train.islr.recipe.train_islr`) on the corpus's isolated sign clips,
   exported for the SLT model;
3. SLT curriculum stages 1, 2, 3 and multitask finetuning (`signllm.train.slt.recipe.train_stage`) of the tiny preset;
4. on the held-out test episodes, for the untrained model (same architecture and seed, no training) and the
   trained one: full-video translation of every sentence (BLEU-4, ROUGE-L, CIDEr-D, word IoU) and full-video
   alignment of the audio-aligned subtitles (frame accuracy, CB-Acc, F1@0.10/0.25/0.50, SAT protocol);
5. write the aligned / translated subtitles and the alignment plot, save a Hub-ready folder and reload it with
   ``pipeline("sign-translation", trust_remote_code=True)``.

The demo model is the ``tiny`` preset, pose-only (``use_lip=False``: the demo signer has no video, so there are
no lip-reading features), run at 12.5 fps (the 25-fps corpus is resampled on load) with a 3.84 s window (48
frames) instead of the paper's 20 s at 25 fps, a narrower AGCN (``agcn_in_channels=4``), a wider tiny LM (d_model
64) with initialisation scaled to its width and no dropout (`demo_model_overrides` says why), the whole tiny LM
trained instead of DoRA adapters on a frozen LM (``use_dora=False``: the tiny LM is random, not Flan-T5), 50 % SSA
samples in stages 3 / finetune (paper: 20 %), and a word-level tokenizer built in code for the 20-word vocabulary
(every word and digit one token; no download). These are CPU-budget choices for a minutes-long demo, all passed
as config overrides; the code paths are the paper configuration's.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from signllm.datasets_scripts.manifest import write_json
from signllm.train.demo import corpus as demo_corpus

logger = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------------ budgets
@dataclass(frozen=True)
class DemoBudget:
    """How much the demo generates and trains. Steps were tuned so the trained model clearly beats the untrained
    one on the held-out episodes within the time limit on 2 CPU cores."""

    name: str
    episodes: dict[str, int]
    islr_epochs: float
    islr_max_clips: int
    stage_steps: dict[str, int]
    batch_size: int
    learning_rate: float
    num_beams: int


BUDGETS = {
    "quick": DemoBudget("quick", {"train": 24, "val": 1, "test": 3}, 2, 800,
                        {"1": 10, "2": 300, "3": 60, "finetune": 40}, 4, 1e-3, 2),
    "default": DemoBudget("default", {"train": 48, "val": 1, "test": 3}, 2, 800,
                          {"1": 20, "2": 450, "3": 250, "finetune": 120}, 4, 1e-3, 2),
}  # fmt: skip

MODEL_FPS = 12.5  # the corpus is written at 25 fps and resampled on load: half the frames, half the CPU time
WINDOW_FRAMES = 48  # 3.84 s: a demo sentence (~2-3 s) plus context; the paper uses 500 frames (20 s at 25 fps)
SSA_SHARE = 0.5  # stages 3 / finetune: 50 % SSA samples (paper 20 %), so alignment is learnt within minutes
#: a narrower AGCN than the tiny preset's (8): the 128-joint face graph dominates the CPU time
POSE_OVERRIDES = {"agcn_in_channels": 4}
STAGES = ("1", "2", "3", "finetune")
#: the tiny preset's LM (d_model 32) widened to 64: the backbone is ~95 % of a demo step, so a wider LM and
#: Perceiver cost little time, and learn to read the signing much sooner (held-out BLEU-4 after 300 stage-2 steps:
#: 23 at d_model 32, 28 at 64, 5 at 128)
DEMO_TEXT_OVERRIDES = {"d_model": 64, "d_kv": 16, "d_ff": 128}
DEMO_INITIALIZER_RANGE = DEMO_TEXT_OVERRIDES["d_model"] ** -0.5  # 1/√width of the LM / Perceiver (0.125)
MAX_NEW_TOKENS = 8  # a demo sentence is at most 4 words (one token each) + end of sequence

#: prompt words that become single tokens (besides the vocabulary), so prompts stay short
_PROMPT_WORDS = ("Translate", "the", "sign", "language", "video", "to", "English.", "Align", "subtitle", "signing:",
                 "Prior:")  # fmt: skip


def demo_model_overrides(vocab_size: int) -> dict[str, Any]:
    """``SignLLMConfig.from_preset("tiny", **overrides)`` for the demo: pose-only, 48 frames at 12.5 fps, small vocab.

    ``use_dora=False``: the tiny LM is random, not a pretrained Flan-T5, and adapting a *frozen random* LM through
    low-rank adapters learns far too slowly for a minutes-long demo; without DoRA the curriculum trains the whole
    tiny LM from stage 2 on (its no-DoRA mode, `signllm.train.slt.curriculum`). Stage 1 then trains the Sliding
    Perceiver alone, so the demo gives it few steps.

    A wider LM than the tiny preset's (``DEMO_TEXT_OVERRIDES``), and initialisation scaled to these widths (the
    presets' values are paper-scale):

    - ``initializer_range`` ``DEMO_INITIALIZER_RANGE`` (1/√width) instead of 0.02: with std 0.02 every narrow Linear
      of the Sliding Perceiver shrinks its input several-fold and the visual tokens come out nearly identical for
      every video (tiny preset: between-video std 0.007 of 1.0), so the LM learns the sentence prior and never
      looks at the signing;
    - ``tie_word_embeddings=True`` in the text config: T5's scaled decoder output (transformers ≥ 5 always shares
      ``lm_head`` with the embeddings; ``False`` only turns the ``d_model^-0.5`` output scaling off, which suits the
      trained Flan-T5 head but gives a random tiny LM logits of std √d and a first loss ~3× ln V);
    - no dropout: a few hundred steps on a tiny model, underfitting rather than overfitting.
    """
    no_dropout = {"hidden_dropout": 0.0, "attention_dropout": 0.0}
    return {
        "use_lip": False,
        "use_dora": False,
        "fps": MODEL_FPS,
        "num_frames": WINDOW_FRAMES,
        "initializer_range": DEMO_INITIALIZER_RANGE,
        "pose_config": {**POSE_OVERRIDES, **no_dropout},
        "resampler_config": dict(no_dropout),
        "text_config": {"vocab_size": vocab_size, **DEMO_TEXT_OVERRIDES, "tie_word_embeddings": True,
                        "dropout_rate": 0.0},
    }


def build_demo_tokenizer(folder: str | Path):
    """A word-level T5 (SentencePiece-unigram) tokenizer for the demo vocabulary, built in code and saved.

    Every vocabulary word, the prompt words and every digit is one token (SSA targets need one token per digit);
    any other text falls back to single characters. pad 0 / eos 1 / unk 2 as in T5.
    """
    from transformers import T5Tokenizer

    characters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,:;?!'\"-()"
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    vocab += [(f"▁{word}", -1.0) for word in dict.fromkeys(demo_corpus.VOCABULARY + _PROMPT_WORDS)]
    vocab += [(char, -5.0) for char in characters]
    tokenizer = T5Tokenizer(vocab=vocab, extra_ids=0)
    tokenizer.save_pretrained(str(folder))
    return tokenizer


# ------------------------------------------------------------------------------------------------ CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", "-o", type=Path, default=Path("signllm-demo"), help="where everything is written")
    parser.add_argument("--quick", action="store_true", help="shorter budget (< 3 min on 2 cores; used by CI)")
    parser.add_argument("--seed", type=int, default=0, help="corpus and training seed")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args: argparse.Namespace) -> int:
    try:
        summary = run_demo(args.output, quick=args.quick, seed=args.seed, progress=not args.no_progress,
                           threads=args.threads)  # fmt: skip
    except ValueError as error:
        print(f"signllm demo: error: {error}", file=sys.stderr)
        return 2
    print(summary["report"])
    return 0


# ------------------------------------------------------------------------------------------------ steps
class _Clock:
    """Wall time per step, printed as the demo goes."""

    def __init__(self, total_steps: int, progress: bool):
        from tqdm.auto import tqdm

        self.start = time.perf_counter()
        self.times: dict[str, float] = {}
        self.bar = tqdm(total=total_steps, desc="signllm demo", unit=" step", disable=not progress, position=0)

    def step(self, name: str):
        clock = self

        class _Step:
            def __enter__(self):
                clock.bar.set_postfix_str(name)
                self.begin = time.perf_counter()

            def __exit__(self, *exc):
                clock.times[name] = round(time.perf_counter() - self.begin, 1)
                clock.bar.update(1)
                clock.bar.write(f"  [{clock.times[name]:6.1f} s] {name}")
                return False

        return _Step()

    def close(self) -> float:
        self.bar.close()
        return round(time.perf_counter() - self.start, 1)


def prepare_corpus(root: Path, output: Path, progress: bool):
    """``signllm data prepare bobsl <root> --keypoints <root>/keypoints`` through the datasets code, recorded as
    corpus ``signllm-demo`` (the BOBSL layout, not BOBSL data: model cards must not list it as BOBSL)."""
    from signllm.datasets_scripts import prepare_bobsl
    from signllm.datasets_scripts.prepare import PrepareOptions, run_prepare

    options = PrepareOptions(keypoints_dir=root / "keypoints", sign_language="demo", progress=progress)
    return run_prepare("signllm-demo", prepare_bobsl.build, root, output, options)


def train_islr_backbone(clips: Path, output: Path, budget: DemoBudget, seed: int) -> tuple[Path, dict[str, Any]]:
    """ISLR pretraining of the tiny pose backbone on the corpus's isolated clips (``islr/clips.csv``); returns the
    exported backbone file. (The prepared dataset's ``signs`` rows cut the same clips out of whole episodes; one
    small file per clip loads much faster than an episode per clip.)"""
    from signllm.train.islr.recipe import resolve_config, train_islr

    backbone = output / "pose_backbone.safetensors"
    overrides = [
        f"output_dir={json.dumps(str(output))}",
        f"data.train={json.dumps(str(clips))}",
        f"data.max_samples={budget.islr_max_clips}",
        f"data.target_fps={MODEL_FPS}",
        f"model.overrides={json.dumps({'modality': 'pose', 'pose_config': POSE_OVERRIDES})}",
        f"training.num_train_epochs={budget.islr_epochs}",
        "training.per_device_train_batch_size=32",
        "training.logging_steps=1000",
        "training.save_strategy=\"no\"",  # quoted: YAML reads a bare no as False
        f"training.seed={seed}",
        f"export.backbone_path={json.dumps(str(backbone))}",
    ]
    metrics = train_islr(resolve_config(["islr_tiny_debug"], overrides))
    return backbone, metrics


def stage_config(stage: str, run_dir: Path, prepared: Path, tokenizer_dir: Path, vocab_size: int, budget: DemoBudget,
                 seed: int, backbone: Path) -> dict[str, Any]:  # fmt: skip
    """The run config of one curriculum stage: ``tiny_debug`` + the demo model, data and budget."""
    from signllm.train.slt.curriculum import resolve_config

    steps = budget.stage_steps[stage]
    overrides = {
        "run_dir": str(run_dir),
        "model.overrides": demo_model_overrides(vocab_size),
        "model.tokenizer": str(tokenizer_dir),
        "data.train": [str(prepared)],
        "data.eval": [],
        "data.max_target_tokens": 16,
        **({"data.slt_fraction": 1.0 - SSA_SHARE} if stage in ("3", "finetune") else {}),
        "training.max_steps": steps,
        "training.learning_rate": budget.learning_rate if stage in ("1", "2") else budget.learning_rate / 2,
        "training.warmup_steps": max(1, steps // 10),
        "training.per_device_train_batch_size": budget.batch_size,
        "training.logging_steps": 10_000,
        "training.save_strategy": "no",
        "training.seed": seed,
        "training.data_seed": seed,
        "generation.num_beams": budget.num_beams,
        "generation.max_new_tokens": MAX_NEW_TOKENS,
    }
    if stage == "1":  # what `signllm train slt --stage 1 --backbones FILE` sets (README §3)
        overrides["model.backbones"] = str(backbone)
    return resolve_config(stage, ["tiny_debug"], [f"{key}={json.dumps(value)}" for key, value in overrides.items()])


# ------------------------------------------------------------------------------------------------ evaluation
@dataclass
class HeldOutEpisode:
    episode_id: str
    values: np.ndarray
    mask: np.ndarray
    truth: list  # signing-aligned Subtitles (ground truth)
    prior: list  # audio-aligned Subtitles (SSA prior)


def load_held_out(corpus: demo_corpus.DemoCorpus, split: str = "test", fps: float = MODEL_FPS) -> list[HeldOutEpisode]:
    """Keypoints (resampled to the model's ``fps``) and both subtitle timings of every episode of ``split``."""
    from signllm.datasets_scripts.subtitles import read_subtitles
    from signllm.processing.keypoint_io import read_keypoints

    episodes = []
    for episode_id in corpus.episodes[split]:
        sequence = read_keypoints(corpus.keypoints_path(episode_id), target_fps=fps)
        episodes.append(HeldOutEpisode(
            episode_id, sequence.values, sequence.mask, read_subtitles(corpus.subtitles_path(episode_id)),
            read_subtitles(corpus.subtitles_path(episode_id, "audio-aligned")),
        ))  # fmt: skip
    return episodes


def evaluate_model(model, processor, episodes: list[HeldOutEpisode], num_beams: int, progress: bool,
                   ) -> tuple[dict[str, float], dict[str, Any]]:  # fmt: skip
    """Full-video SLT on every ground-truth sentence and full-video SSA of the audio-aligned subtitles.

    Returns the metric dict and the per-episode outputs (translations, alignment results).
    """
    from signllm.train.evaluation.slt_metrics import compute_slt_metrics
    from signllm.train.evaluation.ssa_metrics import evaluate_alignment
    from signllm.train.inference.alignment import align_subtitles, model_span_predictor
    from signllm.train.inference.translation import model_translator, translate_segments

    hypotheses, references, videos, outputs = [], [], [], {}
    for episode in episodes:
        translate = model_translator(model, processor, episode.values, episode.mask, num_beams=num_beams,
                                     max_new_tokens=MAX_NEW_TOKENS)  # fmt: skip
        segments = [(cue.start, cue.end) for cue in episode.truth]
        translated = translate_segments(segments, translate, fps=processor.fps, num_frames=processor.num_frames,
                                        batch_size=16, progress=False)  # fmt: skip
        hypotheses += [item.text for item in translated]
        references += [cue.text for cue in episode.truth]
        predict = model_span_predictor(model, processor, episode.values, episode.mask, num_beams=num_beams)
        aligned = align_subtitles(episode.prior, len(episode.values), predict, fps=processor.fps,
                                  num_frames=processor.num_frames, batch_size=16, progress=False)  # fmt: skip
        videos.append((aligned, episode.truth))
        outputs[episode.episode_id] = {"translations": translated, "alignment": aligned}
    slt = compute_slt_metrics(hypotheses, [[r] for r in references])
    ssa = evaluate_alignment(videos)
    metrics = {
        "bleu4": float(slt["bleu4_sacrebleu"]),
        "rouge_l": float(slt["rouge_l"]),
        "cider_d": float(slt["cider_d"]),
        "word_iou": float(slt["word_iou"]),
        "frame_accuracy": float(ssa["frame_accuracy"]),
        "cb_accuracy": float(ssa["cb_accuracy"]),
        "f1@0.10": float(ssa["f1@0.10"]),
        "f1@0.25": float(ssa["f1@0.25"]),
        "f1@0.50": float(ssa["f1@0.50"]),
    }
    outputs["_examples"] = list(zip(references, hypotheses))
    return metrics, outputs


def prior_metrics(episodes: list[HeldOutEpisode]) -> dict[str, float]:
    """SSA metrics of the audio-aligned subtitles as they are (what alignment must improve on)."""
    from signllm.train.evaluation.ssa_metrics import evaluate_alignment

    ssa = evaluate_alignment([(episode.prior, episode.truth) for episode in episodes])
    return {key: float(ssa[key]) for key in ("frame_accuracy", "cb_accuracy", "f1@0.10", "f1@0.25", "f1@0.50")}


COLUMNS = (("bleu4", "BLEU-4"), ("rouge_l", "ROUGE-L"), ("cider_d", "CIDEr"), ("word_iou", "IoU"),
           ("frame_accuracy", "Acc"), ("cb_accuracy", "CB-Acc"), ("f1@0.10", "F1@.1"), ("f1@0.25", "F1@.25"),
           ("f1@0.50", "F1@.5"))  # fmt: skip


def format_metric_table(rows: dict[str, dict[str, float]]) -> str:
    """Rows (model name -> metrics) as a fixed-width table; missing metrics print as '-'."""
    header = f"{'':<26}" + "".join(f"{label:>8}" for _, label in COLUMNS)
    lines = [f"{'':<26}{'--- SLT (translation) ---':^32}{'---- SSA (alignment, SAT protocol) ----':^40}", header]
    for name, metrics in rows.items():
        cells = "".join(f"{metrics[key]:>8.2f}" if key in metrics else f"{'-':>8}" for key, _ in COLUMNS)
        lines.append(f"{name:<26}{cells}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ outputs
def write_outputs(outputs: dict[str, Any], episodes: list[HeldOutEpisode], folder: Path) -> dict[str, Path]:
    """Aligned and translated subtitles per held-out episode, an alignment plot of the first one."""
    from signllm.datasets_scripts.subtitles import Subtitle, write_subtitles
    from signllm.train.inference.export import write_aligned_subtitles
    from signllm.train.inference.plot import plot_alignment

    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for k, episode in enumerate(episodes):
        result = outputs[episode.episode_id]
        aligned = folder / f"{episode.episode_id}.aligned.vtt"
        write_aligned_subtitles(result["alignment"], aligned)
        translated = folder / f"{episode.episode_id}.translated.vtt"
        write_subtitles([Subtitle(item.start, item.end, item.text or "(no translation)")
                         for item in result["translations"]], translated)  # fmt: skip
        if k == 0:
            written["aligned subtitles"] = aligned
            written["translations"] = translated
            plot = folder / f"{episode.episode_id}.alignment.png"
            plot_alignment(result["alignment"], plot, ground_truth=episode.truth)
            written["alignment plot"] = plot
    return written


def export_and_reload(model, processor, folder: Path, episode: HeldOutEpisode, num_beams: int) -> dict[str, Any]:
    """Save a Hub-ready folder (DoRA merged, remote code, pipeline) and reload it through the pipeline API."""
    from signllm.datasets_scripts.windows import cut_window
    from signllm.processing_signllm import seconds_to_span
    from signllm.train.hub.push_to_hub import save_for_hub
    from signllm.train.inference.alignment import window_start_for
    from transformers import pipeline

    save_for_hub(model, processor, folder, merge=True)
    pipe = pipeline("sign-translation", model=str(folder), trust_remote_code=True)
    cue = episode.truth[0]
    fps, frames = processor.fps, processor.num_frames
    start = window_start_for(*seconds_to_span(cue.start, cue.end, fps), frames)
    values, frame_mask = cut_window(episode.values, start, frames)
    joints, _ = cut_window(episode.mask, start, frames)
    values, joints = values[frame_mask], joints[frame_mask]
    slt = pipe({"values": values, "mask": joints, "fps": fps}, num_beams=num_beams, max_new_tokens=MAX_NEW_TOKENS)
    # SSA through the pipeline as alignment runs it: a window centred on the (audio-aligned) prior, the prior in
    # seconds of the episode; the window's start in the episode is the pipeline's window_offset
    prior = episode.prior[0]
    start = window_start_for(*seconds_to_span(prior.start, prior.end, fps), frames)
    values, frame_mask = cut_window(episode.values, start, frames)
    joints, _ = cut_window(episode.mask, start, frames)
    ssa = pipe({"values": values[frame_mask], "mask": joints[frame_mask], "fps": fps}, task="ssa", subtitle=cue.text,
               prior=(prior.start, prior.end), num_beams=num_beams, window_offset=max(start, 0) / fps)  # fmt: skip
    return {"reference": cue.text, "translation": slt[0]["translation_text"], "ssa": ssa,
            "truth_span": (cue.start, cue.end)}  # fmt: skip


# ------------------------------------------------------------------------------------------------ main
def _quiet_libraries(progress: bool) -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything is local: never reach for the network
    import transformers

    transformers.logging.set_verbosity_error()
    if not progress:  # also the loading / saving bars of transformers and the Trainer's own
        transformers.utils.logging.disable_progress_bar()
        os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    logging.getLogger("signllm").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning)


def run_demo(output: str | Path, quick: bool = False, seed: int = 0, progress: bool = True,
             threads: int | None = None) -> dict[str, Any]:  # fmt: skip
    """Run every step (module docstring); returns the summary (metrics, paths, timings, the printed report)."""
    _quiet_libraries(progress)
    import torch
    from signllm.configuration_signllm import SignLLMConfig
    from signllm.modeling_signllm import SignLLMForConditionalGeneration
    from signllm.processing_signllm import SignLLMProcessor
    from signllm.train.slt.recipe import train_stage
    from transformers import set_seed

    if threads:
        torch.set_num_threads(threads)
    budget = BUDGETS["quick" if quick else "default"]
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    clock = _Clock(total_steps=4 + len(STAGES) + 2, progress=progress)

    with clock.step("1/5 generate the demo corpus"):
        corpus = demo_corpus.build_demo_corpus(output / "corpus", budget.episodes, seed=seed, progress=False)
    with clock.step("1/5 prepare it (BOBSL builder)"):
        report = prepare_corpus(corpus.root, output / "prepared", progress=False)
        if report.skipped:
            logger.warning("prepare skipped rows: %s", dict(report.skipped))
    prepared = output / "prepared"
    tokenizer_dir = output / "tokenizer"
    tokenizer = build_demo_tokenizer(tokenizer_dir)
    vocab_size = len(tokenizer)

    with clock.step("2/5 ISLR pretraining (pose backbone)"):
        backbone, islr_metrics = train_islr_backbone(corpus.islr_manifest, output / "islr", budget, seed)

    run_dir = output / "runs"
    stage_metrics = {}
    for stage in STAGES:
        with clock.step(f"3/5 SLT stage {stage} ({budget.stage_steps[stage]} steps)"):
            config = stage_config(stage, run_dir, prepared, tokenizer_dir, vocab_size, budget, seed, backbone)
            stage_metrics[stage] = train_stage(config, resume=False)
    final_dir = run_dir / "stagefinetune"

    with clock.step("4/5 evaluate untrained vs trained on held-out episodes"):
        episodes = load_held_out(corpus, "test")
        model = SignLLMForConditionalGeneration.from_pretrained(final_dir).eval()
        processor = SignLLMProcessor.from_pretrained(final_dir)  # the installed class: no folder code runs
        set_seed(seed)
        untrained = SignLLMForConditionalGeneration(SignLLMConfig.from_preset("tiny", **demo_model_overrides(vocab_size)))
        untrained.eval()
        baseline, _ = evaluate_model(untrained, processor, episodes, budget.num_beams, progress)
        trained, outputs = evaluate_model(model, processor, episodes, budget.num_beams, progress)
        rows = {"untrained (random init)": baseline, "trained (demo run)": trained,
                "audio-aligned prior as is": prior_metrics(episodes)}  # fmt: skip
        written = write_outputs(outputs, episodes, output / "results")

    with clock.step("5/5 save the Hub folder and reload it with pipeline()"):
        hub_dir = output / "hub_model"
        reloaded = export_and_reload(model, processor, hub_dir, episodes[0], budget.num_beams)
    total = clock.close()

    table = format_metric_table(rows)
    metrics = {"budget": budget.name, "seed": seed, "rows": rows, "islr": _numbers(islr_metrics),
               "stages": {k: _numbers(v) for k, v in stage_metrics.items()}, "timings_s": clock.times,
               "total_s": total, "pipeline_check": reloaded,
               "corpus": {"episodes": corpus.episodes, "sentences": corpus.num_sentences,
                          "spottings": corpus.num_spottings, "seconds": corpus.seconds}}  # fmt: skip
    (output / "results").mkdir(parents=True, exist_ok=True)
    metrics_path = output / "results" / "metrics.json"
    write_json(metrics_path, metrics, sort_keys=False)
    examples = outputs["_examples"][:5]
    lines = [
        "",
        (f"SignLLM demo ({budget.name} budget) finished in {total:.0f} s. Held-out episodes: "
         f"{', '.join(corpus.episodes['test'])} ({corpus.num_sentences['test']} sentences)."),
        ("(The demo corpus is procedurally generated: these numbers show the pipeline learns, not sign-language "
         "accuracy.)"),
        "",
        table,
        "",
        "Translations of held-out sentences (reference -> trained model):",
        *[f"  {ref!r:<34} -> {hyp!r}" for ref, hyp in examples],
        "",
        f"pipeline('sign-translation', model='{hub_dir}', trust_remote_code=True):",
        f"  SLT  {reloaded['reference']!r} -> {reloaded['translation']!r}",
        (f"  SSA  ground truth {reloaded['truth_span'][0]:.2f}-{reloaded['truth_span'][1]:.2f} s -> predicted "
         f"{reloaded['ssa']['start']:.2f}-{reloaded['ssa']['end']:.2f} s"),
        "",
        "Written:",
        f"  demo corpus (BOBSL layout)   {corpus.root}",
        f"  prepared dataset             {prepared}",
        f"  ISLR backbone                {backbone}",
        *[f"  SLT stage {stage:<18} {run_dir / f'stage{stage}'}" for stage in STAGES],
        *[f"  {name:<28} {path}" for name, path in written.items()],
        f"  all aligned / translated     {output / 'results'}",
        f"  metrics (JSON)               {metrics_path}",
        f"  Hub-ready model folder       {hub_dir}",
        "",
        "Next: signllm align / signllm translate with --model " + str(hub_dir) + " (see README.md).",
    ]
    return {"metrics": metrics, "report": "\n".join(lines), "rows": rows, "paths": written,
            "hub_dir": hub_dir, "metrics_path": metrics_path}  # fmt: skip


def _numbers(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and math.isfinite(float(v))}
