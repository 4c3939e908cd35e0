"""The user's recipe, end to end (issue 15): README's "Your corpus, end to end" block run as written on real data,
then README §5's Python block on the folder it published, in a fresh process.

Only the block's settings lines change:
- ``CORPUS``: three real How2Sign clips (``../shared/data/how2sign_samples``). The shared clips come without their
  own sentences, so this test writes their subtitle files with real How2Sign sentences (from the val table), two
  signing-aligned cues per clip, and a ``splits.json`` (two clips train, one val) — the layout a user gives.
- ``ISLR_DATA``: the real GISLR subset (Kaggle layout).
- ``SETTINGS``: the tiny debug model with an 8 s window at 12.5 fps (README's prior of 4.0-6.5 s and the 7.5 s
  clip ``VIDEO`` must fit one window), and a saved tiny T5 as the pretrained base LM that the stages adapt with DoRA and must reference, not
  copy — the role Flan-T5 plays for the paper model. ``ISLR_SETTINGS``: the tiny ISLR debug config, one epoch.

Extraction uses the legacy MediaPipe graph through ``$SIGNLLM_LEGACY_PYTHON`` (what ``signllm extract`` picks when
it is set). If README's block changes, this test runs the new block.
"""

from __future__ import annotations

import ast
import csv
import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import REPO_ROOT, shared_data_path
from safetensors import safe_open
from slt_training_helpers import save_tiny_base_lm

README = REPO_ROOT / "README.md"
SETTINGS_NAMES = ["CORPUS", "ISLR_DATA", "RUN", "LANGUAGE", "VIDEO", "SETTINGS", "ISLR_SETTINGS"]
CLIPS = {  # name in the corpus -> real How2Sign clip (seconds)
    "clip01": "_2u0MkRqpjA_4-5-rgb_front.mp4",  # 8.2
    "clip02": "_5keJZsmTh0_1-5-rgb_front.mp4",  # 7.5
    "clip03": "_0-JkwZ9o4Q_10-5-rgb_front.mp4",  # 4.2
}
STAGES = ("stage1", "stage2", "stage3", "stagefinetune", "hub")


def readme_block(heading: str, language: str) -> str:
    """The first fenced ``language`` block after ``heading`` in README.md."""
    text = README.read_text(encoding="utf-8")
    start = text.index(heading)
    match = re.compile(rf"^```{language}\n(.*?)^```", re.DOTALL | re.MULTILINE).search(text, start)
    assert match is not None, f"no ```{language} block after {heading!r} in README.md"
    return match.group(1)


def split_settings(block: str) -> tuple[list[str], str]:
    """README's block = a ``# settings`` paragraph of ``NAME=value`` lines, then the commands."""
    settings, _, commands = block.partition("\n\n")
    lines = [line for line in settings.splitlines() if not line.startswith("#")]
    names = [line.split("=", 1)[0] for line in lines]
    assert names == SETTINGS_NAMES, f"README's settings changed: {names}; update this test"
    return lines, commands


def write_corpus(root: Path) -> Path:
    """videos/<name>.mp4 (links to the real clips), subtitles/<name>.vtt, splits.json: README's corpus layout."""
    import av

    sentences = [row["SENTENCE"] for row in csv.DictReader(
        shared_data_path("how2sign_samples", "how2sign_realigned_val.csv").open(encoding="utf-8", newline=""))]
    (root / "videos").mkdir(parents=True)
    (root / "subtitles").mkdir()
    for number, (name, clip) in enumerate(CLIPS.items()):
        source = shared_data_path("how2sign_samples", "clips_train_unlabeled", clip)
        (root / "videos" / f"{name}.mp4").symlink_to(source)
        with av.open(str(source)) as container:
            duration = float(container.duration / av.time_base)
        middle = round(duration / 2, 2)
        cues = [(0.2, middle, sentences[2 * number]), (middle, round(duration - 0.1, 2), sentences[2 * number + 1])]
        lines = ["WEBVTT", ""] + [f"{_stamp(start)} --> {_stamp(end)}\n{text}\n" for start, end, text in cues]
        (root / "subtitles" / f"{name}.vtt").write_text("\n".join(lines), encoding="utf-8")
    (root / "splits.json").write_text(json.dumps({"train": ["clip01", "clip02"], "val": ["clip03"]}))
    return root


