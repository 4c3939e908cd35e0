"""Streaming video decoding at a fixed frame rate (PyAV / FFmpeg).

SignLLM works at 25 fps (architecture §2.1). Videos come at 24, 25, 29.97, 30, 50 fps or with a variable
frame rate (phone recordings), so frames are resampled by their presentation time stamps, not by index:
output frame ``k`` shows the source frame on screen at time ``k / target_fps`` (the same "nearest frame in
time" rule as FFmpeg's ``fps`` filter). Frames are decoded and yielded one at a time, so an hour-long video
never sits in memory.

Example::

    info = probe_video("clip.mp4")              # VideoInfo(fps=24.0, num_frames=47, width=1280, ...)
    for frame in iter_video_frames("clip.mp4"):  # (H, W, 3) uint8 RGB, 25 per second of video
        ...
"""

from __future__ import annotations

import math
import os
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_FPS = 25.0


class VideoError(ValueError):
    """A video cannot be opened or decoded (missing, empty, corrupt, no video stream, no frames)."""


@dataclass(frozen=True)
class VideoInfo:
    """Properties of a video's first video stream, from its container header.

    Args:
        fps (`float`): average source frame rate.
        num_frames (`int`): number of source frames (from the header; estimated from duration x fps when the
            container does not store it).
        width (`int`), height (`int`): frame size in pixels after applying the rotation metadata.
        duration (`float`): stream duration in seconds.
        rotation (`int`, defaults to 0): display rotation (degrees, counter-clockwise) that decoding applies.
    """

    fps: float
    num_frames: int
    width: int
    height: int
    duration: float
    rotation: int = 0

    def num_frames_at(self, target_fps: float = DEFAULT_FPS) -> int:
        """Expected number of frames :func:`iter_video_frames` yields at ``target_fps`` (from the header)."""
        return max(1, math.ceil(self.duration * target_fps - 1e-6)) if self.duration > 0 else self.num_frames


def _open(path: str | os.PathLike, threads: int | None = None):
    """Open a container and its first video stream, turning every failure into a clear :class:`VideoError`.

    ``threads``: FFmpeg decoding threads; ``None`` lets FFmpeg choose (frame + slice threads), ``1`` decodes on the
    calling thread (the least CPU per frame: on a 1280×720 How2Sign clip 3.0 ms instead of 4.2 ms).
    """
    import av

    path = Path(path)
    if not path.exists():
        raise VideoError(f"Video file not found: {path}")
    if not path.is_file():
        raise VideoError(f"Not a file: {path}")
    if path.stat().st_size == 0:
        raise VideoError(f"Video file is empty (0 bytes): {path}")
    try:
        container = av.open(str(path), mode="r")
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as error:
        raise VideoError(f"Cannot open {path} as a video (corrupt or unsupported file): {error}") from None
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path} has no video stream.")
    stream = container.streams.video[0]
    if threads is None:  # let FFmpeg decode with its own threads; frames still come out in order
        stream.thread_type = "AUTO"
    else:
        stream.thread_type = "NONE" if threads == 1 else "AUTO"
        stream.thread_count = max(1, threads)
    return container, stream


def _stream_fps(stream) -> float:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and float(rate) > 0:
            return float(rate)
    return 0.0


