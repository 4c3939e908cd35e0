"""Shared test fixtures: the real sample data folder beside the checkout, tiny configs, fake poses."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SIGNLLM_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def pytest_configure(config: pytest.Config) -> None:
    """One intra-op thread for the whole session: the tests run tiny tensors, where OpenMP thread start-up and
    spin-waiting cost more than they gain (measured ~5-20x slower with 2 threads on the shared 2-core machines)."""
    import torch

    torch.set_num_threads(1)


def shared_data_path(*parts: str) -> Path:
    """Path under ``../shared/data``; skips the test when the real samples are not beside the checkout."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real sample data not found at {path}")
    return path


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip(f"real sample data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def legacy_python() -> str:
    """The Python of the legacy-MediaPipe environment (.ci/run exports SIGNLLM_LEGACY_PYTHON); a failure in CI, a
    skip elsewhere, when it is missing."""
    python = os.environ.get("SIGNLLM_LEGACY_PYTHON")
    local = REPO_ROOT.parent / "venv-legacy" / "bin" / "python"
    if not python and local.exists():
        python = str(local)
    if python and Path(python).exists():
        return python
    from signllm.processing.holistic_legacy import LEGACY_INSTALL_HINT

    message = f"no legacy MediaPipe environment (SIGNLLM_LEGACY_PYTHON={python!r}): {LEGACY_INSTALL_HINT}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


def fake_pose(num_frames: int = 16, seed: int = 0, missing_hand_frames: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A plausible random ``(t, 203, 3)`` keypoint clip with its ``(t, 203)`` validity mask.

    Shoulders are placed at x = ±0.5 so the clip normalises; the first ``missing_hand_frames`` frames have no
    left hand (masked, zero), as MediaPipe reports when a hand leaves the frame.
    """
    from signllm.keypoint_layout import HIDDEN_BODY_JOINTS, NUM_JOINTS

    rng = np.random.default_rng(seed)
    base = rng.normal(0.0, 0.3, size=(1, NUM_JOINTS, 3))
    motion = np.cumsum(rng.normal(0.0, 0.02, size=(num_frames, NUM_JOINTS, 3)), axis=0)
    values = (base + motion).astype(np.float32)
    values[:, 11] = [0.5, 0.0, 0.0]
    values[:, 12] = [-0.5, 0.0, 0.0]
    mask = np.ones((num_frames, NUM_JOINTS), dtype=bool)
    mask[:, list(HIDDEN_BODY_JOINTS)] = False
    mask[:missing_hand_frames, 161:182] = False
    values[~mask] = 0.0
    return values, mask


@pytest.fixture
def fake_pose_factory():
    return fake_pose