def _stamp(seconds: float) -> str:
    return f"00:00:{seconds:06.3f}"


def safetensors_keys(path: Path) -> set[str]:
    with safe_open(str(path), "pt") as handle:
        return set(handle.keys())


@pytest.fixture(scope="module")
def recipe(tmp_path_factory, legacy_python):
    """Runs README's block once; returns the working folder and the run folder."""
    work = tmp_path_factory.mktemp("recipe")
    write_corpus(work / "corpus")
    base_lm = save_tiny_base_lm(work / "tiny_t5")
    settings, commands = split_settings(readme_block("### Your corpus, end to end", "bash"))
    overrides = {"text_model_name_or_path": str(base_lm), "num_frames": 100, "fps": 12.5}
    ours = [
        "CORPUS=corpus",
        f"ISLR_DATA={shlex.quote(str(shared_data_path('gislr_asl_signs_subset')))}",
        "RUN=runs/recipe",
        "LANGUAGE=ase",
        "VIDEO=clip02",
        f"SETTINGS=(--config tiny_debug --set {shlex.quote('model.overrides=' + json.dumps(overrides))})",
        "ISLR_SETTINGS=(--config islr_tiny_debug --set training.num_train_epochs=1)",
    ]
    assert len(ours) == len(settings)
    # each command echoed with the seconds since the start (PS4), so the saved log shows where the time goes
    script = "set -euo pipefail\nPS4='+ [${SECONDS}s] '\nset -x\n" + "\n".join(ours) + "\n\n" + commands
    env = {**os.environ, "SIGNLLM_LEGACY_PYTHON": legacy_python, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "HF_DATASETS_OFFLINE": "1", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "TQDM_DISABLE": "1"}  # fmt: skip
    result = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True, text=True, timeout=1500)
    log = result.stdout + result.stderr
    (work / "recipe.log").write_text(log)
    assert result.returncode == 0, f"README's recipe failed (log: {work / 'recipe.log'}):\n{log[-6000:]}"
    return work, work / "runs" / "recipe", log


def test_extraction_recorded_its_provenance(recipe):
    """The keypoints record their extractor; the trained model and its card carry it (the processor warns on others)."""
    import numpy as np

    work, run, _ = recipe
    with np.load(work / "corpus" / "keypoints" / "clip01.npz") as data:
        extractor = json.loads(str(data["extractor"]))
    assert extractor["backend"] == "legacy" and extractor["version"]
    processor_config = json.loads((run / "hub" / "processor_config.json").read_text())
    assert processor_config["keypoint_extractor"]["version"] == extractor["version"]
    assert f"**Keypoints:** mediapipe-holistic legacy {extractor['version']}" in (run / "hub" / "README.md").read_text()


def test_stage1_starts_from_the_exported_islr_backbones(recipe):
    _, run, log = recipe
    exported = run / "backbones.safetensors"
    with safe_open(str(exported), "pt") as islr, safe_open(str(run / "stage1" / "model.safetensors"), "pt") as stage:
        keys = set(islr.keys())
        assert keys and keys <= set(stage.keys())
        for key in keys:
            assert (islr.get_tensor(key) == stage.get_tensor(key)).all(), key
    assert "backbone loaded from" in log


