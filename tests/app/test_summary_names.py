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
