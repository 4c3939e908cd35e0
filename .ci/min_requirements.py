"""Print pyproject's declared lower bounds as exact pins (``name==lower``), one per line, for the minimum-versions job.

    python .ci/min_requirements.py [--extra dev] [--skip torch]     # constraints for everything but torch
    python .ci/min_requirements.py --only torch                      # torch==<lower bound>

Every requirement of ``[project] dependencies`` (and of each ``--extra``) that has a ``>=`` bound is pinned to that
bound; one without a lower bound is printed as declared. ``--skip NAME`` leaves NAME out (the caller installs it
first, as .ci/run does with torch); ``--only NAME`` prints just NAME's pin. Environment markers are kept.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
REQUIREMENT = re.compile(r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?P<extras>\[[^\]]*\])?\s*(?P<spec>[^;]*?)\s*(?P<marker>;.*)?$")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lower_bound_pins(requirements: list[str], skip: set[str] = frozenset(), only: set[str] | None = None) -> list[str]:
    """``["torch>=2.6", "x[y]>=1,<2 ; python_version<'3.12'"]`` → ``["x[y]==1 ; python_version<'3.12'", ...]``."""
    pins = []
    for requirement in requirements:
        match = REQUIREMENT.match(requirement)
        if match is None:
            raise ValueError(f"cannot parse requirement {requirement!r} in {PYPROJECT}")
        name, extras, spec, marker = match["name"], match["extras"] or "", match["spec"], match["marker"] or ""
        if _normalise(name) in skip or (only is not None and _normalise(name) not in only):
            continue
        lower = re.search(r">=\s*([^,\s]+)", spec)
        pinned = f"{name}{extras}=={lower.group(1)}" if lower else f"{name}{extras}{spec}"
        pins.append(f"{pinned} {marker}".strip())
    return pins


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extra", action="append", default=[], help="also pin this optional-dependency group")
    parser.add_argument("--skip", action="append", default=[], help="leave this distribution out (installed apart)")
    parser.add_argument("--only", action="append", help="print only this distribution's pin")
    args = parser.parse_args(argv)
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    requirements = list(project["dependencies"])
    for extra in args.extra:
        requirements += project["optional-dependencies"][extra]
    only = {_normalise(name) for name in args.only} if args.only else None
    pins = lower_bound_pins(requirements, {_normalise(name) for name in args.skip}, only)
    if not pins:
        parser.error(f"no requirement matches {args.only}")
    print("\n".join(pins))
    return 0


if __name__ == "__main__":
    sys.exit(main())
