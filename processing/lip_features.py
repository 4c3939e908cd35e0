"""Corpus-scale lip features: video + face landmarks → mouth crops → frozen Auto-AVSR encoder → `(T, 768)` at 25 Hz.

    reader = load_lip_reader("auto_avsr_converted/")          # signllm.processing.lip_reader_convert
    features = extract_lip_features("clip.mp4", read_keypoints("clip.pose"), reader)   # (T, 768) float32

Frames are decoded, cropped and encoded as a stream, so memory stays bounded for hour-long videos.

**Windowing [ours].** The Conformer attends over the whole input, so cost and memory grow with length; Auto-AVSR
was trained on utterances of up to ~24 s. We run it on overlapping windows of at most `window` frames (default
200 = 8 s): window k contributes its central `window − 2·context` frames (`core`), and `context` frames on each
side (default 25 = 1 s) are seen but not kept, so no output frame sits at a window edge (except at the clip's own
ends). `context=0` gives plain non-overlapping chunks. Cost: `window / (window − 2·context)` = 1.33× one pass.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from signllm.modeling_lip_reader import SignLLMLipReader
from signllm.processing.mouth_crops import (
    CROP_SIZE,
    WINDOW_MARGIN,
    crop_mouth,
    crops_to_model_input,
    face_landmarks_from_keypoints,
    prepare_anchors,
)

DEFAULT_WINDOW = 200
DEFAULT_CONTEXT = 25


@dataclass(frozen=True)
class LipWindow:
    """Frames `[start, end)` go into the encoder; outputs `[core_start, core_end)` are kept."""

    start: int
    end: int
    core_start: int
    core_end: int


def plan_windows(num_frames: int, window: int = DEFAULT_WINDOW, context: int = DEFAULT_CONTEXT) -> list[LipWindow]:
    """Overlapping windows whose cores tile `[0, num_frames)` exactly once; every input span is ≤ `window`."""
    if num_frames < 1:
        raise ValueError(f"num_frames must be positive, got {num_frames}.")
    if context < 0 or window - 2 * context < 1:
        raise ValueError(f"need window - 2 * context >= 1 and context >= 0, got window={window}, context={context}.")
    if num_frames <= window:
        return [LipWindow(0, num_frames, 0, num_frames)]
    step = window - 2 * context
    windows = []
    for core_start in range(0, num_frames, step):
        core_end = min(core_start + step, num_frames)
        windows.append(
            LipWindow(max(0, core_start - context), min(num_frames, core_end + context), core_start, core_end)
        )
    return windows


def face_landmarks_in_pixels(keypoints, width: int, height: int) -> tuple[np.ndarray, np.ndarray | None]:
    """`(face (t, n, 2+), valid)` from a `KeypointSequence` (203 joints) or a face-landmark array in pixels.

    Arrays: `(t, 203, c)` raw keypoints, or `(t, 128 | 468 | 478, c)` face-mesh points in pixels (NaN = missing).
    """
    if hasattr(keypoints, "values") and hasattr(keypoints, "mask"):
        size = (getattr(keypoints, "width", None), getattr(keypoints, "height", None))
        if None not in size and size != (width, height):
            raise ValueError(f"keypoints were extracted at {size[0]}×{size[1]} but the video is {width}×{height}.")
        return face_landmarks_from_keypoints(keypoints.values, keypoints.mask, width, height)
    array = np.asarray(keypoints)
    if array.ndim == 3 and array.shape[1] == 203:
        return face_landmarks_from_keypoints(array, None, width, height)
    return array, None


def extract_lip_features(
    video: str | os.PathLike | Iterable[np.ndarray],
    keypoints,
    lip_reader: SignLLMLipReader,
    window: int = DEFAULT_WINDOW,
    context: int = DEFAULT_CONTEXT,
    batch_size: int = 1,
    target_fps: float = 25.0,
    frame_tolerance: int = 2,
    window_margin: int = WINDOW_MARGIN,
) -> np.ndarray:
    """Lip features of one video, one row per keypoint frame.

    Args:
        video: a video path (decoded with `signllm.processing.video.iter_video_frames` at `target_fps`) or an
            iterable of `(H, W, 3)` RGB uint8 frames at the keypoints' frame rate.
        keypoints: `KeypointSequence` / `(t, 203, c)` raw keypoints, or `(t, n, c)` face-mesh points in pixels.
        lip_reader: the frozen `SignLLMLipReader` (its device is used).
        window, context: windowing (module docstring). batch_size: windows per encoder call.
        frame_tolerance: allowed difference between video and keypoint frame counts; up to this many missing
            trailing frames repeat the last crop, extra trailing frames are ignored; more is a ValueError.
        window_margin: landmark smoothing window (Auto-AVSR: 12, i.e. ±6 frames).

    Returns:
        `(t, hidden_size)` float32, t = number of keypoint frames.
    """
    windows = plan_windows(_num_frames(keypoints), window, context)  # validates the windowing first
    frames = _iter_frames(video, target_fps)
    first = next(frames, None)
    if first is None:
        raise ValueError(f"no frames in {video!r}.")
    height, width = first.shape[:2]
    face, valid = face_landmarks_in_pixels(keypoints, width, height)
    anchors, reference = prepare_anchors(face, valid, window_margin)
    crops = _iter_crops(itertools.chain([first], frames), anchors, reference, frame_tolerance)

    device = next(lip_reader.parameters()).device
    features = np.zeros((len(anchors), lip_reader.hidden_size), dtype=np.float32)
    buffer: list[np.ndarray] = []  # crops [buffer_start, buffer_start + len(buffer))
    buffer_start = 0
    for group_start in range(0, len(windows), batch_size):
        group = windows[group_start : group_start + batch_size]
        while buffer_start + len(buffer) < group[-1].end:
            buffer.append(next(crops))
        inputs = [crops_to_model_input(np.stack(buffer[w.start - buffer_start : w.end - buffer_start])) for w in group]
        outputs = _encode(lip_reader, inputs, device)
        for w, out in zip(group, outputs):
            features[w.core_start : w.core_end] = out[w.core_start - w.start : w.core_end - w.start]
        if group_start + batch_size < len(windows):  # drop crops no later window needs
            keep_from = windows[group_start + batch_size].start
            del buffer[: keep_from - buffer_start]
            buffer_start = keep_from
    for _ in crops:  # let the crop stream check the video's trailing frames
        pass
    return features


def _num_frames(keypoints) -> int:
    values = keypoints.values if hasattr(keypoints, "values") and hasattr(keypoints, "mask") else keypoints
    return int(np.shape(values)[0])


def _iter_frames(video, target_fps: float) -> Iterator[np.ndarray]:
    if isinstance(video, (str, os.PathLike)):
        from signllm.processing.video import iter_video_frames

        return iter(iter_video_frames(video, target_fps=target_fps))
    return iter(video)


def _iter_crops(
    frames: Iterator[np.ndarray], anchors: np.ndarray, reference: np.ndarray, frame_tolerance: int
) -> Iterator[np.ndarray]:
    """One crop per keypoint frame; reconciles a video that is a few frames shorter or longer."""
    num_frames = len(anchors)
    crop = np.zeros((CROP_SIZE, CROP_SIZE), dtype=np.uint8)
    produced = 0
    for frame in itertools.islice(frames, num_frames):
        crop = crop_mouth(frame, anchors[produced], reference)
        produced += 1
        yield crop
    if num_frames - produced > frame_tolerance:
        raise ValueError(
            f"the video has {produced} frames but the keypoints have {num_frames} (tolerance {frame_tolerance}): "
            "were they extracted from this video at the same frame rate?"
        )
    for _ in range(num_frames - produced):
        yield crop  # a frame or two lost at the end of decoding: repeat the last crop
    extra = sum(1 for _ in itertools.islice(frames, frame_tolerance + 1))
    if extra > frame_tolerance:
        raise ValueError(
            f"the video has more than {num_frames + frame_tolerance} frames but the keypoints only {num_frames}: "
            "were they extracted from this video at the same frame rate?"
        )


def _encode(lip_reader: SignLLMLipReader, inputs: list[np.ndarray], device) -> list[np.ndarray]:
    """Run the reader on `(t_i, 1, 88, 88)` windows padded into one batch; returns `(t_i, d)` arrays."""
    lengths = [len(x) for x in inputs]
    batch = np.zeros((len(inputs), max(lengths), *inputs[0].shape[1:]), dtype=np.float32)
    padding_mask = np.ones((len(inputs), max(lengths)), dtype=bool)
    for i, x in enumerate(inputs):
        batch[i, : len(x)] = x
        padding_mask[i, : len(x)] = False
    with torch.inference_mode():
        frames = torch.from_numpy(batch).to(device)
        mask = torch.from_numpy(padding_mask).to(device) if len(inputs) > 1 else None
        out = lip_reader(frames, mask).float().cpu().numpy()
    return [out[i, :length] for i, length in enumerate(lengths)]
