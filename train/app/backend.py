"""Every call the app and ``signllm render`` make into SignLLM's public API, and nothing else.

The rest of ``train/app/`` draws, lays out and serves; translation, alignment, keypoint reading / extraction and
export all happen here, through the same functions ``signllm translate`` / ``signllm align`` / ``signllm extract``
call, with their defaults read from those commands' own argument parsers. So the app has no second path: for the
same inputs its files are the files the commands write (tests/test_app.py checks it). When the public API
changes, this is the one module to adapt.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

import numpy as np
from signllm.datasets_scripts.manifest import write_json
from signllm.datasets_scripts.subtitles import Subtitle, read_subtitles, write_subtitles
from signllm.processing.keypoint_io import KeypointSequence, write_pose
from signllm.processing.video import VideoError, iter_video_frames, probe_video, write_video
from signllm.train.evaluation.ssa_metrics import evaluate_alignment
from signllm.train.inference import cli_align, cli_translate
from signllm.train.inference.alignment import AlignedSubtitle, align_subtitles, model_span_predictor
from signllm.train.inference.export import write_aligned_subtitles, write_alignment_json, write_elan
from signllm.train.inference.translation import TranslatedSegment, model_translator, translate_segments
from signllm.train.inference.translation import uniform_segments as _uniform_segments

VIDEO_SUFFIXES = cli_align.VIDEO_SUFFIXES
KEYPOINT_SUFFIXES = cli_align.KEYPOINT_SUFFIXES
SUBTITLE_SUFFIXES = (".vtt", ".srt")
EXTRACTION_BACKENDS = ("tasks", "legacy")
HUB_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")  # "owner/name"; anything else must be a local folder
METRIC_KEYS = ("frame_accuracy", "cb_accuracy", "f1@0.10", "f1@0.25", "f1@0.50")

__all__ = [
    "AppError", "LoadedModel", "align", "check_reference", "cli_defaults", "extract_video", "frames_of",
    "load_keypoints", "load_model", "pair_ground_truth", "read_subtitle_file", "score_alignment", "translate",
    "uniform_segments", "video_duration", "write_alignment", "write_keypoints", "write_metrics", "write_overlay_video",
    "write_translations",
]  # fmt: skip


class AppError(ValueError):
    """A problem with the user's input, said in words for the page (never a traceback)."""


@cache
def cli_defaults() -> dict[str, object]:
    """Defaults of ``signllm align`` and ``signllm translate`` (num_beams, batch_size, alpha, ...), read from their
    own parsers, so the app uses the very same settings without repeating them."""
    defaults: dict[str, object] = {}
    for module, positional in ((cli_translate, ["in"]), (cli_align, ["in", "subs"])):
        parser = argparse.ArgumentParser()
        module.add_arguments(parser)
        args = parser.parse_args([*positional, "-o", "out.vtt", "--model", "m"])
        defaults.update({k: v for k, v in vars(args).items() if k not in ("input", "subtitles", "output", "model")})
    return defaults


# ------------------------------------------------------------------------------------------------------ model


@dataclass
class LoadedModel:
    """A model in eval mode and its processor, as ``signllm translate`` / ``align`` load them."""

    model: object
    processor: object
    source: str

    @property
    def fps(self) -> float:
        return float(self.processor.fps)

    @property
    def num_frames(self) -> int:
        return int(self.processor.num_frames)


