"""Shared pipeline of the corpus builders: validate candidate rows, write the manifests, report statistics.

A builder (``prepare_<corpus>.py``) only knows its corpus's on-disk layout: it yields `Row` objects (one
sentence or one sign clip, times in seconds, raw text) and optional `Meta` items. Everything else is here, the
same for every corpus:

- text: ``text`` = `clean_subtitle_text(raw_text)` (``clean_text=True``), ``sat_excluded`` flag from the raw text;
- filters [paper]: 1–20 s and <= 80 words (options; ``None`` disables a filter);
- bad data is **skipped and counted by reason, never mislabelled**: empty text, invalid span, duplicate id,
  missing / unreadable keypoint file, keypoints at the wrong frame rate, subtitle outside the video;
- rows are written by `manifest.ManifestWriter`; ``stats.json`` holds per-split hours, sentences, vocabulary,
  signers (where the corpus names them) and the skip counts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .manifest import SCHEMA_VERSION, ManifestWriter, write_json
from .subtitles import Subtitle, clean_subtitle_text, has_bracket_annotation, parse_subtitle_file

logger = logging.getLogger(__name__)

KEYPOINT_SUFFIXES = (".npz", ".pose", ".npy", ".parquet")
LIP_SUFFIXES = (".npy", ".npz")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


@dataclass
class PrepareOptions:
    """Options shared by every builder (the CLI flags of ``signllm data prepare``).

    Args:
        keypoints_dir (`Path`, *optional*): folder of episode keypoint files (searched recursively by file stem).
        lip_dir (`Path`, *optional*): folder of per-episode lip features (``.npy`` (t, 768) or ``.npz``).
        min_seconds / max_seconds (`float`, *optional*, defaults to 1 / 20): paper's duration filter.
        max_words (`int`, *optional*, defaults to 80): paper's length filter.
        fps (`float`, defaults to 25): frame rate the keypoint files must have (architecture §2.1).
        fps_tolerance (`float`, defaults to 0.01): relative tolerance of the frame-rate check.
        edge_tolerance (`float`, defaults to 0.5): seconds a subtitle may overrun the keypoint file before it
            counts as "outside the video" (subtitle ends are often rounded up past the last frame) [ours].
        clean_text (`bool`, defaults to True): apply `clean_subtitle_text` (raw text is kept in ``raw_text``).
        splits (`tuple`, *optional*): keep only these splits.
        streaming (`bool`, defaults to False): write shards as rows arrive (constant memory, input order).
        shard_size (`int`, defaults to 50_000): rows per streaming shard.
        progress (`bool`, defaults to True): tqdm progress bar.
        val_fraction (`float`, defaults to 0.1): for corpora without official splits (Kaggle ISLR, YouTube-SL-25,
            generic folders): fraction of signers / videos put in ``val``, chosen by a stable hash [ours].
        sign_language / text_language (`str`, *optional*): language codes stored in the rows (builder defaults
            when None, e.g. ``bfi`` / ``en`` for BOBSL).
        probe_videos (`bool`, defaults to False): read video headers (`signllm.processing.video.probe_video`):
            rows without keypoints are checked against the video's duration; rows with both are skipped as
            ``wrong_fps`` when the keypoint file's duration (frames / fps) disagrees with the video's by more than
            ``max(1 s, 5 %)`` — the sign of keypoints stored with a wrong frame rate.
        resample_fps (`bool`, defaults to False): accept keypoint files at any frame rate (the sampler resamples
            them to ``fps`` by time stamp) instead of skipping them as ``wrong_fps``.
    """

    keypoints_dir: Path | None = None
    lip_dir: Path | None = None
    min_seconds: float | None = 1.0
    max_seconds: float | None = 20.0
    max_words: int | None = 80
    fps: float = 25.0
    fps_tolerance: float = 0.01
    edge_tolerance: float = 0.5
    clean_text: bool = True
    splits: tuple[str, ...] | None = None
    streaming: bool = False
    shard_size: int = 50_000
    progress: bool = True
    val_fraction: float = 0.1
    sign_language: str | None = None
    text_language: str | None = None
    probe_videos: bool = False
    resample_fps: bool = False

    def __post_init__(self) -> None:
        self.keypoints_dir = Path(self.keypoints_dir) if self.keypoints_dir else None
        self.lip_dir = Path(self.lip_dir) if self.lip_dir else None
        if self.fps <= 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.min_seconds is not None and self.max_seconds is not None and self.min_seconds > self.max_seconds:
            raise ValueError(f"min_seconds ({self.min_seconds}) > max_seconds ({self.max_seconds})")


@dataclass
class Row:
    """One candidate manifest row from a builder; ``data`` uses the column names of `manifest.SCHEMAS[kind]`."""

    kind: str
    data: dict[str, Any]


@dataclass
class Meta:
    """Corpus-level information from a builder (``labels``: the full ISLR label map; anything else -> info)."""

    key: str
    value: Any


@dataclass
class Skip:
    """A builder-level problem (e.g. an unreadable subtitle file), counted like row-level skips."""

    reason: str
    detail: str
    count: int = 1


VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi")


def optional_float(value: Any) -> float | None:
    """A table cell as a float; ``None`` for an empty, missing or unparsable cell."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def read_subtitle_cues(path: Path) -> tuple[list[Subtitle], list[Skip]]:
    """The cues of one subtitle file, and a `Skip` for an unreadable file or for each malformed cue."""
    try:
        parsed = parse_subtitle_file(path)
    except ValueError as error:
        return [], [Skip("bad_subtitle_file", str(error)[:200])]
    skips = [Skip("bad_cue", f"{path.name}:{cue.line}: {cue.reason}") for cue in parsed.skipped]
    return parsed.subtitles, skips


