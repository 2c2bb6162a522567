"""A diagnostic is one printable line wherever its words come from: text from the file (an Opaque block's
target) or from torch (an exception, a warning) reaches `layerloom check`, the summary table and the
problems panel escaped, never as terminal escapes or extra lines, and it is still there to read."""
import warnings

import torch

from layerloom.graph import analyze
from layerloom.graph.analysis import CACHE
from layerloom.graph.quoting import shown
from layerloom.graph.summary import summary_table

from .helpers import chain

HOSTILE = "evil\n\x1b[2J\x1b[31mPWNED\r\u202eoops"


def _printable(text):
    return all(ch.isprintable() for ch in text)


def test_an_opaque_target_from_the_file_is_shown_escaped_on_one_line():
    doc = chain(("Opaque", {"target": f"{HOSTILE}:Net"}), shape=[4])
    result = analyze(doc)
    (err,) = result.errors
    assert _printable(err.text), repr(err.text)
    assert shown(HOSTILE, 200) in err.text                  # the words are still there, escaped
    table = summary_table(doc, result)
    assert "\x1b" not in table and "\r" not in table and "\u202e" not in table
    assert all(line and _printable(line) for line in table.splitlines())


def test_torch_words_with_several_lines_become_one(monkeypatch):
    # A torch warning of two lines: the note is one line that keeps both.
    def noisy(self, x):
        warnings.warn("first line\nsecond \x1b[31mline")
        return x
    monkeypatch.setattr(torch.nn.Tanh, "forward", noisy)
    CACHE.clear()
    try:
        result = analyze(chain(("Tanh", {}), shape=[3]))
    finally:
        CACHE.clear()
    notes = [d for d in result.diagnostics if d.code == "torch_warning"]
    assert notes and all(_printable(d.text) for d in notes)
    assert any("first line\\nsecond \\x1b[31mline" in d.text for d in notes), [d.text for d in notes]


def test_a_parameter_value_from_the_file_is_shown_escaped():
    doc = chain(("Conv1d", {"padding_mode": HOSTILE}), shape=[2, 8])
    (err,) = analyze(doc).errors
    assert err.code == "bad_param" and _printable(err.text), repr(err.text)
    assert "PWNED" in err.text
