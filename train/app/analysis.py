"""One run of the app, without the web page: input file (+ subtitles, + reference) → results and files.

`analyse` checks the inputs, loads the model (`backend.load_model`, cached), reads or extracts the keypoints,
aligns the subtitles when given, translates one segment per aligned subtitle (or fixed segments without
subtitles), renders the overlay video and writes every download. Problems with the input raise `backend.AppError`
with a message for the page. Translation segments: with subtitles, the aligned times (what
``signllm translate --segments aligned.vtt`` translates); without, ``--segment-seconds`` segments.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from . import backend
from .overlay import detection_runs, render_overlay

Progress = Callable[[float, str], None]

DEFAULT_MAX_SECONDS = 120.0
DEFAULT_SEGMENT_SECONDS = 5.0
DEFAULT_MAX_SIZE = 720  # longest side of the overlay video in the page


@dataclass
class Request:
    """What the user gave: an input file, optional subtitles / reference, a model (folder or Hub id), options."""

    input_path: Path
    model: str
    subtitles_path: Path | None = None
    reference_path: Path | None = None
    backend: str = "tasks"
    segment_seconds: float = DEFAULT_SEGMENT_SECONDS
    num_beams: int | None = None  # None: `signllm translate` / `align` default
    max_seconds: float | None = DEFAULT_MAX_SECONDS
    device: str | None = None
    max_size: int | None = DEFAULT_MAX_SIZE


@dataclass
class Analysis:
    duration: float
    fps: float
    detection: dict[str, list[tuple[float, float, bool]]]
    translations: list
    segment_texts: list[str] | None  # the subtitle of each translated segment, when subtitles were aligned
    alignment: list | None
    ground_truth: list | None  # paired with `alignment` by position, when given
    metrics: dict[str, dict[str, float]] | None
    video: Path
    files: dict[str, Path]
    timings: dict[str, float] = field(default_factory=dict)


@lru_cache(maxsize=2)
def cached_model(source: str, device: str | None) -> backend.LoadedModel:
    """Models stay loaded between runs (a failed load is not cached)."""
    return backend.load_model(source, device)


def _check_suffix(path: Path, allowed: tuple[str, ...], what: str) -> None:
    if path.suffix.lower() not in allowed:
        raise backend.AppError(f"Unsupported {what} {path.name!r}: expected one of {', '.join(allowed)}.")


def analyse(request: Request, workdir: Path, progress: Progress | None = None, show_tqdm: bool = False) -> Analysis:
    """Run everything for one request; files go to ``workdir``. ``progress(fraction, what)`` reports progress;
    ``show_tqdm`` lets the inference show its own tqdm bars (the web page tracks them)."""
    report = progress or (lambda fraction, what: None)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    source = Path(request.input_path)
    is_video = source.suffix.lower() in backend.VIDEO_SUFFIXES
    _check_suffix(source, backend.VIDEO_SUFFIXES + backend.KEYPOINT_SUFFIXES, "input file type")
    subtitles = backend.read_subtitle_file(request.subtitles_path) if request.subtitles_path else None
    reference = backend.read_subtitle_file(request.reference_path, "reference") if request.reference_path else None
    if reference is not None:
        if subtitles is None:
            raise backend.AppError("A reference alignment is scored against aligned subtitles: add the subtitle file "
                                   "too.")  # fmt: skip
        backend.check_reference(subtitles, reference)
    if is_video and request.max_seconds:
        _check_length(backend.video_duration(source), request.max_seconds)

    report(0.02, "loading the model")
    loaded = cached_model(request.model, request.device)
    timings["model"] = time.perf_counter() - started

    workdir.mkdir(parents=True, exist_ok=True)
    mark = time.perf_counter()
    if is_video:
        total = max(1, round(backend.video_duration(source) * loaded.fps))
        done = [0]

        def on_frames(count: int) -> None:
            done[0] += count
            report(0.05 + 0.5 * min(done[0] / total, 1.0), f"extracting keypoints ({done[0]}/{total} frames)")

        report(0.05, "extracting keypoints")
        sequence = backend.extract_video(source, loaded, loaded.fps, request.backend, on_frames)
    else:
        sequence = backend.load_keypoints(source, loaded, loaded.fps)
    duration = sequence.num_frames / loaded.fps
    if request.max_seconds:
        _check_length(duration, request.max_seconds)
    timings["keypoints"] = time.perf_counter() - mark
    files = {"keypoints .pose": backend.write_keypoints(sequence, workdir / f"{source.stem}.pose")}

    mark = time.perf_counter()
    alignment = ground_truth = metrics = None
    if subtitles is not None:
        report(0.6, f"aligning {len(subtitles)} subtitles")
        alignment = backend.align(loaded, sequence, subtitles, request.num_beams, progress=show_tqdm)
        paths = backend.write_alignment(alignment, workdir, loaded, source.name, Path(request.subtitles_path).name,
                                        media=source if is_video else None, ground_truth=reference,
                                        num_beams=request.num_beams)  # fmt: skip
        files.update({f"aligned {kind}": path for kind, path in paths.items()})
        if reference is not None:
            metrics = backend.score_alignment(alignment, subtitles, reference)
            files["metrics json"] = backend.write_metrics(metrics, workdir / "metrics.json")
            ground_truth = backend.pair_ground_truth(alignment, reference)
        # the cues of the aligned VTT just written: what `signllm translate --segments aligned.vtt` translates
        aligned_cues = backend.read_subtitle_file(paths["vtt"])
        segments = [(cue.start, cue.end) for cue in aligned_cues]
        segment_texts = [cue.text for cue in aligned_cues]
    else:
        segments = backend.uniform_segments(duration, request.segment_seconds)
        segment_texts = None
    report(0.7, f"translating {len(segments)} segments")
    translations = backend.translate(loaded, sequence, segments, request.num_beams, progress=show_tqdm)
    files.update({f"translations {kind}": path
                  for kind, path in backend.write_translations(translations, workdir, loaded, source.name,
                                                               request.num_beams).items()})  # fmt: skip
    timings["inference"] = time.perf_counter() - mark

    mark = time.perf_counter()
    report(0.8, "drawing the skeleton")
    burned = alignment if alignment is not None else [item for item in translations if item.text.strip()]

    def on_frame(index: int, count: int) -> None:
        if index % 10 == 0 or index == count:
            report(0.8 + 0.2 * min(index / max(count, 1), 1.0), f"drawing the skeleton ({index}/{count} frames)")

    video = render_overlay(sequence.values, sequence.mask, loaded.fps,
                           lambda stream, fps: backend.write_overlay_video(workdir / "overlay.mp4", stream, fps),
                           frames=backend.frames_of(source, loaded.fps) if is_video else None, subtitles=burned,
                           max_size=request.max_size, on_frame=on_frame)  # fmt: skip
    timings["render"] = time.perf_counter() - mark
    timings["total"] = time.perf_counter() - started
    return Analysis(duration=duration, fps=loaded.fps, detection=detection_runs(sequence.mask, loaded.fps),
                    translations=translations, segment_texts=segment_texts, alignment=alignment,
                    ground_truth=ground_truth, metrics=metrics, video=video, files=files, timings=timings)  # fmt: skip


def _check_length(seconds: float, limit: float) -> None:
    if seconds > limit:
        raise backend.AppError(f"This input lasts {seconds:.1f} s; this app takes at most {limit:g} s. Cut the video "
                               "(or run `signllm align` / `signllm translate` locally, which have no limit).")  # fmt: skip
