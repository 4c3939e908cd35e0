"""BOBSL (BSL, BBC): episodes with audio-aligned and signing-aligned ``.vtt`` subtitles, and sign spottings (ISLR).

Layout: ``bobsl.md``. Per episode listed in ``subset2episode.json``:

- target times (``start``/``end``) come from the first subtitle version found in `TARGET_TIMINGS`
  (``manually-aligned`` > ``signing-aligned``, i.e. automatic signing alignment such as SAT's) and the prior
  (``prior_start``/``prior_end``, SSA input) from `PRIOR_TIMINGS`. An episode with audio-aligned subtitles only
  keeps them as its target (``timing="audio"``) with no prior: an SSA sample whose prior *is* the target teaches
  nothing, so the sampler uses these rows for SLT.
- cues of the two versions are matched by text (a difflib alignment of the normalised cue texts, so a cue that
  one version splits, drops or reorders does not shift all later matches); unmatched target cues get no prior.
- sign spottings ``{split: {word: {"names": [episode], "global_times": [s], "probs": [p]}}}`` become ISLR rows; the
  clip spans ``time + range / 25`` with the per-source frame ranges of the BOBSL tooling (`SPOTTING_RANGES`).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator
from pathlib import Path

from .prepare import (
    KEYPOINT_SUFFIXES,
    LIP_SUFFIXES,
    VIDEO_SUFFIXES,
    FileIndex,
    Meta,
    PrepareOptions,
    Row,
    Skip,
    read_subtitle_cues,
)
from .subtitles import Subtitle

CORPUS = "bobsl"
TARGET_TIMINGS = (("manually-aligned", "manual"), ("signing-aligned", "signing"))
PRIOR_TIMINGS = ("audio-aligned-heuristic-correction", "audio-aligned")
#: spotting source -> clip range in frames around the spotted time (25 fps), as used with the BOBSL release
SPOTTING_RANGES = {"dict": (-3, 22), "mouthing": (-15, 4), "attention": (-8, 18)}
DEFAULT_SPOTTING_RANGE = (-12, 12)  # [ours] for sources not listed above
_SUBSET_FILE_PLACES = ("subset2episode.json", "metadata/subset2episode.json", "splits/subset2episode.json")


def read_splits(root: Path) -> dict[str, list[str]]:
    for place in _SUBSET_FILE_PLACES:
        path = root / place
        if path.is_file():
            splits = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(splits, dict) or not all(isinstance(v, list) for v in splits.values()):
                raise ValueError(f"{path}: expected {{split: [episode ids]}}")
            return {split: [str(e) for e in episodes] for split, episodes in splits.items()}
    raise ValueError(f"{root}: subset2episode.json not found (looked in {', '.join(_SUBSET_FILE_PLACES)})")


def _normalise(text: str) -> str:
    return re.sub(r"[^\w]+", " ", text.lower()).strip()


def match_cues(target: list[Subtitle], prior: list[Subtitle]) -> list[Subtitle | None]:
    """For each target cue, the prior cue with the same text (order-preserving alignment), or None."""
    matched: list[Subtitle | None] = [None] * len(target)
    matcher = difflib.SequenceMatcher(
        a=[_normalise(s.text) for s in target], b=[_normalise(s.text) for s in prior], autojunk=False
    )
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            matched[block.a + k] = prior[block.b + k]
    return matched


def _subtitle_file(root: Path, version: str, episode: str) -> Path | None:
    for suffix in (".vtt", ".srt"):
        path = root / "subtitles" / version / f"{episode}{suffix}"
        if path.is_file():
            return path
    return None


def _sentence_rows(root: Path, options: PrepareOptions, splits: dict[str, list[str]]) -> Iterator[Row | Skip]:
    keypoints = FileIndex(options.keypoints_dir, KEYPOINT_SUFFIXES)
    lips = FileIndex(options.lip_dir, LIP_SUFFIXES)
    videos = FileIndex(root / "videos", VIDEO_SUFFIXES) if (root / "videos").is_dir() else FileIndex(None, ())
    for split, episodes in splits.items():
        for episode in episodes:
            target_path, timing = None, None
            for version, name in TARGET_TIMINGS:
                target_path = _subtitle_file(root, version, episode)
                if target_path is not None:
                    timing = name
                    break
            prior_path = next((p for v in PRIOR_TIMINGS if (p := _subtitle_file(root, v, episode))), None)
            if target_path is None and prior_path is None:
                yield Skip("missing_subtitles", f"{episode}: no subtitle file in subtitles/*/")
                continue
            prior_subs: list[Subtitle] = []
            if prior_path is not None:
                prior_subs, skips = read_subtitle_cues(prior_path)
                yield from skips
            if target_path is None:
                target_subs, matched, timing = prior_subs, [None] * len(prior_subs), "audio"
            else:
                target_subs, skips = read_subtitle_cues(target_path)
                yield from skips
                matched = match_cues(target_subs, prior_subs)
            video = videos.find(episode)
            for sub, prior in zip(target_subs, matched):
                yield Row(
                    "sentences",
                    {
                        "sample_id": f"{episode}/{sub.index}",
                        "split": split,
                        "episode_id": episode,
                        "sentence_index": sub.index,
                        "start": sub.start,
                        "end": sub.end,
                        "timing": timing,
                        "prior_start": prior.start if prior is not None else None,
                        "prior_end": prior.end if prior is not None else None,
                        "raw_text": sub.text,
                        "keypoints_path": keypoints.expected(episode),
                        "lip_path": str(lips.find(episode) or "") or None,
                        "video_path": str(video) if video else None,
                        "sign_language": options.sign_language or "bfi",
                        "text_language": options.text_language or "en",
                    },
                )


def _spotting_files(root: Path) -> list[Path]:
    places = [root / "spottings", root / "manual_annotations", root / "automatic_annotations"]
    return sorted({p for place in places if place.is_dir() for p in place.rglob("*spottings*.json")})


def _spotting_source(path: Path) -> str:
    name = path.stem.lower()
    source = next((key for key in SPOTTING_RANGES if key in name), name.replace("_spottings", ""))
    return f"verified_{source}" if "verified" in name else source


def _sign_rows(root: Path, options: PrepareOptions, splits: dict[str, list[str]]) -> Iterator[Row | Meta | Skip]:
    files = _spotting_files(root)
    if not files:
        return
    keypoints = FileIndex(options.keypoints_dir, KEYPOINT_SUFFIXES)
    episode_split = {episode: split for split, episodes in splits.items() for episode in episodes}
    spottings = [(path, json.loads(path.read_text(encoding="utf-8"))) for path in files]
    vocabulary = sorted({word for _, data in spottings for by_word in data.values() for word in by_word})
    labels = {word: i for i, word in enumerate(vocabulary)}
    yield Meta("labels", labels)
    for path, data in spottings:
        source = _spotting_source(path)
        first, last = SPOTTING_RANGES.get(source.replace("verified_", ""), DEFAULT_SPOTTING_RANGE)
        for json_split, by_word in data.items():
            for word, entry in by_word.items():
                names, times = entry.get("names", []), entry.get("global_times", [])
                probs = entry.get("probs", [None] * len(names))
                if not (len(names) == len(times) == len(probs)):
                    yield Skip("bad_spotting", f"{path.name}:{json_split}/{word}: names/global_times/probs differ")
                    continue
                for episode, time, prob in zip(names, times, probs):
                    episode = str(episode).removesuffix(".mp4")
                    yield Row(
                        "signs",
                        {
                            "sample_id": f"{source}/{episode}/{float(time):.3f}/{word}",
                            "split": episode_split.get(episode, json_split),
                            "episode_id": episode,
                            "label": word,
                            "label_id": labels[word],
                            "start": max(float(time) + first / 25.0, 0.0),
                            "end": float(time) + last / 25.0,
                            "source": source,
                            "annotation_confidence": None if prob is None else float(prob),
                            "keypoints_path": keypoints.expected(episode),
                            "sign_language": options.sign_language or "bfi",
                        },
                    )


def build(root: Path, options: PrepareOptions) -> Iterator[Row | Meta | Skip]:
    splits = read_splits(root)
    yield Meta("splits", {split: len(episodes) for split, episodes in splits.items()})
    yield from _sentence_rows(root, options, splits)
    yield from _sign_rows(root, options, splits)
