"""Write alignment results: VTT/SRT (via `datasets_scripts.subtitles`), an ELAN ``.eaf`` and a JSON report.

ELAN (the annotation tool sign linguists use) gets one time-aligned tier per kind of timing: ``prior`` (the
input subtitles), ``aligned`` (our output), ``predicted`` (the raw model span before DTW, when there is one),
``confidence`` (the model's confidence on the aligned span) and, when given, ``ground truth``. ELAN does not allow
overlapping annotations in one tier, and priors overlap (BOBSL audio-aligned subtitles do), so overlapping cues
spill over into numbered extra tiers (``prior 2``, ...). Zero-length cues cannot be ELAN annotations and are left
out of the ``.eaf`` (they stay in the VTT/JSON). Subtitles whose input times had to be repaired (negative start,
end before start) are flagged: ``prior_repaired`` in the JSON and an annotation on the ``prior repaired`` tier.
Every file is written atomically; the JSON is strict (no NaN / Infinity).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from signllm.datasets_scripts.manifest import write_json
from signllm.datasets_scripts.subtitles import Subtitle, write_subtitles
from signllm.processing.keypoint_io import atomic_path

from .alignment import AlignedSubtitle


def to_subtitles(results: Sequence[AlignedSubtitle]) -> list[Subtitle]:
    """Aligned results -> `Subtitle` cues in input order."""
    return [Subtitle(start=item.start, end=item.end, text=item.text, index=item.index) for item in results]


def write_aligned_subtitles(results: Sequence[AlignedSubtitle], path: str | os.PathLike) -> None:
    """Aligned cues to ``.vtt`` / ``.srt`` (format from the suffix), sorted by their aligned start."""
    cues = sorted(to_subtitles(results), key=lambda cue: (cue.start, cue.end))
    write_subtitles(cues, path)


def write_alignment_json(results: Sequence[AlignedSubtitle], path: str | os.PathLike, **metadata) -> None:
    """Every field of every result (prior, raw prediction, aligned span, confidence, source) plus metadata."""
    payload = {"metadata": metadata, "subtitles": [asdict(item) for item in results]}
    write_json(path, payload, sort_keys=False)


def _pack_tiers(spans: list[tuple[int, int, str]]) -> list[list[tuple[int, int, str]]]:
    """Greedy interval packing: each span goes to the first tier whose last annotation ends before it starts."""
    tiers: list[list[tuple[int, int, str]]] = []
    for span in sorted(spans):
        for tier in tiers:
            if tier[-1][1] <= span[0]:
                tier.append(span)
                break
        else:
            tiers.append([span])
    return tiers


def _confidence_label(result: AlignedSubtitle) -> str:
    value = "-" if result.confidence is None else f"{result.confidence:.3f}"
    return f"{value} ({result.source})"


def write_elan(
    results: Sequence[AlignedSubtitle],
    path: str | os.PathLike,
    media_path: str | os.PathLike | None = None,
    ground_truth: Sequence | None = None,
) -> None:
    """ELAN ``.eaf`` with prior / aligned / predicted / confidence (/ ground truth) tiers; times in milliseconds."""
    import pympi

    eaf = pympi.Elan.Eaf(author="signllm")
    if media_path is not None:
        media = Path(media_path)
        mimetype = {".mp4": "video/mp4", ".mov": "video/quicktime", ".mpg": "video/mpeg", ".wav": "audio/x-wav"}
        if media.suffix.lower() in mimetype:
            eaf.add_linked_file(str(media.resolve()), relpath=media.name, mimetype=mimetype[media.suffix.lower()])

    def ms(seconds: float) -> int:
        return round(seconds * 1000)

    tiers: dict[str, list[tuple[int, int, str]]] = {
        "prior": [(ms(r.prior_start), ms(r.prior_end), r.text) for r in results],
        "aligned": [(ms(r.start), ms(r.end), r.text) for r in results],
        "predicted": [(ms(r.predicted[0]), ms(r.predicted[1]), r.text) for r in results if r.predicted is not None],
        "confidence": [(ms(r.start), ms(r.end), _confidence_label(r)) for r in results],
    }
    if ground_truth is not None:
        tiers["ground truth"] = [(ms(g.start), ms(g.end), g.text) for g in ground_truth]
    repaired = [r for r in results if r.prior_repaired]
    if repaired:  # over the aligned span, at least 1 ms so that a zero-length cue is still flagged
        tiers["prior repaired"] = [(ms(r.start), max(ms(r.end), ms(r.start) + 1), f"{r.text}: {r.prior_repaired}")
                                   for r in repaired]  # fmt: skip
    for name, spans in tiers.items():
        spans = [span for span in spans if span[1] > span[0] and span[0] >= 0]
        for number, packed in enumerate(_pack_tiers(spans) or [[]], start=1):
            tier_name = name if number == 1 else f"{name} {number}"
            eaf.add_tier(tier_name)
            for start, end, value in packed:
                eaf.add_annotation(tier_name, start, end, value=value)
    eaf.remove_tier("default")
    with atomic_path(path) as temporary:
        eaf.to_file(str(temporary))
