"""HTML of the app's results: detection + alignment lanes on one time axis, the translation table, metrics, messages.

Plain functions from results to HTML strings (no Gradio here), so they are tested without a browser. Every
clickable element carries ``data-seek="<seconds>"``; `SEEK_JS` (the components' ``js_on_load``) turns a click
into a seek of the overlay video and moves a playhead over the lanes while the video plays.

Lanes (the picture of ``signllm align --plot``, as tracks): ``prior`` (the subtitles' own times), ``predicted`` (the
raw SSA span before the DTW), ``aligned`` (after the full-video DTW; hatched when it is a fallback: the prior kept
or a gap placement after the DTW dropped the cue), ``ground truth`` (the reference, when given) and
``translation`` (one block per translated segment). Neighbouring cues alternate between the upper and lower half
of a lane so overlapping priors stay readable. Above them, one lane per articulator shows where MediaPipe found
it (green) and lost it (red).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from signllm.keypoint_layout import ARTICULATORS

from .overlay import LABELS

VIDEO_ELEMENT_ID = "signllm-video"
ALIGNMENT_LANES = ("prior", "predicted", "aligned", "ground truth", "translation")
LANE_COLORS = {"prior": "#9e9e9e", "predicted": "#90caf9", "aligned": "#1565c0", "ground truth": "#2e7d32",
               "translation": "#8e24aa", "found": "#2ea043", "lost": "#da3633"}  # fmt: skip

SEEK_JS = f"""
const player = () => document.querySelector('#{VIDEO_ELEMENT_ID} video');
element.addEventListener('click', (event) => {{
  const target = event.target.closest('[data-seek]');
  const video = player();
  if (!target || !video) return;
  video.currentTime = parseFloat(target.dataset.seek);
  element.querySelectorAll('.sl-selected').forEach((node) => node.classList.remove('sl-selected'));
  target.classList.add('sl-selected');
}});
setInterval(() => {{
  const video = player();
  const timeline = element.querySelector('[data-duration]');
  if (!video || !timeline) return;
  const fraction = Math.min(1, Math.max(0, video.currentTime / (parseFloat(timeline.dataset.duration) || 1)));
  element.querySelectorAll('.sl-playhead').forEach((line) => {{ line.style.left = (100 * fraction) + '%'; }});
}}, 150);
"""

CSS = """
.sl-timeline { font-family: system-ui, sans-serif; font-size: 12px; user-select: none; }
.sl-section { font-weight: 600; margin: 10px 0 4px; }
.sl-lane { display: flex; align-items: stretch; height: 30px; margin: 2px 0; }
.sl-lane.sl-detection { height: 14px; }
.sl-label { width: 110px; flex: none; color: #555; padding-right: 6px; text-align: right; line-height: 30px;
            white-space: nowrap; }
