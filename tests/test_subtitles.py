"""Subtitle reading/writing robustness and one test per text-cleaning rule."""

from __future__ import annotations

import html
import re
import warnings

import pytest
from signllm.datasets_scripts.subtitles import (
    Subtitle,
    SubtitleWarning,
    clean_subtitle_text,
    format_timestamp,
    has_bracket_annotation,
    parse_subtitle_file,
    parse_subtitles,
    parse_timestamp,
    read_subtitles,
    write_subtitles,
)


def _write(path, text: str, encoding: str = "utf-8", newline: str = "\n"):
    path.write_bytes(text.replace("\n", newline).encode(encoding))
    return path


# ------------------------------------------------------------------------------------------------ timestamps


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("00:00:01.500", 1.5),
        ("01:02:03.456", 3723.456),
        ("02:03.4", 123.4),
        ("00:00:05,250", 5.25),
        ("123:00:00", 442800),
    ],
)
def test_parse_timestamp(text, seconds):
    assert parse_timestamp(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["1.5", "00:61:00.000", "aa:bb:cc", "00:00:01.5000", ""])
def test_parse_timestamp_rejects_malformed(bad):
    with pytest.raises(ValueError, match="malformed timestamp"):
        parse_timestamp(bad)


def test_format_timestamp_rounds_and_validates():
    assert format_timestamp(3723.4564) == "01:02:03.456"
    assert format_timestamp(5.25, "srt") == "00:00:05,250"
    with pytest.raises(ValueError):
        format_timestamp(-1.0)
    with pytest.raises(ValueError):
        format_timestamp(float("nan"))


# --------------------------------------------------------------------------------------------------- reading

MESSY_VTT = """WEBVTT
Kind: captions
Language: en

NOTE this is a comment
spanning two lines

STYLE
::cue { color: red }

intro
00:00:05.000 --> 00:00:07.000 align:start position:10%
<v Bob>Second &amp; <i>last</i></v>
line two

00:00:01.000 --> 00:00:03.000
First <c.yellow>cue</c> <00:00:02.000>here [...]

00:00:02.500 --> 00:00:04.000
Overlapping cue
"""


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_read_vtt_messy(tmp_path, newline):
    path = _write(tmp_path / "a.vtt", "\ufeff" + MESSY_VTT, encoding="utf-8", newline=newline)
    subs = read_subtitles(path)
    assert [s.text for s in subs] == ["First cue here [...]", "Overlapping cue", "Second & last line two"]
    # sorted by start, original file order kept in .index, overlaps kept as they are
    assert [s.index for s in subs] == [1, 2, 0]
    assert (subs[0].start, subs[0].end) == (1.0, 3.0)
    assert subs[1].start < subs[0].end
    assert subs[2].duration == pytest.approx(2.0)


def test_keep_line_breaks(tmp_path):
    path = _write(tmp_path / "a.vtt", MESSY_VTT)
    subs = read_subtitles(path, keep_line_breaks=True)
    assert subs[-1].text == "Second & last\nline two"


SRT = """1
00:00:01,000 --> 00:00:02,000
Hello <b>world</b>

2
00:00:03,000 --> 00:00:04,000
Second
3
00:00:05,000 --> 00:00:06,500
42

00:00:07,000 --> 00:00:08,000
no counter, missing blank line above is tolerated
"""


def test_read_srt_lenient_blocks(tmp_path):
    subs = read_subtitles(_write(tmp_path / "a.srt", SRT, newline="\r\n"))
    assert [s.text for s in subs] == [
        "Hello world",
        "Second",
        "42",
        "no counter, missing blank line above is tolerated",
    ]
    assert [s.end for s in subs] == [2.0, 4.0, 6.5, 8.0]


def test_srt_latin1_fallback(tmp_path):
    path = _write(tmp_path / "a.srt", "1\n00:00:01,000 --> 00:00:02,000\ncafé\n", encoding="latin-1")
    with pytest.warns(SubtitleWarning, match=r"not UTF-8.*Windows-1252.*line\(s\) 3"):
        assert read_subtitles(path)[0].text == "café"


# ------------------------------------------------------------------------------------ decoding (issue 16.2)

CAFE_VTT = "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nCafé crème\n\n00:00:03.000 --> 00:00:04.000\nna\xefve BAD here\n"


