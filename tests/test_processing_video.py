"""Video decoding: probing, 25 fps resampling (constant and variable frame rate), streaming, clear errors."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from conftest import shared_data_path
from signllm.processing.video import (
    VideoError,
    iter_timed_frames,
    iter_video_frames,
    probe_video,
    write_video,
)


def _frames(num_frames: int, height: int = 48, width: int = 64) -> list[np.ndarray]:
    """Flat frames whose grey level encodes the frame index (index * 5), robust to lossy coding."""
    return [np.full((height, width, 3), min(255, 5 * i), dtype=np.uint8) for i in range(num_frames)]


def _index_of(frame: np.ndarray) -> int:
    return int(round(float(frame.mean()) / 5))


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("videos")


def test_probe_reports_header(clip_dir):
    path = write_video(clip_dir / "c24.mp4", _frames(24), fps=24)
    info = probe_video(path)
    assert info.fps == pytest.approx(24.0, rel=1e-3)
    assert info.num_frames == 24
    assert (info.width, info.height) == (64, 48)
    assert info.duration == pytest.approx(1.0, abs=0.05)
    assert info.num_frames_at(25.0) == 25


@pytest.mark.parametrize("source_fps, num_frames", [(25, 25), (24, 24), (30, 30), (50, 50)])
def test_resample_to_25_fps_keeps_duration_and_order(clip_dir, source_fps, num_frames):
    path = write_video(clip_dir / f"c{source_fps}.mp4", _frames(num_frames), fps=source_fps)
    frames = list(iter_video_frames(path, target_fps=25.0))
    assert len(frames) == 25  # one second of video -> 25 frames whatever the source rate
    indices = [_index_of(frame) for frame in frames]
    assert indices == sorted(indices)
    # output frame k shows the source frame nearest in time to k / 25
    expected = [min(num_frames - 1, int(np.floor(k / 25 * source_fps + 0.5))) for k in range(25)]
    assert indices == expected
    if source_fps == 25:
        assert indices == list(range(25))


def test_variable_frame_rate_follows_timestamps(clip_dir):
    # 10 frames at 30 fps, then 10 at 10 fps: the slow half must be repeated, not squeezed
    times = [i / 30 for i in range(10)] + [10 / 30 + i / 10 for i in range(10)]
    path = write_video(clip_dir / "vfr.mp4", _frames(20), fps=30, times=times)
    timed = list(iter_timed_frames(path))
    assert [round(t, 3) for t, _, _ in timed] == [round(t, 3) for t in times]
    frames = list(iter_video_frames(path, target_fps=25.0))
    indices = [_index_of(frame) for frame in frames]
    for k, index in enumerate(indices):
        nearest = int(np.argmin([abs(t - k / 25) for t in times]))
        assert abs(times[index] - k / 25) <= abs(times[nearest] - k / 25) + 1e-3
    end = times[-1] + 0.1
    assert len(frames) == pytest.approx(end * 25, abs=1)


def test_native_rate_and_bad_rate(clip_dir):
    path = write_video(clip_dir / "c30n.mp4", _frames(7), fps=30)
    assert len(list(iter_video_frames(path, target_fps=None))) == 7
    with pytest.raises(ValueError, match="target_fps"):
        next(iter_video_frames(path, target_fps=0))


def test_one_frame_video(clip_dir):
    path = write_video(clip_dir / "one.mp4", _frames(1), fps=30)
    frames = list(iter_video_frames(path))
    assert len(frames) == 1 and frames[0].shape == (48, 64, 3) and frames[0].dtype == np.uint8


@pytest.mark.parametrize("rotation, band", [(90, "bottom"), (270, "top")])
def test_rotation_metadata_is_applied(clip_dir, rotation, band):
    # a landscape 64x32 frame with a white band on the left, stored with a display rotation (as phones do)
    image = np.zeros((32, 64, 3), np.uint8)
    image[:, :12] = 255
    path = write_video(clip_dir / f"rot{rotation}.mp4", [image] * 3, fps=25, rotation=rotation)
    info = probe_video(path)
    assert (info.width, info.height, info.rotation) == (32, 64, rotation)
    frame = next(iter_video_frames(path))
    assert frame.shape == (64, 32, 3)
    rows = frame[:8] if band == "top" else frame[-8:]  # counter-clockwise: the left edge ends up at the bottom
    assert rows.mean() > 200 and frame[24:40].mean() < 60


def test_iter_video_frames_streams():
    # a generator: nothing is decoded (or held) before the first frame is asked for
    assert inspect.isgeneratorfunction(iter_video_frames)
    assert inspect.isgeneratorfunction(iter_timed_frames)


def test_errors_are_clear(tmp_path):
    with pytest.raises(VideoError, match="not found"):
        probe_video(tmp_path / "missing.mp4")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoError, match="empty"):
        probe_video(empty)
    with pytest.raises(VideoError, match="empty"):
        list(iter_video_frames(empty))
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(VideoError):
        probe_video(garbage)
    with pytest.raises(VideoError):
        list(iter_video_frames(garbage))


def test_truncated_video_raises_or_yields_whole_frames(clip_dir, tmp_path):
    source = write_video(clip_dir / "full.mp4", _frames(30, 96, 128), fps=25).read_bytes()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(source[: len(source) // 3])
    try:
        frames = list(iter_video_frames(truncated))
    except VideoError as error:
        assert str(truncated) in str(error)
    else:  # FFmpeg may recover the frames before the cut: then each one must be a whole frame
        assert all(frame.shape == (96, 128, 3) for frame in frames)


def test_real_clips_decode_at_25_fps():
    clip = shared_data_path("how2sign_samples", "clips_train_unlabeled", "_BOJ9cYPRe4_12-8-rgb_front.mp4")
    info = probe_video(clip)
    assert (info.width, info.height, info.num_frames) == (1280, 720, 37)
    assert info.fps == pytest.approx(24.0)
    frames = iter_video_frames(clip)
    first = next(frames)
    assert first.shape == (720, 1280, 3) and first.dtype == np.uint8 and first.std() > 5  # a real picture
    assert 1 + sum(1 for _ in frames) == info.num_frames_at(25.0) == 39

    portrait = shared_data_path("pose_format_samples", "test_video.mp4")
    info = probe_video(portrait)
    assert (info.width, info.height) == (540, 720)
    assert sum(1 for _ in iter_video_frames(portrait)) == info.num_frames_at(25.0)


def test_single_thread_decoding_gives_the_same_frames(clip_dir):
    path = write_video(clip_dir / "threads.mp4", _frames(24), fps=24)
    default = list(iter_video_frames(path))
    single = list(iter_video_frames(path, threads=1))
    assert len(single) == len(default) == 25
    assert all(np.array_equal(a, b) for a, b in zip(single, default, strict=True))


def test_prefetched_keeps_order_raises_in_place_and_stops_early(clip_dir):
    """The background decoder: same items in order, the producer's error at its position, early close stops it."""
    import threading

    from signllm.processing.video import prefetched

    path = write_video(clip_dir / "prefetch.mp4", _frames(10), fps=25)
    assert [_index_of(f) for f in prefetched(iter_video_frames(path), depth=2)] == list(range(10))

    def failing():
        yield 1
        yield 2
        raise VideoError("decoding failed after 2 frame(s)")

    seen = []
    with pytest.raises(VideoError, match="after 2 frame"):
        seen.extend(prefetched(failing(), depth=1))
    assert seen == [1, 2]
    produced = []

    def endless():
        while True:
            produced.append(len(produced))
            yield produced[-1]

    stream = prefetched(endless(), depth=2)
    assert next(stream) == 0
    stream.close()  # the consumer stops: the producer thread ends instead of decoding the whole video
    assert not any(t.name == "signllm-decode" and t.is_alive() for t in threading.enumerate())
    assert len(produced) <= 5
