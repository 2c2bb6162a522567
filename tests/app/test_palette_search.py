"""A palette search that finds no block says so and what to try, instead of leaving an empty list."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from layerloom.app.panels.palette import Palette


def test_a_search_with_no_match_says_what_to_try_and_goes_when_cleared(qtbot):
    palette = Palette()
    qtbot.addWidget(palette)
    palette.show()
    QTest.keyClicks(palette.search, "dense")
    assert palette.visible_kinds() == []
    assert palette.no_match.isVisible()
    assert "No block matches “dense”" in palette.no_match.text() and "torch.nn" in palette.no_match.text()
    added = []
    palette.add_requested.connect(added.append)
    QTest.keyClick(palette.search, Qt.Key.Key_Return)
    assert added == []
    palette.search.clear()
    assert not palette.no_match.isVisible() and "Linear" in palette.visible_kinds()
    QTest.keyClicks(palette.search, "linear")
    assert not palette.no_match.isVisible() and "Linear" in palette.visible_kinds()
