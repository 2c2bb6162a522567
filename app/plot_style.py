"""How the training views look: pyqtgraph plots in the editor's colours, light or dark.

Every plot asks `colors()` when it styles itself and restyles on a palette change, so switching
View ▸ Theme repaints the curves too. Colour maps are 256-entry lookup tables; entry 0 is kept for
the background of mosaics (the gaps between channel images), so maps use entries 1..255.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics
from PySide6.QtWidgets import QApplication, QGraphicsItem

from . import theme

pg.setConfigOptions(antialias=True, useNumba=False)

# Series colours, readable on both backgrounds.
LOSS = "#3b82f6"
VAL_LOSS = "#f97316"
ACCURACY = "#22c55e"
LR = "#a855f7"
RUN_COLORS = ("#3b82f6", "#f97316", "#22c55e", "#ef4444", "#a855f7", "#14b8a6", "#eab308", "#ec4899")


@dataclass(frozen=True)
class PlotColors:
    background: QColor
    panel: QColor
    text: QColor
    muted: QColor
    grid: QColor
    error: QColor
    ok: QColor
    dark: bool


def colors() -> PlotColors:
    t = theme.current()
    pal = QApplication.palette()
    return PlotColors(background=pal.base().color(), panel=pal.window().color(), text=t.text, muted=t.text_muted,
                      grid=QColor(t.text_muted.red(), t.text_muted.green(), t.text_muted.blue(), 60),
                      error=t.error, ok=QColor("#16a34a") if not t.dark else QColor("#4ade80"), dark=t.dark)


def small_font(delta: int = -1) -> QFont:
    f = QFont(QApplication.font())
    if f.pointSizeF() > 0:
        f.setPointSizeF(max(7.0, f.pointSizeF() + delta))
    return f


class MenuOnDemand(pg.ViewBox):
    """A ViewBox whose context menu (View All, the axes' ranges, mouse mode, Export…) is made at its first
    right click instead of with the plot. pyqtgraph makes a ViewBox's menu, with its two axis panels of
    some thirty hidden widgets, when it makes the ViewBox; a window has a dozen plots whose menus are
    rarely opened, and making them took a good part of building the window.

    Pass one as `viewBox=` to a PlotWidget, PlotItem or `addPlot`. Disabling the menu
    (`setMenuEnabled(False)`) works as for any ViewBox."""

    def __init__(self, *args, **kwargs):
        kwargs["enableMenu"] = False
        super().__init__(*args, **kwargs)
        self.state["enableMenu"] = True       # enabled; made by getMenu when first asked for

    def _applyMenuEnabled(self) -> None:
        if not self.menuEnabled() and self.menu is not None:
            self.menu.setParent(None)
            self.menu = None

    def getMenu(self, ev):
        if self.menu is None and self.menuEnabled():
            from pyqtgraph.graphicsItems.ViewBox.ViewBoxMenu import ViewBoxMenu
            self.menu = ViewBoxMenu(self)
            self.updateViewLists()
        return self.menu

    def getContextMenus(self, event):
        menu = self.getMenu(event) if self.menuEnabled() else None
        return menu.actions() if menu is not None else []


def style_plot(plot: pg.PlotItem, left: str = "", bottom: str = "", title: str = "") -> None:
    """Axes, labels and title in the theme's colours; a light grid."""
    c = colors()
    font = small_font(-1)
    for name in ("left", "bottom", "right", "top"):
        axis = plot.getAxis(name)
        # Axes replay their tick labels' text on every paint (about 2 ms each); cached as a pixmap they
        # are redrawn only when their ticks change, not each time a curve beside them does.
        axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        axis.setPen(pg.mkPen(c.grid))
        axis.setTextPen(pg.mkPen(c.muted))
        axis.setTickFont(font)
    plot.getAxis("left").setWidth(44)
    if left:
        plot.setLabel("left", left, color=c.muted.name(), **{"font-size": f"{font.pointSizeF():.0f}pt"})
    if bottom:
        plot.setLabel("bottom", bottom, color=c.muted.name(), **{"font-size": f"{font.pointSizeF():.0f}pt"})
    if title:
        plot.setTitle(title, color=c.text.name(), size=f"{small_font(0).pointSizeF():.0f}pt")
    plot.showGrid(x=True, y=True, alpha=0.12 if not c.dark else 0.18)
    plot.getViewBox().setBackgroundColor(None)


class NarrowTitles:
    """For a panel of plots side by side (mixed into its QWidget before QWidget): below `narrow_px` its
    `restyle()` gives the plots shorter titles. A pyqtgraph plot is never narrower than its title, so
    full titles side by side in a narrow dock would push the right-hand plot out of sight instead of
    letting it shrink. `restyle()` asks `narrow()`; crossing the width restyles, then fits each plot
    layout to its view again (a layout keeps the width it was clamped to while its titles were long)."""

    narrow_px = 560
    _narrow = False

    def narrow(self) -> bool:
        self._narrow = self.width() < self.narrow_px
        return self._narrow

    def resizeEvent(self, event) -> None:
        if (self.width() < self.narrow_px) != self._narrow:
            self.restyle()
            for view in self.findChildren(pg.GraphicsView):
                top = view.centralWidget
                if top is None or top.layout is None:
                    continue
                # A plot hears of its title's new width one posted event later; told now, the layout
                # is fitted to the view with the new minimums at once.
                for i in range(top.layout.count()):
                    top.layout.itemAt(i).updateGeometry()
                top.setGeometry(view.range)
        super().resizeEvent(event)


def style_widget(widget: pg.GraphicsView) -> None:
    widget.setBackground(colors().background)


def pen(color: str, width: float = 1.5, alpha: int = 255) -> "pg.QtGui.QPen":
    q = QColor(color)
    q.setAlpha(alpha)
    p = pg.mkPen(q, width=width)
    p.setCosmetic(True)
    return p


def brush(color: str, alpha: int = 255):
    q = QColor(color)
    q.setAlpha(alpha)
    return pg.mkBrush(q)


def nice_ceiling(value: float) -> float:
    """The next "round" number at or above value: 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 times a power of ten."""
    if value <= 0 or not np.isfinite(value):
        return 1.0
    exp = 10 ** np.floor(np.log10(value))
    for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if m * exp >= value * (1 - 1e-9):
            return float(f"{m * exp:.12g}")
    return float(f"{10 * exp:.12g}")


class StickyRange:
    """A y range that only changes when the data leaves it (or shrinks to a small part of it), so the
    axis keeps its ticks (and its cached picture) for most redraws of a growing curve."""

    def __init__(self, floor_zero: bool = True, shrink: float = 0.35):
        self.floor_zero = floor_zero
        self.shrink = shrink
        self.range: tuple[float, float] | None = None

    def reset(self) -> None:
        self.range = None

    def update(self, lo: float, hi: float) -> tuple[float, float] | None:
        """The new range when it must change, else None."""
        if not (np.isfinite(lo) and np.isfinite(hi)):
            return None
        if self.floor_zero:
            lo = min(0.0, lo)
        cur = self.range
        if cur is not None and cur[0] <= lo and hi <= cur[1] and (hi - lo) >= self.shrink * (cur[1] - cur[0]):
            return None
        top = nice_ceiling(hi * 1.08) if hi > 0 else (hi + 1.0)
        bottom = lo if not self.floor_zero or lo < 0 else 0.0
        if bottom < 0:
            bottom = -nice_ceiling(-bottom)
        if not self.floor_zero:
            span = max(hi - lo, abs(hi) * 1e-3, 1e-12)
            bottom, top = lo - 0.08 * span, hi + 0.08 * span
        self.range = (bottom, top)
        return self.range


class LabelsItem(pg.GraphicsObject):
    """Short texts at points in data coordinates, drawn at a fixed pixel size in one paint call: a
    hundred TextItems cost tens of milliseconds to lay out and paint, this about one, and unlike axis
    tick labels, changing them does not make an axis regenerate. Each label is
    (x, y, text, colour) and is centred on its point, or starts at it with align="left". With `fit`
    (a width in data units, such as one cell of a matrix) the labels are left out while the widest of
    them is wider than that on screen: a narrow plot shows its colours rather than texts overlapping."""

    def __init__(self, align: str = "center", delta: int = -2, bold: bool = False, fit: float | None = None):
        super().__init__()
        self.labels: list = []
        self.align = align
        self.font = small_font(delta)
        self.font.setBold(bold)
        self.fit = fit
        self._widest = 0
        self._bounds = QRectF()

    def set_labels(self, labels, bounds: QRectF) -> None:
        self.prepareGeometryChange()
        self.labels = list(labels)
        fm = QFontMetrics(self.font)
        self._widest = max((fm.horizontalAdvance(text) for _, _, text, _ in self.labels), default=0)
        self._bounds = QRectF(bounds)
        self.update()

    def fits(self, transform) -> bool:
        """Whether the labels fit in `fit` data units at this device transform."""
        if self.fit is None:
            return True
        room = abs(transform.map(QPointF(self.fit, 0)).x() - transform.map(QPointF(0, 0)).x())
        return self._widest + 2 <= room

    def boundingRect(self) -> QRectF:
        return self._bounds

    def paint(self, p, *args) -> None:
        tr = p.transform()
        if not self.labels or not self.fits(tr):
            return
        p.save()
        p.resetTransform()
        p.setFont(self.font)
        fm = QFontMetrics(self.font)
        h = fm.height()
        for x, y, text, colour in self.labels:
            c = tr.map(QPointF(x, y))
            w = fm.horizontalAdvance(text) + 4
            left = c.x() - w / 2 if self.align == "center" else c.x()
            p.setPen(colour)
            p.drawText(QRectF(left, c.y() - h / 2, w, h), Qt.AlignmentFlag.AlignCenter, text)
        p.restore()


_LUTS: dict[tuple[str, bool], np.ndarray] = {}


# Sequential blues for counts (light: white to deep blue; dark: the panel's near-black to light blue).
BLUES_LIGHT = [(247, 251, 255), (198, 219, 239), (107, 174, 214), (33, 113, 181), (8, 48, 107)]
BLUES_DARK = [(29, 32, 36), (24, 56, 96), (33, 102, 172), (67, 147, 195), (198, 219, 239)]


def _colormap(name: str) -> pg.ColorMap:
    if name in ("blues-light", "blues-dark"):
        stops = BLUES_LIGHT if name == "blues-light" else BLUES_DARK
        return pg.ColorMap(np.linspace(0, 1, len(stops)), [pg.mkColor(c) for c in stops])
    return pg.colormap.get(name)


def lut(name: str = "viridis", with_background: bool = True) -> np.ndarray:
    """A [256, 4] uint8 lookup table of a colour map; entry 0 is the panel background when asked."""
    key = (name, with_background)
    cached = _LUTS.get(key)
    if cached is None:
        cached = _colormap(name).getLookupTable(0.0, 1.0, 256, alpha=True).astype(np.uint8)
        _LUTS[key] = cached
    table = cached.copy()
    if with_background:
        bg = colors().background
        table[0] = (bg.red(), bg.green(), bg.blue(), 255)
    return table
