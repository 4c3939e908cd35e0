"""Robust WebVTT / SRT subtitle reading and writing, and the paper's subtitle text cleaning.

Real caption files are messy (BOBSL, YouTube auto/user captions, hand-made SRT): byte-order marks, CRLF, cue
settings, markup tags, missing blank lines between cues, out-of-order and overlapping cues, broken timestamps.

Choices (not fixed by the paper; documented here and in the tests):

- We parse with our own line-based reader rather than webvtt-py: webvtt-py 0.6 either raises on a malformed cue
  without a line number or drops it silently, and it does not read SRT counters leniently. webvtt-py is used in the
  tests to check that what we *write* is standard WebVTT.
- A single bad cue (malformed timestamp, end before start, no text) is **skipped and counted**, never guessed:
  `read_subtitles` warns (`SubtitleWarning`) with the count and line numbers, `parse_subtitle_file` returns them
  (``ParsedSubtitles.skipped``) so dataset builders can report them. ``strict=True`` raises ``ValueError`` with the
  file name and line number on a *malformed* cue instead (an empty cue is legal WebVTT: always skipped and counted).
  A file with cue blocks but no valid cue always raises ``ValueError``. A missing ``WEBVTT`` header is tolerated.
- Decoding [ours]: a byte-order mark (UTF-8/16/32) or the caller's ``encoding=`` decides; otherwise UTF-8. Bytes
  that cannot be decoded are replaced with U+FFFD *where they are* (one per bad sequence) and a `SubtitleWarning`
  names the lines; one stray byte never turns a UTF-8 file into latin-1 ("CafÃ© crÃ¨me"). Only a file in which no
  valid UTF-8 multi-byte character outweighs the invalid bytes is read as a legacy 8-bit file (Windows-1252, the
  common encoding of old SRT files), with a warning saying so. ``strict=True`` raises on undecodable bytes.
- Times that are readable but impossible (a negative start, an end before the start) make the cue skipped like a
  malformed one, unless ``repair_times=True`` [ours, used by ``signllm align``, where a user's subtitle must not
  disappear]: negative times are clipped to 0, then an end before the start is swapped with it; the cue is kept
  with ``Subtitle.repaired`` describing the change, and `read_subtitles` warns with the line numbers.
- Cues are returned sorted by ``(start, end)``; ``Subtitle.index`` keeps the 0-based order of appearance in the file
  (counting skipped cue blocks too, so indices of parallel files, e.g. BOBSL audio- and signing-aligned versions,
  stay comparable; SRT counters are ignored: they are often wrong). Overlapping cues are kept as they are (BOBSL subtitles overlap
  legitimately; the aligner resolves overlaps with DTW).
- Reading removes *format* markup only: VTT/HTML tags (``<i>``, ``<v Bob>``, ``<c.red>``, ``<00:01.000>``) and
  the entity escapes the format requires (``&amp;``); annotations such as ``[applause]`` are kept (the SAT protocol
  needs them, see `has_bracket_annotation`). Multi-line cue text is joined with one space unless
  ``keep_line_breaks=True``. Content cleaning is `clean_subtitle_text`.
"""

from __future__ import annotations

import codecs
import html
import itertools
import math
import os
import re
import tempfile
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "DecodedText",
    "ParsedSubtitles",
    "SkippedCue",
    "Subtitle",
    "SubtitleWarning",
    "clean_subtitle_text",
    "decode_subtitle_bytes",
    "format_timestamp",
    "has_bracket_annotation",
    "parse_subtitle_file",
    "parse_subtitles",
    "parse_timestamp",
    "read_subtitles",
    "strip_markup",
    "warn_cue_problems",
    "write_subtitles",
]

SUBTITLE_FORMATS = ("vtt", "srt")


