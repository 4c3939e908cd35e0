"""Hub integration: a staged folder loads with every Auto class and the custom pipeline in a fresh process that
cannot import the repository or the installed ``signllm`` package (only the copied remote code)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from isolation import HIDE_SIGNLLM
from signllm.train.hub.push_to_hub import check_hub_folder, push, save_for_hub
from signllm_tiny import tiny_model, tiny_processor

EXPECTED_CODE = {
    "configuration_signllm.py", "modeling_signllm.py", "processing_signllm.py", "pipeline_signllm.py",
    "keypoint_layout.py", "dora.py", "modeling_backbones.py", "modeling_perceiver.py", "modeling_conformer.py",
    "modeling_agcn.py", "modeling_lip_reader.py",
}  # fmt: skip

LOADER = HIDE_SIGNLLM + textwrap.dedent(
    """
    import importlib.util, json
    import numpy as np
    import torch
    torch.set_num_threads(1)
    from transformers import AutoConfig, AutoModel, AutoModelForSeq2SeqLM, AutoProcessor, pipeline

    folder = sys.argv[1]
    frames, clip = (int(sys.argv[2]), {"truncation": "center"}) if len(sys.argv) > 2 else (20, {})
    report = {"config": type(AutoConfig.from_pretrained(folder, trust_remote_code=True)).__name__}
    report["model"] = type(AutoModel.from_pretrained(folder, trust_remote_code=True)).__name__
    model = AutoModelForSeq2SeqLM.from_pretrained(folder, trust_remote_code=True).eval()
    report["seq2seq"] = type(model).__name__
    processor = AutoProcessor.from_pretrained(folder, trust_remote_code=True)
    report["processor"] = type(processor).__name__
    pose = np.random.default_rng(0).normal(size=(frames, 203, 3)).astype("float32")
    report["generate"] = list(model.generate(**processor(pose=pose, **clip), max_new_tokens=4, num_beams=2).shape)
    pipe = pipeline("sign-translation", model=folder, trust_remote_code=True)
    report["pipeline"] = type(pipe).__name__
    report["slt"] = pipe(pose, max_new_tokens=4, num_beams=1, **clip)
    report["ssa"] = pipe(pose, task="ssa", subtitle="hello", **clip)
    report["signllm_modules"] = sorted(name for name in sys.modules if name.split(".")[0] == "signllm")
    print("REPORT" + json.dumps(report))
    """
)


def run_isolated(folder, tmp_path, frames: int | None = None) -> dict:
    """Load ``folder`` in a fresh ``python -I`` that cannot import signllm; ``frames``: length of the test clip
    (centre-cropped to the model's window), default 20 frames uncropped."""
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": ""}  # fmt: skip
    script = tmp_path / "load.py"
    script.write_text(LOADER)
    # -I: ignore PYTHONPATH / user site and do not put the script's folder or the cwd on sys.path
    extra = [str(frames)] if frames else []
    done = subprocess.run([sys.executable, "-I", str(script), str(folder), *extra], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("REPORT"))
    return json.loads(line[len("REPORT") :])


def test_saved_folder_loads_with_auto_classes_and_pipeline_in_a_fresh_process(tmp_path):
    folder = save_for_hub(tiny_model(), tiny_processor(), tmp_path / "hub", merge=True)
    assert EXPECTED_CODE <= {path.name for path in folder.glob("*.py")}
    config = json.loads((folder / "config.json").read_text())
    assert set(config["auto_map"]) == {"AutoConfig", "AutoModel", "AutoModelForSeq2SeqLM"}
    assert config["custom_pipelines"]["sign-translation"]["impl"] == "pipeline_signllm.SignTranslationPipeline"
    assert config["use_dora"] is False  # merged: inference needs no peft
    report = run_isolated(folder, tmp_path)
    assert report["config"] == "SignLLMConfig"
    assert report["model"] == report["seq2seq"] == "SignLLMForConditionalGeneration"
    assert report["processor"] == "SignLLMProcessor" and report["pipeline"] == "SignTranslationPipeline"
    assert report["generate"][0] == 1 and 1 < report["generate"][1] <= 5
    assert set(report["slt"][0]) == {"translation_text"}
    assert report["ssa"]["start_frame"] <= report["ssa"]["end_frame"]
    assert report["signllm_modules"] == []


def test_push_stages_offline_and_check_catches_missing_pieces(tmp_path):
    model, processor = tiny_model(), tiny_processor()
    model.save_pretrained(tmp_path / "run")
    processor.save_pretrained(tmp_path / "run")
    staged = push(tmp_path / "run", "me/signllm-tiny", local_dir=tmp_path / "staged", upload=False)
    check_hub_folder(staged)
    assert json.loads((staged / "config.json").read_text())["use_dora"] is True  # adapters kept unless --merge
    merged = push(tmp_path / "run", "me/signllm-tiny", local_dir=tmp_path / "merged", upload=False, merge=True)
    assert json.loads((merged / "config.json").read_text())["use_dora"] is False
    (staged / "pipeline_signllm.py").unlink()
    with pytest.raises(ValueError, match="pipeline_signllm.py"):
        check_hub_folder(staged)


MARKER_TOKENIZER = '''
import os
from pathlib import Path

from transformers import ByT5Tokenizer

Path(os.environ["SIGNLLM_TEST_MARKER"]).write_text("folder code ran")  # what untrusted code could do on import


class MarkerTokenizer(ByT5Tokenizer):
    pass
'''


def _folder_with_code(tmp_path):
    """A Hub-ready tiny model folder whose tokenizer is a class of its own, defined by a file in the folder."""
    folder = save_for_hub(tiny_model(), tiny_processor(), tmp_path / "model")
    (folder / "marker_tokenizer.py").write_text(MARKER_TOKENIZER)
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config.update(tokenizer_class="MarkerTokenizer", auto_map={"AutoTokenizer": ["marker_tokenizer.MarkerTokenizer", None]})
    config_path.write_text(json.dumps(config))
    return folder


def _signllm(args, tmp_path, marker):
    """The installed CLI in a fresh process that would answer "y" to a trust-remote-code prompt."""
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_OFFLINE": "1",
           "SIGNLLM_TEST_MARKER": str(marker), "OMP_NUM_THREADS": "1"}  # fmt: skip
    command = [sys.executable, "-m", "signllm.train.cli", *args]
    return subprocess.run(command, input="y\ny\n", cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
                          check=False)  # fmt: skip