def caption_sentence_rows(
    path: Path,
    episode_id: str,
    split: str,
    keypoints_path: str | None,
    lip_path: Path | None,
    video_path: Path | None,
    sign_language: str,
    text_language: str,
) -> Iterator[Row | Skip]:
    """One ``sentences`` row per cue of a caption file (timing ``"caption"``), after the file's skips."""
    subtitles, skips = read_subtitle_cues(path)
    yield from skips
    for sub in subtitles:
        yield Row(
            "sentences",
            {
                "sample_id": f"{episode_id}/{sub.index}",
                "split": split,
                "episode_id": episode_id,
                "sentence_index": sub.index,
                "start": sub.start,
                "end": sub.end,
                "timing": "caption",
                "raw_text": sub.text,
                "keypoints_path": keypoints_path,
                "lip_path": str(lip_path or "") or None,
                "video_path": str(video_path) if video_path else None,
                "sign_language": sign_language,
                "text_language": text_language,
            },
        )


def hashed_split(key: str, val_fraction: float) -> str:
    """``"val"`` for a stable pseudo-random ``val_fraction`` of keys (signer / video id), else ``"train"``.

    A hash, not a random draw, so adding videos never moves existing ones between splits.
    """
    bucket = int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "val" if bucket < val_fraction else "train"


# ------------------------------------------------------------------------------------------------ keypoint files


class FileIndex:
    """Map file stems to paths under a folder (recursive), built once: ``index.find("ep1")`` -> path or None."""

    def __init__(self, folder: Path | None, suffixes: tuple[str, ...]):
        self.folder = folder
        self.suffixes = suffixes
        self._paths: dict[str, Path] = {}
        if folder is None:
            return
        if not folder.is_dir():
            raise ValueError(f"folder not found: {folder}")
        rank = {suffix: i for i, suffix in enumerate(suffixes)}
        for path in sorted(folder.rglob("*")):
            suffix = path.suffix.lower()
            if suffix in rank and path.is_file() and not path.name.startswith("."):
                known = self._paths.get(path.stem)
                if known is None or rank[suffix] < rank[known.suffix.lower()]:
                    self._paths[path.stem] = path

    def find(self, *stems: str) -> Path | None:
        for stem in stems:
            if stem in self._paths:
                return self._paths[stem]
        return None

    def expected(self, *stems: str) -> str | None:
        """The found path, or (when a folder was given) the path that was expected, so the row reports it missing."""
        if self.folder is None:
            return None
        found = self.find(*stems)
        return str(found if found is not None else self.folder / f"{stems[0]}{self.suffixes[0]}")


