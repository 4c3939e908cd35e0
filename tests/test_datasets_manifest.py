"""Manifest writing (single file and streaming shards), loading as HF datasets, the `signllm data` CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import fake_pose
from signllm.datasets_scripts.manifest import ManifestWriter, complete_row, load_manifest, manifest_files
from signllm.datasets_scripts.prepare import PrepareOptions, PrepareReport, RowValidator, hashed_split
from signllm.datasets_scripts.subtitles import Subtitle, write_subtitles
from signllm.datasets_scripts.windows import SignWindowDataset, WindowConfig, iter_window_samples
from signllm.processing.keypoint_io import KeypointSequence, write_npz
from signllm.train.cli import main


def sentence(i: int, split: str = "train", episode: str = "ep") -> dict:
    return {
        "sample_id": f"{episode}/{i}",
        "split": split,
        "episode_id": episode,
        "start": float(10 - i),
        "end": float(11 - i),
        "text": f"sentence {i}",
        "raw_text": f"sentence {i}",
        "num_words": 2,
    }


def test_writer_sorts_single_file(tmp_path):
    writer = ManifestWriter(tmp_path, "sentences")
    for i in range(5):
        writer.add(sentence(i))
    writer.add(sentence(9, split="test"))
    files = writer.close()
    assert sorted(p.name for p in files) == ["test.parquet", "train.parquet"]
    dataset = load_manifest(tmp_path, "sentences", "train")
    assert dataset["sample_id"] == [f"ep/{i}" for i in (4, 3, 2, 1, 0)]  # sorted by start
    assert dataset[0]["prior_start"] is None and dataset.split == "train"


def test_writer_streaming_flushes_shards_while_adding(tmp_path):
    writer = ManifestWriter(tmp_path, "sentences", streaming=True, shard_size=2)
    for i in range(5):
        writer.add(sentence(i))
        assert sum(len(rows) for rows in writer._buffers.values()) < 2  # never holds a whole split
    writer.close()
    assert [p.split("/")[-1] for p in manifest_files(tmp_path)["train"]] == [
        "train-00000.parquet",
        "train-00001.parquet",
        "train-00002.parquet",
    ]
    streamed = load_manifest(tmp_path, "sentences", "train", streaming=True)
    assert type(streamed).__name__ == "IterableDataset"
    assert [row["sample_id"] for row in streamed] == [f"ep/{i}" for i in range(5)]  # input order kept


def test_manifest_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown sentences manifest column"):
        complete_row({"sample_id": "a", "txt": "typo"}, "sentences")
    with pytest.raises(ValueError, match="unknown manifest kind"):
        ManifestWriter(tmp_path, "frames")
    with pytest.raises(ValueError, match="no 'sentences' split 'val'"):
        load_manifest(tmp_path, "sentences", "val")


def test_validator_reasons(tmp_path):
    values, mask = fake_pose(50)
    write_npz(tmp_path / "ep.npz", KeypointSequence(values=values, mask=mask, fps=25.0))
    validate = RowValidator(PrepareOptions(), PrepareReport("x"))
    base = {"sample_id": "ep/0", "split": "train", "episode_id": "ep", "keypoints_path": str(tmp_path / "ep.npz")}
    cases = {
        "empty_text": {"start": 0.0, "end": 1.5, "raw_text": "(laughs)"},
        "invalid_span": {"start": 1.5, "end": 1.0, "raw_text": "hi"},
        "too_short": {"start": 0.0, "end": 0.5, "raw_text": "hi"},
        "too_many_words": {"start": 0.0, "end": 1.5, "raw_text": "word " * 81},
        "outside_video": {"start": 1.0, "end": 3.0, "raw_text": "hi"},  # the file lasts 2 s (+0.5 s tolerance)
        "missing_keypoints": {"start": 0.0, "end": 1.5, "raw_text": "hi", "keypoints_path": str(tmp_path / "no.npz")},
        None: {"start": 0.0, "end": 2.4, "raw_text": "hi"},
    }
    for number, (reason, fields) in enumerate(cases.items()):
        assert validate("sentences", {**base, **fields, "sample_id": f"ep/{number}"}) == reason, reason
    assert validate("sentences", {**base, **cases[None], "sample_id": "ep/6"}) == "duplicate_id"


def test_hashed_split_is_stable():
    keys = [f"video{i}" for i in range(1000)]
    splits = [hashed_split(key, 0.1) for key in keys]
    assert splits == [hashed_split(key, 0.1) for key in keys]
    assert 60 < splits.count("val") < 140
    assert {hashed_split(key, 0.0) for key in keys} == {"train"}


def make_folder_corpus(tmp_path):
    root, kp = tmp_path / "corpus", tmp_path / "kp"
    kp.mkdir()
    for episode in ("talk1", "talk2"):
        values, mask = fake_pose(250)  # 10 s
        write_npz(kp / f"{episode}.npz", KeypointSequence(values=values, mask=mask, fps=25.0))
        write_subtitles(
            [Subtitle(1.0, 3.0, "first"), Subtitle(4.0, 6.0, "second"), Subtitle(8.0, 12.0, "late")],
            root / f"{episode}.vtt",
        )
    return root, kp


def test_cli_prepare_streaming_end_to_end(tmp_path, capsys):
    root, kp = make_folder_corpus(tmp_path)
    out = tmp_path / "out"
    code = main(
        [
            "data",
            "prepare",
            "folder",
            str(root),
            "--output",
            str(out),
            "--keypoints",
            str(kp),
            "--streaming",
            "--shard-size",
            "1",
            "--val-fraction",
            "0",
            "--sign-language",
            "xsl",
            "--no-progress",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "4 sentences" in printed and "outside_video 2" in printed
    stats = json.loads((out / "stats.json").read_text())
    assert stats["splits"]["sentences"]["train"]["vocabulary"] == 2 and stats["skipped"] == {"outside_video": 2}
    assert len(manifest_files(out)["train"]) == 4  # one shard per row
    info = json.loads((out / "dataset_info.json").read_text())
    assert info["options"]["streaming"] is True and info["corpus"] == "folder"
    # stream rows and windows without materialising the manifest
    rows = load_manifest(out, "sentences", "train", streaming=True)
    samples = list(iter_window_samples(rows, WindowConfig(num_frames=100)))
    assert [s["text"] for s in samples] == ["first", "second", "first", "second"]
    assert all(s["pose_values"].shape == (100, 203, 3) for s in samples)
    # map-style over the memory-mapped dataset
    dataset = SignWindowDataset(load_manifest(out, "sentences", "train"), WindowConfig(num_frames=100))
    assert len(dataset) == 4 and dataset[3]["text"] == "second"
    assert main(["data", "stats", str(out)]) == 0


def test_cli_errors(tmp_path, capsys):
    assert (
        main(
            ["data", "prepare", "how2sign", str(tmp_path / "missing"), "--output", str(tmp_path / "o"), "--no-progress"]
        )
        == 2
    )
    assert "corpus folder not found" in capsys.readouterr().err
    assert main(["data", "stats", str(tmp_path)]) == 2
    with pytest.raises(SystemExit):
        main(["data", "prepare", "nonexistent-corpus", str(tmp_path), "--output", str(tmp_path)])


def test_prepared_dataset_works_from_any_directory(tmp_path, monkeypatch):
    """`signllm data prepare` run with relative paths in one directory; training data read from another one."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from signllm.train.slt.data import windows_from_prepared
    from slt_training_helpers import make_folder_corpus, prepare_corpus

    work = tmp_path / "work"
    make_folder_corpus(work / "corpus", num_clips=4)
    monkeypatch.chdir(work)
    prepare_corpus(Path("corpus"), Path("prepared"))  # relative, as a user types it
    stored = pq.read_table(work / "prepared" / "sentences" / "train.parquet").column("keypoints_path").to_pylist()
    assert stored and all(p.startswith("../corpus/") for p in stored)  # relative to the dataset folder  # relative to the dataset folder
    monkeypatch.chdir(tmp_path)  # anywhere else
    windows, _ = windows_from_prepared([work / "prepared"], "train", 16, 25.0, ["slt"])
    assert windows[0]["pose"].shape == (16, 203, 3) and windows[0]["frame_mask"].any()
    rows = load_manifest(work / "prepared", "sentences", "train")
    assert all(Path(p).is_file() for p in rows["keypoints_path"])
    streamed = next(iter(load_manifest(work / "prepared", "sentences", "train", streaming=True)))
    assert Path(streamed["keypoints_path"]).is_file()
    # the dataset moves together with its keypoints: still readable
    (tmp_path / "moved").mkdir()
    (work / "prepared").rename(tmp_path / "moved" / "prepared")
    (work / "corpus").rename(tmp_path / "moved" / "corpus")
    windows, _ = windows_from_prepared([tmp_path / "moved" / "prepared"], "train", 16, 25.0, ["slt"])
    assert windows[0]["frame_mask"].any()

    # a manifest written before the convention (absolute paths, no metadata) is read unchanged
    legacy = tmp_path / "legacy"
    table = pq.read_table(tmp_path / "moved" / "prepared" / "sentences" / "train.parquet").replace_schema_metadata(None)
    absolute = [str(tmp_path / "moved" / "prepared" / p) for p in table.column("keypoints_path").to_pylist()]
    table = table.set_column(table.schema.get_field_index("keypoints_path"), "keypoints_path", pa.array(absolute))
    (legacy / "sentences").mkdir(parents=True)
    pq.write_table(table, legacy / "sentences" / "train.parquet")
    assert list(load_manifest(legacy, "sentences", "train")["keypoints_path"]) == absolute
    windows, _ = windows_from_prepared([legacy], "train", 16, 25.0, ["slt"])
    assert windows[0]["frame_mask"].any()


def test_write_json_is_strict_and_atomic(tmp_path):
    """Every metrics / stats JSON signllm writes goes through write_json: NaN and infinity become null (strict JSON
    that any parser reads), numpy scalars plain numbers, and no half-written file is left behind."""
    import math

    import numpy as np
    from signllm.datasets_scripts.manifest import write_json

    path = tmp_path / "m.json"
    write_json(path, {"bleu": float("nan"), "loss": np.float32(1.5), "spans": (1, float("inf")), "ok": [-math.inf]})
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"bleu": None, "loss": 1.5, "spans": [1, None], "ok": [None]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]
