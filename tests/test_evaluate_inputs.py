"""`signllm evaluate` on malformed prediction / reference files (issue 16.12): a clear error naming the file and line."""

from __future__ import annotations

import json

import pytest
from signllm.train.cli import main


def _evaluate(tmp_path, capsys, predictions, references=None, *extra) -> tuple[int, str]:
    argv = ["evaluate", str(predictions)] + (["-r", str(references)] if references else []) + list(extra)
    code = main(argv)
    return code, capsys.readouterr().err


@pytest.fixture
def refs(tmp_path):
    path = tmp_path / "refs.txt"
    path.write_text("the cat sat\nhello there\nbye now\n", encoding="utf-8")
    return path


def test_json_list_of_numbers_names_the_file_and_item(tmp_path, capsys, refs):
    path = tmp_path / "pred.json"
    path.write_text(json.dumps([1, 2, 3]))
    code, err = _evaluate(tmp_path, capsys, path, refs)
    assert code == 2 and "pred.json" in err and "item 1" in err and "int" in err, err


def test_json_rows_without_the_field_or_with_a_non_string(tmp_path, capsys, refs):
    path = tmp_path / "pred.json"
    path.write_text(json.dumps([{"prediction": "a"}, {"other": "b"}, {"prediction": "c"}]))
    code, err = _evaluate(tmp_path, capsys, path, refs)
    assert code == 2 and "pred.json" in err and "item 2" in err and "'prediction'" in err, err
    path.write_text(json.dumps([{"prediction": "a"}, {"prediction": "b"}, {"prediction": 7}]))
    code, err = _evaluate(tmp_path, capsys, path, refs)
    assert code == 2 and "item 3" in err and "string" in err, err
    path.write_text(json.dumps({"prediction": "a"}))
    code, err = _evaluate(tmp_path, capsys, path, refs)
    assert code == 2 and "pred.json" in err and "list" in err, err


def test_malformed_json_names_file_line_and_column(tmp_path, capsys, refs):
    path = tmp_path / "pred.json"
    path.write_text('[\n  "a",\n  "b",,\n]')
    code, err = _evaluate(tmp_path, capsys, path, refs)
    assert code == 2 and "pred.json:3" in err, err


def test_malformed_jsonl_reports_the_right_line(tmp_path, capsys):
    path = tmp_path / "both.jsonl"
    path.write_text(json.dumps({"prediction": "a", "reference": "a"}) + "\n{not json\n")
    code, err = _evaluate(tmp_path, capsys, path)
    assert code == 2 and "both.jsonl:2" in err and "line 1" not in err, err
    path.write_text(json.dumps({"prediction": "a", "reference": "a"}) + "\n\n" + json.dumps([1, 2]) + "\n")
    code, err = _evaluate(tmp_path, capsys, path)
    assert code == 2 and "both.jsonl:3" in err, err


def test_non_utf8_text_names_file_and_line(tmp_path, capsys, refs):
    path = tmp_path / "pred.txt"
    path.write_bytes("the cat sat\ncaf\xe9 time\nbye now\n".encode("latin-1"))
    code, err = _evaluate(tmp_path, capsys, path, refs)
    assert code == 2 and "pred.txt:2" in err and "UTF-8" in err, err


def test_well_formed_files_still_score(tmp_path, capsys, refs):
    path = tmp_path / "pred.jsonl"
    path.write_text("\n".join(json.dumps({"prediction": p}) for p in ("the cat sat", "hello there", "bye")) + "\n\n")
    assert main(["evaluate", str(path), "-r", str(refs)]) == 0
    (tmp_path / "pred.json").write_text(json.dumps(["the cat sat", "hello there", "bye"]))
    assert main(["evaluate", str(tmp_path / "pred.json"), "-r", str(refs)]) == 0


def test_line_separator_inside_a_json_string_is_text(tmp_path, capsys):
    path = tmp_path / "both.jsonl"
    rows = [{"prediction": "a\u2028b c d", "reference": "a b c d"}, {"prediction": "x y", "reference": "x y"}]
    path.write_text("\r\n".join(json.dumps(row, ensure_ascii=False) for row in rows), encoding="utf-8")
    assert main(["evaluate", str(path), "--json", str(tmp_path / "m.json")]) == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "m.json").read_text())["num_sentences"] == 2


def test_ssa_files_with_different_cue_counts_name_the_video(tmp_path, capsys):
    from signllm.datasets_scripts.subtitles import Subtitle, write_subtitles

    write_subtitles([Subtitle(0, 1, "a"), Subtitle(1, 2, "b")], tmp_path / "gt.vtt")
    write_subtitles([Subtitle(0, 1, "a")], tmp_path / "pred.vtt")
    code, err = _evaluate(tmp_path, capsys, tmp_path / "pred.vtt", tmp_path / "gt.vtt", "--task", "ssa")
    assert code == 2 and "pred.vtt: 1 predicted cue(s) but 2 ground-truth" in err, err


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated", b"not a zip at all"])
def test_islr_file_that_is_not_an_npz(tmp_path, capsys, content):
    path = tmp_path / "scores.npz"
    path.write_bytes(content)
    code, err = _evaluate(tmp_path, capsys, path, None, "--task", "islr")
    assert code == 2 and "scores.npz" in err, err


def test_subtitle_translations_pair_with_references_by_time(tmp_path, capsys):
    """`signllm translate --segments REF` leaves out segments without a usable translation; evaluating its VTT
    against REF pairs cues by time and counts the missing one as an empty translation (with a warning)."""
    from signllm.datasets_scripts.subtitles import Subtitle, write_subtitles

    reference, predicted = tmp_path / "ref.vtt", tmp_path / "pred.vtt"
    write_subtitles([Subtitle(0.0, 2.0, "the cat sat"), Subtitle(2.0, 4.0, "hello there"),
                     Subtitle(4.0, 6.0, "bye now")], reference)  # fmt: skip
    write_subtitles([Subtitle(0.0, 2.0, "the cat sat"), Subtitle(4.0, 6.0, "bye now")], predicted)
    json_path = tmp_path / "m.json"
    with pytest.warns(UserWarning, match="1 of 3 reference cue"):
        code = main(["evaluate", "--task", "slt", str(predicted), "-r", str(reference), "--json", str(json_path)])
    assert code == 0
    metrics = json.loads(json_path.read_text())
    assert metrics["num_sentences"] == 3
    full = tmp_path / "full.json"
    assert main(["evaluate", "--task", "slt", str(reference), "-r", str(reference), "--json", str(full)]) == 0
    assert json.loads(json_path.read_text())["rouge_l"] < json.loads(full.read_text())["rouge_l"] == 100.0