def _npz_header(path: Path) -> tuple[int, float | None] | None:
    """Frames and fps of an ``.npz`` without decompressing ``values`` (reads the array header only)."""
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        if "values.npy" not in names:
            return None
        with archive.open("values.npy") as stream:
            version = np.lib.format.read_magic(stream)
            read_header = (
                np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            )
            shape, _, _ = read_header(stream)
        fps = None
        if "fps.npy" in names:
            with archive.open("fps.npy") as stream:
                fps = float(np.lib.format.read_array(stream))
    return int(shape[0]), fps


def probe_keypoints(path: str | os.PathLike) -> tuple[int, float]:
    """``(num_frames, fps)`` of a keypoint file; cheap for ``.npz`` (header only), a full read otherwise.

    Raises ``ValueError`` (``KeypointFileError``) when the file cannot be read.
    """
    from signllm.processing.keypoint_io import read_keypoints

    path = Path(path)
    if path.suffix.lower() == ".npz":
        try:
            header = _npz_header(path)
        except (zipfile.BadZipFile, OSError, ValueError) as error:
            raise ValueError(f"cannot read {path}: {error!r}") from None
        if header is not None and header[1] is not None:
            return header[0], header[1]
    if path.suffix.lower() == ".parquet":
        # Kaggle landmark files: counting frames needs only the "frame" column (the full read is ~10x slower)
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq
        from signllm.processing.keypoint_io import KAGGLE_DEFAULT_FPS

        try:
            frames = pq.read_table(path, columns=["frame"]).column("frame")
        except (OSError, ValueError, KeyError, pa.ArrowException) as error:
            raise ValueError(f"cannot read {path} as a Kaggle landmark parquet: {error!r}") from None
        return len(pc.unique(frames)), KAGGLE_DEFAULT_FPS
    sequence = read_keypoints(path)
    return sequence.num_frames, sequence.fps


# ------------------------------------------------------------------------------------------------------ statistics


def count_words(text: str) -> int:
    return len(_WORD.findall(text))


@dataclass
class _SplitStats:
    rows: int = 0
    seconds: float = 0.0
    words: int = 0
    episodes: set = field(default_factory=set)
    vocabulary: set = field(default_factory=set)
    signers: set = field(default_factory=set)
    labels: set = field(default_factory=set)
    sat_excluded: int = 0
    with_prior: int = 0
    episode_seconds: dict = field(default_factory=dict)

    def summary(self, kind: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rows": self.rows,
            "hours": round(self.seconds / 3600.0, 4),
            "episodes": len(self.episodes),
            "signers": len(self.signers) or None,
            # length of the keypoint files behind the rows (video hours, not only the subtitled parts)
            "keypoint_hours": round(sum(self.episode_seconds.values()) / 3600.0, 4),
        }
        if kind == "sentences":
            out.update(
                sentences=self.rows,
                words=self.words,
                vocabulary=len(self.vocabulary),
                mean_seconds=round(self.seconds / self.rows, 3) if self.rows else None,
                sat_excluded=self.sat_excluded,
                with_prior=self.with_prior,
            )
        else:
            out.update(classes=len(self.labels))
        return out


