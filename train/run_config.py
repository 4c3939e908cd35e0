"""Run-config layers shared by the ISLR and SLT recipes (nanoGPT-style): YAML files and ``section.key=value``
overrides merged over each recipe's ``DEFAULTS``."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml


def deep_update(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge (``override`` wins; nested dicts merge, everything else is replaced)."""
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_update(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


_SCIENTIFIC = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


def _yaml_numbers(value: Any) -> Any:
    """YAML 1.1 (PyYAML) reads ``1e-4`` as a string; every config value written that way is meant as a float."""
    if isinstance(value, dict):
        return {key: _yaml_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_yaml_numbers(item) for item in value]
    if isinstance(value, str) and _SCIENTIFIC.match(value.strip()):
        return float(value)
    return value


def load_config_layer(path: str | Path, allowed_keys: Mapping[str, Any], config_dir: Path) -> dict[str, Any]:
    """A YAML config layer; a bare name resolves to ``<config_dir>/<name>.yaml``. Top-level keys must be in
    ``allowed_keys`` (each recipe passes its ``DEFAULTS``)."""
    allowed = allowed_keys
    path = Path(path)
    if not path.is_file():
        candidate = config_dir / path.name
        if not path.suffix:
            candidate = config_dir / f"{path.name}.yaml"
        if not candidate.is_file():
            raise ValueError(f"config file {path} not found (also looked for {candidate}).")
        path = candidate
    data = _yaml_numbers(yaml.safe_load(path.read_text()) or {})
    if not isinstance(data, dict):
        raise ValueError(f"config file {path} must hold a mapping at the top level, got {type(data).__name__}.")  # noqa: TRY004
    unknown = set(data) - set(allowed)
    if unknown:
        raise ValueError(f"config file {path}: unknown top-level keys {sorted(unknown)}; allowed: {sorted(allowed)}.")
    return data


def parse_override(text: str) -> dict[str, Any]:
    """``"training.max_steps=5"`` → ``{"training": {"max_steps": 5}}`` (the value is parsed as YAML)."""
    if "=" not in text:
        raise ValueError(f"override {text!r} must look like section.key=value.")
    dotted, raw = text.split("=", 1)
    value: Any = _yaml_numbers(yaml.safe_load(raw))
    for key in reversed(dotted.strip().split(".")):
        value = {key: value}
    return value
