"""Stage a Hugging Face Space that runs the app: ``signllm app --write-space DIR --model me/signllm-bobsl``.

The folder holds ``app.py`` (builds `ui.build_app` for the model and launches it), ``README.md`` with the Space
YAML front matter (``sdk: gradio``, the installed Gradio version, the model linked), ``requirements.txt`` (the
installed ``signllm``'s dependencies + its ``app`` extra; torch from the CPU wheel index, for CPU Basic) and
``packages.txt`` (``libgl1``, which MediaPipe's OpenCV needs). SignLLM itself is not on PyPI, so by default its
installed source is copied beside ``app.py`` as the ``signllm/`` package; ``requirement`` (e.g.
``"signllm[app] @ git+https://github.com/me/signllm"``) lists it in ``requirements.txt`` instead. Upload with
``huggingface-cli upload --repo-type space me/signllm-demo DIR``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import shutil
from pathlib import Path

from .backend import HUB_REPO_ID

PACKAGES = ("signllm", "signllm.processing", "signllm.datasets_scripts", "signllm.train", "signllm.model_cards")
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"

APP_PY = '''"""SignLLM Space for {model}: the `signllm app` page (staged by `signllm app --write-space`)."""

from signllm.train.app.ui import build_app

demo = build_app(model={model!r}, extraction_backend={backend!r}, max_seconds={max_seconds!r})

if __name__ == "__main__":
    demo.launch()
'''

README = """---
title: {title}
emoji: 🤟
colorFrom: blue
colorTo: green
sdk: gradio
sdk_version: {gradio_version}
app_file: app.py
pinned: false
license: apache-2.0
short_description: Sign language video to English, subtitle alignment
{models}---

# {title}

Sign language translation and sign–subtitle alignment with [{model}]({model_url}) (SignLLM, Jang et al. 2025).
Upload a signing video (or its keypoints) and optionally subtitles to align: the page shows the MediaPipe
skeleton the model reads, where the hands were lost, the alignment lanes and the translations, and offers the
aligned VTT/SRT, an ELAN file, the translations and the keypoints for download.{limit}
"""


def app_requirements() -> list[str]:
    """The installed ``signllm``'s requirements without extras, plus its ``app`` extra."""
    lines = []
    for requirement in importlib.metadata.requires("signllm") or []:
        spec, _, marker = requirement.partition(";")
        marker = marker.strip()
        if not marker or re.fullmatch(r"""extra\s*==\s*["']app["']""", marker):
            lines.append(spec.strip())
    return lines


def copy_installed_source(target: Path) -> None:
    """The installed ``signllm`` packages (editable or not) as one ``signllm/`` tree under ``target``."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError(f"cannot find the installed package {name}")
        source = Path(next(iter(spec.submodule_search_locations)))
        destination = target.joinpath(*name.split("."))
        shutil.copytree(source, destination, ignore=ignore, dirs_exist_ok=True)


def write_space(
    folder: str | Path,
    model: str,
    requirement: str | None = None,
    extraction_backend: str = "tasks",
    max_seconds: float = 60.0,
    title: str = "SignLLM",
) -> Path:
    """Write the Space folder (see the module docstring); returns it."""
    import gradio

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "app.py").write_text(APP_PY.format(model=model, backend=extraction_backend,
                                                 max_seconds=float(max_seconds) if max_seconds else None),
                                   encoding="utf-8")  # fmt: skip
    requirements = [f"--extra-index-url {TORCH_CPU_INDEX}"]
    if requirement:
        requirements.append(requirement)
        requirements += [line for line in app_requirements() if re.match(r"gradio\b", line)]
    else:
        if (folder / "signllm").exists():
            shutil.rmtree(folder / "signllm")
        copy_installed_source(folder)
        requirements += app_requirements()
    (folder / "requirements.txt").write_text("\n".join(requirements) + "\n", encoding="utf-8")
    (folder / "packages.txt").write_text("libgl1\n", encoding="utf-8")
    is_repo = HUB_REPO_ID.fullmatch(model) is not None
    (folder / "README.md").write_text(README.format(
        title=title, gradio_version=gradio.__version__, model=model,
        limit=f" Inputs up to {max_seconds:g} s." if max_seconds else "",
        model_url=f"https://huggingface.co/{model}" if is_repo else model,
        models=f"models:\n  - {model}\n" if is_repo else ""), encoding="utf-8")  # fmt: skip
    return folder