class PrepareReport:
    """Counts of written rows per split and of skipped rows per reason (with a few examples each)."""

    def __init__(self, corpus: str):
        self.corpus = corpus
        self.stats: dict[str, dict[str, _SplitStats]] = {
            "sentences": defaultdict(_SplitStats),
            "signs": defaultdict(_SplitStats),
        }
        self.skipped: Counter = Counter()
        self.examples: dict[str, list[str]] = defaultdict(list)
        self.notes: list[str] = []

    def skip(self, reason: str, detail: str, count: int = 1) -> None:
        self.skipped[reason] += count
        if len(self.examples[reason]) < 5:
            self.examples[reason].append(detail)

    def add(self, kind: str, row: dict[str, Any]) -> None:
        stats = self.stats[kind][row["split"]]
        stats.rows += 1
        if row.get("start") is not None and row.get("end") is not None:
            stats.seconds += row["end"] - row["start"]
        stats.episodes.add(row["episode_id"])
        if row.get("keypoints_path") and row.get("num_frames") and row.get("fps"):
            stats.episode_seconds[row["keypoints_path"]] = row["num_frames"] / row["fps"]
        if row.get("signer"):
            stats.signers.add(row["signer"])
        if kind == "sentences":
            stats.words += row["num_words"]
            stats.vocabulary.update(word.lower() for word in _WORD.findall(row["text"]))
            stats.sat_excluded += bool(row["sat_excluded"])
            stats.with_prior += row.get("prior_start") is not None
        else:
            stats.labels.add(row["label"])

    def to_dict(self) -> dict[str, Any]:
        splits = {
            kind: {split: s.summary(kind) for split, s in sorted(by_split.items())}
            for kind, by_split in self.stats.items()
            if by_split
        }
        return {
            "corpus": self.corpus,
            "splits": splits,
            "skipped": dict(sorted(self.skipped.items())),
            "skipped_total": sum(self.skipped.values()),
            "skipped_examples": dict(self.examples),
            "notes": self.notes,
        }

    def format(self) -> str:
        """Human-readable table for the terminal."""
        report = self.to_dict()
        lines = [f"{self.corpus}: prepared dataset statistics"]
        for kind, by_split in report["splits"].items():
            for split, s in by_split.items():
                if kind == "sentences":
                    lines.append(
                        f"  {kind:<9} {split:<12} {s['rows']:>8} sentences  {s['hours']:>9.2f} h  "
                        f"vocabulary {s['vocabulary']:>6}  episodes {s['episodes']:>5}  "
                        f"signers {s['signers'] if s['signers'] is not None else 'n/a'}"
                    )
                else:
                    lines.append(
                        f"  {kind:<9} {split:<12} {s['rows']:>8} clips  {s['classes']:>6} classes  "
                        f"signers {s['signers'] if s['signers'] is not None else 'n/a'}"
                    )
        if report["skipped"]:
            lines.append(
                f"  skipped {report['skipped_total']}: "
                + ", ".join(f"{reason} {n}" for reason, n in report["skipped"].items())
            )
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


# ------------------------------------------------------------------------------------------------------ validation


