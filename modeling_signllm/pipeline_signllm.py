"""The ``"sign-translation"`` pipeline: a video, a ``.pose`` file, keypoints or features in; text or a span out.

```python
>>> from transformers import pipeline
>>> pipe = pipeline("sign-translation", model="path/or/repo", trust_remote_code=True)
>>> pipe("clip.pose")                                   # SLT
[{'translation_text': '...'}]
>>> pipe(keypoints, task="ssa", subtitle="Hello there", prior=(120, 180))   # SSA, frames in the 500-frame window
{'start': 4.8, 'end': 7.0, 'start_frame': 120, 'end_frame': 175}
```

Video files need the host-side extraction tools (``signllm.processing``: MediaPipe Holistic), which are not part
of the Hub code: the installed package offers them through the ``signllm.keypoint_extractors`` entry point,
looked up only when a video is given.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from transformers import Pipeline

from .processing_signllm import POSE_SUFFIXES

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
FEATURE_KEYS = {"pose", "lip", "pose_values", "lip_values", "fps", "subtitle", "prior"}
SUPPORTED_INPUTS = (
    f"a video path ({', '.join(VIDEO_SUFFIXES)}), a keypoint file ({', '.join(POSE_SUFFIXES)}), a keypoint array "
    "(t, 203, 3) or MediaPipe Holistic (t, 543|553, 3), a KeypointSequence, or a dict of features "
    "{'pose': ..., 'lip': ..., 'fps': ...}"
)


class SignTranslationPipeline(Pipeline):
    """SLT / SSA with a SignLLM model; the task is chosen per call with ``task="slt"`` (default) or ``"ssa"``.

    Call arguments: ``task``, ``subtitle`` / ``prior`` (SSA: subtitle text and optional prior frames),
    ``fps`` (of keypoint arrays without stored rate), ``truncation`` (``None`` | ``"center"`` | ``"start"`` for clips
    longer than the window), ``window_offset`` (seconds added to SSA times, e.g. the window start in the video),
    ``extract_kwargs`` (for video extraction), ``constrain_ssa`` (default True: SSA decoding may only produce the
    ``"sss eee"`` format, so the answer always parses), and generation arguments (``num_beams``, ``max_new_tokens``, …).
    """

    _load_processor = True
    _load_tokenizer = False
    _load_feature_extractor = False
    _load_image_processor = False

    def _sanitize_parameters(
        self,
        task: str | None = None,
        subtitle: str | None = None,
        prior: tuple[int, int] | None = None,
        fps: float | None = None,
        truncation: str | None = None,
        window_offset: float | None = None,
        extract_kwargs: dict | None = None,
        generate_kwargs: dict | None = None,
        constrain_ssa: bool = True,
        **kwargs,
    ):
        preprocess, forward, postprocess = {}, dict(generate_kwargs or {}), {}
        if task == "ssa" and constrain_ssa:
            forward.setdefault("prefix_allowed_tokens_fn", self.processor.ssa_prefix_allowed_tokens_fn())
        if task is not None:
            if task not in ("slt", "ssa"):
                raise ValueError(f"task={task!r} is not supported; allowed values: 'slt', 'ssa'.")
            preprocess["task"] = postprocess["task"] = task
        for name, value in (("subtitle", subtitle), ("prior", prior), ("fps", fps), ("truncation", truncation),
                            ("extract_kwargs", extract_kwargs)):  # fmt: skip
            if value is not None:
                preprocess[name] = value
        if window_offset is not None:
            postprocess["window_offset"] = window_offset
        forward.update(kwargs)  # everything else is a generation argument (num_beams, max_new_tokens, ...)
        return preprocess, forward, postprocess

    def __call__(self, inputs: Any, **kwargs):
        """One input → ``[{"translation_text": str}]`` (SLT) or ``{"start": s, "end": s, ...}`` (SSA); a list of
        inputs → a list with one such result per input."""
        if isinstance(inputs, (list, tuple)) and len(inputs) == 0:
            raise ValueError("Empty input list.")
        result = super().__call__(inputs, **kwargs)
        if isinstance(inputs, (list, tuple)) and kwargs.get("task", "slt") == "slt":
            return [item[0] if isinstance(item, list) else item for item in result]
        return result

    def preprocess(
        self,
        inputs: Any,
        task: str = "slt",
        subtitle: str | None = None,
        prior: tuple[int, int] | None = None,
        fps: float | None = None,
        truncation: str | None = None,
        extract_kwargs: dict | None = None,
    ):
        pose, lip, fps, subtitle, prior = self._resolve_input(inputs, fps, subtitle, prior, extract_kwargs or {})
        if task == "ssa" and not subtitle:
            raise ValueError(
                "task='ssa' needs the subtitle text: pass subtitle=... (or a 'subtitle' key in a dict input)."
            )
        return self.processor(
            pose=pose, lip=lip, task=task, subtitle=subtitle if task == "ssa" else None,
            prior=prior if task == "ssa" else None, fps=fps, truncation=truncation, return_tensors="pt",
        )  # fmt: skip

    def _resolve_input(self, inputs: Any, fps, subtitle, prior, extract_kwargs: dict):
        """Sort the input kinds out; returns ``(pose, lip, fps, subtitle, prior)`` for the processor."""
        if isinstance(inputs, (str, os.PathLike)):
            path = os.fspath(inputs)
            suffix = os.path.splitext(path)[1].lower()
            if suffix in VIDEO_SUFFIXES:
                return extract_video_keypoints(path, **extract_kwargs), None, fps, subtitle, prior
            if suffix in POSE_SUFFIXES:
                if not os.path.isfile(path):
                    raise ValueError(f"Input file not found: {path}")
                return path, None, fps, subtitle, prior
            raise ValueError(f"Unsupported input file {path!r}. Supported inputs: {SUPPORTED_INPUTS}.")
        if isinstance(inputs, dict):
            if "values" in inputs:  # a keypoint dict {"values", "mask", "fps"}
                return inputs, None, fps, subtitle, prior
            unknown = set(inputs) - FEATURE_KEYS
            if unknown or not ({"pose", "lip", "pose_values", "lip_values"} & set(inputs)):
                raise ValueError(
                    f"Unsupported dict input with keys {sorted(inputs)}. Supported inputs: {SUPPORTED_INPUTS}."
                )
            pose = inputs.get("pose", inputs.get("pose_values"))
            lip = inputs.get("lip", inputs.get("lip_values"))
            return (pose, lip, inputs.get("fps", fps), inputs.get("subtitle", subtitle), inputs.get("prior", prior))
        if hasattr(inputs, "values") and hasattr(inputs, "mask") and not callable(inputs.values):
            return inputs, None, fps, subtitle, prior  # KeypointSequence
        if isinstance(inputs, np.ndarray) or hasattr(inputs, "detach"):
            return inputs, None, fps, subtitle, prior
        raise ValueError(f"Unsupported input of type {type(inputs).__name__}. Supported inputs: {SUPPORTED_INPUTS}.")

    def _forward(self, model_inputs: dict, **generate_kwargs):
        sequences = self.model.generate(**model_inputs, **generate_kwargs)
        return {"sequences": sequences}

    def postprocess(self, model_outputs: dict, task: str = "slt", window_offset: float = 0.0):
        text = self.processor.decode(model_outputs["sequences"][0])
        if task == "slt":
            return [{"translation_text": text}]
        start_frame, end_frame = self.processor.parse_ssa_output(text)
        fps = self.processor.fps
        return {"start": window_offset + start_frame / fps, "end": window_offset + end_frame / fps,
                "start_frame": start_frame, "end_frame": end_frame}  # fmt: skip


#: entry-point group through which an installed package offers video → keypoints (``signllm`` registers its
#: MediaPipe extraction as ``mediapipe``); the Hub code never imports the host-side tools by name
KEYPOINT_EXTRACTORS = "signllm.keypoint_extractors"
DEFAULT_EXTRACTOR = "mediapipe"


def extract_video_keypoints(path: str, **extract_kwargs):
    """Video → keypoints with the extractor an installed package registers under `KEYPOINT_EXTRACTORS`."""
    from importlib.metadata import entry_points

    found = [e for e in entry_points(group=KEYPOINT_EXTRACTORS) if e.name == DEFAULT_EXTRACTOR]
    try:
        if not found:
            raise ImportError(f"no {DEFAULT_EXTRACTOR!r} entry point in group {KEYPOINT_EXTRACTORS!r}")
        extract_keypoints = found[0].load()
    except ImportError as error:
        raise ImportError(
            "Video input needs the SignLLM extraction tools (MediaPipe Holistic), which are not part of the Hub "
            "code: `pip install \"signllm[extract]\"` (from the SignLLM repository); or extract the "
            "keypoints yourself and pass a .pose file or a (t, 543|203, 3) array."
        ) from error
    if not os.path.isfile(path):
        raise ValueError(f"Video file not found: {path}")
    return extract_keypoints(path, **extract_kwargs)
