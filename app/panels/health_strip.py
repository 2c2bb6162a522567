"""The training-health strip beside the live curves: one compact chip per indicator of
runtime/health_indicators.py (gradient, dead units, update ratio, NaN/Inf), green, amber or red.

Hovering a chip explains the indicator in plain words and says what the latest sample shows;
clicking an amber or red one selects the block it is about (`block_clicked`). The numbers come from
the run's `health` events; this widget only shows them.
"""
from __future__ import annotations

import html

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import QGridLayout, QLabel, QSizePolicy, QWidget

from layerloom.runtime.health_indicators import EXPLAIN, KEYS

from .. import plot_style as ps
from .. import theme

WAITING = "waiting for the first sample"
# Each chip's widest usual value (runtime/health_indicators.py): the row decision allows for it before any
# sample has come, so a run's first sample does not add a row. A run that breaks may still add one then:
# "not finite" for the gradient, or the name of the block that broke.
WIDEST = {"gradient": "1.2e+02", "dead": "100 %", "update": "0.0012", "nonfinite": "none"}
LEVEL_WORDS = {"ok": "healthy", "warn": "worth watching", "bad": "a problem"}


def level_colour(level: str | None):
    t = theme.current()
    return {"ok": ps.colors().ok, "warn": t.warning, "bad": t.error}.get(level, t.text_muted)


class _Chip(QLabel):
    clicked = Signal(str)

    def __init__(self, key: str, parent=None):
        super().__init__(parent)
        self.key = key
        self.indicator: dict | None = None
        self.setObjectName(f"health-{key}")
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)

    @property
    def block(self) -> str | None:
        i = self.indicator
        return i.get("block") if i and i.get("level") in ("warn", "bad") else None

    def show_indicator(self, indicator: dict | None, step: int | None) -> None:
        self.indicator = indicator
        title, explain = EXPLAIN[self.key]
        level = indicator.get("level") if indicator else None
        value = indicator.get("value", "–") if indicator else "–"
        c = ps.colors()
        dot = level_colour(level).name()
        self.setText(f"<span style='color:{dot}; font-size:13px'>●</span>&nbsp;"
                     f"<span style='color:{c.muted.name()}'>{html.escape(title)}</span>&nbsp;"
                     f"<b style='color:{c.text.name()}'>{html.escape(str(value))}</b>")
        tip = [f"<b>{html.escape(title)}</b>: {html.escape(explain)}"]
        if indicator is None:
            tip.append("<i>No sample yet: training health is sampled every 50 steps (a new run's first step "
                       "included).</i>")
        else:
            now = f"At step {step}: " if step is not None else ""
            tip.append(f"<span style='color:{dot}'>{now}{LEVEL_WORDS.get(level, '')}"
                       f"{': ' + html.escape(indicator['note']) if indicator.get('note') else ''}.</span>")
            if self.block:
                tip.append(f"<i>Click to select {html.escape(self.block)} on the canvas.</i>")
        self.setToolTip("<br>".join(tip))
        self.setCursor(Qt.CursorShape.PointingHandCursor if self.block else Qt.CursorShape.ArrowCursor)

    def mouseReleaseEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.block:
            self.clicked.emit(self.block)
        super().mouseReleaseEvent(event)