class RowValidator:
    """Fill derived columns and decide whether a candidate row is usable (returns the skip reason or None)."""

    def __init__(self, options: PrepareOptions, report: PrepareReport):
        self.options = options
        self.report = report
        self._probes: dict[str, tuple[int, float] | str] = {}
        self.extractors: dict[str, int] = {}  # keypoint provenance (JSON, "" = not recorded) -> number of files
        self._videos: dict[str, float | str] = {}
        self._seen: set[str] = set()

    def _probe(self, path: str) -> tuple[int, float] | str:
        if path not in self._probes:
            if not Path(path).is_file():
                self._probes[path] = "missing_keypoints"
            else:
                try:
                    self._probes[path] = probe_keypoints(path)
                    self._count_extractor(path)
                except ValueError as error:
                    logger.warning("unreadable keypoint file %s: %s", path, error)
                    self._probes[path] = "bad_keypoints"
        return self._probes[path]

    def _count_extractor(self, path: str) -> None:
        from signllm.keypoint_reading import encode_extractor, read_extractor

        info = read_extractor(path)
        key = encode_extractor(info) if info else ""
        self.extractors[key] = self.extractors.get(key, 0) + 1

    def keypoint_extractors(self) -> list[dict[str, Any]]:
        """``[{"extractor": provenance or None, "files": n}, ...]``, most files first (``dataset_info.json``)."""
        ranked = sorted(self.extractors.items(), key=lambda item: -item[1])
        return [{"extractor": json.loads(key) if key else None, "files": count} for key, count in ranked]

    def _video_duration(self, path: str) -> float | str:
        if path not in self._videos:
            from signllm.processing.video import probe_video

            try:
                self._videos[path] = probe_video(path).duration
            except ValueError as error:  # VideoError: missing / corrupt / empty
                logger.warning("unreadable video %s: %s", path, error)
                self._videos[path] = "bad_video"
        return self._videos[path]

    def _check_video(self, row: dict[str, Any]) -> str | None:
        """Rows without keypoints: check the span against the video's duration (``probe_videos``)."""
        if not (self.options.probe_videos and row.get("video_path")) or row.get("start") is None:
            return None
        duration = self._video_duration(row["video_path"])
        if isinstance(duration, str):
            return duration
        if row["start"] < -self.options.edge_tolerance or row["end"] > duration + self.options.edge_tolerance:
            return "outside_video"
        return None

    def _check_keypoints(self, row: dict[str, Any], check_fps: bool) -> str | None:
        path = row.get("keypoints_path")
        if path is None:
            return self._check_video(row)
        probe = self._probe(path)
        if isinstance(probe, str):
            return probe
        num_frames, fps = probe
        row["num_frames"] = num_frames
        row["fps"] = fps
        wrong_rate = abs(fps - self.options.fps) > self.options.fps_tolerance * self.options.fps
        if check_fps and wrong_rate and not self.options.resample_fps:
            return "wrong_fps"
        if self.options.probe_videos and row.get("video_path") and not row.get("keypoints_offset"):
            # an episode-level file must last as long as its video, whatever its frame rate
            video_duration = self._video_duration(row["video_path"])
            if isinstance(video_duration, str):
                return video_duration
            if abs(num_frames / fps - video_duration) > max(1.0, 0.05 * video_duration):
                return "wrong_fps"
        start, end = row.get("start"), row.get("end")
        if start is not None and end is not None:
            offset = row.get("keypoints_offset") or 0.0
            duration = num_frames / fps
            tolerance = self.options.edge_tolerance
            if start < offset - tolerance or end > offset + duration + tolerance:
                return "outside_video"
        return None

    def sentence(self, row: dict[str, Any]) -> str | None:
        options = self.options
        raw = (row.get("raw_text") or "").strip()
        row["raw_text"] = raw
        row["text"] = clean_subtitle_text(raw) if options.clean_text else re.sub(r"\s+", " ", raw)
        row["sat_excluded"] = has_bracket_annotation(raw)
        row["num_words"] = count_words(row["text"])
        if row.get("keypoints_offset") is None and row.get("keypoints_path"):
            row["keypoints_offset"] = 0.0
        if not row["text"]:
            return "empty_text"
        if row.get("end") is None and row.get("start") is not None:
            # clip-level corpora (one file per sentence): the sentence spans the whole keypoint file (or video)
            if row.get("keypoints_path"):
                probe = self._probe(row["keypoints_path"])
                if isinstance(probe, str):
                    return probe
                row["end"] = (row.get("keypoints_offset") or 0.0) + probe[0] / probe[1]
            elif self.options.probe_videos and row.get("video_path"):
                duration = self._video_duration(row["video_path"])
                if isinstance(duration, str):
                    return duration
                row["end"] = row["start"] + duration
        start, end = row.get("start"), row.get("end")
        if start is None or end is None or not (math.isfinite(start) and math.isfinite(end)) or end <= start:
            return "invalid_span"
        duration = end - start
        if options.min_seconds is not None and duration < options.min_seconds:
            return "too_short"
        if options.max_seconds is not None and duration > options.max_seconds:
            return "too_long"
        if options.max_words is not None and row["num_words"] > options.max_words:
            return "too_many_words"
        if (row.get("prior_start") is None) != (row.get("prior_end") is None):
            return "invalid_prior"
        return self._check_keypoints(row, check_fps=True)

    def sign(self, row: dict[str, Any]) -> str | None:
        if not (row.get("label") or "").strip():
            return "empty_label"
        start, end = row.get("start"), row.get("end")
        if (start is None) != (end is None) or (start is not None and end <= start):
            return "invalid_span"
        if row.get("keypoints_offset") is None and row.get("keypoints_path"):
            row["keypoints_offset"] = 0.0
        # Isolated clips are resampled on load, so their frame rate is not a labelling risk; only time-aligned
        # clips cut from an episode must match the episode timeline.
        return self._check_keypoints(row, check_fps=start is not None)

    def __call__(self, kind: str, row: dict[str, Any]) -> str | None:
        sample_id = row.get("sample_id")
        if not sample_id:
            raise ValueError(f"builder produced a {kind} row without sample_id: {row}")
        reason = self.sentence(row) if kind == "sentences" else self.sign(row)
        if reason is None:
            key = f"{kind}/{sample_id}"
            if key in self._seen:
                return "duplicate_id"
            self._seen.add(key)
        return reason


