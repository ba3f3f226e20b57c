"""The reader of Markdown code blocks that the README and card tests run (tests/doc_blocks.py)."""

import random

import pytest
from doc_blocks import Block, DocError, Note, blocks, line_matches, output_mismatch

DOC = """# Title

<!-- test: skip: needs a GPU -->
```bash
jfhub build recipes/llava.json
```

Text.

<!-- test: run: .venv/bin/jfhub build recipes/demo.json -->
```bash
python3 -m venv .venv && .venv/bin/jfhub build recipes/demo.json
```

```python
print(1)
```

```
1
```

```text
out/
  data/
```

```
not an output: it follows a block that is not code
```
"""


def test_blocks_carry_their_annotation_and_output():
    found = blocks(DOC)
    assert [(b.lang, b.line) for b in found] == [("bash", 4), ("bash", 11), ("python", 15), ("text", 23), ("", 28)]
    skip, quick, code, text, untagged = found
    assert skip.note == Note("skip", "needs a GPU") and skip.runs is None
    assert quick.runs == ".venv/bin/jfhub build recipes/demo.json"
    assert code.runs == "print(1)\n" and code.output == "1\n"
    assert not text.is_code and not untagged.is_code and untagged.output is None
    assert skip.is_code and skip.label == "line 4: jfhub build recipes/llava.json"


@pytest.mark.parametrize("doc, message", [
    ("```bash\nls\n", "line 1: code block is never closed"),
    ("<!-- test: skipped because -->\n```bash\nls\n```\n", "line 1: a test annotation reads"),
    ("<!-- test: run: -->\n```bash\nls\n```\n", "line 1: a test annotation reads"),
    ("<!-- test: skip: why -->\n```\nls\n```\n", "line 2: a test annotation on a block that is not code"),
])
def test_malformed_documents_are_refused_with_the_line(doc, message):
    with pytest.raises(DocError, match=message):
        blocks(doc)


def test_longer_fences_hold_shorter_ones():
    doc = "````markdown\n```python\nx\n```\n````\n\n```python\ny = 2\n```\n"
    assert [(b.lang, b.text) for b in blocks(doc)] == [("markdown", "```python\nx\n```\n"), ("python", "y = 2\n")]
    assert blocks(doc)[1] == Block(7, "python", "y = 2\n")


def _fmt(x: float, decimals: int) -> str:
    return f"{x:.{decimals}f}"


@pytest.mark.parametrize("seed", range(20))
def test_numbers_match_within_two_units_of_their_last_place(seed):
    rng = random.Random(seed)
    decimals = rng.randint(1, 6)
    unit = 10.0 ** -decimals
    x = rng.uniform(-100, 100)
    shown = _fmt(x, decimals)
    close = _fmt(float(shown) + rng.choice([-1, 1]) * unit * rng.uniform(0, 1.9), decimals)
    far = _fmt(float(shown) + rng.choice([-1, 1]) * unit * rng.uniform(3.1, 50), decimals)
    line = f"metric {shown}  rest"
    assert line_matches(line, f"metric   {close} rest")
    assert not line_matches(line, f"metric {far} rest")
    n = rng.randint(0, 10 ** 6)
    assert line_matches(f"{n} pairs", f"{n} pairs") and not line_matches(f"{n} pairs", f"{n + 1} pairs")
    assert not line_matches(f"{n} pairs", f"{n}.0 pairs")


@pytest.mark.parametrize("expected, actual, ok", [
    ("trained @ <commit> in <seconds>s: loss 0.6931", "trained @ 4f3a9c1e in 2.07s: loss 0.6931", True),
    ("trained @ <commit> in <seconds>s: loss 0.6931", "trained @ 4f3a9c1e in 2.07s: loss 0.6934", False),
    ("delta +0.0274", "delta -0.0274", False),
    ("tag v0.1.0", "tag v0.2.0", False),  # a version is text, not a number with a tolerance
    ("step 12/12", "step 12/13", False),
    ("a b", "a  b", True),
    ("[x] (y)", "[x] (y)", True),
])
def test_lines(expected, actual, ok):
    assert line_matches(expected, actual) is ok


def test_ellipsis_lines_stand_for_any_number_of_lines():
    expected = "step 1/3 loss 0.69\n...\nstep 3/3 loss 0.46\ndone\n"
    assert output_mismatch(expected, "step 1/3 loss 0.69\nstep 3/3 loss 0.46\ndone\n") is None
    assert output_mismatch(expected, "step 1/3 loss 0.69\nx\ny\nstep 3/3 loss 0.46\ndone\n") is None
    assert output_mismatch(expected, "step 1/3 loss 0.69\nstep 3/3 loss 0.40\ndone\n") == \
        "expected 'step 3/3 loss 0.46', got 'step 3/3 loss 0.40'"
    assert output_mismatch(expected, "step 1/3 loss 0.69\nstep 3/3 loss 0.46\ndone\nmore\n") == "extra output: 'more'"
    assert output_mismatch("table\n...\n", "table\nrow 1\nrow 2\n") is None
    assert output_mismatch("a\nb\n", "a\n") == "expected 'b', got '<end of output>'"
    assert output_mismatch("b\n", "a\nb\n") == "unexpected output before 'b': 'a'"
    assert output_mismatch("...\nb\n", "a\nb\n") is None
