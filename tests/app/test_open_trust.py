"""Opening a graph whose Opaque blocks run a Python file that was never allowed asks first: Cancel opens
nothing and runs nothing; "Run its code" runs it and remembers that it may (a later open asks no more)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from layerloom.app import files
from layerloom.graph import analyze, trust
from layerloom.graph.opaque import code_to_allow

from .helpers import opaque_graph

SB = QMessageBox.StandardButton
MODEL = '''
from pathlib import Path

from torch import nn

Path(__file__).with_suffix(".ran").write_text("ran")     # what running this file leaves behind


class Twice(nn.Module):
    def forward(self, x):
        return 2 * x
'''


@pytest.fixture(autouse=True)
def own_record(tmp_path, monkeypatch):
    """Each test starts with no code allowed: a record of its own."""
    monkeypatch.setenv("LAYERLOOM_TRUST_RECORD", str(tmp_path / "trusted-code.json"))


def _graph(tmp_path) -> tuple[Path, Path]:
    return opaque_graph(tmp_path, MODEL)


def test_cancel_opens_nothing_and_runs_nothing(win, tmp_path, monkeypatch, qtbot):
    model, graph = _graph(tmp_path)
    asked = []
    monkeypatch.setattr(files, "run_modal", lambda box: asked.append(box) or SB.Cancel)
    before = win.document
    assert not win.files.open(str(graph))
    assert len(asked) == 1
    box = asked[0]
    assert str(model.resolve()) in box.text() and "runs that code" in box.text()
    assert box.defaultButton() is box.button(SB.Cancel) and box.button(SB.Ok).text() == "Run its code"
    assert win.document is before
    qtbot.wait(200)
    assert not model.with_suffix(".ran").exists()
    assert not trust.record_path().exists()


def test_run_its_code_opens_it_and_is_remembered(win, tmp_path, monkeypatch, qtbot):
    model, graph = _graph(tmp_path)
    asked = []
    monkeypatch.setattr(files, "run_modal", lambda box: asked.append(box) or SB.Ok)
    assert win.files.open(str(graph))
    assert len(asked) == 1 and set(win.document.blocks) == {"input", "twice", "output"}
    assert trust.recorded_hash(str(model.resolve())) == trust.sha256(model.read_bytes())
    result = analyze(win.document)
    assert result.ok and result.blocks["twice"].output_shape == (3,)
    assert model.with_suffix(".ran").exists()
    assert code_to_allow(win.document) == []
    assert win.files.open(str(graph), ask=False) and len(asked) == 1       # asked once for this content


def test_the_question_drawn(win, tmp_path):
    """The question as the person sees it (saved for a look: LAYERLOOM_SHOT_DIR)."""
    model, graph = _graph(tmp_path)
    from layerloom.graph.fileformat import load_graph
    box = files.code_question(win, graph.name, code_to_allow(load_graph(graph)))
    box.show()
    image = box.grab()
    assert image.width() > 200 and image.height() > 100
    if os.environ.get("LAYERLOOM_SHOT_DIR"):
        image.save(str(Path(os.environ["LAYERLOOM_SHOT_DIR"]) / "trust_question.png"))
    box.close()