def test_model_folder_code_runs_only_with_trust_remote_code(tmp_path):
    from conftest import fake_pose

    folder, marker = _folder_with_code(tmp_path), tmp_path / "marker.txt"
    values, mask = fake_pose(40, seed=1)
    import numpy as np

    np.savez(tmp_path / "clip.npz", values=values, mask=mask, fps=np.float32(25.0))
    args = ["translate", str(tmp_path / "clip.npz"), "-o", str(tmp_path / "out.vtt"), "--model", str(folder),
            "--segment-seconds", "1", "--num-beams", "1", "--no-progress", "--device", "cpu"]  # fmt: skip
    refused = _signllm(args, tmp_path, marker)
    assert refused.returncode == 2 and "--trust-remote-code" in refused.stderr, refused.stderr[-2000:]
    assert "Do you wish to run the custom code" not in refused.stdout + refused.stderr
    assert not marker.exists()  # nothing from the folder ran, although the process would have said "y"
    trusted = _signllm([*args, "--trust-remote-code"], tmp_path, marker)
    assert trusted.returncode == 0, trusted.stderr[-2000:]
    assert marker.read_text() == "folder code ran"  # asked for: the folder's tokenizer class was used


QUIET_LOADER = textwrap.dedent(
    """
    import json, sys, warnings
    warnings.simplefilter("always")
    with warnings.catch_warnings(record=True) as caught:
        from signllm import SignLLMForConditionalGeneration, SignLLMProcessor
        processor = SignLLMProcessor.from_pretrained(sys.argv[1])
        model = SignLLMForConditionalGeneration.from_pretrained(sys.argv[1])
    print("REPORT" + json.dumps({"warnings": [str(w.message) for w in caught], "processor": type(processor).__name__,
                                 "model": type(model).__module__}))
    """
)


def test_installed_classes_load_their_own_folder_without_prompt_or_warning(tmp_path):
    """README §6: `SignLLMProcessor.from_pretrained(folder)` / `SignLLMForConditionalGeneration.from_pretrained(folder)`
    on a Hub-ready folder (auto_map, remote code): no "run the custom code? [y/N]" prompt, no model-type warning."""
    folder = save_for_hub(tiny_model(), tiny_processor(), tmp_path / "model")
    script = tmp_path / "load.py"
    script.write_text(QUIET_LOADER)
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, str(script), str(folder)], input="n\n", cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    output = done.stdout + done.stderr
    assert "custom code" not in output and "model of type" not in output, output[-3000:]
    report = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("REPORT"))[len("REPORT"):])
    assert report == {"warnings": [], "processor": "SignLLMProcessor", "model": "signllm.modeling_signllm"}
    assert not (tmp_path / "modules").exists()  # no folder code was imported
