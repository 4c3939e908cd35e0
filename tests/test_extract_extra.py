"""`signllm[extract]`: without MediaPipe / OpenCV installed, every way into extraction names the extra.

The extra is simulated as missing by putting None in ``sys.modules`` (what Python then raises is exactly the
ModuleNotFoundError of an absent package); the declared extras themselves are checked in pyproject.toml.
"""

from __future__ import annotations

import importlib
import sys
from importlib.metadata import requires
from pathlib import Path

import numpy as np
import pytest
from packaging.requirements import Requirement
from signllm.pipeline_signllm import SignTranslationPipeline
from signllm.processing import cli_extract, extras
from signllm.processing.video import write_video
from signllm_tiny import tiny_model, tiny_processor

EXTRA = 'pip install "signllm[extract]"'


@pytest.fixture
def no_mediapipe(monkeypatch, tmp_path):
    for name in [m for m in sys.modules if m == "mediapipe" or m.startswith("mediapipe.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "mediapipe", None)
    monkeypatch.setenv("SIGNLLM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SIGNLLM_OFFLINE", "1")


@pytest.fixture
def video(tmp_path) -> Path:
    return write_video(tmp_path / "clip.mp4", [np.zeros((32, 32, 3), np.uint8)] * 3)


def test_installed_metadata_keeps_mediapipe_and_one_opencv_in_the_extra():
    by_extra: dict[str, set[str]] = {}
    for requirement in map(Requirement, requires("signllm")):
        extra = next((e for e in ("extract", "dev") if requirement.marker and requirement.marker.evaluate({"extra": e})),
                     "core")  # fmt: skip
        by_extra.setdefault(extra, set()).add(requirement.name.lower())
    assert "mediapipe" in by_extra["extract"] and not {"mediapipe", "opencv-python-headless"} & by_extra["core"]
    every = set().union(*by_extra.values())
    assert [n for n in every if n.startswith("opencv")] == ["opencv-contrib-python"]  # the one mediapipe requires
    assert {"webvtt-py", "sentencepiece"} <= by_extra["dev"] and not {"webvtt-py", "sentencepiece"} & by_extra["core"]


def test_cli_tasks_backend_names_the_extra_before_downloading(no_mediapipe, video, tmp_path, capsys):
    code = cli_extract.main([str(video), "-o", str(tmp_path / "out"), "--backend", "tasks", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and EXTRA in err and "Traceback" not in err
    assert "holistic_landmarker.task" not in err  # the asset is not even looked for without mediapipe
    assert not (tmp_path / "cache").exists()


def test_pipeline_video_names_the_extra(no_mediapipe, video, monkeypatch):
    monkeypatch.delenv("SIGNLLM_LEGACY_PYTHON", raising=False)  # no legacy environment either: the Tasks API it is
    pipe = SignTranslationPipeline(model=tiny_model(), processor=tiny_processor(), device=-1)
    with pytest.raises(ImportError, match=r"signllm\[extract\]"):
        pipe(str(video))


def test_mouth_crops_without_opencv(monkeypatch):
    monkeypatch.delitem(sys.modules, "signllm.processing.mouth_crops", raising=False)
    monkeypatch.setitem(sys.modules, "cv2", None)
    with pytest.raises(ImportError, match=r"opencv-contrib-python.*signllm\[extract\]"):
        importlib.import_module("signllm.processing.mouth_crops")


def test_installed_but_broken_opencv_says_why(monkeypatch):
    def broken(name):
        raise ImportError("libGL.so.1: cannot open shared object file: No such file or directory")

    monkeypatch.setattr(extras.importlib, "import_module", broken)
    with pytest.raises(ImportError, match="does not load: libGL.so.1.*apt-get install libgl1"):
        extras.import_extract_dependency("cv2", "Mouth crops")
