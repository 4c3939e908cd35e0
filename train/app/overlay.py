"""The skeleton overlay: keypoints drawn on the video, a per-articulator detection strip, burned-in subtitles.

`overlay_frame` is the one drawing function; the web app's video and ``signllm render`` both go through
`render_overlay`, which calls it for every frame. Masked joints are not drawn, nor any bone touching one, so a
lost hand is visibly absent. The strip along the bottom has one row per articulator (body, face, left hand,
right hand) over the whole clip, green where MediaPipe found it and red where it was lost, with a white cursor
at the current frame; `detection_runs` gives the same information as time intervals for the page's timeline.

Coordinates: keypoints are in source-video pixels (``signllm.processing.keypoint_io``); normalised [0, 1]
coordinates (Kaggle GISLR) are scaled to the frame; without a video (a keypoint file alone) the skeleton is
fitted into a blank canvas.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import cache
from pathlib import Path

import numpy as np
from signllm.keypoint_layout import ARTICULATOR_EDGES, ARTICULATOR_SLICES, ARTICULATORS

# RGB colours per articulator
COLORS: dict[str, tuple[int, int, int]] = {
    "body": (235, 235, 235),
    "face": (255, 214, 102),
    "left_hand": (255, 128, 0),
    "right_hand": (0, 190, 255),
}
LABELS = {"body": "body", "face": "face", "left_hand": "left hand", "right_hand": "right hand"}
FOUND, LOST, CURSOR = (46, 160, 67), (218, 54, 51), (255, 255, 255)
CANVAS = (640, 480)  # width, height of the blank canvas for keypoints without a video
CANVAS_BACKGROUND = (24, 24, 24)


def articulator_presence(mask: np.ndarray) -> np.ndarray:
    """``(4, t)`` bool: whether each articulator (`ARTICULATORS` order) has any detected joint in each frame."""
    return np.stack([mask[:, ARTICULATOR_SLICES[name]].any(axis=1) for name in ARTICULATORS])


def detection_runs(mask: np.ndarray, fps: float) -> dict[str, list[tuple[float, float, bool]]]:
    """Per articulator, consecutive ``(start s, end s, found)`` runs covering the clip (from ``mask (t, 203)``)."""
    runs: dict[str, list[tuple[float, float, bool]]] = {}
    for name, found in zip(ARTICULATORS, articulator_presence(mask)):
        edges = np.flatnonzero(np.diff(found.astype(np.int8))) + 1
        starts = np.concatenate([[0], edges])
        ends = np.concatenate([edges, [len(found)]])
        runs[name] = [(s / fps, e / fps, bool(found[s])) for s, e in zip(starts, ends) if e > s]
    return runs


# ------------------------------------------------------------------------------------------------------ geometry


def to_image_points(values: np.ndarray, mask: np.ndarray, source_size: tuple[int, int] | None,
                    frame_size: tuple[int, int]) -> np.ndarray:  # fmt: skip
    """Keypoint ``x, y`` of every frame ``(t, 203, 2)`` in pixels of a ``frame_size`` (width, height) image.

    ``source_size`` is the frame size the keypoints were measured on (the video's); ``None`` with normalised
    coordinates (all valid |x|, |y| <= 1.5) scales them to the frame, ``None`` otherwise fits the whole clip's
    bounding box into the frame with a 10 % margin (keypoints without a video).
    """
    xy = values[..., :2].astype(np.float64)
    width, height = frame_size
    if source_size is not None:
        return xy * np.array([width / source_size[0], height / source_size[1]])
    valid = xy[mask]
    if valid.size == 0:
        return xy
    if np.abs(valid).max() <= 1.5:
        return xy * np.array([width, height])
    low, high = valid.min(axis=0), valid.max(axis=0)
    span = np.maximum(high - low, 1e-6)
    scale = 0.8 * min(width / span[0], height / span[1])
    offset = np.array([width, height]) / 2 - scale * (low + high) / 2
    return xy * scale + offset


def canvas_size(values: np.ndarray, mask: np.ndarray, longest: int = max(CANVAS)) -> tuple[int, int]:
    """A blank canvas (width, height) with the aspect of the clip's keypoint bounding box (4:3 when unknown)."""
    valid = values[..., :2][mask]
    if valid.size == 0 or np.abs(valid).max() <= 1.5:
        return CANVAS
    span = np.maximum(valid.max(axis=0) - valid.min(axis=0), 1.0)
    aspect = float(np.clip(span[0] / span[1], 0.5, 2.0))
    width, height = (longest, longest / aspect) if aspect >= 1 else (longest * aspect, longest)
    return _even(width), _even(height)


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def output_size(width: int, height: int, max_size: int | None) -> tuple[int, int]:
    """Even (width, height) no larger than ``max_size`` on the longest side (H.264 / yuv420p needs even sizes)."""
    scale = 1.0 if not max_size else min(1.0, max_size / max(width, height))
    return _even(width * scale), _even(height * scale)


# ------------------------------------------------------------------------------------------------------ drawing


def overlay_frame(
    image: np.ndarray, points: np.ndarray, joint_mask: np.ndarray, presence: np.ndarray | None = None,
    frame_index: int = 0, subtitle: str | None = None,
) -> np.ndarray:  # fmt: skip
    """Draw one frame in place and return it: skeleton, detection strip, subtitle.

    Args:
        image: ``(H, W, 3)`` uint8 RGB, modified in place.
        points: ``(203, 2)`` joint positions in this image's pixels.
        joint_mask: ``(203,)`` True where the joint was detected; the others (and their bones) are not drawn.
        presence: ``(4, t)`` articulator presence of the whole clip (`articulator_presence`) for the strip.
        frame_index: this frame's index in the clip (the strip's cursor).
        subtitle: text burned in above the strip.
    """
    draw_skeleton(image, points, joint_mask)
    strip_top = image.shape[0]
    if presence is not None:
        strip_top = draw_presence_strip(image, presence, frame_index)
    if subtitle:
        draw_subtitle(image, subtitle, bottom=strip_top)
    return image


def draw_skeleton(image: np.ndarray, points: np.ndarray, joint_mask: np.ndarray) -> np.ndarray:
    """Bones and joints of every articulator whose joints are detected (antialiased, sized to the image)."""
    import cv2

    height, width = image.shape[:2]
    thickness = max(1, round(min(height, width) / 300))
    radius = max(2, round(min(height, width) / 200))
    finite = np.isfinite(points).all(axis=1)
    pixels = np.rint(np.clip(np.nan_to_num(points), -1e5, 1e5)).astype(np.int64).tolist()  # cv2 wants Python ints
    for name in ARTICULATORS:
        joints = ARTICULATOR_SLICES[name]
        local_pixels = pixels[joints]
        local_mask = joint_mask[joints] & finite[joints]
        color = COLORS[name]
        for a, b in ARTICULATOR_EDGES[name]:
            if local_mask[a] and local_mask[b]:
                cv2.line(image, local_pixels[a], local_pixels[b], color, thickness, cv2.LINE_AA)
        joint_radius = max(1, radius // 2) if name == "face" else radius
        for index in np.flatnonzero(local_mask):
            cv2.circle(image, local_pixels[index], joint_radius, color, -1, cv2.LINE_AA)
    return image


def strip_geometry(height: int, width: int) -> tuple[int, int]:
    """(row height, label gutter width) of the detection strip for an image size."""
    row = max(6, height // 64)
    return row, (max(12, width // 9) if row >= 10 else max(6, row // 2 + 2))


def draw_presence_strip(image: np.ndarray, presence: np.ndarray, frame_index: int) -> int:
    """One row per articulator along the bottom (green found / red lost over the whole clip), labelled, with a
    cursor at ``frame_index``. Returns the strip's top row (y)."""
    import cv2

    height, width = image.shape[:2]
    row, gutter = strip_geometry(height, width)
    rows, frames = presence.shape
    top = height - rows * row
    image[top:, :gutter] = (image[top:, :gutter] * 0.35).astype(np.uint8)
    columns = np.minimum((np.arange(width - gutter) * frames) // max(width - gutter, 1), frames - 1)
    for k, name in enumerate(ARTICULATORS):
        y0, y1 = top + k * row, top + (k + 1) * row
        image[y0:y1, gutter:] = np.where(presence[k, columns][:, None], FOUND, LOST)[None]
        image[y1 - 1 : y1, gutter:] = 0  # thin separator
        image[y0 : y1 - 1, : max(3, row // 2)] = COLORS[name]  # the articulator's skeleton colour as its key
        if row >= 10:  # a label only where it is legible
            cv2.putText(image, LABELS[name], (row, y1 - max(1, row // 5)), cv2.FONT_HERSHEY_SIMPLEX, row / 30,
                        COLORS[name], 1, cv2.LINE_AA)  # fmt: skip
    cursor = gutter + round((frame_index + 0.5) * (width - gutter) / max(frames, 1))
    cursor = min(max(cursor, gutter), width - 1)
    image[top:, max(cursor - 1, gutter) : cursor + 1] = CURSOR
    return top


@cache
def _font(size: int):
    """DejaVu Sans (shipped with matplotlib: full Unicode) at ``size`` px; PIL's own bitmap font as a fallback."""
    from PIL import ImageFont

    try:
        from matplotlib import font_manager

        return ImageFont.truetype(font_manager.findfont("DejaVu Sans"), size)
    except (ImportError, OSError, ValueError):
        return ImageFont.load_default()


def _wrap(text: str, font, max_width: int) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and font.getlength(f"{lines[-1]} {word}") <= max_width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines[-3:]  # at most three lines, the end of the cue


def draw_subtitle(image: np.ndarray, text: str, bottom: int | None = None) -> np.ndarray:
    """Burn ``text`` in, centred above ``bottom`` (white on a translucent dark box, wrapped to the width)."""
    from PIL import Image, ImageDraw

    height, width = image.shape[:2]
    bottom = height if bottom is None else bottom
    size = max(10, height // 20)
    font = _font(size)
    lines = _wrap(" ".join(text.split()), font, int(width * 0.9))
    if not lines:
        return image
    line_height = int(size * 1.25)
    box_top = max(0, bottom - line_height * len(lines) - size // 2)
    region = Image.fromarray(image[box_top:bottom])
    shade = Image.new("RGBA", region.size, (0, 0, 0, 150))
    region = Image.alpha_composite(region.convert("RGBA"), shade)
    draw = ImageDraw.Draw(region)
    for k, line in enumerate(lines):
        x = (width - font.getlength(line)) / 2
        draw.text((x, size // 4 + k * line_height), line, font=font, fill=(255, 255, 255, 255))
    image[box_top:bottom] = np.asarray(region.convert("RGB"))
    return image


# ------------------------------------------------------------------------------------------------------- render


def render_overlay(
    values: np.ndarray,
    mask: np.ndarray,
    fps: float,
    write: Callable[[Iterable[np.ndarray], float], Path],
    frames: Iterator[np.ndarray] | None = None,
    source_size: tuple[int, int] | None = None,
    subtitles: Sequence | None = None,
    max_size: int | None = None,
    on_frame: Callable[[int, int], None] | None = None,
) -> Path:
    """Draw every frame with `overlay_frame` and hand the stream to ``write(frames, fps)`` (an encoder).

    Args:
        values, mask: keypoints ``(t, 203, 3)`` / ``(t, 203)`` at ``fps``, frame ``k`` on the video's frame ``k``.
        frames: the video's RGB frames on the same time grid; ``None`` draws on a blank canvas. With a video, the
            output has the video's frames (keypoints past the end of ``values`` are simply absent).
        source_size: (width, height) the keypoints were measured on; default: the video's frame size.
        subtitles: cues with ``start``/``end`` seconds and ``text`` to burn in.
        max_size: longest output side in pixels (default: the video's own size).
        on_frame: ``on_frame(done, total)`` after each frame (progress bars).
    """
    total = len(values)
    presence = articulator_presence(mask) if total else np.zeros((len(ARTICULATORS), 1), dtype=bool)
    cues = sorted(subtitles or [], key=lambda cue: (cue.start, cue.end))

    def subtitle_at(index: int) -> str | None:
        time = (index + 0.5) / fps
        texts = [cue.text for cue in cues if cue.start <= time < cue.end and cue.text.strip()]
        return " / ".join(texts) if texts else None

    def drawn() -> Iterator[np.ndarray]:
        import cv2

        source = frames
        if source is None:
            size = canvas_size(values, mask)
            source = (np.full((size[1], size[0], 3), CANVAS_BACKGROUND, dtype=np.uint8) for _ in range(total))
        points = None
        out_size = None
        for index, image in enumerate(source):
            if out_size is None:
                height, width = image.shape[:2]
                out_size = output_size(width, height, max_size)
                measured = source_size or ((width, height) if frames is not None else None)
                points = to_image_points(values, mask, measured, out_size) if total else None
            if image.shape[1::-1] != out_size:
                image = cv2.resize(image, out_size, interpolation=cv2.INTER_AREA)
            else:
                image = image.copy()
            if index < total:
                overlay_frame(image, points[index], mask[index], presence, index, subtitle_at(index))
            else:
                overlay_frame(image, np.zeros((mask.shape[1], 2)), np.zeros(mask.shape[1], bool), presence, index,
                              subtitle_at(index))  # fmt: skip
            if on_frame is not None:
                on_frame(index + 1, total)
            yield image

    return write(drawn(), fps)