.sl-detection .sl-label { line-height: 14px; }
.sl-track { position: relative; flex: 1; background: #f3f4f6; border-radius: 3px; overflow: hidden; }
.sl-block { position: absolute; height: 48%; box-sizing: border-box; border-radius: 3px; cursor: pointer;
            overflow: hidden; white-space: nowrap; text-overflow: ellipsis; color: #fff; font-size: 10px;
            padding: 0 3px; line-height: 14px; min-width: 3px; }
.sl-detection .sl-block { height: 100%; border-radius: 0; padding: 0; }
.sl-block:hover, .sl-selected { outline: 2px solid #111; z-index: 2; }
.sl-fallback { background-image: repeating-linear-gradient(45deg, rgba(255,255,255,.55) 0 4px, transparent 4px 8px); }
.sl-playhead { position: absolute; top: 0; bottom: 0; width: 2px; background: #111; left: 0; pointer-events: none;
               z-index: 3; }
.sl-axis { position: relative; height: 16px; margin-left: 110px; color: #666; }
.sl-tick { position: absolute; transform: translateX(-50%); font-size: 10px; }
.sl-translations { border-collapse: collapse; width: 100%; font-size: 13px; table-layout: fixed; }
.sl-translations th, .sl-translations td { border: 0; border-bottom: 1px solid #e5e7eb; padding: 4px 8px;
                                           text-align: left; overflow-wrap: anywhere; vertical-align: top; }
.sl-translations th:first-child { width: 120px; }
.sl-translations th:last-child { width: 100px; }
.sl-translations tr[data-seek] { cursor: pointer; }
.sl-translations tr[data-seek]:hover, .sl-translations tr.sl-selected { background: #eef2ff; }
.sl-empty { color: #999; font-style: italic; }
.sl-message { padding: 10px 12px; border-radius: 6px; font-size: 14px; }
.sl-error { background: #fdecea; color: #8a1c1c; border: 1px solid #f5c2c0; }
.sl-info { background: #eef6ee; color: #1f4d24; border: 1px solid #c8e6c9; }
.sl-metrics { border-collapse: collapse; font-size: 13px; }
.sl-metrics th, .sl-metrics td { padding: 3px 10px; border: 0; border-bottom: 1px solid #e5e7eb; text-align: right; }
"""


@dataclass
class Block:
    """One clickable span on a lane: ``start``/``end`` seconds, short ``label``, hover ``title``, extra CSS class."""

    start: float
    end: float
    label: str
    title: str
    extra_class: str = ""
    color: str | None = None


def escape(text: str) -> str:
    """HTML-escape, and neutralise template syntax (``${...}``, ``{{...}}``, backticks) Gradio's HTML templates use."""
    escaped = html.escape(str(text), quote=True)
    return escaped.replace("{", "&#123;").replace("}", "&#125;").replace("$", "&#36;").replace("`", "&#96;")


def clock(seconds: float) -> str:
    minutes, rest = divmod(max(float(seconds), 0.0), 60.0)
    return f"{int(minutes)}:{rest:05.2f}"


def message_html(text: str, kind: str = "error") -> str:
    return f'<div class="sl-message sl-{kind}" data-kind="{kind}">{escape(text)}</div>'


def _pct(value: float, duration: float) -> float:
    return 100.0 * min(max(value, 0.0), duration) / duration


def _lane(name: str, blocks: Sequence[Block], duration: float, color: str, detection: bool = False) -> str:
    parts = []
    for k, block in enumerate(blocks):
        left = _pct(block.start, duration)
        width = max(_pct(block.end, duration) - left, 0.3)
        top = "0" if detection else ("2%" if k % 2 == 0 else "50%")
        background = block.color or color
        parts.append(
            f'<div class="sl-block {block.extra_class}" data-seek="{block.start:.3f}" data-end="{block.end:.3f}" '
            f'title="{escape(block.title)}" style="left:{left:.3f}%;width:{width:.3f}%;top:{top};'
            f'background-color:{background}">{"" if detection else escape(block.label)}</div>'
        )
    kind = "sl-detection" if detection else "sl-alignment"
    return (f'<div class="sl-lane {kind}" data-lane="{escape(name)}"><div class="sl-label">{escape(name)}</div>'
            f'<div class="sl-track">{"".join(parts)}<div class="sl-playhead"></div></div></div>')  # fmt: skip


def _axis(duration: float) -> str:
    step = next((s for s in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600) if duration / s <= 12), 1200)
    ticks = []
    t = 0.0
    while t <= duration + 1e-9:
        ticks.append(f'<span class="sl-tick" style="left:{_pct(t, duration):.3f}%">{t:g}s</span>')
        t += step
    return f'<div class="sl-axis">{"".join(ticks)}</div>'


def timeline_html(
    duration: float,
    detection: dict[str, list[tuple[float, float, bool]]],
    lanes: dict[str, list[Block]],
) -> str:
    """Detection lanes (`overlay.detection_runs`) and alignment lanes (`alignment_lanes`) on one time axis."""
    duration = max(float(duration), 1e-3)
    out = [f'<div class="sl-timeline" data-duration="{duration:.3f}">', _axis(duration),
           '<div class="sl-section">Keypoint detection (green found, red lost: click to jump there)</div>']  # fmt: skip
    for name in ARTICULATORS:
        blocks = [Block(s, e, "", f"{LABELS[name]} {'found' if found else 'LOST'} {clock(s)}–{clock(e)}",
                        "" if found else "sl-lost", LANE_COLORS["found" if found else "lost"])
                  for s, e, found in detection.get(name, [])]  # fmt: skip
        out.append(_lane(LABELS[name], blocks, duration, LANE_COLORS["found"], detection=True))
    if any(lanes.values()):
        out.append('<div class="sl-section">Subtitles and translations (click a cue to jump there)</div>')
        for name in ALIGNMENT_LANES:
            if lanes.get(name):
                out.append(_lane(name, lanes[name], duration, LANE_COLORS[name]))
    out.append("</div>")
    return "".join(out)


def alignment_lanes(results=None, ground_truth=None, translations=None) -> dict[str, list[Block]]:
    """Lanes from `AlignedSubtitle` results (input order), paired ground-truth cues and `TranslatedSegment` s."""
    lanes: dict[str, list[Block]] = {name: [] for name in ALIGNMENT_LANES}
    for k, item in enumerate(results or []):
        confidence = "–" if item.confidence is None else f"{item.confidence:.2f}"
        lanes["prior"].append(Block(item.prior_start, item.prior_end, item.text,
                                    f"prior {clock(item.prior_start)}–{clock(item.prior_end)}: {item.text}"))  # fmt: skip
        if item.predicted is not None:
            start, end = item.predicted
            lanes["predicted"].append(Block(start, end, item.text, f"predicted {clock(start)}–{clock(end)} "
                                            f"(confidence {confidence}): {item.text}"))  # fmt: skip
        fallback = "" if item.source == "aligned" else " sl-fallback"
        lanes["aligned"].append(Block(item.start, item.end, item.text, f"aligned {clock(item.start)}–{clock(item.end)} "
                                      f"({item.source}, confidence {confidence}): {item.text}", fallback.strip()))  # fmt: skip
        if ground_truth is not None:
            cue = ground_truth[k]
            lanes["ground truth"].append(Block(cue.start, cue.end, cue.text,
                                               f"ground truth {clock(cue.start)}–{clock(cue.end)}: {cue.text}"))  # fmt: skip
    for item in translations or []:
        confidence = "–" if item.confidence is None else f"{item.confidence:.2f}"
        lanes["translation"].append(Block(item.start, item.end, item.text or "(no translation)",
                                          f"translation {clock(item.start)}–{clock(item.end)} "
                                          f"(confidence {confidence}): {item.text}"))  # fmt: skip
    return lanes


def translations_html(translations: Sequence, subtitles: Sequence[str] | None = None) -> str:
    """One row per segment: time, (its aligned subtitle,) translation, confidence; a click on a row seeks the video
    to the segment."""
    rows = []
    for k, item in enumerate(translations):
        text = escape(item.text) if item.text.strip() else '<span class="sl-empty">(no usable translation)</span>'
        confidence = "–" if item.confidence is None else f"{item.confidence:.3f}"
        subtitle = "" if subtitles is None else f'<td class="sl-subtitle">{escape(subtitles[k])}</td>'
        rows.append(f'<tr data-seek="{item.start:.3f}"><td>{clock(item.start)}–{clock(item.end)}</td>{subtitle}'
                    f'<td class="sl-text">{text}</td><td>{confidence}</td></tr>')  # fmt: skip
    subtitle_head = "" if subtitles is None else "<th>subtitle (aligned)</th>"
    return (f'<table class="sl-translations"><thead><tr><th>segment</th>{subtitle_head}<th>translation</th>'
            f'<th>confidence</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')  # fmt: skip


def metrics_html(metrics: dict[str, dict[str, float]], keys: Sequence[str]) -> str:
    """SAT metrics of the prior and of the alignment against the reference (one row each)."""
    head = "".join(f"<th>{escape(key)}</th>" for key in keys)
    rows = "".join(f'<tr><th>{escape(name)}</th>{"".join(f"<td>{values[key]:.2f}</td>" for key in keys)}</tr>'
                   for name, values in metrics.items())  # fmt: skip
    return (f'<div class="sl-section">Against the reference (SAT metrics, %)</div>'
            f'<table class="sl-metrics"><thead><tr><th></th>{head}</tr></thead><tbody>{rows}</tbody></table>')
