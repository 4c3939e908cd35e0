"""How2Sign (ASL): sentence CSVs with START/END/SENTENCE per full video. Layout: ``how2sign.md``.

How2Sign has no audio-aligned subtitles, so rows carry no SSA prior: the paper finetunes How2Sign SLT-only, and the
sampler (`sampler.WindowConfig.ssa_without_prior="skip"`) turns such rows into SLT samples [ours, documented].
"""

from __future__ import annotations

import csv
import io
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
    optional_float,
)

CORPUS = "how2sign"
SPLITS = ("train", "val", "test")
_CSV_NAMES = ("how2sign_realigned_{split}.csv", "how2sign_{split}.csv")
_REQUIRED = ("VIDEO_NAME", "SENTENCE_NAME", "SENTENCE")


def find_sentence_tables(root: Path) -> dict[str, Path]:
    """Split -> sentence CSV under ``root`` (searched recursively; the realigned version wins)."""
    tables: dict[str, Path] = {}
    for split in SPLITS:
        for pattern in _CSV_NAMES:
            matches = sorted(root.rglob(pattern.format(split=split)))
            if matches:
                tables[split] = matches[0]
                break
    return tables


def read_sentence_table(path: Path) -> list[dict[str, str]]:
    """Rows of a How2Sign CSV: the official files are tab-separated, some copies comma-separated (sniffed).

    Returns dicts with ``VIDEO_ID, VIDEO_NAME, SENTENCE_ID, SENTENCE_NAME, START, END, SENTENCE`` (START/END from
    the ``*_REALIGNED`` columns when present).
    """
    text = path.read_text(encoding="utf-8-sig")
    header = text.split("\n", 1)[0]
    if "\t" in header:
        # official tab-separated files contain unbalanced quotes inside sentences: do not interpret quotes
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
    else:
        reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = [c.strip() for c in reader.fieldnames or []]
    missing = [c for c in _REQUIRED if c not in columns]
    start_col = next((c for c in ("START_REALIGNED", "START") if c in columns), None)
    end_col = next((c for c in ("END_REALIGNED", "END") if c in columns), None)
    if missing or start_col is None or end_col is None:
        raise ValueError(
            f"{path}: not a How2Sign sentence table; columns {columns}, need {list(_REQUIRED)} and "
            "START[_REALIGNED]/END[_REALIGNED]"
        )
    rows = []
    for raw in reader:
        row = {key.strip(): (value or "").strip() for key, value in raw.items() if key}
        row["START"], row["END"] = row[start_col], row[end_col]
        rows.append(row)
    return rows


def build(root: Path, options: PrepareOptions) -> Iterator[Row | Meta | Skip]:
    tables = find_sentence_tables(root)
    if not tables:
        raise ValueError(f"{root}: no How2Sign sentence table (expected how2sign_realigned_<split>.csv)")
    keypoints = FileIndex(options.keypoints_dir, KEYPOINT_SUFFIXES)
    lips = FileIndex(options.lip_dir, LIP_SUFFIXES)
    videos = FileIndex(root, VIDEO_SUFFIXES)
    yield Meta("sentence_tables", {split: str(path) for split, path in tables.items()})
    for split, path in tables.items():
        for number, row in enumerate(read_sentence_table(path)):
            start, end = optional_float(row["START"]), optional_float(row["END"])
            sentence_name, video_name = row["SENTENCE_NAME"], row["VIDEO_NAME"]
            if start is None or end is None:
                yield Skip("invalid_span", f"{path.name} row {number + 2}: START/END {row['START']!r}/{row['END']!r}")
                continue
            # Episode-level keypoints (extracted from the full video) are preferred: windows then see the context
            # around the sentence; per-sentence clip files are used as they are, offset to the sentence start.
            episode_file = keypoints.find(video_name)
            clip_file = None if episode_file is not None else keypoints.find(sentence_name)
            if clip_file is not None:
                keypoints_path, offset = str(clip_file), start
            else:
                keypoints_path, offset = keypoints.expected(video_name), 0.0
            video = videos.find(video_name)
            yield Row(
                "sentences",
                {
                    "sample_id": sentence_name or f"{video_name}/{number}",
                    "split": split,
                    "episode_id": video_name,
                    "sentence_index": number,
                    "start": start,
                    "end": end,
                    "timing": "csv",
                    "raw_text": row["SENTENCE"],
                    "keypoints_path": keypoints_path,
                    "keypoints_offset": offset if keypoints_path else None,
                    "lip_path": str(lips.find(video_name, sentence_name) or "") or None,
                    "video_path": str(video) if video else None,
                    "sign_language": options.sign_language or "ase",
                    "text_language": options.text_language or "en",
                },
            )
