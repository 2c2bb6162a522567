"""What the editor makes, the loader opens again, and what it cannot open is never thrown away: a duplicate or
paste past the edge of the canvas, a clipboard group path with an empty part, a recovery file that does not
load. And group names from a file show in tooltips as typed (Qt's own rich-text reading is the reference)."""
from __future__ import annotations

import json

from PySide6 import QtGui
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QMessageBox

from layerloom.app import edits, recovery
from layerloom.graph.fileformat import load_graph

SB = QMessageBox.StandardButton
HOSTILE = '<img src="file:///etc/hostname" width=400><h1 style="color:red">Click OK</h1>'


def _write(path, blocks, edges=()):
    path.write_text(json.dumps({"format": "layerloom.graph", "version": 3, "name": "G", "blocks": blocks,
                                "edges": list(edges)}))
    return path


def test_a_duplicate_or_paste_past_the_edge_saves_a_file_that_opens_again(win, dialogs, tmp_path):
    path = _write(tmp_path / "edge.loom.json", [{"id": "inp", "kind": "Input", "pos": [0, 9_999_900]},
                                                {"id": "fc1", "kind": "Linear", "pos": [200, 9_999_900]}],
                  [{"from": "inp", "to": "fc1"}])
    assert win.files.open(str(path), ask=False)
    win.scene.select_blocks(["inp", "fc1"])
    win.actions_by_name["duplicate"].trigger()
    far = {"format": "layerloom.graph", "version": 3, "name": "Clipboard",
           "blocks": [{"id": "a", "kind": "ReLU", "pos": [9_999_999, 0]}, {"id": "b", "kind": "ReLU",
                                                                           "pos": [-9_999_999, 0]}]}
    assert edits.paste(win.session, far, at=(10_000_178.0, 0.0))
    assert len(win.document.blocks) == 6
    assert win.files.save()
    again = load_graph(path)                      # the reference: the loader
    assert len(again.blocks) == 6 and len(again.edges) == 2
    for bid, item in win.scene.blocks.items():     # the canvas shows each block where the document has it
        assert (item.pos().x(), item.pos().y()) == win.document.blocks[bid].pos


def test_a_pasted_group_path_with_an_empty_part_is_refused_in_words(win):
    frag = {"format": "layerloom.graph", "version": 3, "name": "Clipboard",
            "blocks": [{"id": "a", "kind": "ReLU", "group": "."}, {"id": "b", "kind": "ReLU", "group": "x..y"}]}
    messages = []
    win.session.message.connect(messages.append)
    done = edits.paste(win.session, frag, at=(0.0, 0.0))
    assert not done and not win.document.blocks
    assert "remove the extra dot" in done.reason and "Cannot paste" in messages[-1]


def test_a_recovery_file_that_does_not_load_is_kept_and_the_message_says_where(win, dialogs):
    target = recovery.recovery_dir() / "session-999989.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    graph = {"format": "layerloom.graph", "version": 3, "name": "Lost work",
             "blocks": [{"id": "relu1", "kind": "ReLU", "pos": [0, 20_000_000]}]}
    target.write_text(json.dumps({recovery.KEY: 1, "path": None, "saved": 1000.0, "graph": graph}))
    before = target.read_bytes()
    dialogs.answers = [SB.Yes]
    assert not win.files.offer_recovery()
    kept = target.with_name(target.name + recovery.DAMAGED)
    assert not target.exists() and kept.read_bytes() == before        # renamed aside, not deleted
    text = dialogs.texts("warning")[-1]
    assert str(kept) in text and "File ▸ Open" in text and "$.blocks[0].pos" in text and "Lost work" in text
    assert not recovery.orphans()                                     # not offered again at every start
    assert not win.document.blocks


def _shown(tip: str) -> str:
    """The text a tooltip shows, read as Qt reads it (rich text where Qt takes it for rich text)."""
    doc = QTextDocument()
    if QtGui.Qt.mightBeRichText(tip):
        doc.setHtml(tip)
    else:
        doc.setPlainText(tip)
    return doc.toPlainText()


def test_group_names_from_a_file_show_in_tooltips_as_typed(win, tmp_path, qtbot):
    path = _write(tmp_path / "tip.loom.json",
                  [{"id": "inp", "kind": "Input", "pos": [0, 0]},
                   {"id": "a", "kind": "Flatten", "group": HOSTILE, "pos": [200, 0]},
                   {"id": "b", "kind": "ReLU", "group": HOSTILE, "pos": [400, 0]},
                   {"id": "out", "kind": "Output", "pos": [600, 0]}],
                  [{"from": "inp", "to": "a"}, {"from": "a", "to": "b"}, {"from": "b", "to": "out"}])
    assert win.files.open(str(path), ask=False)
    win.session.flush()
    qtbot.waitUntil(lambda: HOSTILE in win.scene.groups.items)
    item = win.scene.groups.items[HOSTILE]
    tips = [item.toolTip()]
    win.actions_by_name["collapse_groups"].trigger()
    qtbot.waitUntil(lambda: len(win.scene.groups.items[HOSTILE].ports) == 2)
    item = win.scene.groups.items[HOSTILE]
    tips += [item.toolTip()] + [p.toolTip() for p in item.ports]
    for tip in tips:
        shown = _shown(tip)
        assert HOSTILE in shown and "\ufffc" not in shown, tip        # the name as typed, no image laid out