def test_one_bad_byte_in_utf8_is_replaced_only_there(tmp_path):
    """A stray byte on line 7 of a UTF-8 file: the rest stays UTF-8 (not "CafÃ© crÃ¨me"), line 7 gets U+FFFD."""
    raw = CAFE_VTT.encode("utf-8").replace(b"BAD", b"\xff")
    path = tmp_path / "a.vtt"
    path.write_bytes(raw)
    with pytest.warns(SubtitleWarning, match=r"a\.vtt: not valid UTF-8: replaced 1 undecodable byte sequence\(s\) with U\+FFFD on line\(s\) 7"):
        subs = read_subtitles(path)
    assert [s.text for s in subs] == ["Café crème", "naïve \ufffd here"]
    with pytest.warns(SubtitleWarning):
        parsed = parse_subtitle_file(path)
    assert parsed.encoding == "utf-8" and parsed.replaced_lines == [7]
    with pytest.raises(ValueError, match=r"a\.vtt:7: undecodable byte"):
        read_subtitles(path, strict=True)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_byte_order_mark_decides_the_encoding(tmp_path, encoding):
    text = CAFE_VTT.replace("BAD", "ok")
    prefix = "\ufeff" if encoding in ("utf-16-le", "utf-16-be") else ""  # the plain codecs add their own BOM
    path = tmp_path / "a.vtt"
    path.write_bytes((prefix + text).encode(encoding))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [s.text for s in read_subtitles(path)] == ["Café crème", "naïve ok here"]


