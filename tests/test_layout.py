"""The repository's layout rules, checked by reading every import statement (no module is executed).

- Imports point one way: model (``signllm``) ← ``signllm.processing`` ← ``signllm.datasets_scripts`` ←
  ``signllm.train``.
- ``modeling_signllm/`` is uploaded to the Hub as a flat folder: only relative imports between its own files and
  no third-party package beyond torch / transformers / peft / safetensors / numpy.
- Inside ``train/`` each job has its own package; the demo uses the rest and nothing uses the demo; the
  dispatcher ``train/cli.py`` imports no job statically.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FOLDER_TO_PACKAGE = {
    "modeling_signllm": "signllm",
    "processing": "signllm.processing",
    "datasets_scripts": "signllm.datasets_scripts",
    "train": "signllm.train",
}
LAYERS = ["signllm", "signllm.processing", "signllm.datasets_scripts", "signllm.train"]  # each may import the left
HUB_THIRD_PARTY = {"torch", "transformers", "peft", "safetensors", "numpy"}
# inside signllm.train: job package -> the job packages it may import
TRAIN_ROOMS = {
    "run_config": set(),
    "cli": set(),
    "evaluation": set(),
    "hub": set(),
    "inference": {"evaluation"},
    "islr": {"evaluation", "run_config"},
    "slt": {"evaluation", "hub", "run_config"},
    "demo": {"evaluation", "hub", "inference", "islr", "slt", "run_config"},
    "app": {"evaluation", "hub", "inference"},
}


@dataclass
class Import:
    file: Path
    line: int
    module: str  # absolute module name
    relative: bool
    optional: bool  # inside ``try: ... except ImportError`` (transformers' check_imports skips these too)


def _module_name(path: Path, root: Path = REPO) -> tuple[str, bool]:
    """Installed module name of a source file, and whether it is a package ``__init__``."""
    folder, *rest = path.relative_to(root).with_suffix("").parts
    is_package = rest[-1] == "__init__"
    parts = rest[:-1] if is_package else rest
    return ".".join([FOLDER_TO_PACKAGE[folder], *parts]), is_package


def imports_of(path: Path, root: Path = REPO) -> list[Import]:
    module, is_package = _module_name(path, root)
    package = module if is_package else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    guarded = {id(inner) for node in ast.walk(tree) if isinstance(node, ast.Try) and _catches_import_error(node)
               for statement in node.body for inner in ast.walk(statement)}  # fmt: skip
    found = []
    for node in ast.walk(tree):
        optional = id(node) in guarded
        if isinstance(node, ast.Import):
            found += [Import(path, node.lineno, alias.name, False, optional) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
                found.append(Import(path, node.lineno, name, True, optional))
            else:
                found.append(Import(path, node.lineno, node.module or "", False, optional))
    return found


def _catches_import_error(node: ast.Try) -> bool:
    names = {ast.unparse(handler.type) for handler in node.handlers if handler.type is not None}
    return any("ImportError" in name or "ModuleNotFoundError" in name for name in names)


def source_files(folder: str, root: Path = REPO) -> list[Path]:
    return sorted(p for p in (root / folder).rglob("*.py") if "__pycache__" not in p.parts)


def _layer(module: str) -> int | None:
    """Index in LAYERS of a signllm module (the longest matching package), None for anything else."""
    if module != "signllm" and not module.startswith("signllm."):
        return None
    for index in reversed(range(len(LAYERS))):
        if module == LAYERS[index] or module.startswith(LAYERS[index] + "."):
            return index
    return 0


def _where(item: Import) -> str:
    return f"{item.file.name}:{item.line} imports {item.module}"


def layer_violations(folder: str, root: Path = REPO) -> list[str]:
    own = LAYERS.index(FOLDER_TO_PACKAGE[folder])
    return [_where(i) for f in source_files(folder, root) for i in imports_of(f, root)
            if (layer := _layer(i.module)) is not None and layer > own]  # fmt: skip


@pytest.mark.parametrize("folder", list(FOLDER_TO_PACKAGE))
def test_imports_point_one_way(folder):
    wrong = layer_violations(folder)
    assert not wrong, "imports must point model <- processing <- datasets <- train:\n" + "\n".join(wrong)


def test_hub_folder_is_self_contained():
    allowed = HUB_THIRD_PARTY | set(sys.stdlib_module_names) | {"__future__"}
    wrong = []
    for path in source_files("modeling_signllm"):
        for item in imports_of(path):
            top = item.module.split(".")[0]
            if item.relative or (item.optional and top not in FOLDER_TO_PACKAGE and top != "signllm"):
                continue  # an optional third-party import, with its own message when absent
            if top == "signllm" or top in FOLDER_TO_PACKAGE or top not in allowed:
                wrong.append(_where(item))
    assert not wrong, "modeling_signllm/ must use relative sibling imports and torch/transformers/peft/" \
                      "safetensors/numpy only:\n" + "\n".join(wrong)


def _room(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[:2] == ["signllm", "train"] else None


def room_violations(root: Path = REPO) -> list[str]:
    wrong = []
    for path in source_files("train", root):
        own = _room(_module_name(path, root)[0])
        for item in imports_of(path, root):
            target = _room(item.module)
            if own is not None and target is not None and target != own and target not in TRAIN_ROOMS[own]:
                wrong.append(_where(item))
    return wrong


def test_train_rooms_import_only_what_they_may():
    rooms = {path.relative_to(REPO / "train").parts[0].removesuffix(".py") for path in source_files("train")}
    assert rooms - {"__init__"} == set(TRAIN_ROOMS), "a new room in train/ needs its rules in TRAIN_ROOMS"
    wrong = room_violations()
    assert not wrong, "train/ rooms import only what TRAIN_ROOMS allows (nothing uses the demo):\n" + "\n".join(wrong)


def test_no_two_modules_share_a_name_across_packages():
    """Two files called ``sampler.py`` once meant two different things; each module name says what it does
    (a package's ``cli.py`` and a training job's ``recipe.py`` are the same role in different packages)."""
    names: dict[str, list[str]] = {}
    for folder in FOLDER_TO_PACKAGE:
        for path in source_files(folder):
            if path.parent.parent.name != "metrics" and path.name not in ("__init__.py", "cli.py", "recipe.py"):
                names.setdefault(path.name, []).append(str(path.relative_to(REPO)))
    clashes = {name: paths for name, paths in names.items() if len(paths) > 1}
    assert not clashes, clashes


def test_the_layout_checks_catch_violations(tmp_path):
    """On a fake tree: a relative import of the demo from a recipe and a processing module importing the trainer."""
    (tmp_path / "train" / "slt").mkdir(parents=True)
    (tmp_path / "train" / "slt" / "recipe.py").write_text("from ..demo import run\nfrom .data import x\n")
    (tmp_path / "processing").mkdir()
    (tmp_path / "processing" / "extract.py").write_text("import numpy\nfrom signllm.train.slt import recipe\n")
    assert room_violations(tmp_path) == ["recipe.py:1 imports signllm.train.demo"]
    assert layer_violations("processing", tmp_path) == ["extract.py:2 imports signllm.train.slt"]
    assert layer_violations("train", tmp_path) == []
