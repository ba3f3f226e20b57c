"""The code blocks of a Markdown document (the README, a card jfhub writes), as tests run them.

A fenced block tagged `bash`, `sh`, `console` or `python` is code and is run. An untagged block
that follows a code block with only blank lines between is that block's expected output. A code
block may be preceded by one annotation, an HTML comment (invisible when rendered):

    <!-- test: skip: WHY -->       not run, and the reason is stated (no weights here, needs GPUs, ...)
    <!-- test: run: COMMAND -->    only COMMAND, a part of the block, is run (e.g. the build of a
                                   quickstart line whose install is what CI itself does)

Expected output is matched line by line after collapsing spaces: a line `...` stands for any
number of lines, `<name>` for one run of non-space characters (a commit id, a duration), and a
number must equal the one printed within two units of its last decimal place (integers exactly),
so a figure in the README is checked as the reader sees it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

CODE_LANGS = frozenset({"bash", "sh", "console", "python"})
_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)\s*$")
_NOTE = re.compile(r"^<!--\s*test:\s*(?P<kind>skip|run):\s*(?P<text>.*?)\s*-->\s*$")


class DocError(ValueError):
    """A document whose blocks or annotations cannot be read as described above."""


@dataclass(frozen=True)
class Note:
    kind: str  # "skip" | "run"
    text: str


@dataclass(frozen=True)
class Block:
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    note: Optional[Note] = None
    output: Optional[str] = None  # the untagged block right after it

    @property
    def is_code(self) -> bool:
        return self.lang in CODE_LANGS

    @property
    def runs(self) -> Optional[str]:
        """What a test runs of this block: its text, the annotated part, or None (skipped)."""
        if self.note is None:
            return self.text
        return self.note.text if self.note.kind == "run" else None

    @property
    def label(self) -> str:
        first = next((ln for ln in self.text.splitlines() if ln.strip() and not ln.startswith("#")), "")
        return f"line {self.line}: {first[:60]}"


def blocks(markdown: str) -> list[Block]:
    """Every fenced block, in order; code blocks carry their annotation and expected output."""
    lines = markdown.splitlines()
    found: list[tuple[int, int, str, str]] = []  # (open line, close line, lang, text)
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence = m["fence"]
        close = next((j for j in range(i + 1, len(lines))
                      if lines[j].strip().startswith(fence[0] * len(fence)) and not lines[j].strip().strip(fence[0])),
                     None)
        if close is None:
            raise DocError(f"line {i + 1}: code block is never closed")
        found.append((i, close, m["lang"].lower(), "\n".join(lines[i + 1:close]) + "\n"))
        i = close + 1

    out: list[Block] = []
    consumed: set[int] = set()
    for n, (start, end, lang, text) in enumerate(found):
        if n in consumed:
            continue
        note = _note_before(lines, start)
        if note is not None and lang not in CODE_LANGS:
            raise DocError(f"line {start + 1}: a test annotation on a block that is not code ({lang or 'untagged'})")
        output = None
        if lang in CODE_LANGS and n + 1 < len(found):
            nstart, _, nlang, ntext = found[n + 1]
            if nlang == "" and all(not ln.strip() for ln in lines[end + 1:nstart]):
                output = ntext
                consumed.add(n + 1)
        out.append(Block(start + 1, lang, text, note, output))
    return out


def _note_before(lines: list[str], start: int) -> Optional[Note]:
    j = start - 1
    while j >= 0 and not lines[j].strip():
        j -= 1
    if j < 0 or "test:" not in lines[j] or not lines[j].lstrip().startswith("<!--"):
        return None
    m = _NOTE.match(lines[j].strip())
    if not m or not m["text"]:
        raise DocError(f"line {j + 1}: a test annotation reads '<!-- test: skip: WHY -->' or "
                       f"'<!-- test: run: COMMAND -->', not {lines[j].strip()!r}")
    return Note(m["kind"], m["text"])


# --- expected output ---------------------------------------------------------------------------

_TOKEN = re.compile(r"(?P<hole><[A-Za-z][\w -]*>)|(?<![\w.])(?P<num>[-+]?\d+(?:\.\d+)?)(?![\w.])")


@lru_cache(maxsize=None)
def _line_pattern(expected: str) -> tuple[re.Pattern, tuple[str, ...]]:
    parts, numbers, pos = [], [], 0
    for m in _TOKEN.finditer(expected):
        parts.append(re.escape(expected[pos:m.start()]))
        if m["hole"]:
            parts.append(r"\S+?")
        else:
            parts.append(r"([-+]?\d+(?:\.\d+)?)")
            numbers.append(m["num"])
        pos = m.end()
    parts.append(re.escape(expected[pos:]))
    return re.compile("".join(parts).replace(r"\ ", " ")), tuple(numbers)


def _numbers_agree(expected: str, actual: str) -> bool:
    if "." not in expected:
        return "." not in actual and int(expected) == int(actual)
    unit = 10.0 ** -len(expected.split(".")[1])
    return abs(float(expected) - float(actual)) <= 2 * unit + 1e-12


def line_matches(expected: str, actual: str) -> bool:
    expected, actual = " ".join(expected.split()), " ".join(actual.split())
    pattern, numbers = _line_pattern(expected)
    m = pattern.fullmatch(actual)
    return bool(m) and all(_numbers_agree(e, a) for e, a in zip(numbers, m.groups(), strict=True))


def output_mismatch(expected: str, actual: str) -> Optional[str]:
    """None when `actual` is the output `expected` describes; else the first line that differs."""
    want = [ln for ln in expected.splitlines() if ln.strip()]
    got = [ln for ln in actual.splitlines() if ln.strip()]

    @lru_cache(maxsize=None)
    def match(i: int, j: int) -> bool:
        if i == len(want):
            return j == len(got)
        if want[i].strip() == "...":
            return any(match(i + 1, k) for k in range(j, len(got) + 1))
        return j < len(got) and line_matches(want[i], got[j]) and match(i + 1, j + 1)

    if match(0, 0):
        return None
    # the first place a greedy alignment breaks, for the message
    j, gap = 0, False
    for line in want:
        if line.strip() == "...":
            gap = True
            continue
        hit = next((k for k in range(j, len(got)) if line_matches(line, got[k])), None)
        if hit is None:
            near = got[j] if j < len(got) else "<end of output>"
            return f"expected {line.strip()!r}, got {near.strip()!r}"
        if hit > j and not gap:
            return f"unexpected output before {line.strip()!r}: {got[j].strip()!r}"
        j, gap = hit + 1, False
    return f"extra output: {got[j].strip()!r}" if j < len(got) and not gap else "lines out of order"