def load_model(source: str, device: str | None = None) -> LoadedModel:
    """A local model folder, or a Hub repo id (downloaded with ``huggingface_hub.snapshot_download`` first), loaded
    with ``cli_align.load_model_and_processor`` (the installed SignLLM classes, as the commands load it)."""
    source = str(source).strip()
    if not source:
        raise AppError("No model given: enter a model folder or a Hugging Face Hub repo id (e.g. me/signllm-bobsl).")
    folder = Path(source).expanduser()
    if not folder.is_dir():
        if not HUB_REPO_ID.fullmatch(source):
            raise AppError(f"Model folder not found: {source}")
        try:
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(source))
        except Exception as error:  # noqa: BLE001 - offline, unknown repo, gated: "cannot load this model"
            raise AppError(f"Could not download the model {source!r} from the Hugging Face Hub: {error}") from None
    try:
        model, processor = cli_align.load_model_and_processor(folder, device)
    except Exception as error:  # noqa: BLE001 - no weights, a wrong config, a broken tokenizer...
        raise AppError(f"Could not load a SignLLM model from {source}: {type(error).__name__}: {error}") from None
    return LoadedModel(model, processor, source)


# -------------------------------------------------------------------------------------------------- keypoints


def video_duration(path: str | os.PathLike) -> float:
    """Seconds of video, from the container header (nothing decoded but the first frame)."""
    try:
        return probe_video(path).duration
    except VideoError as error:
        raise AppError(f"Cannot read this video: {error}") from None


def extract_video(
    path: str | os.PathLike, loaded: LoadedModel | None, fps: float, backend: str | None = None,
    on_frames: Callable[[int], None] | None = None,
) -> KeypointSequence:
    """MediaPipe Holistic keypoints of a video, extracted like ``signllm extract`` / ``signllm translate video.mp4``
    (``extract_keypoints`` with the pipeline's backend choice), then read at the model rate through the processor's
    one keypoint path and screened, as ``cli_align.load_pose`` does; without a model (``signllm render``) they are
    resampled to ``fps`` by the same reader."""
    from signllm.pipeline_signllm import video_extract_kwargs
    from signllm.processing.extract import ExtractionError, NoPersonError, extract_keypoints
    from signllm.processing.holistic_legacy import LegacyBackendUnavailable
    from signllm.processing.model_assets import ModelAssetError

    try:
        options = video_extract_kwargs(backend, None)
        extracted = extract_keypoints(path, **options, on_frames=on_frames)
    except NoPersonError:
        raise AppError("No person was found in this video: MediaPipe detected no body, face or hands in any frame. "
                       "Is the signer in view?") from None  # fmt: skip
    except VideoError as error:
        raise AppError(f"Cannot read this video: {error}") from None
    except (LegacyBackendUnavailable, ModelAssetError, ImportError) as error:
        raise AppError(f"Keypoint extraction ({options.get('backend', backend)} backend) is not available on this "
                       f"server: {error}. Extract the keypoints with `signllm extract` and upload the .pose file "
                       "instead.") from None  # fmt: skip
    except ExtractionError as error:
        raise AppError(f"Keypoint extraction failed: {error}") from None
    return _read_keypoints(extracted, loaded, fps, path)


def load_keypoints(path: str | os.PathLike, loaded: LoadedModel | None, fps: float) -> KeypointSequence:
    """A keypoint file through ``cli_align.load_pose`` (what ``signllm translate clip.pose`` reads) when a model is
    loaded; without one (``signllm render``), the same reader at ``fps``."""
    if not Path(path).is_file():
        raise AppError(f"Cannot read these keypoints: input not found: {path}")
    return _read_keypoints(Path(path), loaded, fps, path)


def _read_keypoints(source, loaded: LoadedModel | None, fps: float, path: str | os.PathLike) -> KeypointSequence:
    from signllm.keypoint_reading import load_keypoints as read_at_rate

    try:
        if loaded is None:
            sequence = read_at_rate(source, fps)
            return KeypointSequence(values=sequence.values, mask=sequence.mask, fps=fps)
        if isinstance(source, Path):
            values, mask = cli_align.load_pose(source, loaded.processor)
        else:
            sequence = loaded.processor.load_keypoints(source)
            values, mask = loaded.processor.screen_keypoints(sequence.values, sequence.mask, path)
    except (ValueError, FileNotFoundError) as error:
        raise AppError(f"Cannot read these keypoints: {error}") from None
    return KeypointSequence(values=values, mask=mask, fps=loaded.fps)


