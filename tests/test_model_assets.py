"""holistic_landmarker.task: the automatic download into the cache, its checksum, and what happens offline.

Nothing is fetched from the internet: ``urllib.request.urlopen`` is replaced by a stand-in that fails as an
unreachable host does, or serves a fake bundle at the real URL; everything else (atomic write, checksums, the
recorded ``.sha256``, the offline flags, the messages) is the real code.
"""

from __future__ import annotations

import hashlib
import io
import urllib.error

import pytest
from signllm.processing import model_assets
from signllm.processing.model_assets import (
    HOLISTIC_TASK_SHA256,
    HOLISTIC_TASK_URL,
    ModelAssetError,
    resolve_holistic_model,
)

FAKE_MODEL = b"PK\x03\x04 pretend holistic bundle" * 64


@pytest.fixture
def online_cache(tmp_path, monkeypatch):
    """An empty cache with downloads allowed (no offline flag, no model named in the environment)."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("SIGNLLM_CACHE", str(cache))
    for name in ("SIGNLLM_OFFLINE", "HF_HUB_OFFLINE", "SIGNLLM_HOLISTIC_MODEL", "SIGNLLM_HOLISTIC_MODEL_SHA256"):
        monkeypatch.delenv(name, raising=False)
    return cache


def serve(monkeypatch, payload: bytes) -> list[str]:
    """Replace the network with one server that answers every URL with ``payload``; returns the URLs asked for."""
    asked: list[str] = []

    def urlopen(url, timeout=None):
        asked.append(url)
        return io.BytesIO(payload)

    monkeypatch.setattr(model_assets.urllib.request, "urlopen", urlopen)
    return asked


def test_pinned_url_and_checksum():
    assert "/float16/1/" in HOLISTIC_TASK_URL and "latest" not in HOLISTIC_TASK_URL  # a version, not a moving tag
    assert len(HOLISTIC_TASK_SHA256) == 64 and int(HOLISTIC_TASK_SHA256, 16) >= 0


def test_failed_download_says_how_to_work_offline(online_cache, monkeypatch):
    def unreachable(url, timeout=None):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(model_assets.urllib.request, "urlopen", unreachable)
    with pytest.raises(ModelAssetError) as error:
        resolve_holistic_model()
    text = str(error.value)
    assert f"Could not download {HOLISTIC_TASK_URL}" in text and "name resolution" in text
    assert "--holistic-model" in text and HOLISTIC_TASK_SHA256 in text and "--backend legacy" in text
    assert "HF_HUB_OFFLINE" in text
    assert not online_cache.exists() or not any(online_cache.iterdir())  # no partial file left behind


def test_offline_flag_never_fetches(online_cache, monkeypatch):
    asked = serve(monkeypatch, FAKE_MODEL)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelAssetError, match="downloads are off"):
        resolve_holistic_model()
    assert asked == []


def test_download_is_checked_against_the_pinned_checksum(online_cache, monkeypatch):
    asked = serve(monkeypatch, FAKE_MODEL)  # not the real bundle: its digest differs from the pinned one
    with pytest.raises(ModelAssetError, match="not the expected file.*Checksum mismatch.*--holistic-model-sha256"):
        resolve_holistic_model()
    assert asked == [HOLISTIC_TASK_URL]
    assert not online_cache.exists() or not any(online_cache.iterdir())


def test_download_once_record_checksum_then_serve_from_cache(online_cache, monkeypatch):
    digest = hashlib.sha256(FAKE_MODEL).hexdigest()
    monkeypatch.setattr(model_assets, "HOLISTIC_TASK_SHA256", digest)  # as if this were the published file
    asked = serve(monkeypatch, FAKE_MODEL)
    cached = resolve_holistic_model()
    assert cached == online_cache / "holistic_landmarker.task" and cached.read_bytes() == FAKE_MODEL
    assert (online_cache / "holistic_landmarker.task.sha256").read_text().strip() == digest
    monkeypatch.setenv("SIGNLLM_OFFLINE", "1")  # later runs: offline, from the cache, verified
    assert resolve_holistic_model() == cached and asked == [HOLISTIC_TASK_URL]
    cached.write_bytes(FAKE_MODEL[:100])  # truncated copy in the cache
    with pytest.raises(ModelAssetError, match="Checksum mismatch"):
        resolve_holistic_model()


def test_user_checksum_replaces_the_pinned_one(online_cache, monkeypatch):
    serve(monkeypatch, FAKE_MODEL)
    digest = hashlib.sha256(FAKE_MODEL).hexdigest()
    monkeypatch.setenv("SIGNLLM_HOLISTIC_MODEL_SHA256", digest)
    assert resolve_holistic_model().read_bytes() == FAKE_MODEL
