"""The dependencies of ``signllm extract`` that a plain ``pip install signllm`` leaves out.

MediaPipe has no wheel for Intel macOS, glibc < 2.28 or musl, so it and the OpenCV it requires live in the
``extract`` extra (``pip install "signllm[extract]"``). Code that needs them imports them through
:func:`import_extract_dependency`, which names the extra when one is missing.
"""

from __future__ import annotations

import importlib
from types import ModuleType

EXTRACT_EXTRA = 'pip install "signllm[extract]"'
#: distribution that provides each module of the extra
DISTRIBUTIONS = {"mediapipe": "mediapipe>=0.10.30", "cv2": "opencv-contrib-python (the OpenCV that mediapipe requires)"}
NO_WHEEL_NOTE = (
    "Where MediaPipe has no wheel (Intel macOS, glibc < 2.28, musl), extract on another machine, or use the legacy "
    "backend from a second environment (--backend legacy with $SIGNLLM_LEGACY_PYTHON; see "
    "processing/requirements-legacy-mediapipe.txt)."
)


def import_extract_dependency(module: str, feature: str) -> ModuleType:
    """``importlib.import_module(module)``, or an ImportError that says how to install it.

    Args:
        module: e.g. ``"mediapipe"``, ``"cv2"``.
        feature: what needs it, for the message (e.g. ``"The Tasks-API backend"``).
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        top = module.split(".")[0]
        if error.name is not None and error.name.split(".")[0] != top:  # the module is there, one of *its* deps is not
            raise
        raise ImportError(
            f"{feature} needs {DISTRIBUTIONS.get(top, top)}, which is not installed: {EXTRACT_EXTRA}. {NO_WHEEL_NOTE}"
        ) from error
    except ImportError as error:  # installed but does not load, e.g. libGL.so.1 missing for OpenCV on a server
        hint = " (on a headless Linux server: apt-get install libgl1, or yum install mesa-libGL)" if "libGL" in str(
            error) else ""  # fmt: skip
        raise ImportError(f"{feature} needs {module}, which is installed but does not load: {error}{hint}.") from error
