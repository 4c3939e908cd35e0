"""The prepared-dataset format: Parquet manifests that reference episode-level keypoint files.

Layout written by ``signllm data prepare`` (one folder per corpus)::

    <output>/
      sentences/<split>.parquet          one row per subtitle / sentence (SLT + SSA)
      signs/<split>.parquet              one row per isolated sign clip (ISLR), when the corpus has them
      labels.json                        ISLR label -> id map
      stats.json                         the statistics report (hours, sentences, vocabulary, signers, skipped)
      splits.json                        split definitions: {kind: {split: [episode ids]}}
      dataset_info.json                  corpus, options, schema version

With ``streaming=True`` each split is written as shards ``<split>-00000.parquet`` while rows arrive (constant
memory, input order); otherwise rows of a split are gathered, sorted by (episode, start) and written once.
Keypoints are never embedded: rows hold the episode file path (``keypoints_path``) and the time of its first
frame on the episode timeline (``keypoints_offset``), and windows are cut lazily by `windows.SignWindowDataset`.

File paths (``keypoints_path``, ``lip_path``, ``video_path``) are stored **relative to the dataset folder** (each
Parquet file says so in its schema metadata, ``signllm.paths: dataset``) and resolved against it when the manifest
is read (`load_manifest`, `iter_manifest_rows`), so a prepared dataset works from any working directory and can be
moved together with its keypoints. Manifests written before this convention hold the paths as given to
``signllm data prepare`` (absolute, or relative to where it ran): they are returned unchanged.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA_VERSION = 2  # 2: file paths relative to the dataset folder (1: as given to `signllm data prepare`)
KINDS = ("sentences", "signs")

SENTENCE_SCHEMA = pa.schema(
    [
        ("sample_id", pa.string()),  # "<episode_id>/<sentence_index>", unique in the corpus
        ("corpus", pa.string()),
        ("split", pa.string()),
        ("episode_id", pa.string()),
        ("sentence_index", pa.int32()),  # cue position in the source subtitle file / CSV row
        ("start", pa.float64()),  # target span in seconds on the episode timeline (signing-aligned when known)
        ("end", pa.float64()),
        ("timing", pa.string()),  # where start/end come from: manual | signing | audio | csv | caption | clip
        ("prior_start", pa.float64()),  # audio-aligned prior (SSA), null when the corpus has none
        ("prior_end", pa.float64()),
        ("text", pa.string()),  # cleaned target text
        ("raw_text", pa.string()),  # text as in the source file (markup removed)
        ("sat_excluded", pa.bool_()),  # raw text has "[" and "]": excluded from SSA evaluation (SAT protocol)
        ("num_words", pa.int32()),
        ("keypoints_path", pa.string()),
        ("keypoints_offset", pa.float64()),  # episode time (s) of keypoint frame 0 (clip-level files: clip start)
        ("num_frames", pa.int32()),  # frames in the keypoint file
        ("fps", pa.float32()),
        ("lip_path", pa.string()),
        ("video_path", pa.string()),
        ("signer", pa.string()),
        ("sign_language", pa.string()),
        ("text_language", pa.string()),
    ]
)

SIGN_SCHEMA = pa.schema(
    [
        ("sample_id", pa.string()),
        ("corpus", pa.string()),
        ("split", pa.string()),
        ("episode_id", pa.string()),
        ("label", pa.string()),
        ("label_id", pa.int32()),
        ("start", pa.float64()),  # clip span in seconds inside the keypoint file's timeline; null = whole file
        ("end", pa.float64()),
        ("source", pa.string()),  # annotation source (BOBSL: dict / mouthing / attention ...; Kaggle: kaggle)
        ("annotation_confidence", pa.float32()),
        ("keypoints_path", pa.string()),
        ("keypoints_offset", pa.float64()),
        ("num_frames", pa.int32()),
        ("fps", pa.float32()),
        ("lip_path", pa.string()),
        ("video_path", pa.string()),
        ("signer", pa.string()),
        ("sign_language", pa.string()),
    ]
)

SCHEMAS = {"sentences": SENTENCE_SCHEMA, "signs": SIGN_SCHEMA}
PATH_COLUMNS = ("keypoints_path", "lip_path", "video_path")
PATHS_METADATA_KEY = b"signllm.paths"
PATHS_RELATIVE_TO_DATASET = b"dataset"


def dataset_relative_path(path: str | os.PathLike | None, dataset_dir: str | os.PathLike) -> str | None:
    """``path`` (absolute, or relative to the current directory) as stored in a manifest: relative to the dataset
    folder, with ``/`` separators. Kept absolute when no relative path exists (another drive on Windows)."""
    if path is None or str(path) == "":
        return None
    absolute = os.path.abspath(os.fspath(path))
    try:
        return Path(os.path.relpath(absolute, os.path.abspath(os.fspath(dataset_dir)))).as_posix()
    except ValueError:
        return absolute


def resolve_dataset_path(path: str | None, dataset_dir: str | os.PathLike) -> str | None:
    """A stored path back to a usable one: absolute paths unchanged, relative ones joined to the dataset folder."""
    if not path:
        return path
    if os.path.isabs(path):
        return path
    return os.path.normpath(os.path.join(os.path.abspath(os.fspath(dataset_dir)), path))


def _paths_relative_to_dataset(schema: pa.Schema) -> bool:
    return (schema.metadata or {}).get(PATHS_METADATA_KEY) == PATHS_RELATIVE_TO_DATASET


def _resolve_row(row: dict[str, Any], dataset_dir: str | os.PathLike) -> dict[str, Any]:
    for column in PATH_COLUMNS:
        if row.get(column):
            row[column] = resolve_dataset_path(row[column], dataset_dir)
    return row


def _resolve_table(table: pa.Table, dataset_dir: str | os.PathLike) -> pa.Table:
    """Path columns of one manifest file resolved against the dataset folder (legacy files: unchanged)."""
    if not _paths_relative_to_dataset(table.schema):
        return table
    for column in PATH_COLUMNS:
        if column in table.column_names:
            values = [resolve_dataset_path(value, dataset_dir) for value in table.column(column).to_pylist()]
            table = table.set_column(table.schema.get_field_index(column), column, pa.array(values, pa.string()))
    return table.replace_schema_metadata(None)


def _check_kind(kind: str) -> pa.Schema:
    if kind not in SCHEMAS:
        raise ValueError(f"unknown manifest kind {kind!r}; expected one of {KINDS}")
    return SCHEMAS[kind]


def complete_row(row: dict[str, Any], kind: str) -> dict[str, Any]:
    """Fill absent columns with None and reject unknown ones (a typo must not silently drop a field)."""
    schema = _check_kind(kind)
    unknown = set(row) - set(schema.names)
    if unknown:
        raise ValueError(f"unknown {kind} manifest column(s) {sorted(unknown)}")
    return {name: row.get(name) for name in schema.names}


class ManifestWriter:
    """Write rows of one kind to ``<output>/<kind>/<split>[-NNNNN].parquet``.

    Args:
        output (`str | PathLike`): dataset folder.
        kind (`str`): ``"sentences"`` or ``"signs"``.
        streaming (`bool`, defaults to False): write shards as rows arrive instead of gathering a split.
        shard_size (`int`, defaults to 50_000): rows per shard in streaming mode (also the row-group size).
    """

    def __init__(self, output: str | os.PathLike, kind: str, streaming: bool = False, shard_size: int = 50_000):
        self.schema = _check_kind(kind)
        self.kind = kind
        self.root = Path(output)
        self.folder = self.root / kind
        self.streaming = streaming
        self.shard_size = max(1, int(shard_size))
        self._buffers: dict[str, list[dict[str, Any]]] = {}
        self._shard_counts: dict[str, int] = {}
        self.files: list[Path] = []

    def add(self, row: dict[str, Any]) -> None:
        row = complete_row(row, self.kind)
        for column in PATH_COLUMNS:  # stored relative to the dataset folder (module docstring)
            row[column] = dataset_relative_path(row[column], self.root)
        split = row["split"]
        if not split:
            raise ValueError(f"row {row.get('sample_id')!r} has no split")
        buffer = self._buffers.setdefault(split, [])
        buffer.append(row)
        if self.streaming and len(buffer) >= self.shard_size:
            self._flush_shard(split)

    def _write(self, rows: list[dict[str, Any]], path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        schema = self.schema.with_metadata({PATHS_METADATA_KEY: PATHS_RELATIVE_TO_DATASET})
        table = pa.Table.from_pylist(rows, schema=schema)
        tmp = path.with_name(f".{path.name}.partial")
        pq.write_table(table, tmp, row_group_size=min(self.shard_size, 10_000))
        os.replace(tmp, path)  # readers never see a half-written shard
        self.files.append(path)

    def _flush_shard(self, split: str) -> None:
        rows = self._buffers.pop(split, [])
        if not rows:
            return
        index = self._shard_counts.get(split, 0)
        self._shard_counts[split] = index + 1
        self._write(rows, self.folder / f"{split}-{index:05d}.parquet")

    def close(self) -> list[Path]:
        """Flush everything; returns the written files."""
        for split in list(self._buffers):
            if self.streaming:
                self._flush_shard(split)
            else:
                rows = self._buffers.pop(split)
                rows.sort(
                    key=lambda r: (
                        r["episode_id"] or "",
                        r["start"] if r["start"] is not None else -1.0,
                        r["sample_id"],
                    )
                )
                self._write(rows, self.folder / f"{split}.parquet")
        return self.files


def manifest_files(
    output: str | os.PathLike, kind: str = "sentences", split: str | None = None
) -> dict[str, list[str]]:
    """Split -> sorted parquet files of a prepared dataset (both single-file and sharded layouts)."""
    _check_kind(kind)
    folder = Path(output) / kind
    files: dict[str, list[str]] = {}
    for path in sorted(folder.glob("*.parquet")):
        name = path.stem
        split_name = name.rsplit("-", 1)[0] if name.rsplit("-", 1)[-1].isdigit() and "-" in name else name
        files.setdefault(split_name, []).append(str(path))
    if split is not None:
        if split not in files:
            raise ValueError(f"no {kind!r} split {split!r} in {output}; found {sorted(files) or 'none'}")
        return {split: files[split]}
    return files


def load_manifest(output: str | os.PathLike, kind: str = "sentences", split: str = "train", streaming: bool = False):
    """Open one split as a Hugging Face ``datasets.Dataset`` (memory-mapped) or ``IterableDataset`` (streaming).

    Streaming reads Parquet row groups lazily (``datasets.load_dataset("parquet", ..., streaming=True)``), so a
    large corpus is never materialised.
    """
    import datasets

    files = manifest_files(output, kind, split)[split]
    if streaming:
        dataset = datasets.load_dataset("parquet", data_files={split: files}, split=split, streaming=True)
        if _paths_relative_to_dataset(pq.read_schema(files[0])):  # one writer wrote every shard of a split
            root = os.path.abspath(output)  # the folder as named now, whatever the directory when rows are read
            dataset = dataset.map(lambda row: _resolve_row(row, root))
        return dataset
    table = pa.concat_tables([_resolve_table(pq.read_table(path, memory_map=True), output) for path in files])
    return datasets.Dataset(table, split=datasets.NamedSplit(split))


def iter_manifest_rows(output: str | os.PathLike, kind: str = "sentences", split: str = "train") -> Iterator[dict]:
    """Rows of one split, one Parquet row group at a time (no ``datasets`` needed)."""
    for path in manifest_files(output, kind, split)[split]:
        parquet = pq.ParquetFile(path)
        relative = _paths_relative_to_dataset(parquet.schema_arrow)
        for group in range(parquet.num_row_groups):
            for row in parquet.read_row_group(group).to_pylist():
                yield _resolve_row(row, output) if relative else row


def json_safe(value: Any) -> Any:
    """``value`` with every NaN / infinity replaced by ``None`` (null), so it serialises as strict JSON; numpy
    scalars and tuples become plain numbers and lists."""
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", None) == 0:
        value = value.item()  # numpy / torch scalar
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: str | os.PathLike, payload: Any, sort_keys: bool = True) -> None:
    """Atomic, strict JSON write (UTF-8; NaN / infinity written as null, see `json_safe`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(json_safe(payload), indent=2, sort_keys=sort_keys, ensure_ascii=False, allow_nan=False)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, path)
