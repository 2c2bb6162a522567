"""MACs and FLOPs are labelled, with a tooltip that says which is which, wherever costs appear."""
from __future__ import annotations

from PySide6.QtCore import Qt

from layerloom.graph.fileformat import load_graph
from layerloom.graph.summary import COST_TOOLTIP
from layerloom.presets import preset_path

from .test_inspector import click_block, open_lenet


def test_inspector_summary_status_and_canvas_label_both_costs(win):
    open_lenet(win)
    click_block(win, "fc1")
    facts = win.inspector.facts
    assert facts["MACs"].text() == "48.00K  (48,000)" and facts["FLOPs"].text() == "96.00K  (96,000)"
    assert facts["MACs"].toolTip() == COST_TOOLTIP
    model = win.summary.model
    columns = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]
    assert columns[-2:] == ["MACs", "FLOPs"]
    assert model.headerData(4, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole) == COST_TOOLTIP
    row = win.summary.row_of("fc1")
    assert [model.data(model.index(row, c)) for c in (4, 5)] == ["48.00K", "96.00K"]
    assert "416.52K</b> MACs · <b>833.04K</b> FLOPs per sample" in win.summary.totals.text()
    status = win._status.text()
    assert "416.52K MACs · 833.04K FLOPs" in status and win._status.toolTip().endswith(COST_TOOLTIP)
    tip = win.scene.look_for("fc1").tooltip
    assert "48,120 params · 48.00K MACs · 96.00K FLOPs" in tip and "FLOPs = 2 × MACs" in tip


def test_totals_of_a_broken_graph_say_they_are_partial(win):
    doc = load_graph(preset_path("lenet5"))
    doc.set_param("input", "shape", [1, 6, 6])      # conv2 cannot run; the blocks after it are not computed
    win.session.set_document(doc)
    win.session.flush()
    assert "(partial: 10 blocks not computed)" in win.summary.totals.text()
    assert "(partial: 10 blocks not computed)" in win._status.text()