def test_no_stage_folder_copies_the_frozen_lm(recipe):
    _, run, _ = recipe
    for name in STAGES:
        folder = run / name
        config = json.loads((folder / "config.json").read_text())
        assert config["text_model_weights"] == "referenced", name
        base_keys = {key for key in safetensors_keys(folder / "model.safetensors")
                     if key.startswith("language_model.") and "lora_" not in key}  # fmt: skip
        assert not base_keys, f"{name} holds frozen LM weights, e.g. {sorted(base_keys)[:3]}"
        assert (folder / "language_model" / "adapter_config.json").is_file(), name


def test_align_translate_and_evaluate_outputs(recipe):
    """Every cue is aligned; translate says how many segments it translated (a few-step tiny model may output
    nothing, and such segments are left out of the VTT with a count); evaluate scores both."""
    from signllm.datasets_scripts.subtitles import read_subtitles

    work, run, log = recipe
    given = read_subtitles(work / "corpus" / "subtitles" / "clip02.vtt")
    aligned = read_subtitles(run / "clip02.aligned.vtt")
    assert [cue.text for cue in aligned] == [cue.text for cue in given]
    assert all(0.0 <= cue.start <= cue.end <= 7.6 for cue in aligned)
    translated = read_subtitles(run / "clip02.translated.vtt")
    assert f"translated {len(translated)} / {len(given)} segments" in log
    assert (run / "clip02.aligned.eaf").is_file()
    metrics = json.loads((run / "ssa.json").read_text())
    assert 0.0 <= metrics["frame_accuracy"] <= 100.0
    assert "BLEU-4 (sacreBLEU)" in log


RUN_README_PYTHON = textwrap.dedent('''
    import ast, json, sys
    block, repo, folders = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    tree = ast.parse(block)
    for node in tree.body:  # README's first assignment names the repo; here it is the published folder
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "elts", None):
            node.value = ast.parse(repr((repo, None)), mode="eval").body
            break
    namespace, values = {}, []
    for node in tree.body:
        if isinstance(node, ast.Expr):
            values.append(eval(compile(ast.Expression(node.value), "README", "eval"), namespace))
        else:
            exec(compile(ast.Module([node], []), "README", "exec"), namespace)
    from transformers import pipeline
    for folder in folders:  # every stage folder loads through the pipeline too
        values.append(pipeline("sign-translation", model=folder, trust_remote_code=True)("clip.pose", num_beams=1))
    print("RESULTS " + json.dumps(values, default=str))
''')


def test_readme_python_block_on_the_published_folder(recipe, legacy_python):
    """README §5 as written, in a fresh process, as a user who installed ``signllm[extract]`` runs it (the video line
    extracts keypoints through the installed package; the model itself is the folder's remote code)."""
    work, run, _ = recipe
    here = work / "python_block"
    here.mkdir()
    (here / "clip.pose").symlink_to(work / "corpus" / "keypoints" / "clip02.pose")
    (here / "clip.mp4").symlink_to(work / "corpus" / "videos" / "clip02.mp4")
    block = readme_block("### 5. Load from the Hub, publish", "python")
    folders = [str(run / name) for name in STAGES[:-1]]
    result = subprocess.run([sys.executable, "-c", RUN_README_PYTHON, block, str(run / "hub"), json.dumps(folders)],
                            cwd=here, env={**os.environ, "SIGNLLM_LEGACY_PYTHON": legacy_python, "HF_HUB_OFFLINE": "1"},
                            capture_output=True, text=True, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr[-6000:]
    values = json.loads(result.stdout.split("RESULTS ", 1)[1])
    expressions = [node for node in ast.parse(block).body if isinstance(node, ast.Expr)]
    assert len(values) == len(expressions) + len(folders)
    ssa = [value for value in values if isinstance(value, dict)]
    slt = [value for value in values if isinstance(value, list)]
    assert len(ssa) == 1 and 0.0 <= ssa[0]["start"] <= ssa[0]["end"] <= 7.6
    assert len(slt) == len(values) - 1 and all(isinstance(v[0]["translation_text"], str) for v in slt)
