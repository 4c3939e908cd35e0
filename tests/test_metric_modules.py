"""The `evaluate` metric modules (issue 17.6): each folder is self-contained and has a metric card.

A copy of every folder is loaded with ``evaluate.load(copy)`` in a fresh interpreter that cannot import the
repository or the installed ``signllm`` package (the way tests/test_remote_code.py hides it); the examples of each
README card run there as doctests, and the scores equal what ``signllm`` computes in this process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest
from huggingface_hub import metadata_load
from isolation import HIDE_SIGNLLM
from signllm.train.evaluation import METRICS_DIR
from signllm.train.evaluation.islr_metrics import islr_accuracy
from signllm.train.evaluation.slt_metrics import cider_d, paper_bleu, rouge_l, sacrebleu_bleu, text_metrics, word_iou
from signllm.train.evaluation.ssa_metrics import Span, evaluate_alignment

MODULES = ("signllm_slt", "signllm_ssa", "signllm_islr_accuracy")

LOADER = HIDE_SIGNLLM + textwrap.dedent(
    """
    import contextlib, doctest, io, json, re
    from pathlib import Path
    import evaluate

    report = {}
    for folder, cases in json.loads(Path(sys.argv[1]).read_text()).items():
        name = Path(folder).name
        card = (Path(folder) / "README.md").read_text(encoding="utf-8").replace(f"path/to/{name}", folder)
        card = re.sub(r"^```.*$", "", card, flags=re.MULTILINE)  # a closing fence is not expected output
        examples = doctest.DocTestParser().get_doctest(card, {}, name, "README.md", 0)
        runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
        log = io.StringIO()
        runner.run(examples, out=log.write)
        outputs = []
        for config, kwargs in cases:
            module = evaluate.load(folder, config) if config else evaluate.load(folder)
            with contextlib.redirect_stdout(io.StringIO()):
                outputs.append(module.compute(**kwargs))
        report[name] = {"examples": runner.tries, "failures": runner.failures, "log": log.getvalue(),
                        "outputs": outputs}
    report["signllm_modules"] = sorted(name for name in sys.modules if name.split(".")[0] == "signllm")
    print("REPORT" + json.dumps(report))
    """
)

HYPS = ["the cat sat on the mat", "hello there friend", "we cook pasta today"]
REFS = ["the cat sat on the mat", "hello there my friend", "today we cook some pasta"]
SSA_PRED = [[[0.0, 4.0], [5.0, 6.0], [6.5, 9.0]], [[0.0, 1.0]]]
SSA_REF = [[[0.5, 4.0], [5.0, 6.0], [6.0, 8.0]], [[0.0, 4.0]]]
SSA_TEXTS = [["hello", "[NOT SURE]", "bye"], ["again"]]
ISLR_SCORES = [[0.1, 0.9, 0.0], [0.8, 0.2, 0.0], [0.2, 0.3, 0.5], [0.3, 0.3, 0.3]]
ISLR_LABELS = [1, 1, 2, 0]


def _cases() -> dict[str, list]:
    text = {"predictions": HYPS, "references": REFS}
    return {
        "signllm_slt": [[None, text], ["sacrebleu", text], ["paper", text], ["rouge_l", text], ["cider_d", text],
                        ["word_iou", text]],
        "signllm_ssa": [[None, {"predictions": SSA_PRED, "references": SSA_REF, "reference_texts": SSA_TEXTS}]],
        "signllm_islr_accuracy": [[None, {"predictions": ISLR_SCORES, "references": ISLR_LABELS, "top_k": [1, 2]}]],
    }  # fmt: skip


def _expected() -> dict[str, list]:
    sacre, paper = sacrebleu_bleu(HYPS, REFS), paper_bleu(HYPS, REFS)
    videos = [([Span(*c) for c in pred], [Span(*c, t) for c, t in zip(ref, texts)])
              for pred, ref, texts in zip(SSA_PRED, SSA_REF, SSA_TEXTS)]  # fmt: skip
    return {
        "signllm_slt": [
            text_metrics(HYPS, REFS),
            {"score": sacre.score, "precisions": sacre.precisions, "bp": sacre.bp, "sys_len": sacre.sys_len,
             "ref_len": sacre.ref_len, "signature": sacre.signature, "label": sacre.label},
            {"score": paper.bleu4, "bleu": paper.bleu, "hyp_len": paper.hyp_len, "ref_len": paper.ref_len,
             "label": paper.label},
            dict(zip(("rouge_l", "per_sentence"), rouge_l(HYPS, REFS))),
            dict(zip(("cider_d", "per_sentence"), cider_d(HYPS, REFS))),
            dict(zip(("word_iou", "per_sentence"), word_iou(HYPS, REFS))),
        ],
        "signllm_ssa": [evaluate_alignment(videos)],
        "signllm_islr_accuracy": [islr_accuracy(ISLR_SCORES, ISLR_LABELS, (1, 2))],
    }  # fmt: skip


@pytest.fixture(scope="module")
def isolated_report(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("metric_modules")
    cases = {}
    for name, module_cases in _cases().items():
        copy = root / "copies" / name
        shutil.copytree(METRICS_DIR / name, copy, ignore=shutil.ignore_patterns("__pycache__"))
        cases[str(copy)] = module_cases
    (root / "cases.json").write_text(json.dumps(cases))
    (root / "load.py").write_text(LOADER)
    env = {**os.environ, "HF_MODULES_CACHE": str(root / "modules"), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "PYTHONPATH": ""}  # fmt: skip
    # -I: ignore PYTHONPATH / user site and do not put the script's folder or the cwd on sys.path
    done = subprocess.run([sys.executable, "-I", str(root / "load.py"), str(root / "cases.json")], cwd=root, env=env,
                          capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("REPORT"))
    return json.loads(line[len("REPORT") :])


def test_copied_folders_load_without_signllm(isolated_report):
    assert isolated_report["signllm_modules"] == []
    assert set(isolated_report) == {*MODULES, "signllm_modules"}


@pytest.mark.parametrize("name", MODULES)
def test_copied_folder_scores_equal_signllm(isolated_report, name):
    expected = json.loads(json.dumps(_expected()[name]))  # the same JSON round trip as the subprocess's output
    assert isolated_report[name]["outputs"] == expected


@pytest.mark.parametrize("name", MODULES)
def test_card_examples_run(isolated_report, name):
    report = isolated_report[name]
    assert report["examples"] >= 3, "the card shows how to load and call the metric"
    assert report["failures"] == 0, report["log"]


@pytest.mark.parametrize("name", MODULES)
def test_metric_card_metadata_and_sections(name):
    folder = METRICS_DIR / name
    metadata = metadata_load(folder / "README.md")
    assert metadata["title"] and metadata["description"].strip()
    assert {"evaluate", "metric"} <= set(metadata["tags"])
    assert (folder / metadata["app_file"]).is_file()
    card = (folder / "README.md").read_text(encoding="utf-8")
    for heading in ("# Metric Card for", "## Metric Description", "## How to Use", "### Inputs", "### Output Values",
                    "## Limitations and Bias", "## Citation"):  # fmt: skip
        assert f"\n{heading}" in card, f"{name}/README.md lacks {heading!r}"
    requirements = (folder / "requirements.txt").read_text().split()
    assert any(line.startswith("evaluate") for line in requirements)


@pytest.mark.parametrize("name", MODULES)
def test_module_imports_only_its_folder_and_libraries(name):
    """`evaluate` copies a module's relative imports beside it; anything from signllm would break a copied folder."""
    import ast

    for path in (METRICS_DIR / name).glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                assert (path.parent / f"{node.module}.py").is_file(), f"{path.name}: .{node.module} is not in the folder"
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []  # fmt: skip
            assert not any(n.split(".")[0] == "signllm" for n in names), f"{path.name} imports {names}"