def write_keypoints(sequence: KeypointSequence, path: Path) -> Path:
    """The keypoints as a pose-format ``.pose`` (``signllm extract``'s writer)."""
    write_pose(path, sequence)
    return path


def frames_of(path: str | os.PathLike, fps: float) -> Iterator[np.ndarray]:
    """``(H, W, 3)`` RGB frames at ``fps`` on the extraction's time grid (frame ``k`` = keypoint frame ``k``)."""
    return iter_video_frames(path, fps)


def write_overlay_video(path: Path, frames, fps: float) -> Path:
    """H.264 ``.mp4`` (plays in every browser) through ``signllm.processing.video.write_video``; atomic. The
    ``veryfast`` preset encodes ~3x faster than x264's default at a slightly larger file."""
    return write_video(path, frames, fps=fps, codec="libx264", options={"preset": "veryfast", "crf": "23"})


# ------------------------------------------------------------------------------------------------- subtitles


def read_subtitle_file(path: str | os.PathLike, what: str = "subtitle") -> list[Subtitle]:
    """Cues of a ``.vtt`` / ``.srt`` file (``datasets_scripts.subtitles.read_subtitles``, as the commands read it)."""
    path = Path(path)
    if path.suffix.lower() not in SUBTITLE_SUFFIXES:
        raise AppError(f"The {what} file must be WebVTT (.vtt) or SubRip (.srt), got {path.name!r}.")
    try:
        cues = read_subtitles(path)
    except (ValueError, UnicodeDecodeError) as error:
        raise AppError(f"Cannot read the {what} file {path.name}: {error}") from None
    if not cues:
        raise AppError(f"The {what} file {path.name} holds no cues.")
    return cues


def uniform_segments(duration: float, segment_seconds: float) -> list[tuple[float, float]]:
    """``signllm translate --segment-seconds``: consecutive fixed segments when no sentence times are known."""
    return _uniform_segments(duration, segment_seconds)


# ------------------------------------------------------------------------------------------------- inference


def translate(
    loaded: LoadedModel, sequence: KeypointSequence, segments: Sequence[tuple[float, float]],
    num_beams: int | None = None, progress: bool = False,
) -> list[TranslatedSegment]:  # fmt: skip
    """One translation per segment, as ``signllm translate --segments`` (same translator, batching and defaults)."""
    defaults = cli_defaults()
    translator = model_translator(loaded.model, loaded.processor, sequence.values, sequence.mask, None,
                                  num_beams=num_beams or defaults["num_beams"],
                                  max_new_tokens=defaults["max_new_tokens"])  # fmt: skip
    return translate_segments(segments, translator, fps=loaded.fps, num_frames=loaded.num_frames,
                              batch_size=defaults["batch_size"], progress=progress)  # fmt: skip


def align(
    loaded: LoadedModel, sequence: KeypointSequence, subtitles: Sequence[Subtitle], num_beams: int | None = None,
    progress: bool = False,
) -> list[AlignedSubtitle]:  # fmt: skip
    """SSA per subtitle + the full-video DTW, as ``signllm align`` (prior in the prompt, constrained decoding)."""
    defaults = cli_defaults()
    predict = model_span_predictor(loaded.model, loaded.processor, sequence.values, sequence.mask, None,
                                   num_beams=num_beams or defaults["num_beams"],
                                   use_prior=not defaults["no_prior_prompt"],
                                   constrained=not defaults["unconstrained"])  # fmt: skip
    return align_subtitles(subtitles, sequence.num_frames, predict, fps=loaded.fps, num_frames=loaded.num_frames,
                           batch_size=defaults["batch_size"], alpha=defaults["alpha"],
                           normalize=defaults["dtw_normalize"], progress=progress)  # fmt: skip


