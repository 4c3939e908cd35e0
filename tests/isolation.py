"""Code for a fresh interpreter that must not import signllm: neither this checkout nor an installed copy.

``HIDE_SIGNLLM`` goes at the top of a script run with ``python -I`` (no PYTHONPATH, user site, script folder or cwd
on ``sys.path``); it removes the editable-install finder and the checkout from the import system, refuses an
installed ``signllm`` in site-packages (as in CI), and checks that ``import signllm`` now fails. Used by the Hub
remote-code tests and the standalone `evaluate` metric-module tests.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

REPO_ROOT = str(Path(__file__).resolve().parents[1])

HIDE_SIGNLLM = textwrap.dedent(
    """
    import sys
    # hide the editable install and the checkout: only the folder's own code may be used
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in getattr(f, "__module__", "")
                        and "editable" not in type(f).__module__]
    sys.path[:] = [p for p in sys.path if not p.startswith(REPO_ROOT)]

    class HideInstalledSignLLM:  # a regular (non-editable) install sits in site-packages, as in CI: refuse it
        @staticmethod
        def find_spec(name, path=None, target=None):
            if name.split(".")[0] == "signllm":
                raise ModuleNotFoundError(f"No module named {name!r} (hidden: only the folder's code may be used)")
            return None

    sys.meta_path.insert(0, HideInstalledSignLLM)
    try:
        import signllm  # noqa: F401
    except ModuleNotFoundError:
        pass
    else:
        raise AssertionError("signllm is importable")
    """
).replace("REPO_ROOT", repr(REPO_ROOT))
