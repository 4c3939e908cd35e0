"""YouTube-SL-25: user-downloaded YouTube videos + their caption files, ASL / BSL (or any) subsets.

Layout: ``youtube_sl25.md``. A metadata CSV lists ``video_id`` and its sign ``language`` (ISO 639-3: ``ase`` ASL,
``bfi`` BSL, ...); captions are ``captions/<video_id>[.<text-lang>].vtt|.srt`` (yt-dlp naming). The paper's caption
cleaning (`subtitles.clean_subtitle_text`) is always applied here. The corpus has no official splits and no
audio-aligned prior: a stable hash of the video id puts ``val_fraction`` of the videos in ``val`` [ours].
"""

from __future__ import annotations

import csv
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
)

CORPUS = "youtube-sl-25"
LANGUAGE_ALIASES = {"asl": "ase", "bsl": "bfi", "american": "ase", "british": "bfi"}
_ID_COLUMNS = ("video_id", "id", "youtube_id", "yt_id")
_LANGUAGE_COLUMNS = ("language", "sign_language", "lang", "language_code")


def normalise_language(code: str) -> str:
    code = code.strip().lower()
    return LANGUAGE_ALIASES.get(code, code)


def read_metadata(root: Path) -> dict[str, str]:
    """video id -> sign-language code, from the first CSV at the corpus root with id and language columns."""
    for path in sorted(root.glob("*.csv")):
        with path.open(newline="", encoding="utf-8-sig") as stream:
            reader = csv.DictReader(stream)
            columns = reader.fieldnames or []
            id_column = next((c for c in _ID_COLUMNS if c in columns), None)
            language_column = next((c for c in _LANGUAGE_COLUMNS if c in columns), None)
            if id_column and language_column:
                return {
                    row[id_column].strip(): normalise_language(row[language_column])
                    for row in reader
                    if row[id_column].strip()
                }
    raise ValueError(
        f"{root}: no metadata CSV with a video id ({'/'.join(_ID_COLUMNS)}) and a language "
        f"({'/'.join(_LANGUAGE_COLUMNS)}) column"
    )


def find_captions(root: Path) -> dict[str, list[tuple[str | None, Path]]]:
    """video id -> [(text language or None, caption file)] from ``captions/`` (or the root)."""
    folder = root / "captions" if (root / "captions").is_dir() else root
    found: dict[str, list[tuple[str | None, Path]]] = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() not in (".vtt", ".srt") or path.name.startswith("."):
            continue
        # yt-dlp writes "<id>.<lang>.vtt"; YouTube ids never contain a dot
        video_id, _, language = path.stem.partition(".")
        found.setdefault(video_id, []).append((language or None, path))
    return found


def build(root: Path, options: PrepareOptions) -> Iterator[Row | Meta | Skip]:
    metadata = read_metadata(root)
    wanted = {normalise_language(code) for code in options.sign_language.split(",")} if options.sign_language else None
    captions = find_captions(root)
    keypoints = FileIndex(options.keypoints_dir, KEYPOINT_SUFFIXES)
    lips = FileIndex(options.lip_dir, LIP_SUFFIXES)
    videos = FileIndex(root / "videos", VIDEO_SUFFIXES) if (root / "videos").is_dir() else FileIndex(None, ())
    selected = {vid: lang for vid, lang in metadata.items() if wanted is None or lang in wanted}
    yield Meta("languages", sorted(set(selected.values())))
    for video_id, language in sorted(selected.items()):
        files = captions.get(video_id, [])
        if options.text_language:
            files = [
                (lang, path) for lang, path in files if lang is None or lang.split("-")[0] == options.text_language
            ]
        if not files:
            yield Skip("missing_captions", f"{video_id}: no caption file")
            continue
        text_language, path = files[0]  # one caption track per video: the first in name order
        yield from caption_sentence_rows(
            path, video_id, hashed_split(video_id, options.val_fraction), keypoints.expected(video_id),
            lips.find(video_id), videos.find(video_id), language, text_language or options.text_language or "en",
        )  # fmt: skip