# ------------------------------------------------------------------------------------------------------- pipeline

_FILE_REASONS = ("missing_keypoints", "bad_keypoints", "wrong_fps", "outside_video", "bad_video")


def _describe(reason: str, row: dict[str, Any]) -> str:
    """One line naming the skipped row and the evidence (file and timing, or text)."""
    span = f"{row.get('start')}-{row.get('end')} s"
    if reason in _FILE_REASONS and row.get("keypoints_path") is None:
        extra = str(row.get("video_path"))
    elif reason in _FILE_REASONS:
        extra = f"{row.get('keypoints_path')} ({row.get('num_frames')} frames @ {row.get('fps')} fps)"
    else:
        extra = repr(row.get("raw_text") or row.get("label") or "")
    return f"{row.get('sample_id')} [{span}]: {extra}"[:240]


Builder = Callable[[Path, PrepareOptions], Iterable["Row | Meta | Skip"]]


def run_prepare(
    corpus: str, builder: Builder, root: str | os.PathLike, output: str | os.PathLike, options: PrepareOptions
) -> PrepareReport:
    """Run ``builder(root, options)``, validate and write every row, write ``stats.json`` / ``dataset_info.json``."""
    from tqdm.auto import tqdm

    root = Path(root)
    if not root.exists():
        raise ValueError(f"{corpus}: corpus folder not found: {root}")
    output = Path(output)
    report = PrepareReport(corpus)
    writers = {
        kind: ManifestWriter(output, kind, streaming=options.streaming, shard_size=options.shard_size)
        for kind in ("sentences", "signs")
    }
    validate = RowValidator(options, report)
    info: dict[str, Any] = {}
    labels: dict[str, int] | None = None
    seen_labels: dict[str, int] = {}
    without_keypoints = 0
    items = tqdm(builder(root, options), desc=f"prepare {corpus}", unit=" rows", disable=not options.progress)
    for item in items:
        if isinstance(item, Skip):
            report.skip(item.reason, item.detail, item.count)
            continue
        if isinstance(item, Meta):
            if item.key == "labels":
                labels = dict(item.value)
            else:
                info[item.key] = item.value
            continue
        row = dict(item.data)
        if options.splits is not None and row.get("split") not in options.splits:
            continue
        row["corpus"] = corpus
        reason = validate(item.kind, row)
        if reason is not None:
            report.skip(reason, _describe(reason, row))
            continue
        if item.kind == "signs" and seen_labels.setdefault(row["label"], row["label_id"]) != row["label_id"]:
            raise ValueError(
                f"{corpus}: label {row['label']!r} has two ids ({seen_labels[row['label']]}, {row['label_id']})"
            )
        writers[item.kind].add(row)
        report.add(item.kind, row)
        without_keypoints += row.get("keypoints_path") is None
    files = [str(path) for writer in writers.values() for path in writer.close()]
    if without_keypoints:
        report.notes.append(
            f"{without_keypoints} row(s) have no keypoint file (no --keypoints folder given?): "
            "extract keypoints before training"
        )
    if not files:
        report.notes.append("no row passed validation: nothing written")
    if labels is not None or seen_labels:
        write_json(output / "labels.json", labels if labels is not None else seen_labels)
    stats = report.to_dict()
    write_json(output / "stats.json", stats)
    # split definitions: which episodes each split holds (episodes, not rows, so splits never share a video)
    write_json(
        output / "splits.json",
        {
            kind: {split: sorted(s.episodes) for split, s in sorted(by_split.items())}
            for kind, by_split in report.stats.items()
            if by_split
        },
    )
    options_dict = {key: str(value) if isinstance(value, Path) else value for key, value in asdict(options).items()}
    write_json(
        output / "dataset_info.json",
        {
            "corpus": corpus,
            "schema_version": SCHEMA_VERSION,
            "source": str(root),
            "options": options_dict,
            "files": [Path(os.path.relpath(path, output)).as_posix() for path in files],  # in the dataset folder
            "info": info,
            "keypoint_extractors": validate.keypoint_extractors(),  # what signllm extract recorded per file
        },
    )
    return report
