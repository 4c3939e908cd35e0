"""Corpus builders on small fixtures in each corpus's on-disk layout, and on the real samples when present."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import fake_pose, shared_data_path
from signllm.datasets_scripts import (
    prepare_bobsl,
    prepare_fleurs_asl,
    prepare_folder,
    prepare_how2sign,
    prepare_kaggle_islr,
    prepare_youtube_sl25,
)
from signllm.datasets_scripts.manifest import iter_manifest_rows, load_manifest
from signllm.datasets_scripts.prepare import PrepareOptions, run_prepare
from signllm.datasets_scripts.subtitles import Subtitle, write_subtitles
from signllm.processing.keypoint_io import KeypointSequence, write_npz


def write_keypoints(path: Path, seconds: float, fps: float = 25.0, seed: int = 0) -> Path:
    values, mask = fake_pose(round(seconds * fps), seed=seed)
    write_npz(path, KeypointSequence(values=values, mask=mask, fps=fps))
    return path


def prepare(builder, root, tmp_path, **options):
    options.setdefault("progress", False)
    out = tmp_path / "out"
    report = run_prepare(builder.CORPUS, builder.build, root, out, PrepareOptions(**options))
    return report, out


def rows(out: Path, kind: str = "sentences", split: str = "train") -> list[dict]:
    return list(iter_manifest_rows(out, kind, split))


# ------------------------------------------------------------------------------------------------------ How2Sign


def make_how2sign(tmp_path: Path) -> tuple[Path, Path]:
    root, kp = tmp_path / "how2sign", tmp_path / "keypoints"
    root.mkdir()
    header = "VIDEO_ID\tVIDEO_NAME\tSENTENCE_ID\tSENTENCE_NAME\tSTART_REALIGNED\tEND_REALIGNED\tSENTENCE\n"
    lines = [
        'vA\tvA-1-rgb_front\tvA_0\tvA_0-1-rgb_front\t1.0\t4.0\tHello "world\n',  # unbalanced quote: official files
        "vA\tvA-1-rgb_front\tvA_1\tvA_1-1-rgb_front\t5.0\t9.0\tSecond sentence.\n",
        "vA\tvA-1-rgb_front\tvA_2\tvA_2-1-rgb_front\t9.0\t14.0\tPast the end of the keypoints.\n",
        "vA\tvA-1-rgb_front\tvA_3\tvA_3-1-rgb_front\t2.0\t3.0\t \n",  # empty text
        "vB\tvB-1-rgb_front\tvB_0\tvB_0-1-rgb_front\t30.0\t33.0\tClip-level keypoints.\n",
        "vC\tvC-1-rgb_front\tvC_0\tvC_0-1-rgb_front\t1.0\t3.0\tNo keypoints at all.\n",
        "vD\tvD-1-rgb_front\tvD_0\tvD_0-1-rgb_front\t1.0\t3.0\tWrong frame rate.\n",
        "vA\tvA-1-rgb_front\tvA_4\tvA_4-1-rgb_front\t1.0\t25.0\tToo long.\n",
        "vA\tvA-1-rgb_front\tvA_5\tvA_5-1-rgb_front\tx\t2.0\tBad time.\n",
    ]
    (root / "how2sign_realigned_train.csv").write_text(header + "".join(lines), encoding="utf-8")
    pd.DataFrame(
        {
            "VIDEO_ID": ["vE"],
            "VIDEO_NAME": ["vE-1-rgb_front"],
            "SENTENCE_ID": ["vE_0"],
            "SENTENCE_NAME": ["vE_0-1-rgb_front"],
            "START_REALIGNED": [0.5],
            "END_REALIGNED": [2.5],
            "SENTENCE": ["Comma, separated copy."],
        }
    ).to_csv(root / "how2sign_realigned_val.csv", index=False)
    (root / "train_raw_videos" / "raw_videos").mkdir(parents=True)
    (root / "train_raw_videos" / "raw_videos" / "vA-1-rgb_front.mp4").write_bytes(b"")
    kp.mkdir()
    write_keypoints(kp / "vA-1-rgb_front.npz", 10.0)
    write_keypoints(kp / "vB_0-1-rgb_front.npz", 3.0)  # only the sentence clip was extracted
    write_keypoints(kp / "vD-1-rgb_front.npz", 4.0, fps=30.0)
    write_keypoints(kp / "vE-1-rgb_front.npz", 3.0)
    return root, kp


def test_how2sign_fixture(tmp_path):
    root, kp = make_how2sign(tmp_path)
    report, out = prepare(prepare_how2sign, root, tmp_path, keypoints_dir=kp)
    train = {r["sample_id"]: r for r in rows(out)}
    assert sorted(train) == ["vA_0-1-rgb_front", "vA_1-1-rgb_front", "vB_0-1-rgb_front"]
    first = train["vA_0-1-rgb_front"]
    assert first["text"] == 'Hello "world' and (first["start"], first["end"]) == (1.0, 4.0)
    assert first["keypoints_path"].endswith("vA-1-rgb_front.npz") and first["keypoints_offset"] == 0.0
    assert (first["num_frames"], first["fps"]) == (250, 25.0)
    assert first["video_path"].endswith("vA-1-rgb_front.mp4")
    clip = train["vB_0-1-rgb_front"]
    assert clip["keypoints_offset"] == 30.0 and clip["episode_id"] == "vB-1-rgb_front"
    assert first["prior_start"] is None  # How2Sign has no audio-aligned prior
    assert [r["text"] for r in rows(out, split="val")] == ["Comma, separated copy."]
    assert report.skipped == {
        "outside_video": 1,
        "empty_text": 1,
        "missing_keypoints": 1,
        "wrong_fps": 1,
        "too_long": 1,
        "invalid_span": 1,
    }
    stats = json.loads((out / "stats.json").read_text())
    assert stats["splits"]["sentences"]["train"]["sentences"] == 3
    assert stats["splits"]["sentences"]["train"]["keypoint_hours"] == round((10.0 + 3.0) / 3600, 4)
    assert stats["skipped_total"] == 6
    assert any("30.0 fps" in e for e in stats["skipped_examples"]["wrong_fps"])


def test_how2sign_filters_are_options(tmp_path):
    root, kp = make_how2sign(tmp_path)
    report, _out = prepare(prepare_how2sign, root, tmp_path, keypoints_dir=kp, max_seconds=None)
    assert "too_long" not in report.skipped
    assert report.skipped["outside_video"] == 2  # the 1-25 s sentence now reaches the keypoint check


def test_how2sign_real_val_csv(tmp_path):
    root = shared_data_path("how2sign_samples")
    report, out = prepare(prepare_how2sign, root, tmp_path, splits=("val",))
    dataset = load_manifest(out, "sentences", "val")
    total = len(pd.read_csv(root / "how2sign_realigned_val.csv"))
    assert total == 1741
    assert len(dataset) + sum(report.skipped.values()) == total
    assert set(report.skipped) <= {"too_short", "too_long", "too_many_words"}
    durations = np.asarray(dataset["end"]) - np.asarray(dataset["start"])
    assert durations.min() >= 1.0 and durations.max() <= 20.0
    assert all(text and text == text.strip() for text in dataset["text"])


# ------------------------------------------------------------------------------------------------------ Kaggle


def write_kaggle_parquet(path: Path, num_frames: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    parts = [("face", 468), ("left_hand", 21), ("pose", 33), ("right_hand", 21)]
    records = []
    for frame in range(num_frames):
        for kind, count in parts:
            for index in range(count):
                x, y, z = rng.random(3)
                if kind == "left_hand":
                    x = y = z = np.nan
                records.append((frame, f"{frame}-{kind}-{index}", kind, index, x, y, z))
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(records, columns=["frame", "row_id", "type", "landmark_index", "x", "y", "z"]).to_parquet(path)


def test_kaggle_fixture(tmp_path):
    root = tmp_path / "asl-signs"
    (root / "train_landmark_files").mkdir(parents=True)
    json.dump({"hello": 0, "thankyou": 1, "TV": 2}, (root / "sign_to_prediction_index_map.json").open("w"))
    table = [
        ("train_landmark_files/1/10.parquet", 1, 10, "hello"),
        ("train_landmark_files/1/11.parquet", 1, 11, "TV"),
        ("train_landmark_files/2/20.parquet", 2, 20, "thankyou"),
        ("train_landmark_files/2/21.parquet", 2, 21, "hello"),
        ("train_landmark_files/3/30.parquet", 3, 30, "zebra"),
    ]
    pd.DataFrame(table, columns=["path", "participant_id", "sequence_id", "sign"]).to_csv(
        root / "train.csv", index=False
    )
    for i, (path, *_rest) in enumerate(table[:3]):
        write_kaggle_parquet(root / path, num_frames=3 + i, seed=i)
    report, out = prepare(prepare_kaggle_islr, root, tmp_path, val_fraction=0.0)
    got = rows(out, "signs")
    assert [(r["sample_id"], r["label"], r["label_id"], r["num_frames"], r["signer"]) for r in got] == [
        ("1/10", "hello", 0, 3, "1"),
        ("1/11", "TV", 2, 4, "1"),
        ("2/20", "thankyou", 1, 5, "2"),
    ]
    assert report.skipped == {"missing_keypoints": 1, "unknown_label": 1}
    assert json.loads((out / "labels.json").read_text()) == {"hello": 0, "thankyou": 1, "TV": 2}


def test_kaggle_real_subset(tmp_path):
    root = shared_data_path("gislr_asl_signs_subset")
    report, out = prepare(prepare_kaggle_islr, root, tmp_path, val_fraction=0.2)
    train, val = rows(out, "signs", "train"), rows(out, "signs", "val")
    assert len(train) + len(val) == 126 and not report.skipped
    assert {r["signer"] for r in train}.isdisjoint({r["signer"] for r in val})  # signer-independent split
    assert {r["label_id"] for r in train + val} == {113, 214}
    assert len(json.loads((out / "labels.json").read_text())) == 250
    stats = report.to_dict()["splits"]["signs"]
    assert stats["train"]["signers"] + stats["val"]["signers"] == 21


# ------------------------------------------------------------------------------------------------------ BOBSL


def make_bobsl(tmp_path: Path) -> tuple[Path, Path]:
    root, kp = tmp_path / "bobsl", tmp_path / "poses"
    subs = root / "subtitles"
    json.dump({"train": ["ep1", "ep2", "ep3"], "val": ["ep4"]}, _open(root / "subset2episode.json"))
    audio = [
        Subtitle(1.0, 4.0, "Good evening."),
        Subtitle(5.0, 8.0, "Welcome to the show."),
        Subtitle(9.0, 12.0, "[APPLAUSE] Thank you."),
        Subtitle(13.0, 15.0, "Goodbye."),
    ]
    write_subtitles(audio, subs / "audio-aligned" / "ep1.vtt")
    # manual alignment: shifted later (signing lags speech), one cue dropped, file written out of order
    manual = [
        Subtitle(6.5, 9.5, "Welcome to the show."),
        Subtitle(2.0, 5.5, "Good evening."),
        Subtitle(14.0, 16.0, "Goodbye."),
        Subtitle(17.0, 19.0, "Only in the manual version."),
    ]
    write_subtitles(manual, subs / "manually-aligned" / "ep1.vtt")
    write_subtitles([Subtitle(1.0, 3.0, "Audio only episode.")], subs / "audio-aligned" / "ep2.vtt")
    write_subtitles([Subtitle(2.0, 4.0, "Val episode.")], subs / "signing-aligned" / "ep4.vtt")
    json.dump(
        {
            "train": {
                "hello": {"names": ["ep1", "ep1"], "global_times": [3.0, 100.0], "probs": [0.9, 0.8]},
                "show": {"names": ["ep2"], "global_times": [2.0], "probs": [0.7]},
            }
        },
        _open(root / "spottings" / "dict_spottings.json"),
    )
    kp.mkdir()
    write_keypoints(kp / "ep1.npz", 20.0)
    write_keypoints(kp / "ep2.npz", 5.0)
    write_keypoints(kp / "ep4.npz", 5.0)
    return root, kp


def _open(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("w")


def test_bobsl_fixture(tmp_path):
    root, kp = make_bobsl(tmp_path)
    report, out = prepare(prepare_bobsl, root, tmp_path, keypoints_dir=kp)
    train = rows(out)
    by_text = {r["text"]: r for r in train}
    assert list(by_text) == [
        "Good evening.",
        "Welcome to the show.",
        "Goodbye.",
        "Only in the manual version.",
        "Audio only episode.",
    ]  # sorted by (episode, start)
    evening = by_text["Good evening."]
    assert (evening["start"], evening["end"], evening["prior_start"], evening["prior_end"]) == (2.0, 5.5, 1.0, 4.0)
    assert evening["timing"] == "manual" and evening["sentence_index"] == 1  # original position kept
    assert by_text["Only in the manual version."]["prior_start"] is None
    audio_only = by_text["Audio only episode."]
    assert audio_only["timing"] == "audio" and audio_only["prior_start"] is None
    assert [r["timing"] for r in rows(out, split="val")] == ["signing"]
    assert report.skipped == {"missing_subtitles": 1, "outside_video": 1}  # ep3; spotting at 100 s in a 20 s episode
    signs = rows(out, "signs")
    assert [(r["label"], r["episode_id"], r["source"]) for r in signs] == [
        ("hello", "ep1", "dict"),
        ("show", "ep2", "dict"),
    ]
    assert signs[0]["start"] == pytest.approx(3.0 - 3 / 25) and signs[0]["end"] == pytest.approx(3.0 + 22 / 25)
    assert json.loads((out / "labels.json").read_text()) == {"hello": 0, "show": 1}
    splits = json.loads((out / "splits.json").read_text())
    assert splits["sentences"] == {"train": ["ep1", "ep2"], "val": ["ep4"]} and splits["signs"] == {
        "train": ["ep1", "ep2"]
    }


def test_bobsl_keeps_bracket_flag(tmp_path):
    root, kp = make_bobsl(tmp_path)
    write_subtitles([Subtitle(1.0, 4.0, "[APPLAUSE] Thank you.")], root / "subtitles" / "manually-aligned" / "ep2.vtt")
    _, out = prepare(prepare_bobsl, root, tmp_path, keypoints_dir=kp)
    flagged = [r for r in rows(out) if r["sat_excluded"]]
    assert [(r["text"], r["raw_text"]) for r in flagged] == [("Thank you.", "[APPLAUSE] Thank you.")]


# ------------------------------------------------------------------------------------------------ YouTube-SL-25


def test_youtube_sl25_fixture(tmp_path):
    root, kp = tmp_path / "ytsl25", tmp_path / "kp"
    (root / "captions").mkdir(parents=True)
    pd.DataFrame(
        {
            "video_id": ["aaaaaaaaaaa", "bbbbbbbbbbb", "ccccccccccc", "ddddddddddd"],
            "language": ["ase", "bfi", "ase", "gsg"],
        }
    ).to_csv(root / "youtube-sl-25-metadata.csv", index=False)
    write_subtitles(
        [Subtitle(1.0, 3.0, "- JOHN: &quot;Hello&quot; (laughs) there !"), Subtitle(4.0, 6.0, "♪ [MUSIC] ♪")],
        root / "captions" / "aaaaaaaaaaa.en.vtt",
    )
    write_subtitles([Subtitle(1.0, 3.0, "British signing.")], root / "captions" / "bbbbbbbbbbb.en.srt")
    write_subtitles([Subtitle(1.0, 3.0, "German.")], root / "captions" / "ddddddddddd.de.vtt")
    kp.mkdir()
    for video in ("aaaaaaaaaaa", "bbbbbbbbbbb", "ddddddddddd"):
        write_keypoints(kp / f"{video}.npz", 8.0)
    report, out = prepare(prepare_youtube_sl25, root, tmp_path, keypoints_dir=kp, sign_language="asl", val_fraction=0.0)
    got = rows(out)
    assert [(r["episode_id"], r["text"], r["raw_text"], r["sign_language"], r["text_language"]) for r in got] == [
        ("aaaaaaaaaaa", '"Hello" there!', "- JOHN: &quot;Hello&quot; (laughs) there !", "ase", "en")
    ]
    assert report.skipped == {"empty_text": 1, "missing_captions": 1}
    _, out_all = prepare(prepare_youtube_sl25, root, tmp_path / "all", keypoints_dir=kp, val_fraction=0.0)
    assert sorted({r["sign_language"] for r in rows(out_all)}) == ["ase", "bfi", "gsg"]


# ------------------------------------------------------------------------------------------------------ FLEURS-ASL


def test_fleurs_asl_clip_layout(tmp_path):
    root, kp = tmp_path / "fleurs", tmp_path / "kp"
    (root / "data" / "dev").mkdir(parents=True)
    pd.DataFrame(
        {
            "id": [1, 2, 3],
            "sentence": ["First sentence.", "Second one.", "Third."],
            "signer": [0, 1, 0],
            "file_name": ["dev_1_0.mp4", "dev_2_1.mp4", "dev_3_0.mp4"],
        }
    ).to_csv(root / "data" / "dev" / "metadata.csv", index=False)
    kp.mkdir()
    write_keypoints(kp / "dev_1_0.npz", 3.0)
    write_keypoints(kp / "dev_2_1.npz", 6.0)
    report, out = prepare(prepare_fleurs_asl, root, tmp_path, keypoints_dir=kp)
    got = rows(out, split="dev")
    assert [(r["text"], r["start"], r["end"], r["signer"]) for r in got] == [
        ("First sentence.", 0.0, 3.0, "0"),
        ("Second one.", 0.0, 6.0, "1"),
    ]
    assert report.skipped == {"missing_keypoints": 1}
    assert report.to_dict()["splits"]["sentences"]["dev"]["signers"] == 2


def test_fleurs_asl_caption_layout(tmp_path):
    root, kp = tmp_path / "fleurs", tmp_path / "kp"
    write_subtitles([Subtitle(0.5, 4.0, "A sentence."), Subtitle(5.0, 9.0, "Another.")], root / "devtest" / "v1.vtt")
    kp.mkdir()
    write_keypoints(kp / "v1.npz", 10.0)
    _, out = prepare(prepare_fleurs_asl, root, tmp_path, keypoints_dir=kp)
    assert [r["text"] for r in rows(out, split="devtest")] == ["A sentence.", "Another."]


# ------------------------------------------------------------------------------------------------------ folder


def test_folder_layout_videos_and_clips(tmp_path):
    root, kp = tmp_path / "corpus", tmp_path / "kp"
    (root / "videos").mkdir(parents=True)
    (root / "videos" / "talk1.mp4").write_bytes(b"")
    srt = "1\n00:00:01,000 --> 00:00:03,500\nHallo <i>Welt</i>\n\n2\n00:00:0x,000 --> 00:00:05,000\nkaputt\n"
    (root / "videos" / "talk1.srt").write_text(srt, encoding="utf-8")
    json.dump({"test": ["talk1"]}, (root / "splits.json").open("w"))
    pd.DataFrame(
        {
            "path": ["clips/a.mp4", "clips/b.mp4", "clips/c.mp4"],
            "label": ["HAUS", "AUTO", "HAUS"],
            "signer": ["s1", "s2", "s1"],
            "split": ["train", "train", "val"],
        }
    ).to_csv(root / "clips.csv", index=False)
    kp.mkdir()
    write_keypoints(kp / "talk1.npz", 6.0)
    write_keypoints(kp / "a.npz", 1.0)
    write_keypoints(kp / "c.npz", 1.0)
    report, out = prepare(prepare_folder, root, tmp_path, keypoints_dir=kp, sign_language="gsg")
    sentences = rows(out, split="test")
    assert [(r["text"], r["video_path"].endswith("talk1.mp4"), r["sign_language"]) for r in sentences] == [
        ("Hallo Welt", True, "gsg")
    ]
    signs = rows(out, "signs", "train") + rows(out, "signs", "val")
    assert [(r["label"], r["label_id"], r["split"]) for r in signs] == [("HAUS", 1, "train"), ("HAUS", 1, "val")]
    assert report.skipped == {"bad_cue": 1, "missing_keypoints": 1}


def test_folder_without_data_raises(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="neither"):
        prepare(prepare_folder, tmp_path / "empty", tmp_path)


def test_folder_probe_videos_on_real_clip(tmp_path):
    clips = shared_data_path("how2sign_samples", "clips_train_unlabeled")
    clip = clips / "_0-JkwZ9o4Q_10-5-rgb_front.mp4"
    root = tmp_path / "corpus"
    root.mkdir()
    (root / clip.name).symlink_to(clip)
    write_subtitles(
        [Subtitle(0.2, 1.4, "Inside the clip."), Subtitle(30.0, 32.0, "Far past its end.")], root / f"{clip.stem}.vtt"
    )
    report, out = prepare(prepare_folder, root, tmp_path, probe_videos=True, val_fraction=0.0, min_seconds=None)
    assert [r["text"] for r in rows(out)] == ["Inside the clip."]
    assert report.skipped == {"outside_video": 1}
    assert clip.name in report.to_dict()["skipped_examples"]["outside_video"][0]
    # keypoints claiming 25 fps but holding the clip's 101 frames at 50 fps (2.0 s for a 4.2 s video): wrong rate
    kp = tmp_path / "kp"
    write_keypoints(kp / f"{clip.stem}.npz", 101 / 50)
    report, _ = prepare(prepare_folder, root, tmp_path / "bad", keypoints_dir=kp, probe_videos=True, val_fraction=0.0)
    assert report.skipped == {"wrong_fps": 2}
    write_keypoints(kp / f"{clip.stem}.npz", 4.2)  # 105 frames at 25 fps: consistent with the video
    report, out = prepare(
        prepare_folder, root, tmp_path / "good", keypoints_dir=kp, probe_videos=True, val_fraction=0.0
    )
    assert report.skipped == {"outside_video": 1} and len(rows(out)) == 1


def test_resample_fps_option_accepts_other_rates(tmp_path):
    root, kp = make_how2sign(tmp_path)
    report, out = prepare(prepare_how2sign, root, tmp_path, keypoints_dir=kp, resample_fps=True)
    assert "wrong_fps" not in report.skipped
    assert [r["fps"] for r in rows(out) if r["episode_id"] == "vD-1-rgb_front"] == [30.0]
