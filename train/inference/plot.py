"""PNG timeline of an alignment: per subtitle (rows), its prior, raw prediction, aligned span and ground truth.

Aligned bars are hatched when they are a fallback (the prior kept for lack of a usable prediction, or a gap
placement after the DTW dropped the subtitle); the aligned confidence is written after each bar.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from .alignment import AlignedSubtitle

COLORS = {"prior": "#9e9e9e", "predicted": "#90caf9", "aligned": "#1565c0", "ground truth": "#2e7d32"}


def plot_alignment(
    results: Sequence[AlignedSubtitle],
    path: str | os.PathLike,
    ground_truth: Sequence | None = None,
    time_range: tuple[float, float] | None = None,
    max_label_chars: int = 40,
) -> Path:
    """Draw the timeline and save it as PNG (matplotlib, Agg backend; no display needed). Returns the path.

    Args:
        results: output of `signllm.train.inference.alignment.align_subtitles` (input order).
        ground_truth: optional cues with ``start``/``end`` (paired with ``results`` by position).
        time_range: ``(start, end)`` seconds to show; default: everything.
    """
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    if ground_truth is not None and len(ground_truth) != len(results):
        raise ValueError(f"ground truth has {len(ground_truth)} cues but the alignment has {len(results)}")
    rows = list(range(len(results)))
    if time_range is not None:
        lo, hi = time_range
        rows = [i for i in rows if results[i].end >= lo and results[i].start <= hi
                or results[i].prior_end >= lo and results[i].prior_start <= hi]  # fmt: skip
    height = min(0.35 * max(len(rows), 1) + 1.5, 60.0)
    fig, ax = plt.subplots(figsize=(14, height))
    bars = {"prior": (0.30, 0.18), "predicted": (0.10, 0.18), "aligned": (-0.12, 0.24), "ground truth": (-0.34, 0.18)}
    for y, i in enumerate(rows):
        item = results[i]
        spans = {"prior": (item.prior_start, item.prior_end), "predicted": item.predicted,
                 "aligned": (item.start, item.end)}  # fmt: skip
        if ground_truth is not None:
            spans["ground truth"] = (ground_truth[i].start, ground_truth[i].end)
        for kind, span in spans.items():
            if span is None:
                continue
            offset, thickness = bars[kind]
            # hatched: the "aligned" span is a fallback (prior kept, or placed in a gap after the DTW dropped it)
            hatch = "//" if kind == "aligned" and item.source != "aligned" else None
            ax.broken_barh([(span[0], max(span[1] - span[0], 0.02))], (-y + offset - thickness / 2, thickness),
                           facecolors=COLORS[kind] if hatch is None else "white", edgecolor=COLORS[kind], hatch=hatch)
        if item.confidence is not None:
            ax.text(item.end, -y - 0.12, f" {item.confidence:.2f}", va="center", fontsize=6, color=COLORS["aligned"])
    labels = [(results[i].text[:max_label_chars] + ("…" if len(results[i].text) > max_label_chars else "")) for i in rows]
    ax.set_yticks([-y for y in range(len(rows))], labels=labels, fontsize=7)
    ax.set_xlabel("time (s)")
    if time_range is not None:
        ax.set_xlim(*time_range)
    ax.grid(axis="x", alpha=0.3)
    handles = [plt.Rectangle((0, 0), 1, 1, color=COLORS[k]) for k in COLORS if k != "ground truth" or ground_truth]
    ax.legend(handles, [k for k in COLORS if k != "ground truth" or ground_truth], loc="upper right", fontsize=8)
    ax.set_title("subtitle alignment: prior, raw prediction, aligned (DTW) and ground truth")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
