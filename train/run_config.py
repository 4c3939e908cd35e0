"""Shared by the ISLR and SLT recipes: run-config layers (nanoGPT-style: YAML files and ``section.key=value``
overrides merged over each recipe's ``DEFAULTS``) and the choice of the Trainer checkpoint to resume from."""

from __future__ import annotations

import copy
import json
import logging
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

logger = logging.getLogger(__name__)


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


# ------------------------------------------------------------------------------------------------ resuming
CHECKPOINT_PATTERN = re.compile(r"^checkpoint-(\d+)$")


def checkpoint_problem(folder: str | Path) -> str | None:
    """Why a Trainer checkpoint folder cannot be resumed from (``None`` when it looks complete).

    ``Trainer`` writes the weights, then optimizer / scheduler / RNG states, then ``trainer_state.json``; a job
    killed or out of disk in between leaves a folder that ``get_last_checkpoint`` still returns. Checked here:
    ``trainer_state.json`` parses, every ``.safetensors`` file's header covers the file, every ``torch.save``
    archive (``.pt`` / ``.pth`` / ``.bin``) has its zip directory (written last), and there are weights at all.
    Engine folders (DeepSpeed ``global_step*``, FSDP shards) are left to their engine.
    """
    from safetensors import SafetensorError, safe_open

    folder = Path(folder)
    state = folder / "trainer_state.json"
    if not state.is_file():
        return "no trainer_state.json (the save did not finish)"
    try:
        json.loads(state.read_text())
    except (OSError, ValueError) as error:
        return f"trainer_state.json is unreadable ({error})"
    weights = 0
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or any(part.startswith(("global_step", "pytorch_model_fsdp")) for part in path.parts):
            continue
        relative = path.relative_to(folder)
        if path.suffix == ".safetensors":
            weights += 1
            try:
                with safe_open(str(path), framework="pt"):
                    pass
            except (SafetensorError, OSError) as error:  # a truncated header, or a file cut short
                return f"{relative} is incomplete ({error})"
        elif path.suffix in (".pt", ".pth", ".bin"):
            weights += path.suffix == ".bin"
            try:
                with zipfile.ZipFile(path):
                    pass
            except (OSError, zipfile.BadZipFile) as error:
                return f"{relative} is incomplete ({error})"
    engine = any(p.name.startswith(("global_step", "pytorch_model_fsdp")) for p in folder.iterdir())
    if not weights and not engine:
        return "no model weights"
    return None


def last_complete_checkpoint(output_dir: str | Path) -> str | None:
    """The newest ``checkpoint-N`` in ``output_dir`` that can be resumed from; newer, half-written ones are skipped
    with a warning that names them and why (``None`` when there is no usable checkpoint)."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in output_dir.iterdir() if p.is_dir() and (m := CHECKPOINT_PATTERN.match(p.name))]
    skipped = []
    for _, folder in sorted(found, reverse=True):
        problem = checkpoint_problem(folder)
        if problem is None:
            if skipped:
                logger.warning("resuming from %s, not from the newer incomplete checkpoint(s): %s", folder.name,
                               "; ".join(skipped))  # fmt: skip
            return str(folder)
        skipped.append(f"{folder.name}: {problem}")
    if skipped:
        logger.warning("no complete checkpoint in %s (%s): starting from scratch", output_dir, "; ".join(skipped))
    return None