def score_alignment(
    results: Sequence[AlignedSubtitle], prior: Sequence[Subtitle], ground_truth: Sequence[Subtitle]
) -> dict[str, dict[str, float]]:
    """SAT metrics (``evaluate_alignment``) of the prior and of the alignment against a manual alignment, as
    ``signllm align --ground-truth`` prints them. Raises `AppError` when the files do not have the same cues."""
    check_reference(results, ground_truth)
    return {name: {key: float(value) for key, value in evaluate_alignment([(cues, ground_truth)]).items()}
            for name, cues in (("prior", prior), ("aligned", results))}  # fmt: skip


def check_reference(subtitles: Sequence, ground_truth: Sequence[Subtitle]) -> None:
    """The reference must hold the same cues as the subtitles (as ``signllm align --ground-truth`` requires)."""
    if len(ground_truth) != len(subtitles):
        raise AppError(f"The reference has {len(ground_truth)} cues but the subtitles {len(subtitles)}: they must be "
                       "the same subtitles, manually aligned, to be scored.")  # fmt: skip


def pair_ground_truth(results: Sequence[AlignedSubtitle], ground_truth: Sequence[Subtitle] | None) -> list | None:
    """Ground-truth cue per result, paired by position in the files (``Subtitle.index``), as ``signllm align
    --plot`` pairs them; None when they do not pair up."""
    if ground_truth is None:
        return None
    by_index = {cue.index: cue for cue in ground_truth}
    paired = [by_index.get(item.index) for item in results]
    return None if any(cue is None for cue in paired) else paired


# ---------------------------------------------------------------------------------------------------- export


def write_alignment(
    results: Sequence[AlignedSubtitle], folder: Path, loaded: LoadedModel, input_name: str, subtitles_name: str,
    media: Path | None = None, ground_truth: Sequence[Subtitle] | None = None, num_beams: int | None = None,
) -> dict[str, Path]:  # fmt: skip
    """``signllm align -o aligned.vtt`` (+ ``.srt``) ``--eaf aligned.eaf --json alignment.json``: the same writers."""
    defaults = cli_defaults()
    paths = {"vtt": folder / "aligned.vtt", "srt": folder / "aligned.srt", "eaf": folder / "aligned.eaf",
             "json": folder / "alignment.json"}  # fmt: skip
    write_aligned_subtitles(results, paths["vtt"])
    write_aligned_subtitles(results, paths["srt"])
    write_elan(results, paths["eaf"], media_path=media, ground_truth=ground_truth)
    write_alignment_json(results, paths["json"], input=input_name, subtitles=subtitles_name, model=loaded.source,
                         fps=loaded.fps, window_frames=loaded.num_frames, num_beams=num_beams or defaults["num_beams"],
                         alpha=defaults["alpha"], dtw_normalize=defaults["dtw_normalize"])  # fmt: skip
    return paths


def write_translations(
    translated: Sequence[TranslatedSegment], folder: Path, loaded: LoadedModel, input_name: str,
    num_beams: int | None = None,
) -> dict[str, Path]:  # fmt: skip
    """``signllm translate -o translations.vtt --json translations.json``: segments with text become cues; the JSON
    keeps every segment and its confidence (the command's payload)."""
    paths = {"vtt": folder / "translations.vtt", "json": folder / "translations.json"}
    write_subtitles([Subtitle(item.start, item.end, item.text) for item in translated if item.text.strip()],
                    paths["vtt"])  # fmt: skip
    payload = {"input": input_name, "model": loaded.source, "num_beams": num_beams or cli_defaults()["num_beams"],
               "segments": [asdict(item) for item in translated]}  # fmt: skip
    _write_json(paths["json"], payload)
    return paths


def write_metrics(metrics: dict, path: Path) -> Path:
    _write_json(path, metrics)
    return path


def _write_json(path: Path, payload) -> None:
    """Strict JSON (no NaN), written atomically: the writer every signllm command uses."""
    write_json(path, payload, sort_keys=False)
