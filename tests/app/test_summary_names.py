"""The Summary cuts a long block id to its column's width: hovering it shows the whole id."""
from PySide6.QtCore import Qt

from layerloom.app import edits
from layerloom.presets import preset_path

LONG = "the_first_convolution_of_the_network_with_a_rather_long_name"


def test_a_long_block_id_is_whole_in_its_tooltip(win, qtbot):
    win.files.open_preset(preset_path("lenet5"))
    assert edits.rename(win.session, "conv1", LONG)
    win.session.flush()
    panel = win.summary
    qtbot.waitUntil(lambda: panel.row_of(LONG) >= 0, timeout=10_000)
    row = panel.row_of(LONG)
    name, shape = panel.model.index(row, 0), panel.model.index(row, 2)
    assert panel.table.fontMetrics().horizontalAdvance(LONG) > panel.table.columnWidth(0)    # cut short on screen
    assert panel.model.data(name, Qt.ItemDataRole.ToolTipRole) == LONG
    assert panel.model.data(shape, Qt.ItemDataRole.ToolTipRole) == "6×28×28"


def test_output_shapes_keep_their_room_in_a_narrow_summary(win, qtbot):
    """With a side panel open on a 1280-pixel screen, the Summary's Output shape column (the one that
    stretches) was squeezed to "utput shap" and "1×28×…" while Kind kept 170 pixels for "ReLU"."""
    win.files.open_preset(preset_path("alexnet"))
    win.session.flush()
    panel = win.summary
    qtbot.waitUntil(lambda: panel.row_of("fc1") >= 0, timeout=10_000)
    table, metrics = panel.table, panel.table.fontMetrics()
    shapes = [panel.model.data(panel.model.index(r, 2)) for r in range(panel.model.rowCount())]
    widest = max(metrics.horizontalAdvance(t) for t in shapes + ["Output shape"])
    panel.resize(660, 240)                        # the Summary under a canvas beside a side panel
    qtbot.waitUntil(lambda: table.viewport().width() < 660)
    assert table.columnWidth(2) >= widest
    assert table.columnWidth(1) < 170 and table.columnWidth(0) <= 140
    panel.resize(1100, 240)                       # room again: the usual widths
    qtbot.waitUntil(lambda: table.columnWidth(1) == 170)
    assert table.columnWidth(0) == 140 and table.columnWidth(3) == 110
    table.horizontalHeader().resizeSection(1, 230)      # a column sized by hand stays as the person left it
    panel.resize(660, 240)
    qtbot.waitUntil(lambda: table.viewport().width() < 660)
    assert table.columnWidth(1) == 230