@dataclass
class Subtitle:
    """One subtitle cue; times in seconds from the start of the video.

    Args:
        start (`float`): cue start in seconds.
        end (`float`): cue end in seconds (``end >= start``).
        text (`str`): cue text (markup removed when read from a file).
        index (`int`, *optional*): 0-based position of the cue in its source file (kept after sorting).
        repaired (`str`, *optional*): what was changed in the file's times (``repair_times=True``), else None.
    """

    start: float
    end: float
    text: str
    index: int | None = None
    repaired: str | None = None

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass
class SkippedCue:
    """A cue the reader could not use: 1-based line number in the file, the reason, and the offending line."""

    line: int
    reason: str
    content: str = ""
    malformed: bool = True  # False for well-formed cues we still cannot use (no text)


@dataclass
class ParsedSubtitles:
    """Result of parsing one file: valid cues sorted by time, every skipped cue with its line number, the cues whose
    times were repaired (``repair_times=True``; ``reason`` says what changed), and how the file was decoded."""

    subtitles: list[Subtitle]
    skipped: list[SkippedCue] = field(default_factory=list)
    repaired: list[SkippedCue] = field(default_factory=list)
    encoding: str = "utf-8"
    replaced_lines: list[int] = field(default_factory=list)  # lines where undecodable bytes became U+FFFD


class SubtitleWarning(UserWarning):
    """Issued when cues of a subtitle file are skipped or repaired, or bytes of it could not be decoded."""


# --------------------------------------------------------------------------------------------------- timestamps

# hh:mm:ss.ttt | mm:ss.ttt | hh:mm:ss,ttt (SRT) ; hours may exceed 99 in long recordings; 1–3 fraction digits are
# accepted because hand-made files write "0:00:01.5".
_TIMESTAMP = re.compile(r"^(?:(\d+):)?([0-5]?\d):([0-5]\d)(?:[.,](\d{1,3}))?$")
_ARROW = re.compile(r"\s*-->\s*")


def parse_timestamp(value: str) -> float:
    """``"01:02:03.456"`` / ``"02:03.456"`` / ``"01:02:03,456"`` -> seconds. Raises ValueError when malformed."""
    match = _TIMESTAMP.match(value.strip())
    if match is None:
        raise ValueError(f"malformed timestamp {value!r} (expected hh:mm:ss.mmm, mm:ss.mmm or hh:mm:ss,mmm)")
    hours, minutes, seconds, fraction = match.groups()
    millis = (int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds)) * 1000 + int((fraction or "").ljust(3, "0"))
    return millis / 1000  # one rounding: the float nearest the written time ("01.239" -> 1.239, not 1.2389999...)


def format_timestamp(seconds: float, fmt: str = "vtt") -> str:
    """Seconds -> ``"hh:mm:ss.mmm"`` (VTT) or ``"hh:mm:ss,mmm"`` (SRT), rounded to the millisecond."""
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"timestamp must be a finite number of seconds >= 0, got {seconds!r}")
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    separator = "," if fmt == "srt" else "."
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


# ------------------------------------------------------------------------------------------------------- markup

# Tags only: "<" followed by a letter, "/" or a digit (VTT inline timestamps), so "a < b" survives.
_TAG = re.compile(r"</?[A-Za-z][^<>]*>|<\d[\d:.]*>")


def strip_markup(text: str) -> str:
    """Remove VTT/HTML tags and decode HTML entities (``&amp;`` -> ``&``)."""
    return html.unescape(_TAG.sub("", text))


# ------------------------------------------------------------------------------------------------------ parsing


