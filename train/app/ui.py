"""The Gradio page: inputs on the left, the overlay video on the right, lanes, translations and downloads below.

`build_app` returns the ``gr.Blocks`` (``signllm app`` launches it; a Space's ``app.py`` builds the same). The
page logic is `run_page`: it calls `analysis.analyse` and turns the result, or an input problem, into the page's
outputs; a problem is a message in the page, never a traceback. Styling and the click-to-seek script live in the
HTML components themselves (``css_template`` / ``js_on_load``), so ``demo.launch()`` needs no extra arguments.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import time
from pathlib import Path

from . import backend
from .analysis import DEFAULT_MAX_SECONDS, DEFAULT_SEGMENT_SECONDS, Request, analyse
from .lanes import (
    CSS,
    SEEK_JS,
    VIDEO_ELEMENT_ID,
    alignment_lanes,
    message_html,
    metrics_html,
    timeline_html,
    translations_html,
)

logger = logging.getLogger(__name__)

TITLE = "SignLLM: see what the model sees"
INTRO = (
    "Upload a signing video (mp4 / mov / webm, portrait phone videos too) or its keypoints (`.pose` / `.npz` from "
    "`signllm extract`), and optionally the subtitles to align (`.vtt` / `.srt`) and a manually aligned reference. "
    "The page shows the MediaPipe skeleton the model reads (joints MediaPipe lost are not drawn), where each "
    "articulator was lost, the subtitle alignment lanes and the translations; click a cue to jump there."
)
KEEP_SECONDS = 3600.0  # a run's files stay on disk this long


def run_page(
    input_file: str | None, subtitles_file: str | None, reference_file: str | None, model: str, backend_name: str,
    segment_seconds: float, num_beams: int, *, max_seconds: float | None, device: str | None, progress=None,
    workdir: Path | None = None,
) -> tuple:  # fmt: skip
    """Outputs for the page: ``(status HTML, overlay video path, timeline HTML, translations HTML, metrics HTML,
    download paths)``; on an input problem the status says what is wrong and the rest is cleared."""
    if not input_file:
        return (message_html("Upload a video or a keypoint file first."), None, "", "", "", None)

    def report(fraction: float, what: str) -> None:
        if progress is not None:
            progress(fraction, desc=what)

    folder = workdir or new_workdir()
    request = Request(input_path=Path(input_file), model=model,
                      subtitles_path=Path(subtitles_file) if subtitles_file else None,
                      reference_path=Path(reference_file) if reference_file else None, backend=backend_name,
                      segment_seconds=float(segment_seconds or DEFAULT_SEGMENT_SECONDS),
                      num_beams=int(num_beams) if num_beams else None, max_seconds=max_seconds,
                      device=device)  # fmt: skip
    try:
        result = analyse(request, folder, report, show_tqdm=progress is not None)
    except backend.AppError as error:
        return (message_html(str(error)), None, "", "", "", None)
    except Exception as error:  # the page says what broke; the log keeps the traceback
        logger.exception("signllm app: run failed")
        return (message_html(f"Something went wrong: {type(error).__name__}: {error}"), None, "", "", "", None)
    lanes = alignment_lanes(result.alignment, result.ground_truth, result.translations)
    aligned = "" if result.alignment is None else f"aligned {len(result.alignment)} subtitles, "
    times = result.timings
    found = {name: sum(e - s for s, e, present in runs if present) / max(result.duration, 1e-9)
             for name, runs in result.detection.items()}  # fmt: skip
    hands = f"hands found in {100 * found['left_hand']:.0f} % (left) / {100 * found['right_hand']:.0f} % (right) of frames"
    summary = (f"Done: {result.duration:.1f} s of signing ({hands}), {aligned}translated {len(result.translations)} segments "
               f"in {times['total']:.1f} s (loading the model {times['model']:.1f} s, keypoints {times['keypoints']:.1f} "
               f"s, alignment and translation {times['inference']:.1f} s, overlay video {times['render']:.1f} s).")  # fmt: skip
    metrics = "" if result.metrics is None else metrics_html(result.metrics, backend.METRIC_KEYS)
    return (message_html(summary, "info"), str(result.video), timeline_html(result.duration, result.detection, lanes),
            translations_html(result.translations, result.segment_texts), metrics, [str(path) for path in result.files.values()])


def new_workdir(keep_seconds: float = KEEP_SECONDS) -> Path:
    """A fresh folder for one run's files under ``$TMPDIR/signllm-app``; runs older than ``keep_seconds`` are
    removed first (Gradio has copied what it serves into its own cache by then), so a long-lived Space does not
    fill its disk."""
    parent = Path(tempfile.gettempdir()) / "signllm-app"
    parent.mkdir(exist_ok=True)
    cutoff = time.time() - keep_seconds
    for old in parent.glob("run-*"):
        with contextlib.suppress(OSError):
            if old.stat().st_mtime < cutoff:
                shutil.rmtree(old)
    return Path(tempfile.mkdtemp(prefix="run-", dir=parent))


def build_app(
    model: str | None = None,
    extraction_backend: str = "tasks",
    max_seconds: float | None = DEFAULT_MAX_SECONDS,
    device: str | None = None,
):
    """The app as a ``gr.Blocks``. With ``model`` the model is fixed (a Space); without, the page asks for a model
    folder or Hub id. Nothing is loaded until the first run."""
    import gradio as gr

    limit = f" Inputs up to {max_seconds:g} s." if max_seconds else ""
    with gr.Blocks(title="SignLLM", delete_cache=(int(KEEP_SECONDS), int(KEEP_SECONDS))) as demo:
        gr.Markdown(f"# {TITLE}\n{INTRO}{limit}")
        with gr.Row():
            with gr.Column(scale=2):
                input_file = gr.File(label="Video or keypoints (.mp4 .mov .webm / .pose .npz)", elem_id="signllm-input")
                subtitles_file = gr.File(label="Subtitles to align (.vtt / .srt, optional)", elem_id="signllm-subtitles")
                reference_file = gr.File(label="Reference alignment (.vtt / .srt, optional: scores the alignment)",
                                         elem_id="signllm-reference")  # fmt: skip
                model_box = gr.Textbox(value=model or "", label="Model (folder or Hugging Face Hub id)",
                                       interactive=model is None, elem_id="signllm-model")  # fmt: skip
                with gr.Accordion("Options", open=False):
                    backend_box = gr.Dropdown(list(backend.EXTRACTION_BACKENDS), value=extraction_backend,
                                              label="MediaPipe backend (video input)")  # fmt: skip
                    segment_box = gr.Number(value=DEFAULT_SEGMENT_SECONDS, minimum=0.5, label=
                                            "Segment length without subtitles (s)")  # fmt: skip
                    beams_box = gr.Number(value=backend.cli_defaults()["num_beams"], minimum=1, maximum=10,
                                          precision=0, label="Beams")  # fmt: skip
                run_button = gr.Button("Translate and align", variant="primary", elem_id="signllm-run")
            with gr.Column(scale=3):
                status = gr.HTML(css_template=CSS, elem_id="signllm-status")
                video = gr.Video(label="What the model sees", elem_id=VIDEO_ELEMENT_ID, interactive=False)
        timeline = gr.HTML(css_template=CSS, js_on_load=SEEK_JS, elem_id="signllm-timeline")
        with gr.Row():
            with gr.Column(scale=3):
                translations = gr.HTML(css_template=CSS, js_on_load=SEEK_JS, elem_id="signllm-translations")
            with gr.Column(scale=2):
                metrics = gr.HTML(css_template=CSS, elem_id="signllm-metrics")
                downloads = gr.File(label="Downloads", file_count="multiple", interactive=False,
                                    elem_id="signllm-downloads")  # fmt: skip

        def on_run(input_path, subtitles_path, reference_path, model_source, backend_name, segment_seconds, beams,
                   progress=gr.Progress(track_tqdm=True)):  # noqa: B008 - Gradio's idiom  # fmt: skip
            return run_page(input_path, subtitles_path, reference_path, model_source, backend_name, segment_seconds,
                            beams, max_seconds=max_seconds, device=device, progress=progress)  # fmt: skip

        run_button.click(on_run, [input_file, subtitles_file, reference_file, model_box, backend_box, segment_box,
                                  beams_box], [status, video, timeline, translations, metrics, downloads])  # fmt: skip
    return demo
