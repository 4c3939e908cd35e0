"""FLEURS-ASL (ASL translations of FLORES sentences; evaluation only). Layout: ``fleurs_asl.md``.

Two layouts are accepted [ours: the releases differ]:

- **clips + metadata** (Hugging Face style): ``data/<split>/metadata.csv`` with ``file_name``, ``sentence`` and
  optionally ``id``, ``signer``; one clip per sentence (a sentence spans its whole keypoint file).
- **videos + captions**: ``<split>/<video>.vtt`` (one cue per sentence) beside the videos; the split is the
  parent folder name when it is one of `SPLITS`, else ``test``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from .prepare import KEYPOINT_SUFFIXES, LIP_SUFFIXES, VIDEO_SUFFIXES, FileIndex, Meta, PrepareOptions, Row, Skip
from .prepare_folder import _subtitle_files, _video_rows

CORPUS = "fleurs-asl"
SPLITS = ("dev", "devtest", "test", "validation", "val")


def _clip_rows(
    tables: list[Path], options: PrepareOptions, keypoints: FileIndex, lips: FileIndex
) -> Iterator[Row | Skip]:
    for table in tables:
        split = table.parent.name
        with table.open(newline="", encoding="utf-8-sig") as stream:
            reader = csv.DictReader(stream)
            missing = [c for c in ("file_name", "sentence") if c not in (reader.fieldnames or [])]
            if missing:
                raise ValueError(f"{table}: missing column(s) {missing}; found {reader.fieldnames}")
            for number, row in enumerate(reader):
                clip = table.parent / row["file_name"].strip()
                stem = clip.stem
                yield Row(
                    "sentences",
                    {
                        "sample_id": f"{split}/{row.get('id') or stem}/{number}",
                        "split": split,
                        "episode_id": stem,
                        "sentence_index": number,
                        "start": 0.0,
                        "end": None,
                        "timing": "clip",
                        "raw_text": row["sentence"],
                        "keypoints_path": keypoints.expected(stem),
                        "lip_path": str(lips.find(stem) or "") or None,
                        "video_path": str(clip) if clip.is_file() else None,
                        "signer": (row.get("signer") or "").strip() or None,
                        "sign_language": options.sign_language or "ase",
                        "text_language": options.text_language or "en",
                    },
                )


def build(root: Path, options: PrepareOptions) -> Iterator[Row | Meta | Skip]:
    keypoints = FileIndex(options.keypoints_dir, KEYPOINT_SUFFIXES)
    lips = FileIndex(options.lip_dir, LIP_SUFFIXES)
    tables = sorted(root.rglob("metadata.csv"))
    if tables:
        yield Meta("layout", "clips+metadata")
        yield from _clip_rows(tables, options, keypoints, lips)
        return
    captions = _subtitle_files(root)
    if not captions:
        raise ValueError(f"{root}: neither data/<split>/metadata.csv nor .vtt captions found (see fleurs_asl.md)")
    yield Meta("layout", "videos+captions")
    splits = {stem: (path.parent.name if path.parent.name in SPLITS else "test") for stem, path in captions.items()}
    videos = FileIndex(root, VIDEO_SUFFIXES)
    yield from _video_rows(root, options, splits, keypoints, lips, videos, options.sign_language or "ase")