def _stream_duration(container, stream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000  # microseconds (AV_TIME_BASE)
    return 0.0


def _first_frame_rotation(container, stream, path) -> int:
    """Display rotation (degrees counter-clockwise) from the first frame's display matrix.

    Phones store portrait video as landscape frames plus a rotation; FFmpeg exposes it per frame, not per stream.
    """
    import av

    try:
        for frame in container.decode(stream):
            return int(round(float(getattr(frame, "rotation", 0) or 0))) % 360
    except av.error.FFmpegError as error:
        raise VideoError(f"{path}: cannot decode the first frame (corrupt video?): {error}") from None
    raise VideoError(f"{path}: the video stream contains no decodable frames.")


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Read a video's frame rate, frame count, size and duration from its header (decodes only the first frame,
    for its display rotation).

    Raises:
        VideoError: when the file is missing, empty, corrupt, has no video stream or no decodable frame.
    """
    container, stream = _open(path)
    try:
        fps = _stream_fps(stream)
        duration = _stream_duration(container, stream)
        num_frames = int(stream.frames or 0)
        if num_frames <= 0 and fps > 0:
            num_frames = int(round(duration * fps))
        if duration <= 0 and fps > 0:
            duration = num_frames / fps
        width, height = stream.codec_context.width, stream.codec_context.height
        if width <= 0 or height <= 0:
            raise VideoError(f"{path}: video stream has no frame size (corrupt header?).")
        rotation = _first_frame_rotation(container, stream, path)
        if rotation in (90, 270):
            width, height = height, width
        return VideoInfo(fps=fps, num_frames=num_frames, width=width, height=height, duration=duration,
                         rotation=rotation)
    finally:
        container.close()


def iter_timed_frames(
    path: str | os.PathLike, threads: int | None = None
) -> Iterator[tuple[float, float, np.ndarray]]:
    """Every decoded source frame as ``(time, duration, (H, W, 3) uint8 RGB)``; times in seconds from the first.

    Frames without a timestamp get one from the average frame rate. Raises :class:`VideoError` when the file
    cannot be opened, when decoding fails part-way (with the number of good frames) or when it has no frames.
    ``threads``: FFmpeg decoding threads (see :func:`_open`); the decoded pixels do not depend on it.
    """
    import av

    container, stream = _open(path, threads)
    fps = _stream_fps(stream) or DEFAULT_FPS
    default_step = 1.0 / fps
    time_base = float(stream.time_base) if stream.time_base is not None else None
    try:
        first_time = None
        count = 0
        previous_time = -math.inf
        try:
            for frame in container.decode(stream):
                if frame.pts is not None and time_base is not None:
                    time = frame.pts * time_base
                else:
                    time = (previous_time + default_step) if count else 0.0
                if first_time is None:
                    first_time = time
                time -= first_time
                # decoders may return a frame twice or out of order around edits; keep time monotonic
                time = max(time, previous_time + 1e-6) if count else 0.0
                image = frame.to_ndarray(format="rgb24")
                rotation = int(round(float(getattr(frame, "rotation", 0) or 0))) % 360
                if rotation:  # counter-clockwise, as np.rot90; 90-degree steps are all phones write
                    image = np.ascontiguousarray(np.rot90(image, k=rotation // 90))
                frame_duration = (
                    frame.duration * time_base if getattr(frame, "duration", None) and time_base else default_step
                )
                yield time, float(frame_duration), image
                previous_time = time
                count += 1
        except av.error.FFmpegError as error:
            raise VideoError(f"{path}: decoding failed after {count} frame(s) (corrupt video?): {error}") from None
        if count == 0:
            raise VideoError(f"{path}: the video stream contains no decodable frames.")
    finally:
        container.close()


def iter_video_frames(
    path: str | os.PathLike, target_fps: float = DEFAULT_FPS, threads: int | None = None
) -> Iterator[np.ndarray]:
    """Decode a video frame by frame, resampled to ``target_fps`` by timestamp.

    Output frame ``k`` is the source frame whose display interval contains ``k / target_fps`` (nearest
    earlier-or-equal midpoint, as FFmpeg's ``fps`` filter): 24 fps input repeats one frame in 24, 30 fps input
    drops one in 6, and variable-rate input follows its timestamps. The clip lasts as long as the source
    (``ceil(duration * target_fps)`` frames, at least 1). ``target_fps=None`` yields every source frame.

    Yields:
        ``(H, W, 3)`` uint8 RGB frames.
    Raises:
        VideoError: missing, empty or corrupt file, or no decodable frame.
    """
    if target_fps is None:
        for _, _, image in iter_timed_frames(path, threads):
            yield image
        return
    if not target_fps or target_fps <= 0:
        raise ValueError(f"target_fps must be positive, got {target_fps!r}.")
    step = 1.0 / target_fps
    next_index = 0
    held: tuple[float, float, np.ndarray] | None = None
    for time, duration, image in iter_timed_frames(path, threads):
        if held is not None:
            # the held frame is on screen until halfway to this one (nearest frame in time)
            boundary = (held[0] + time) / 2
            while next_index * step < boundary - 1e-9:
                yield held[2]
                next_index += 1
        held = (time, duration, image)
    # the last frame stays on screen for its own duration
    end = held[0] + held[1]
    while next_index * step < end - 1e-9 or next_index == 0:
        yield held[2]
        next_index += 1


_DONE = object()


def prefetched(items: Iterable, depth: int = 8) -> Iterator:
    """Iterate ``items`` in a background thread, ``depth`` items ahead (decode beside a consumer that is busy).

    PyAV decodes and converts colours without holding the GIL, so video decoding overlaps a consumer such as
    MediaPipe on another core. Items come out in order; an exception raised by the producer (e.g.
    :class:`VideoError`) is raised in the consumer at the same position; closing the generator early stops the
    producer.
    """
    buffer: queue.Queue = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((_DONE, None))
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, raised there
            put((_DONE, error))

    worker = threading.Thread(target=produce, name="signllm-decode", daemon=True)
    worker.start()
    try:
        while True:
            item, error = buffer.get()
            if item is _DONE:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)


def write_video(
    path: str | os.PathLike,
    frames,
    fps: float = DEFAULT_FPS,
    times: list[float] | None = None,
    codec: str = "libx264",
    rotation: int = 0,
    options: dict[str, str] | None = None,
) -> Path:
    """Encode RGB frames to a video file (for demos, tests and benchmarks); written atomically.

    Args:
        frames: iterable of ``(H, W, 3)`` uint8 RGB arrays (H and W even for yuv420p).
        fps: nominal frame rate; frames are ``1 / fps`` apart unless ``times`` is given.
        times: per-frame presentation times in seconds (strictly increasing) for variable-frame-rate files.
        rotation: display rotation metadata (degrees counter-clockwise), as phones write for portrait video.
        options: encoder options, e.g. ``{"preset": "veryfast", "crf": "23"}`` for libx264.
    """
    import fractions

    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.partial{path.suffix}")  # keep the suffix: it picks the container
    time_base = fractions.Fraction(1, 90_000)
    try:
        container = av.open(str(temporary), mode="w")
        stream = container.add_stream(codec, rate=fractions.Fraction(fps).limit_denominator(1001))
        stream.pix_fmt = "yuv420p"
        if options:
            stream.options = dict(options)
        stream.codec_context.time_base = time_base
        stream.time_base = time_base
        if rotation:
            stream.set_display_rotation(rotation)
        count = 0
        for index, image in enumerate(frames):
            if count == 0:
                stream.height, stream.width = image.shape[:2]
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image, dtype=np.uint8), format="rgb24")
            time = times[index] if times is not None else index / fps
            frame.pts = int(round(time / time_base))
            frame.time_base = time_base
            for packet in stream.encode(frame):
                container.mux(packet)
            count += 1
        for packet in stream.encode():
            container.mux(packet)
        container.close()
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()
    return path