def _detect_format(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in SUBTITLE_FORMATS:
        raise ValueError(f"unsupported subtitle file {str(path)!r}: expected one of .vtt, .srt")
    return suffix


def _blocks(lines: Sequence[str]) -> Iterable[list[tuple[int, str]]]:
    """Group lines into blank-line separated blocks of (1-based line number, line)."""
    block: list[tuple[int, str]] = []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            block.append((number, line.rstrip()))
        elif block:
            yield block
            block = []
    if block:
        yield block


def _split_cues(block: list[tuple[int, str]], fmt: str) -> list[list[tuple[int, str]]]:
    """Split a block at every timing line, so a missing blank line between two cues does not merge them.

    The line right before a timing line is that cue's identifier (VTT cue id or SRT counter) when it is not the
    first text line of the previous cue; for SRT we only treat a digit-only line as a counter.
    """
    timing_rows = [i for i, (_, line) in enumerate(block) if "-->" in line]
    if len(timing_rows) <= 1:
        return [block]
    cuts = [0]
    for previous_row, row in itertools.pairwise(timing_rows):
        previous = block[row - 1][1].strip()
        is_identifier = row - 1 > previous_row + 1 and (fmt == "vtt" or previous.isdigit())
        cuts.append(row - 1 if is_identifier else row)
    cuts.append(len(block))
    return [block[a:b] for a, b in itertools.pairwise(cuts) if b > a]


def _parse_time(value: str, allow_negative: bool) -> float:
    value = value.strip()
    if allow_negative and value.startswith("-"):
        return -parse_timestamp(value[1:])
    return parse_timestamp(value)


def _parse_cue(cue: list[tuple[int, str]], keep_line_breaks: bool, repair_times: bool) -> Subtitle | SkippedCue:
    timing_row = next((i for i, (_, line) in enumerate(cue) if "-->" in line), None)
    if timing_row is None:
        number, line = cue[0]
        return SkippedCue(number, "no timing line ('-->') in cue block", line)
    number, timing = cue[timing_row]
    parts = _ARROW.split(timing.strip(), maxsplit=1)
    if len(parts) != 2:
        return SkippedCue(number, "malformed timing line", timing)
    start_text = parts[0]
    end_text = parts[1].split()[0] if parts[1].split() else ""  # anything after the end time is cue settings
    try:
        start = _parse_time(start_text, repair_times)
        end = _parse_time(end_text, repair_times)
    except ValueError as error:
        return SkippedCue(number, str(error), timing)
    repairs = []
    if repair_times and min(start, end) < 0:
        repairs.append(f"negative time ({start:.3f} s --> {end:.3f} s) clipped to 0")
        start, end = max(start, 0.0), max(end, 0.0)
    if end < start:
        if not repair_times:
            return SkippedCue(number, f"cue ends ({end:.3f} s) before it starts ({start:.3f} s)", timing)
        repairs.append(f"ends ({end:.3f} s) before it starts ({start:.3f} s): start and end swapped")
        start, end = end, start
    lines = [strip_markup(line).strip() for _, line in cue[timing_row + 1 :]]
    lines = [line for line in lines if line]
    if not lines:
        return SkippedCue(number, "empty cue text", timing, malformed=False)
    text = "\n".join(lines) if keep_line_breaks else re.sub(r"\s+", " ", " ".join(lines))
    repaired = "; ".join(repairs) or None
    return Subtitle(start=start, end=end, text=text, repaired=repaired)


def parse_subtitles(
    content: str,
    fmt: str,
    *,
    source: str = "<string>",
    strict: bool = False,
    keep_line_breaks: bool = False,
    repair_times: bool = False,
) -> ParsedSubtitles:
    """Parse VTT or SRT text. See the module docstring for the rules; ``source`` only names the file in errors."""
    if fmt not in SUBTITLE_FORMATS:
        raise ValueError(f"unknown subtitle format {fmt!r}; expected one of {SUBTITLE_FORMATS}")
    content = content.lstrip("\ufeff")
    lines = content.splitlines()  # handles \n, \r\n and lone \r
    subtitles: list[Subtitle] = []
    skipped: list[SkippedCue] = []
    repaired: list[SkippedCue] = []
    num_blocks = 0
    for block_index, block in enumerate(_blocks(lines)):
        first = block[0][1].strip()
        if fmt == "vtt":
            if block_index == 0 and first.startswith("WEBVTT"):
                # The header block may also carry metadata lines ("Kind: captions"); a cue glued to it is kept.
                block = block[next((i for i, (_, line) in enumerate(block) if "-->" in line), len(block)) :]
                if not block:
                    continue
                first = block[0][1].strip()
            if first.startswith(("NOTE", "STYLE", "REGION")) and "-->" not in block[0][1]:
                continue
        for cue in _split_cues(block, fmt):
            num_blocks += 1
            parsed = _parse_cue(cue, keep_line_breaks, repair_times)
            if isinstance(parsed, SkippedCue):
                if strict and parsed.malformed:
                    raise ValueError(f"{source}:{parsed.line}: {parsed.reason}: {parsed.content!r}")
                skipped.append(parsed)
            else:
                parsed.index = num_blocks - 1
                subtitles.append(parsed)
                if parsed.repaired:
                    number, timing = next((n, line) for n, line in cue if "-->" in line)
                    repaired.append(SkippedCue(number, parsed.repaired, timing, malformed=False))
    if num_blocks and not subtitles:
        first_error = skipped[0]
        raise ValueError(
            f"{source}: no valid cue among {num_blocks} cue block(s); "
            f"first problem at line {first_error.line}: {first_error.reason}"
        )
    subtitles.sort(key=lambda sub: (sub.start, sub.end, sub.index))
    return ParsedSubtitles(subtitles=subtitles, skipped=skipped, repaired=repaired)


# ----------------------------------------------------------------------------------------------------- decoding

# Longest first: the UTF-32 LE mark begins with the UTF-16 LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_MARK = "\udcff"  # a lone surrogate: no correct decoding of UTF-8/16/32 or Windows-1252 produces one


def _mark_undecodable(error: UnicodeDecodeError) -> tuple[str, int]:
    return _MARK, error.end


codecs.register_error("signllm-subtitles-mark", _mark_undecodable)


@dataclass
class DecodedText:
    """Text of a subtitle file, the codec that decoded it, and where undecodable bytes were replaced by U+FFFD.

    ``guessed`` is True when the file was not UTF-8 and no encoding was given or marked: it was read as Windows-1252.
    """

    text: str
    encoding: str
    replaced: int = 0  # undecodable byte sequences, each now one U+FFFD
    replaced_lines: list[int] = field(default_factory=list)  # 1-based, as the parser numbers lines
    guessed: bool = False


def _decode_with(raw: bytes, encoding: str, guessed: bool = False) -> DecodedText:
    text = raw.decode(encoding, errors="signllm-subtitles-mark")
    if _MARK not in text:
        return DecodedText(text, encoding, guessed=guessed)
    lines = [number for number, line in enumerate(text.lstrip("\ufeff").splitlines(), start=1) if _MARK in line]
    return DecodedText(text.replace(_MARK, "\ufffd"), encoding, text.count(_MARK), lines, guessed)


def decode_subtitle_bytes(raw: bytes, encoding: str | None = None) -> DecodedText:
    """Decode a subtitle file: ``encoding`` when given, else its byte-order mark, else UTF-8 (see module docstring).

    Undecodable bytes become U+FFFD where they are. Without a given or marked encoding, a file whose invalid UTF-8
    byte sequences outnumber its valid non-ASCII UTF-8 characters is a legacy 8-bit file and is read as
    Windows-1252. Raises LookupError for an unknown ``encoding``.
    """
    if encoding is not None:
        family = codecs.lookup(encoding).name  # LookupError for an unknown name
        for bom, name in _BOMS:  # a mark of the declared family fixes the byte order and is not text
            if raw.startswith(bom) and name.startswith(family.replace("-sig", "")):
                return _decode_with(raw[len(bom) :], name)
        return _decode_with(raw, encoding)
    for bom, name in _BOMS:
        if raw.startswith(bom):
            return _decode_with(raw[len(bom) :], name)
    utf8 = _decode_with(raw, "utf-8")
    if not utf8.replaced:
        return utf8
    valid_non_ascii = sum(1 for char in utf8.text if ord(char) > 0x7F and char != "\ufffd")
    if valid_non_ascii >= utf8.replaced:
        return utf8  # a UTF-8 file with a few damaged bytes: keep UTF-8, replace only those
    return _decode_with(raw, "cp1252", guessed=True)


def _decoding_warning(source: str, decoded: DecodedText) -> str | None:
    lines = ", ".join(str(n) for n in decoded.replaced_lines[:10])
    lines += f" (+{len(decoded.replaced_lines) - 10} more)" if len(decoded.replaced_lines) > 10 else ""
    replaced = (f"replaced {decoded.replaced} undecodable byte sequence(s) with U+FFFD on line(s) {lines}"
                if decoded.replaced else "")  # fmt: skip
    if decoded.guessed:
        non_ascii = [n for n, line in enumerate(decoded.text.splitlines(), start=1) if any(ord(c) > 0x7F for c in line)]
        shown = ", ".join(str(n) for n in non_ascii[:10]) + (" ..." if len(non_ascii) > 10 else "")
        return (f"{source}: not UTF-8 (no valid UTF-8 multi-byte text): decoded as Windows-1252, the usual encoding "
                f"of old subtitle files (non-ASCII text on line(s) {shown}); pass encoding=... or save the file as "
                f"UTF-8 if that is wrong" + (f"; {replaced}" if replaced else ""))  # fmt: skip
    if decoded.replaced:
        label = "UTF-8" if decoded.encoding == "utf-8" else decoded.encoding
        return f"{source}: not valid {label}: {replaced}"
    return None


def parse_subtitle_file(
    path: str | os.PathLike,
    *,
    strict: bool = False,
    keep_line_breaks: bool = False,
    repair_times: bool = False,
    encoding: str | None = None,
) -> ParsedSubtitles:
    """Read a ``.vtt``/``.srt`` file (format from the suffix) and return cues plus skipped-cue details.

    Decoding (`decode_subtitle_bytes`) warns with `SubtitleWarning` when bytes had to be replaced or the encoding was
    guessed; with ``strict=True`` an undecodable byte raises ValueError naming its line.
    """
    path = Path(path)
    fmt = _detect_format(path)
    if not path.is_file():
        raise FileNotFoundError(f"subtitle file not found: {path}")
    decoded = decode_subtitle_bytes(path.read_bytes(), encoding)
    if strict and decoded.replaced:
        raise ValueError(f"{path}:{decoded.replaced_lines[0]}: undecodable byte(s) in {decoded.encoding} text")
    message = _decoding_warning(str(path), decoded)
    if message:
        warnings.warn(message, SubtitleWarning, stacklevel=2)
    parsed = parse_subtitles(decoded.text, fmt, source=str(path), strict=strict, keep_line_breaks=keep_line_breaks,
                             repair_times=repair_times)  # fmt: skip
    parsed.encoding = "windows-1252" if decoded.guessed else decoded.encoding
    parsed.replaced_lines = decoded.replaced_lines
    return parsed


def read_subtitles(
    path: str | os.PathLike,
    *,
    strict: bool = False,
    keep_line_breaks: bool = False,
    repair_times: bool = False,
    encoding: str | None = None,
) -> list[Subtitle]:
    """Read a ``.vtt``/``.srt`` file into cues sorted by start time.

    Bad single cues are skipped with a `SubtitleWarning` (count + line numbers); ``strict=True`` raises
    ``ValueError`` naming the line instead. ``repair_times=True`` keeps cues with negative or reversed times,
    repaired (``Subtitle.repaired``), with a warning. Use `parse_subtitle_file` to get the details programmatically.
    """
    parsed = parse_subtitle_file(path, strict=strict, keep_line_breaks=keep_line_breaks, repair_times=repair_times,
                                 encoding=encoding)  # fmt: skip
    warn_cue_problems(parsed, path, stacklevel=3)
    return parsed.subtitles


def warn_cue_problems(parsed: ParsedSubtitles, source: str | os.PathLike, stacklevel: int = 2) -> None:
    """One `SubtitleWarning` for the skipped cues and one for the repaired ones (count + first line numbers)."""
    for kind, cues in (("skipped", parsed.skipped), ("repaired the times of", parsed.repaired)):
        if cues:
            shown = ", ".join(f"line {s.line}: {s.reason}" for s in cues[:5])
            more = f" (+{len(cues) - 5} more)" if len(cues) > 5 else ""
            label = "bad cue(s)" if kind == "skipped" else "cue(s)"
            warnings.warn(f"{source}: {kind} {len(cues)} {label}: {shown}{more}", SubtitleWarning,
                          stacklevel=stacklevel + 1)  # fmt: skip


# ------------------------------------------------------------------------------------------------------ writing


def _escape_vtt(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_subtitles(subtitles: Iterable[Subtitle], path: str | os.PathLike) -> None:
    """Write cues to ``.vtt`` or ``.srt`` (format from the suffix), in the given order, atomically.

    The file is written to a temporary file in the same folder and renamed over ``path``, so readers never see a
    half-written file. Raises ValueError on negative/non-finite times, ``end < start`` or text containing ``-->``.
    """
    path = Path(path)
    fmt = _detect_format(path)
    chunks: list[str] = ["WEBVTT\n"] if fmt == "vtt" else []
    for number, sub in enumerate(subtitles, start=1):
        if not (math.isfinite(sub.start) and math.isfinite(sub.end)) or sub.start < 0 or sub.end < sub.start:
            raise ValueError(
                f"cue {number}: invalid times start={sub.start!r} end={sub.end!r} (need 0 <= start <= end)"
            )
        if "-->" in sub.text:
            raise ValueError(f"cue {number}: text may not contain '-->': {sub.text!r}")
        # Blank lines would end the cue early; drop them.
        lines = [line.strip() for line in sub.text.splitlines() if line.strip()]
        text = "\n".join(_escape_vtt(line) if fmt == "vtt" else line for line in lines)
        timing = f"{format_timestamp(sub.start, fmt)} --> {format_timestamp(sub.end, fmt)}"
        chunks.append(f"{number}\n{timing}\n{text}\n")
    content = "\n".join(chunks)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(content)
        os.replace(tmp_name, path)
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise


# ----------------------------------------------------------------------------------------------------- cleaning

_ANNOTATIONS = (
    re.compile(r"\([^()]*\)"),  # (laughs)
    re.compile(r"\[[^\[\]]*\]"),  # [MUSIC PLAYING]
    re.compile(r"\*[^*]*\*"),  # *sighs*
)
_LEADING_SYMBOLS = re.compile(r"^[\s♪♫•\-–—]+")
# One word (starting with a letter, no digits-only "10:30"), then ":" and whitespace or end of line.
_SPEAKER_LABEL = re.compile(r"^[^\W\d_][\w'’.\-]*:(?=\s|$)")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,!?;:…])")
_QUOTE_PAIRS = {'"': '"', "'": "'", "“": "”", "‘": "’", "«": "»", "„": "“"}


