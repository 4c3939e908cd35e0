"""A new sign language from a plain folder: videos + ``.vtt``/``.srt`` subtitles, or a CSV of clips and labels.

Layout: ``folder.md``. Two forms (both may be present):

- **continuous video + subtitles** -> sentence rows: every ``<name>.vtt`` / ``<name>.srt`` under the folder (beside
  the videos or in ``subtitles/``) belongs to the video / keypoint file with the same stem. ``.vtt`` wins over
  ``.srt`` for the same stem.
- **clips.csv** (``path`` plus ``text`` for sentences or ``label`` for isolated signs; optional ``start``, ``end``,
  ``signer``, ``split``) -> one row per clip. ``path`` may point at a video (keypoints looked up by stem in
  ``--keypoints``) or directly at a keypoint file. Without ``start``/``end`` a clip spans its whole file.

Splits: ``splits.json`` (``{"train": [stems], ...}``), else the CSV ``split`` column, else a stable hash of the
signer (or the stem) with ``val_fraction`` [ours].
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

from .prepare import (
    KEYPOINT_SUFFIXES,
    LIP_SUFFIXES,
    VIDEO_SUFFIXES,
    FileIndex,
    Meta,
    PrepareOptions,
    Row,
    Skip,
    caption_sentence_rows,
    hashed_split,
    optional_float,
)

CORPUS = "folder"
CLIP_TABLE = "clips.csv"


def _splits(root: Path) -> dict[str, str]:
    path = root / "splits.json"
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {str(stem): split for split, stems in data.items() for stem in stems}


def _subtitle_files(root: Path) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for suffix in (".srt", ".vtt"):  # .vtt last: it wins for the same stem
        for path in sorted(root.rglob(f"*{suffix}")):
            if not path.name.startswith("."):
                files[path.stem] = path
    return files


def _video_rows(
    root: Path,
    options: PrepareOptions,
    splits: dict[str, str],
    keypoints: FileIndex,
    lips: FileIndex,
    videos: FileIndex,
    language: str,
) -> Iterator[Row | Skip]:
    for stem, path in sorted(_subtitle_files(root).items()):
        split = splits.get(stem) or hashed_split(stem, options.val_fraction)
        yield from caption_sentence_rows(path, stem, split, keypoints.expected(stem), lips.find(stem),
                                         videos.find(stem), language, options.text_language or "en")  # fmt: skip


def _clip_rows(
    root: Path, options: PrepareOptions, splits: dict[str, str], keypoints: FileIndex, lips: FileIndex, language: str
) -> Iterator[Row | Meta | Skip]:
    table = root / CLIP_TABLE
    with table.open(newline="", encoding="utf-8-sig") as stream:
        rows = list(csv.DictReader(stream))
    columns = set(rows[0]) if rows else set()
    if "path" not in columns or not ({"text", "label"} & columns):
        raise ValueError(
            f"{table}: need a 'path' column and 'text' (sentences) or 'label' (signs); got {sorted(columns)}"
        )
    kind = "sentences" if "text" in columns else "signs"
    labels = {}
    if kind == "signs":
        labels = {label: i for i, label in enumerate(sorted({r["label"].strip() for r in rows if r["label"].strip()}))}
        yield Meta("labels", labels)
    for number, row in enumerate(rows, start=2):
        clip = Path(row["path"].strip())
        clip = clip if clip.is_absolute() else root / clip
        stem = clip.stem
        if clip.suffix.lower() in KEYPOINT_SUFFIXES:
            keypoints_path = str(clip)
        else:
            keypoints_path = keypoints.expected(stem)
        start, end = optional_float(row.get("start")), optional_float(row.get("end"))
        if (row.get("start") or row.get("end")) and (start is None or end is None):
            yield Skip("invalid_span", f"{CLIP_TABLE} line {number}: start/end {row.get('start')!r}/{row.get('end')!r}")
            continue
        signer = (row.get("signer") or "").strip() or None
        split = (
            (row.get("split") or "").strip() or splits.get(stem) or hashed_split(signer or stem, options.val_fraction)
        )
        common = {
            "sample_id": f"{stem}/{number - 2}",
            "split": split,
            "episode_id": stem,
            "keypoints_path": keypoints_path,
            "lip_path": str(lips.find(stem) or "") or None,
            "video_path": None if clip.suffix.lower() in KEYPOINT_SUFFIXES else str(clip),
            "signer": signer,
            "sign_language": language,
        }
        if kind == "sentences":
            # A clip without times is a whole-file sentence: start 0, end filled from the keypoint file.
            yield Row(
                "sentences",
                {
                    **common,
                    "sentence_index": number - 2,
                    "start": start if start is not None else 0.0,
                    "end": end,
                    "timing": "csv",
                    "raw_text": row["text"],
                    "text_language": options.text_language or "en",
                },
            )
        else:
            label = row["label"].strip()
            yield Row(
                "signs",
                {
                    **common,
                    "label": label,
                    "label_id": labels.get(label, -1),
                    "start": start,
                    "end": end,
                    "source": "csv",
                },
            )


def build(root: Path, options: PrepareOptions) -> Iterator[Row | Meta | Skip]:
    language = options.sign_language or "unknown"
    splits = _splits(root)
    keypoints = FileIndex(options.keypoints_dir, KEYPOINT_SUFFIXES)
    lips = FileIndex(options.lip_dir, LIP_SUFFIXES)
    videos = FileIndex(root, VIDEO_SUFFIXES)
    found = False
    if _subtitle_files(root):
        found = True
        yield from _video_rows(root, options, splits, keypoints, lips, videos, language)
    if (root / CLIP_TABLE).is_file():
        found = True
        yield from _clip_rows(root, options, splits, keypoints, lips, language)
    if not found:
        raise ValueError(f"{root}: found neither .vtt/.srt subtitles nor {CLIP_TABLE} (see datasets_scripts/folder.md)")
