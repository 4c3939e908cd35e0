"""A small, deterministic, procedurally generated "sign language" corpus for ``signllm demo`` (no download).

**What it is not:** this is not a sign language and says nothing about sign-language accuracy. It is an animated
203-joint stick figure whose vocabulary of 20 "signs" was invented so that every word is easy to tell apart. It
exists to exercise the real pipeline end to end — corpus preparation, ISLR pretraining, the SLT/SSA curriculum,
full-video translation and alignment, metrics, Hub export — on any machine, offline, in minutes.

How the signer moves (all in shoulder-width units, x to the image right, y down, z towards the camera negative):

- every word has its own **motion primitive**: a dominant-hand handshape (a finger-curl pattern over the 5
  fingers), a location relative to the body (chest, chin, forehead, ...), a movement (circle, tap, line, arc,
  zig-zag, ...), a hand orientation, one or two hands, a mouth pattern (lips open / close) and eyebrows;
- a **sentence** is a word sequence from a small grammar (``[TIME] SUBJECT VERB OBJECT`` in sign order, the
  English subtitle is ``SUBJECT VERB OBJECT [TIME]``, so translation is not gloss-by-gloss reading); signs are
  joined by smooth transitions, sentences are separated by pauses with the hands at rest;
- an **episode** (~30–60 s at 25 fps) is one signer: per-episode body size, framing, speed, hand size, sway,
  tracking jitter and short hand-detection dropouts (masked joints, as MediaPipe produces them);
- **subtitles** come in two timings, as in BOBSL: signing-aligned (``manually-aligned/``, ground truth: from the
  first sign's onset to the last sign's end) and audio-aligned (``audio-aligned/``, the SSA prior): the ground
  truth shifted earlier by a random offset ~ N(1.0 s, 1.0 s) (signing lags the speech it interprets) with a
  ±20 % duration change.
- **ISLR clips**: every sign of the training episodes, cut as a 1-s clip (BOBSL ``dict`` range: 3 frames before
  the onset to 22 after) into its own small ``.npz`` and listed in ``islr/clips.csv`` (``path,label,signer``, read
  by ``signllm train islr`` directly); the same onsets are also written as BOBSL ``dict`` spottings.

Layout written by `build_demo_corpus` (the BOBSL layout, ``datasets_scripts/bobsl.md``; its sentence part is
also readable by the ``folder`` builder, which picks the signing-aligned ``.vtt`` files and ``splits.json``)::

    <root>/subset2episode.json   splits.json
    <root>/subtitles/manually-aligned/<ep>.vtt   subtitles/audio-aligned/<ep>.vtt
    <root>/spottings/dict_spottings.json
    <root>/islr/clips.csv   islr/clips/<ep>_<n>_<word>.npz
    <root>/keypoints/<ep>.npz                    (signllm.processing.keypoint_io.write_npz, 25 fps)

There is no video and no lip-reading feature: the demo model is pose-only (``use_lip=False``).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from signllm.keypoint_layout import (
    FACE_MESH_INDICES,
    FACEMESH_FACE_OVAL,
    FACEMESH_LEFT_EYE,
    FACEMESH_LEFT_EYEBROW,
    FACEMESH_LIPS,
    FACEMESH_RIGHT_EYE,
    FACEMESH_RIGHT_EYEBROW,
    HIDDEN_BODY_JOINTS,
    NUM_JOINTS,
)

FPS = 25.0
SPOTTING_ONSET_OFFSET = 3 / 25.0  # BOBSL "dict" clips start 3 frames before the spotted time

# ------------------------------------------------------------------------------------------------ vocabulary
SUBJECTS = ("I", "you", "we", "they")
VERBS = ("want", "need", "like", "see", "have")
OBJECTS = ("water", "food", "book", "house", "car", "dog", "tea", "bus")
TIMES = ("today", "tomorrow", "now")
VOCABULARY: tuple[str, ...] = SUBJECTS + VERBS + OBJECTS + TIMES  # 20 words

# finger curls (thumb, index, middle, ring, pinky): 0 = straight, 1 = fully bent
HANDSHAPES = {
    "flat": (0.0, 0.0, 0.0, 0.0, 0.0),
    "fist": (1.0, 1.0, 1.0, 1.0, 1.0),
    "index": (1.0, 0.0, 1.0, 1.0, 1.0),
    "v": (1.0, 0.0, 0.0, 1.0, 1.0),
    "y": (0.0, 1.0, 1.0, 1.0, 0.0),
    "l": (0.0, 0.0, 1.0, 1.0, 1.0),
    "claw": (0.5, 0.55, 0.55, 0.55, 0.55),
    "w": (1.0, 0.0, 0.0, 0.0, 1.0),
    "thumb": (0.0, 1.0, 1.0, 1.0, 1.0),
    "pinky": (1.0, 1.0, 1.0, 1.0, 0.0),
}
# dominant (right) hand locations, relative to the shoulder midpoint (the right hand is on the image left: x < 0)
LOCATIONS = {
    "neutral": (-0.15, 0.55, -0.45),
    "chest": (-0.05, 0.3, -0.25),
    "chin": (-0.02, -0.5, -0.3),
    "forehead": (-0.08, -0.95, -0.3),
    "side": (-0.75, 0.25, -0.3),
    "high": (-0.45, -0.55, -0.5),
    "cheek": (-0.22, -0.72, -0.25),
}
MOVEMENTS = ("hold", "circle", "tap", "forward", "down", "side", "zigzag", "arc")
ORIENTATIONS = (-90.0, -135.0, 180.0, -45.0, -110.0)  # finger direction in the image plane (degrees, -90 = up)
MOUTHS = ("closed", "open", "twice", "wide", "late")


@dataclass(frozen=True)
class SignPrimitive:
    """The motion of one word (all fields are indices into the tables above or small numbers)."""

    word: str
    handshape: str
    location: str
    movement: str
    orientation: float
    two_handed: bool
    mouth: str
    brows: float
    duration: float  # seconds at speed 1


def sign_lexicon() -> dict[str, SignPrimitive]:
    """One distinct primitive per word (deterministic: a function of the word's position in `VOCABULARY`).

    ``(handshape, location)`` alone is unique for all 20 words (10 shapes x 7 locations, indices ``i % 10`` and
    ``(3 i + 1) % 7``); movement, mouth and orientation add more differences.
    """
    shapes, locations = list(HANDSHAPES), list(LOCATIONS)
    lexicon = {}
    for i, word in enumerate(VOCABULARY):
        lexicon[word] = SignPrimitive(
            word=word,
            handshape=shapes[i % len(shapes)],
            location=locations[(3 * i + 1) % len(locations)],
            movement=MOVEMENTS[(5 * i + 2) % len(MOVEMENTS)],
            orientation=ORIENTATIONS[(2 * i) % len(ORIENTATIONS)],
            two_handed=i % 4 == 1,
            mouth=MOUTHS[i % len(MOUTHS)],
            brows=0.6 if word in TIMES else 0.0,
            duration=0.42 + 0.04 * ((7 * i) % 5),
        )
    return lexicon


def random_sentence(rng: np.random.Generator) -> tuple[list[str], str]:
    """``(signs in signing order, English subtitle)``: ``[TIME] SUBJ VERB OBJ`` signed, ``SUBJ VERB OBJ [TIME]`` said."""
    subject, verb, obj = rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(OBJECTS)
    time = rng.choice(TIMES) if rng.random() < 0.6 else None
    signs = ([time] if time else []) + [subject, verb, obj]
    english = " ".join([subject, verb, obj] + ([time] if time else []))
    return [str(s) for s in signs], str(english)


# ------------------------------------------------------------------------------------------------ the signer
@dataclass(frozen=True)
class Signer:
    """Per-episode appearance and style."""

    scale: float  # shoulder width in image fractions
    centre_x: float
    centre_y: float
    speed: float  # > 1 signs faster
    hand_size: float
    upper_arm: float
    forearm: float
    sway: float
    jitter: float  # tracking noise (shoulder units)
    dropout: float  # probability per second that a hand is lost for a few frames

    @staticmethod
    def sample(rng: np.random.Generator) -> Signer:
        return Signer(
            scale=float(rng.uniform(0.16, 0.22)), centre_x=float(rng.uniform(0.45, 0.55)),
            centre_y=float(rng.uniform(0.38, 0.46)), speed=float(rng.uniform(0.85, 1.15)),
            hand_size=float(rng.uniform(0.4, 0.48)), upper_arm=float(rng.uniform(0.72, 0.82)),
            forearm=float(rng.uniform(0.66, 0.74)), sway=float(rng.uniform(0.005, 0.02)),
            jitter=float(rng.uniform(0.002, 0.006)), dropout=float(rng.uniform(0.02, 0.1)),
        )  # fmt: skip


@dataclass
class _Track:
    """Per-frame control signals of one episode (t frames)."""

    right: np.ndarray  # (t, 3) right wrist target
    left: np.ndarray  # (t, 3)
    right_angle: np.ndarray  # (t,) degrees
    left_angle: np.ndarray
    right_curl: np.ndarray  # (t, 5)
    left_curl: np.ndarray
    mouth: np.ndarray  # (t,) 0 closed .. 1 open
    brows: np.ndarray  # (t,)


REST_RIGHT = np.array([-0.35, 1.15, -0.15])
REST_LEFT = np.array([0.35, 1.15, -0.15])
REST_ANGLE = -100.0
REST_CURL = np.full(5, 0.3)


def _mirror(point: np.ndarray) -> np.ndarray:
    return point * np.array([-1.0, 1.0, 1.0])


def _movement_offset(movement: str, u: np.ndarray) -> np.ndarray:
    """Hand offset (len(u), 3) along a movement, u in [0, 1] over the sign."""
    zero = np.zeros_like(u)
    if movement == "hold":
        return np.stack([zero, 0.02 * np.sin(2 * np.pi * u), zero], axis=1)
    if movement == "circle":
        return 0.15 * np.stack([np.cos(2 * np.pi * u) - 1, np.sin(2 * np.pi * u), zero], axis=1)
    if movement == "tap":
        return np.stack([zero, zero, -0.15 * np.abs(np.sin(2 * np.pi * u))], axis=1)
    if movement == "forward":
        return np.stack([zero, 0.05 * u, -0.35 * u], axis=1)
    if movement == "down":
        return np.stack([zero, 0.3 * u, zero], axis=1)
    if movement == "side":
        return np.stack([-0.3 * u, zero, zero], axis=1)
    if movement == "zigzag":
        return np.stack([0.1 * np.sign(np.sin(3 * np.pi * u)) * np.sin(3 * np.pi * u), 0.25 * u, zero], axis=1)
    if movement == "arc":
        return np.stack([-0.3 * u, -0.15 * np.sin(np.pi * u), zero], axis=1)
    raise ValueError(f"unknown movement {movement!r}")


def _mouth_curve(mouth: str, u: np.ndarray) -> np.ndarray:
    if mouth == "closed":
        return np.zeros_like(u)
    if mouth == "open":
        return 0.6 * np.sin(np.pi * u)
    if mouth == "twice":
        return 0.5 * np.abs(np.sin(2 * np.pi * u))
    if mouth == "wide":
        return np.full_like(u, 0.9)
    return 0.8 * np.clip((u - 0.6) / 0.4, 0, 1) * np.sin(np.pi * np.clip(u, 0, 1))  # "late"


def _smoothstep(u: np.ndarray) -> np.ndarray:
    return u * u * (3 - 2 * u)


class _TrackBuilder:
    """Appends rest, transition and sign segments frame by frame (vectorised per segment)."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.parts: list[dict[str, np.ndarray]] = []
        self.state = self._rest_state()
        self.num_frames = 0

    @staticmethod
    def _rest_state() -> dict[str, np.ndarray]:
        return {"right": REST_RIGHT.copy(), "left": REST_LEFT.copy(), "right_angle": np.array(REST_ANGLE),
                "left_angle": np.array(REST_ANGLE), "right_curl": REST_CURL.copy(), "left_curl": REST_CURL.copy(),
                "mouth": np.array(0.0), "brows": np.array(0.0)}  # fmt: skip

    def _append(self, part: dict[str, np.ndarray]) -> None:
        self.parts.append(part)
        self.num_frames += len(part["mouth"])
        self.state = {key: value[-1] for key, value in part.items()}

    def hold_rest(self, frames: int) -> None:
        if frames <= 0:
            return
        rest = self._rest_state()
        u = np.arange(frames) / max(frames, 1)
        breathing = 0.01 * np.sin(2 * np.pi * u * frames / 90.0)[:, None] * np.array([0, 1, 0])
        self._append({key: np.repeat(np.asarray(value)[None], frames, axis=0) + (breathing if key in ("right", "left")
                      else 0) for key, value in rest.items()})  # fmt: skip

    def transition(self, target: dict[str, np.ndarray], frames: int) -> None:
        if frames <= 0:
            return
        u = _smoothstep(np.arange(1, frames + 1) / frames)
        part = {}
        for key, end in target.items():
            start = np.asarray(self.state[key], dtype=float)
            end = np.asarray(end, dtype=float)
            shape = (frames,) + (1,) * start.ndim
            part[key] = start[None] + (end - start)[None] * u.reshape(shape)
        self._append(part)

    def sign(self, primitive: SignPrimitive, frames: int, shift: np.ndarray | None = None) -> None:
        """``shift``: this token's small displacement of the sign location (signers never hit the same spot)."""
        u = np.linspace(0.0, 1.0, frames)
        location = np.array(LOCATIONS[primitive.location]) + (0.0 if shift is None else shift)
        right = location[None] + _movement_offset(primitive.movement, u)
        curl = np.array(HANDSHAPES[primitive.handshape])
        if primitive.two_handed:
            left = _mirror(right) + np.array([-0.05, 0.0, 0.0])
            left_angle, left_curl = np.full(frames, 180.0 - primitive.orientation), np.repeat(curl[None], frames, 0)
        else:  # the non-dominant hand rests low, slightly raised
            left = np.repeat((REST_LEFT + np.array([0.0, -0.1, -0.05]))[None], frames, 0)
            left_angle, left_curl = np.full(frames, REST_ANGLE), np.repeat(REST_CURL[None], frames, 0)
        self._append({
            "right": right, "left": left, "right_angle": np.full(frames, primitive.orientation),
            "left_angle": left_angle, "right_curl": np.repeat(curl[None], frames, 0), "left_curl": left_curl,
            "mouth": _mouth_curve(primitive.mouth, u), "brows": np.full(frames, primitive.brows),
        })  # fmt: skip

    @staticmethod
    def sign_start_state(primitive: SignPrimitive, shift: np.ndarray) -> dict[str, np.ndarray]:
        """The state at frame 0 of a sign (the transition's target)."""
        probe = _TrackBuilder(np.random.default_rng(0))
        probe.sign(primitive, 2, shift)
        return {key: value[0] for key, value in probe.parts[0].items()}

    def build(self) -> _Track:
        merged = {key: np.concatenate([np.asarray(p[key], dtype=float) for p in self.parts]) for key in self.state}
        return _Track(**merged)


# ------------------------------------------------------------------------------------------------ skeleton
def _face_template() -> tuple[np.ndarray, np.ndarray]:
    """``(points (128, 3), lower (128,) bool)``: a neutral face relative to the head centre, and the joints that
    move down when the mouth opens (lower lips). Contours are laid out along the face-mesh chains."""
    local = {mesh_id: i for i, mesh_id in enumerate(FACE_MESH_INDICES)}
    points = np.zeros((len(FACE_MESH_INDICES), 3))
    lower = np.zeros(len(FACE_MESH_INDICES), dtype=bool)
    brow = np.zeros(len(FACE_MESH_INDICES), dtype=bool)

    def chain(edges: Sequence[tuple[int, int]]) -> list[int]:
        return [edges[0][0]] + [b for _, b in edges]

    def arc(ids: list[int], centre, width: float, height: float, start_angle: float, end_angle: float) -> None:
        angles = np.linspace(start_angle, end_angle, len(ids))
        for mesh_id, angle in zip(ids, angles):
            points[local[mesh_id]] = (centre[0] + width * np.cos(angle), centre[1] + height * np.sin(angle), 0.0)

    # lips: FACEMESH_LIPS lists outer lower, outer upper, inner lower, inner upper chains of 10 edges each
    mouth = (0.0, 0.2)
    for k, (width, height, sign) in enumerate(((0.1, 0.04, 1), (0.1, 0.035, -1), (0.075, 0.015, 1), (0.075, 0.012, -1))):
        ids = chain(FACEMESH_LIPS[10 * k : 10 * (k + 1)])
        arc(ids, mouth, width, sign * height, np.pi, 0.0)
        if sign > 0:
            lower[[local[i] for i in ids[1:-1]]] = True
    for edges, centre_x in ((FACEMESH_RIGHT_EYE, -0.1), (FACEMESH_LEFT_EYE, 0.1)):  # subject's right = image left
        arc(chain(edges[:8]), (centre_x, -0.05), 0.045, 0.015, np.pi, 0.0)
        arc(chain(edges[8:]), (centre_x, -0.05), 0.045, -0.02, np.pi, 0.0)
    for edges, centre_x in ((FACEMESH_RIGHT_EYEBROW, -0.1), (FACEMESH_LEFT_EYEBROW, 0.1)):
        for half in (edges[:4], edges[4:]):
            ids = chain(half)
            arc(ids, (centre_x, -0.1), 0.06, -0.03, np.pi, 0.0)
            brow[[local[i] for i in ids]] = True
    oval = chain(FACEMESH_FACE_OVAL)[:-1]  # a closed cycle starting at the forehead (mesh id 10)
    arc(oval, (0.0, 0.0), 0.26, 0.34, -np.pi / 2, 1.5 * np.pi - 2 * np.pi / len(oval))
    return points, np.stack([lower, brow])


_FACE_POINTS, _FACE_MOVING = _face_template()


def _rotate(angle_degrees: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit finger axis and across-palm axis (t, 3) for in-plane angles (t,)."""
    angle = np.deg2rad(angle_degrees)
    axis = np.stack([np.cos(angle), np.sin(angle), np.zeros_like(angle)], axis=1)
    across = np.stack([-np.sin(angle), np.cos(angle), np.zeros_like(angle)], axis=1)
    return axis, across


# (along, across) of each finger base in hand lengths; thumb from the wrist side
_FINGER_BASES = ((0.12, 0.2), (0.45, 0.17), (0.47, 0.05), (0.44, -0.07), (0.4, -0.17))
_FINGER_SEGMENTS = ((0.17, 0.14, 0.11), (0.22, 0.13, 0.1), (0.24, 0.15, 0.11), (0.22, 0.14, 0.1), (0.18, 0.11, 0.09))
_FINGER_SPREAD = (40.0, 8.0, 0.0, -7.0, -15.0)


def _hand(wrist: np.ndarray, angle: np.ndarray, curl: np.ndarray, size: float, mirror: bool) -> np.ndarray:
    """21 MediaPipe hand joints (t, 21, 3): wrist, then thumb/index/middle/ring/pinky, 4 joints each."""
    t = len(wrist)
    side = -1.0 if mirror else 1.0
    joints = np.zeros((t, 21, 3))
    joints[:, 0] = wrist
    towards_camera = np.array([0.0, 0.0, -1.0])
    for finger in range(5):
        along, across = _FINGER_BASES[finger]
        axis, across_axis = _rotate(angle + side * _FINGER_SPREAD[finger])
        base_axis, base_across = _rotate(angle)
        point = wrist + size * (along * base_axis + side * across * base_across)
        if finger == 0:
            point = wrist + size * (0.5 * along * base_axis + side * 0.5 * across * base_across)
        joints[:, 1 + 4 * finger] = point
        for segment in range(3):
            bend = np.deg2rad(75.0) * curl[:, finger] * (segment + 1) / 2.0
            direction = np.cos(bend)[:, None] * axis + np.sin(bend)[:, None] * towards_camera
            if finger == 0:  # the thumb folds across the palm instead of towards the camera
                direction = np.cos(bend)[:, None] * axis - side * np.sin(bend)[:, None] * across_axis
            point = point + size * _FINGER_SEGMENTS[finger][segment] * direction
            joints[:, 2 + 4 * finger + segment] = point
    return joints


def _elbow(shoulder: np.ndarray, wrist: np.ndarray, upper: float, fore: float, outward: float) -> tuple[np.ndarray, np.ndarray]:
    """Two-link IK: elbow (t, 3) bending outwards and down; the wrist is pulled in when out of reach."""
    offset = wrist - shoulder
    distance = np.linalg.norm(offset, axis=1, keepdims=True).clip(1e-6)
    reach = upper + fore - 1e-3
    wrist = np.where(distance > reach, shoulder + offset / distance * reach, wrist)
    distance = np.minimum(distance, reach)
    unit = offset / np.linalg.norm(offset, axis=1, keepdims=True).clip(1e-6)
    a = (upper**2 - fore**2 + distance**2) / (2 * distance)
    h = np.sqrt(np.clip(upper**2 - a**2, 0.0, None))
    pole = np.array([outward, 1.0, 0.3])
    perpendicular = pole[None] - np.sum(pole[None] * unit, axis=1, keepdims=True) * unit
    perpendicular /= np.linalg.norm(perpendicular, axis=1, keepdims=True).clip(1e-6)
    return shoulder + a * unit + h * perpendicular, wrist


def render_keypoints(track: _Track, signer: Signer, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Control signals → raw keypoints ``(t, 203, 3)`` in image fractions and the joint mask ``(t, 203)``."""
    t = len(track.mouth)
    joints = np.zeros((t, NUM_JOINTS, 3))
    sway = signer.sway * np.sin(2 * np.pi * np.arange(t) / (FPS * 4.0) + rng.uniform(0, 2 * np.pi))
    origin = np.stack([sway, 0.3 * sway, np.zeros(t)], axis=1)  # shoulder midpoint

    body = {0: (0, -0.75), 1: (0.05, -0.85), 2: (0.1, -0.85), 3: (0.14, -0.85), 4: (-0.05, -0.85),
            5: (-0.1, -0.85), 6: (-0.14, -0.85), 7: (0.24, -0.8), 8: (-0.24, -0.8), 9: (0.06, -0.6),
            10: (-0.06, -0.6), 11: (0.5, 0.0), 12: (-0.5, 0.0), 23: (0.35, 1.5), 24: (-0.35, 1.5)}  # fmt: skip
    for index, (x, y) in body.items():
        joints[:, index] = origin + np.array([x, y, 0.0])
    head = origin + np.array([0.0, -0.8, 0.0])

    arms = []
    for shoulder_id, elbow_id, wrist_id, target, outward in ((12, 14, 16, track.right, -1.0), (11, 13, 15, track.left, 1.0)):
        shoulder = joints[:, shoulder_id]
        elbow, wrist = _elbow(shoulder, origin + target, signer.upper_arm, signer.forearm, outward)
        joints[:, elbow_id], joints[:, wrist_id] = elbow, wrist
        arms.append(wrist)
    right_hand = _hand(arms[0], track.right_angle, track.right_curl, signer.hand_size, mirror=False)
    left_hand = _hand(arms[1], track.left_angle, track.left_curl, signer.hand_size, mirror=True)
    joints[:, 182:203], joints[:, 161:182] = right_hand, left_hand
    # pose hand points: pinky 17/18, index 19/20, thumb 21/22 (left/right)
    for pose_id, hand, joint in ((17, left_hand, 17), (18, right_hand, 17), (19, left_hand, 5), (20, right_hand, 5),
                                 (21, left_hand, 2), (22, right_hand, 2)):  # fmt: skip
        joints[:, pose_id] = hand[:, joint]

    face = _FACE_POINTS[None] + np.zeros((t, 1, 1))
    face[:, _FACE_MOVING[0], 1] += 0.07 * track.mouth[:, None]
    face[:, _FACE_MOVING[1], 1] -= 0.05 * track.brows[:, None]
    joints[:, 33:161] = head[:, None] + face

    joints += rng.normal(0.0, signer.jitter, joints.shape)
    mask = np.ones((t, NUM_JOINTS), dtype=bool)
    mask[:, list(HIDDEN_BODY_JOINTS)] = False
    # short hand-detection dropouts, as MediaPipe loses fast or occluded hands
    for hand_slice in (slice(161, 182), slice(182, 203)):
        for _ in range(rng.poisson(signer.dropout * t / FPS)):
            start = int(rng.integers(0, t))
            mask[start : start + int(rng.integers(2, 8)), hand_slice] = False

    values = np.empty_like(joints)
    values[..., 0] = signer.centre_x + signer.scale * joints[..., 0]
    values[..., 1] = signer.centre_y + signer.scale * joints[..., 1] * 16 / 9  # square pixels in a 16:9 frame
    values[..., 2] = signer.scale * joints[..., 2]
    values[~mask] = 0.0
    return values.astype(np.float32), mask


# ------------------------------------------------------------------------------------------------ episodes
@dataclass
class DemoSentence:
    text: str
    signs: list[str]
    start: float  # signing-aligned (ground truth), seconds
    end: float
    prior_start: float  # audio-aligned
    prior_end: float
    sign_onsets: list[float]


@dataclass
class DemoEpisode:
    episode_id: str
    split: str
    signer: Signer
    sentences: list[DemoSentence]
    values: np.ndarray  # (t, 203, 3)
    mask: np.ndarray  # (t, 203)

    @property
    def duration(self) -> float:
        return len(self.values) / FPS


def generate_episode(episode_id: str, split: str, seed: int, min_seconds: float = 30.0,
                     max_seconds: float = 60.0) -> DemoEpisode:  # fmt: skip
    """One episode of ``U(min_seconds, max_seconds)`` s: sentences with pauses, keypoints and both timings."""
    rng = np.random.default_rng(seed)
    signer = Signer.sample(rng)
    lexicon = sign_lexicon()
    target_frames = int(rng.uniform(min_seconds, max_seconds) * FPS)
    builder = _TrackBuilder(rng)
    sentences: list[DemoSentence] = []
    while True:
        builder.hold_rest(int(rng.uniform(0.6, 1.6) * FPS))
        signs, text = random_sentence(rng)
        durations = [lexicon[s].duration / signer.speed * rng.uniform(0.9, 1.1) for s in signs]
        needed = sum(durations) + 0.3 * len(signs) + 1.5
        if builder.num_frames + needed * FPS > target_frames and sentences:
            break
        onset_frames = []
        for k, (sign, seconds) in enumerate(zip(signs, durations)):
            frames_in = int((0.3 if k == 0 else rng.uniform(0.14, 0.26)) / signer.speed * FPS)
            shift = rng.normal(0.0, 0.02, 3)
            builder.transition(builder.sign_start_state(lexicon[sign], shift), frames_in)
            onset_frames.append(builder.num_frames)
            builder.sign(lexicon[sign], max(6, int(seconds * FPS)), shift)
        end_frame = builder.num_frames
        builder.transition(_TrackBuilder._rest_state(), int(0.3 * FPS))
        start = (onset_frames[0] - 0.15 * FPS) / FPS
        end = (end_frame + 0.15 * FPS) / FPS
        # audio-aligned prior: the speech came ~1 s before the signing (N(1, 1) s), duration within +-20 %
        offset = float(np.clip(rng.normal(1.0, 1.0), -1.5, 3.5))
        duration = (end - start) * rng.uniform(0.8, 1.2)
        prior_start = max(0.0, start - offset)
        sentences.append(DemoSentence(text, signs, round(start, 3), round(end, 3), round(prior_start, 3),
                                      round(prior_start + duration, 3), [round(f / FPS, 3) for f in onset_frames]))
    builder.hold_rest(max(int(1.0 * FPS), target_frames - builder.num_frames))
    track = builder.build()
    values, mask = render_keypoints(track, signer, rng)
    duration = len(values) / FPS
    for sentence in sentences:  # a prior may not run past the episode
        sentence.prior_end = round(min(sentence.prior_end, duration), 3)
    return DemoEpisode(episode_id, split, signer, sentences, values, mask)


# ------------------------------------------------------------------------------------------------ corpus
@dataclass
class DemoCorpus:
    root: Path
    episodes: dict[str, list[str]]  # split -> episode ids
    num_sentences: dict[str, int]
    num_spottings: int
    seconds: dict[str, float]

    def keypoints_path(self, episode_id: str) -> Path:
        return self.root / "keypoints" / f"{episode_id}.npz"

    @property
    def islr_manifest(self) -> Path:
        return self.root / "islr" / "clips.csv"

    def subtitles_path(self, episode_id: str, timing: str = "manually-aligned") -> Path:
        return self.root / "subtitles" / timing / f"{episode_id}.vtt"


def build_demo_corpus(
    root: str | Path,
    splits: dict[str, int] | None = None,
    seed: int = 0,
    min_seconds: float = 30.0,
    max_seconds: float = 60.0,
    progress: bool = True,
) -> DemoCorpus:
    """Generate the demo corpus under ``root`` (layout in the module docstring); deterministic given ``seed``.

    Args:
        splits: episodes per split, default ``{"train": 24, "val": 2, "test": 4}``.
    """
    from signllm.datasets_scripts.subtitles import Subtitle, write_subtitles
    from signllm.processing.keypoint_io import KeypointSequence, write_npz
    from tqdm.auto import tqdm

    splits = dict(splits or {"train": 24, "val": 2, "test": 4})
    if not splits or any(count < 0 for count in splits.values()) or splits.get("train", 0) < 1:
        raise ValueError(f"splits must give a positive number of 'train' episodes, got {splits}")
    if not 5.0 <= min_seconds <= max_seconds:
        raise ValueError(f"need 5 <= min_seconds <= max_seconds, got {min_seconds}, {max_seconds}")
    root = Path(root)
    for folder in ("keypoints", "subtitles/manually-aligned", "subtitles/audio-aligned", "spottings", "islr/clips"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    episodes: dict[str, list[str]] = {split: [] for split in splits}
    spottings: dict[str, dict[str, dict[str, list]]] = {}
    num_sentences = {split: 0 for split in splits}
    seconds = {split: 0.0 for split in splits}
    clips: list[dict[str, str]] = []
    jobs = [(split, k) for split, count in splits.items() for k in range(count)]
    for number, (split, k) in enumerate(tqdm(jobs, desc="demo corpus", unit=" episodes", disable=not progress)):
        episode_id = f"demo_{split}_{k:03d}"
        episode = generate_episode(episode_id, split, seed=seed * 100_003 + number, min_seconds=min_seconds,
                                   max_seconds=max_seconds)  # fmt: skip
        write_npz(root / "keypoints" / f"{episode_id}.npz",
                  KeypointSequence(values=episode.values, mask=episode.mask, fps=FPS))  # fmt: skip
        truth = [Subtitle(s.start, s.end, s.text, i) for i, s in enumerate(episode.sentences)]
        prior = [Subtitle(s.prior_start, s.prior_end, s.text, i) for i, s in enumerate(episode.sentences)]
        write_subtitles(truth, root / "subtitles" / "manually-aligned" / f"{episode_id}.vtt")
        write_subtitles(prior, root / "subtitles" / "audio-aligned" / f"{episode_id}.vtt")
        episodes[split].append(episode_id)
        num_sentences[split] += len(episode.sentences)
        seconds[split] += episode.duration
        if split == "train":  # ISLR clips: one BOBSL "dict" spotting per sign onset
            by_word = spottings.setdefault(split, {})
            for sentence in episode.sentences:
                for sign, onset in zip(sentence.signs, sentence.sign_onsets):
                    entry = by_word.setdefault(sign, {"names": [], "global_times": [], "probs": []})
                    entry["names"].append(episode_id)
                    entry["global_times"].append(round(onset + SPOTTING_ONSET_OFFSET, 3))
                    entry["probs"].append(1.0)
                    # the isolated clip: frames [onset - 3, onset + 22) of the episode (BOBSL "dict" range)
                    first = max(0, round(onset * FPS) - 3)
                    last = min(len(episode.values), first + 25)
                    name = f"{episode_id}_{len(clips):05d}_{sign}.npz"
                    write_npz(root / "islr" / "clips" / name, KeypointSequence(
                        values=episode.values[first:last], mask=episode.mask[first:last], fps=FPS))  # fmt: skip
                    clips.append({"path": f"clips/{name}", "label": sign, "signer": f"signer_{number}"})
    (root / "subset2episode.json").write_text(json.dumps(episodes, indent=1))
    (root / "splits.json").write_text(json.dumps(episodes, indent=1))  # the `folder` builder's split file
    (root / "spottings" / "dict_spottings.json").write_text(json.dumps(spottings))
    with (root / "islr" / "clips.csv").open("w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=["path", "label", "signer"])
        writer.writeheader()
        writer.writerows(clips)
    lexicon = {word: asdict(primitive) for word, primitive in sign_lexicon().items()}
    (root / "lexicon.json").write_text(json.dumps(lexicon, indent=1))
    num_spottings = sum(len(e["names"]) for by_word in spottings.values() for e in by_word.values())
    return DemoCorpus(root, episodes, num_sentences, num_spottings, seconds)