def _strip_surrounding_quotes(text: str) -> str:
    while len(text) >= 2 and text[0] in _QUOTE_PAIRS and text[-1] == _QUOTE_PAIRS[text[0]]:
        inner = text[1:-1]
        # '"Hi," he said, "bye"' is not surrounded by one quotation: leave it.
        if text[0] in inner or _QUOTE_PAIRS[text[0]] in inner:
            break
        text = inner.strip()
    return text


def clean_subtitle_text(text: str) -> str:
    """The paper's YouTube-SL-25 subtitle cleaning (architecture §5), in this order:

    1. decode HTML entities; 2. drop HTML tags; 3. drop ``(…)``, ``[…]`` and ``*…*`` annotations;
    4. per line: drop leading ``♪`` ``•`` ``-`` (and ``♫``, en/em dashes) and a single-word speaker label
       ``Name:``; 5. join lines; 6. remove spaces before punctuation; 7. collapse repeated spaces;
    8. remove quotes surrounding the whole text. Returns ``""`` when nothing is left (callers skip those).
    """
    text = html.unescape(text)
    text = _TAG.sub("", text)
    for pattern in _ANNOTATIONS:
        text = pattern.sub(" ", text)
    lines = []
    for line in text.splitlines():
        previous = None
        while previous != line:  # "- JOHN: ♪ hi" needs several passes
            previous = line
            line = _LEADING_SYMBOLS.sub("", line)
            line = _SPEAKER_LABEL.sub("", line)
        lines.append(line)
    text = " ".join(lines)
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    text = re.sub(r"\s+", " ", text).strip()
    return _strip_surrounding_quotes(text)


def has_bracket_annotation(text: str) -> bool:
    """True when the text contains both ``[`` and ``]``: the SAT protocol excludes such subtitles from SSA eval."""
    return "[" in text and "]" in text