def test_declared_encoding(tmp_path):
    path = tmp_path / "a.srt"
    path.write_bytes("1\n00:00:01,000 --> 00:00:02,000\nЗдравствуйте\n".encode("cp1251"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_subtitles(path, encoding="cp1251")[0].text == "Здравствуйте"
    with pytest.raises(LookupError, match="unknown encoding"):
        read_subtitles(path, encoding="no-such-codec")


BAD_VTT = """WEBVTT

00:00:01.000 --> 00:00:02.000
good one

00:00:0x.000 --> 00:00:04.000
broken timestamp

00:00:06.000 --> 00:00:05.000
ends before start

00:00:07.000 --> 00:00:08.000
<i></i>

00:00:09.000 --> 00:00:10.000
good two
"""


def test_bad_cues_skipped_with_count_and_lines(tmp_path):
    path = _write(tmp_path / "bad.vtt", BAD_VTT)
    parsed = parse_subtitle_file(path)
    assert [s.text for s in parsed.subtitles] == ["good one", "good two"]
    assert [s.index for s in parsed.subtitles] == [0, 4]  # skipped blocks still count, indices stay comparable
    assert [(s.line, s.reason.split()[0]) for s in parsed.skipped] == [(6, "malformed"), (9, "cue"), (12, "empty")]
    with pytest.warns(SubtitleWarning, match=r"skipped 3 bad cue\(s\): line 6"):
        read_subtitles(path)


def test_repair_times_keeps_negative_and_reversed_cues(tmp_path):
    content = BAD_VTT.replace("00:00:0x.000 --> 00:00:04.000", "-00:00:01.500 --> 00:00:04.000")
    path = _write(tmp_path / "bad.vtt", content)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        subs = read_subtitles(path, repair_times=True)
    messages = [str(w.message) for w in caught]
    assert any(re.search(r"repaired the times of 2 cue\(s\): line 6: negative time.*line 9: ends", m) for m in messages)
    assert any("skipped 1 bad cue(s): line 12: empty cue text" in m for m in messages)  # legal, nothing to align
    assert [(s.start, s.end, s.text) for s in subs] == [
        (0.0, 4.0, "broken timestamp"), (1.0, 2.0, "good one"), (5.0, 6.0, "ends before start"),
        (9.0, 10.0, "good two")]  # fmt: skip
    assert [s.repaired is not None for s in subs] == [True, False, True, False]
    assert "swapped" in subs[2].repaired and "clipped to 0" in subs[0].repaired
    # without repair_times both are skipped as before (the negative one as a malformed timestamp)
    with pytest.warns(SubtitleWarning, match="skipped 3 bad cue"):
        assert len(read_subtitles(path)) == 2


def test_strict_raises_with_line_number(tmp_path):
    path = _write(tmp_path / "bad.vtt", BAD_VTT)
    with pytest.raises(ValueError, match=r"bad\.vtt:6: malformed timestamp"):
        read_subtitles(path, strict=True)
    with pytest.raises(ValueError, match=r"bad\.vtt:9: cue ends"):
        read_subtitles(_write(tmp_path / "bad.vtt", BAD_VTT.replace("0x", "03")), strict=True)
    # an empty cue is legal WebVTT: strict mode still skips (and counts) it
    only_empty_problem = BAD_VTT.replace("0x", "03").replace(
        "00:00:06.000 --> 00:00:05.000", "00:00:05.000 --> 00:00:06.000"
    )
    parsed = parse_subtitle_file(_write(tmp_path / "bad.vtt", only_empty_problem), strict=True)
    assert len(parsed.subtitles) == 4 and [s.reason for s in parsed.skipped] == ["empty cue text"]


def test_file_without_valid_cue_raises(tmp_path):
    path = _write(tmp_path / "x.srt", "1\n00:00:xx --> 00:00:02,000\nhello\n")
    with pytest.raises(ValueError, match="no valid cue"):
        read_subtitles(path)


def test_empty_file_and_header_only(tmp_path):
    assert read_subtitles(_write(tmp_path / "e.vtt", "WEBVTT\n\n")) == []
    assert read_subtitles(_write(tmp_path / "e.srt", "")) == []


def test_bad_paths(tmp_path):
    with pytest.raises(ValueError, match="unsupported subtitle file"):
        read_subtitles(tmp_path / "a.txt")
    with pytest.raises(FileNotFoundError):
        read_subtitles(tmp_path / "missing.vtt")
    with pytest.raises(ValueError, match="unknown subtitle format"):
        parse_subtitles("", "ass")


# --------------------------------------------------------------------------------------------------- writing


@pytest.mark.parametrize("suffix", [".vtt", ".srt"])
def test_write_read_round_trip(tmp_path, suffix):
    subs = [
        Subtitle(0.0, 1.25, "a < b & c > d"),
        Subtitle(3723.456, 3725.0, "two\n\nlines"),
        Subtitle(2.0, 2.0, "zero length is allowed"),
    ]
    path = tmp_path / f"out{suffix}"
    write_subtitles(subs, path)
    back = read_subtitles(path)
    assert [(s.start, s.end, s.text) for s in back] == [
        (0.0, 1.25, "a < b & c > d"),
        (2.0, 2.0, "zero length is allowed"),
        (3723.456, 3725.0, "two lines"),
    ]
    assert not list(tmp_path.glob(".*tmp"))  # no temporary file left behind


def test_written_vtt_is_standard(tmp_path):
    import webvtt
    path = tmp_path / "out.vtt"
    write_subtitles([Subtitle(1.0, 2.5, "x & y"), Subtitle(3.0, 4.0, "second")], path)
    captions = webvtt.read(str(path))
    # webvtt-py keeps entity escapes in .text; the escape is what the standard requires
    assert [(c.start, c.end, html.unescape(c.text)) for c in captions] == [
        ("00:00:01.000", "00:00:02.500", "x & y"),
        ("00:00:03.000", "00:00:04.000", "second"),
    ]


def test_write_rejects_invalid_and_is_atomic(tmp_path):
    path = tmp_path / "keep.vtt"
    write_subtitles([Subtitle(0.0, 1.0, "original")], path)
    for bad in (
        Subtitle(2.0, 1.0, "x"),
        Subtitle(-1.0, 1.0, "x"),
        Subtitle(0.0, float("inf"), "x"),
        Subtitle(0, 1, "a --> b"),
    ):
        with pytest.raises(ValueError):
            write_subtitles([Subtitle(0.0, 1.0, "fine"), bad], path)
    assert read_subtitles(path)[0].text == "original"  # a failed write leaves the old file untouched


# -------------------------------------------------------------------------------------------------- cleaning


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        # 1. HTML entities decoded
        ("Tom &amp; Jerry &#39;s &quot;show&quot; now", 'Tom & Jerry \'s "show" now'),
        # 2. HTML tags dropped (but a lone "<" is text)
        ('<i>Hello</i> <font color="red">there</font>, 3 < 4', "Hello there, 3 < 4"),
        ("&lt;b&gt;bold&lt;/b&gt;", "bold"),  # entities decoded first, so escaped tags go too
        # 3. annotations (…) […] *…*
        ("Hello (laughs) world", "Hello world"),
        ("[MUSIC PLAYING] Welcome [...]", "Welcome"),
        ("I *sighs* agree", "I agree"),
        # 4. leading ♪ • - and single-word speaker labels
        ("♪ la la la", "la la la"),
        ("• bullet point", "bullet point"),
        ("- Are you sure?\n- Yes.", "Are you sure? Yes."),
        ("JOHN: I'm here", "I'm here"),
        ("- Mary: hi\n- Bob: hello", "hi hello"),
        ("Meet at 10:30 today", "Meet at 10:30 today"),  # a time is not a speaker label
        ("Mr Smith: two words is not a label", "Mr Smith: two words is not a label"),
        # 6. spaces before punctuation
        ("Really ? Yes , indeed .", "Really? Yes, indeed."),
        # 7. repeated spaces
        ("too    many\t spaces", "too many spaces"),
        # 8. surrounding quotes
        ('"Quoted sentence."', "Quoted sentence."),
        ("“Curly quotes”", "Curly quotes"),
        ('"Hi," he said, "bye"', '"Hi," he said, "bye"'),  # not one quotation: kept
        # combined, and nothing left
        ("  ♪ (music) [applause] ♪ ", ""),
        ("<v Narrator>- NARRATOR: &quot;Welcome back (applause) !&quot;</v>", "Welcome back!"),
    ],
)
def test_clean_subtitle_text_rules(raw, clean):
    assert clean_subtitle_text(raw) == clean


def test_has_bracket_annotation_flag():
    assert has_bracket_annotation("hello [inaudible] there")
    assert not has_bracket_annotation("hello [ there")
    assert not has_bracket_annotation("plain text")


def test_read_subtitles_does_not_warn_on_clean_file(tmp_path):
    path = tmp_path / "c.srt"
    write_subtitles([Subtitle(0.5, 1.5, "ok")], path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(read_subtitles(path)) == 1