class HealthStrip(QWidget):
    block_clicked = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.indicators: list[dict] | None = None
        self.step: int | None = None
        # One row when the panel is wide enough, two rows of two indicators when it is not (the Curves
        # panel can be narrow at 1280 px during a run); the strip never holds the panel wider.
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(8, 2, 8, 2)
        self.grid.setHorizontalSpacing(14)
        self.grid.setVerticalSpacing(0)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.title = QLabel("Health")
        self.title.setToolTip("Training health, sampled from the run every 50 steps (a new run's first step "
                              "included): "
                              "hover over an indicator for what it means, click a red or amber one to select "
                              "its block.")
        self.chips = {k: _Chip(k, self) for k in KEYS}
        for chip in self.chips.values():
            chip.clicked.connect(self.block_clicked)
        self.when = QLabel("")
        self.when.setObjectName("health-step")
        self.two_rows: bool | None = None
        self._arrange(False)
        self.restyle()

    def _one_row_width(self, widest: bool = True) -> int:
        """What one row needs: with the longest texts its labels usually show (`widest`: samples coming and
        going do not change the decision), or with the texts shown now."""
        m = self.grid.contentsMargins()
        texts = (WAITING, self._when_text(two_rows=False)) if widest else (self._when_text(two_rows=False),)
        width = max(self.when.fontMetrics().horizontalAdvance(t) for t in texts)
        bold = QFont(self.font())
        bold.setBold(True)
        values = QFontMetrics(bold)
        for key, chip in self.chips.items():
            shown = str(chip.indicator.get("value", "–")) if chip.indicator else "–"
            width += chip.sizeHint().width()
            if widest:
                width += max(0, values.horizontalAdvance(WIDEST.get(key, shown)) - values.horizontalAdvance(shown))
        return (self.title.sizeHint().width() + width + self.grid.horizontalSpacing() * (1 + len(self.chips))
                + m.left() + m.right())

    def _arrange(self, two_rows: bool) -> None:
        if two_rows == self.two_rows:
            return
        self.two_rows = two_rows
        for w in (self.title, *self.chips.values(), self.when):
            self.grid.removeWidget(w)
        for c in range(self.grid.columnCount()):
            self.grid.setColumnStretch(c, 0)
        chips = list(self.chips.values())
        self.grid.addWidget(self.title, 0, 0)
        if two_rows:
            for i, chip in enumerate(chips):
                self.grid.addWidget(chip, i // 2, 1 + i % 2)
            self.grid.addWidget(self.when, 1, 0)
            self.grid.setColumnStretch(3, 1)
        else:
            for i, chip in enumerate(chips):
                self.grid.addWidget(chip, 0, 1 + i)
            self.grid.addWidget(self.when, 0, 1 + len(chips))
            self.grid.setColumnStretch(2 + len(chips), 1)
        self.when.setText(self._when_text())
        self.updateGeometry()

    def _when_text(self, two_rows: bool | None = None) -> str:
        """When the sample shown was taken; short in two rows, where it sits in the title's column."""
        two_rows = self.two_rows if two_rows is None else two_rows
        if self.step is None:
            return "no sample yet" if two_rows else WAITING
        return f"step {self.step:,}" if two_rows else f"at step {self.step:,}"

    def resizeEvent(self, event) -> None:
        self._arrange(event.size().width() < self._one_row_width())
        super().resizeEvent(event)

    def restyle(self) -> None:
        muted = ps.colors().muted.name()
        self.title.setStyleSheet(f"color: {muted}; font-weight: bold;")
        self.when.setStyleSheet(f"color: {muted};")
        self._show()

    def changeEvent(self, event) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self.restyle()
        super().changeEvent(event)

    def clear(self) -> None:
        self.set_indicators(None)

    def set_indicators(self, indicators: list[dict] | None, step: int | None = None) -> None:
        """The latest sample's indicators (None: no sample yet)."""
        self.indicators, self.step = indicators, step
        self._show()

    def _show(self) -> None:
        by_key = {i["key"]: i for i in self.indicators or ()}
        for key, chip in self.chips.items():
            chip.show_indicator(by_key.get(key), self.step)
        self.when.setText(self._when_text())
        # A width decides by the longest usual texts (resizeEvent); new values only ever add a row, and only
        # when they do not fit: otherwise a run's first sample, or its "waiting for the first sample", would
        # add or take away a row, and the curves under the strip would be laid out and redrawn at every run's
        # start.
        if not self.two_rows and 0 < self.width() < self._one_row_width(widest=False) and self.isVisible():
            self._arrange(True)

    def level(self, key: str) -> str | None:
        i = self.chips[key].indicator
        return i.get("level") if i else None
