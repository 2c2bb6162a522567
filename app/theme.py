"""Colours and fonts of the editor, for a light or a dark palette.

The system palette decides (dark when the window colour is dark); View ▸ Theme can force light or
dark. Every painter in the canvas asks `current()` for its colours, so a theme switch is a repaint.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from . import wheel_guard

# One hue per palette category: easy to tell apart in both themes.
CATEGORY_COLORS = {
    "Input/Output": "#7c8796",
    "Convolution": "#3b82f6",
    "Pooling": "#06b6d4",
    "Linear": "#8b5cf6",
    "Recurrent": "#ec4899",
    "Embedding": "#f97316",
    "Activation": "#22c55e",
    "Normalization": "#eab308",
    "Merge": "#ef4444",
    "Shape": "#14b8a6",
    "Attention": "#a855f7",
    "Opaque": "#78716c",     # a module run as itself: stone, apart from the kinds Layerloom knows
}


@dataclass(frozen=True)
class Theme:
    dark: bool
    canvas: QColor
    grid_minor: QColor
    grid_major: QColor
    block: QColor
    block_border: QColor
    block_shadow: QColor
    text: QColor
    text_muted: QColor
    wire: QColor
    wire_selected: QColor
    pill: QColor
    pill_text: QColor
    selection: QColor
    error: QColor
    warning: QColor
    port: QColor
    port_highlight: QColor
    rubber_band: QColor

    def category(self, category: str) -> QColor:
        return QColor(CATEGORY_COLORS.get(category, "#7c8796"))


LIGHT = Theme(
    dark=False,
    canvas=QColor("#f3f4f6"), grid_minor=QColor(0, 0, 0, 12), grid_major=QColor(0, 0, 0, 24),
    block=QColor("#ffffff"), block_border=QColor("#d1d5db"), block_shadow=QColor(15, 23, 42, 28),
    text=QColor("#111827"), text_muted=QColor("#6b7280"),
    wire=QColor("#8a94a6"), wire_selected=QColor("#2563eb"),
    pill=QColor("#ffffff"), pill_text=QColor("#374151"),
    selection=QColor("#2563eb"), error=QColor("#dc2626"), warning=QColor("#d97706"),
    port=QColor("#9ca3af"), port_highlight=QColor("#16a34a"), rubber_band=QColor(37, 99, 235, 40),
)

DARK = Theme(
    dark=True,
    canvas=QColor("#1b1d21"), grid_minor=QColor(255, 255, 255, 9), grid_major=QColor(255, 255, 255, 20),
    block=QColor("#2a2d33"), block_border=QColor("#3d424b"), block_shadow=QColor(0, 0, 0, 90),
    text=QColor("#e5e7eb"), text_muted=QColor("#9ca3af"),
    wire=QColor("#7d8696"), wire_selected=QColor("#60a5fa"),
    pill=QColor("#32363d"), pill_text=QColor("#d1d5db"),
    selection=QColor("#60a5fa"), error=QColor("#f87171"), warning=QColor("#fbbf24"),
    port=QColor("#8b93a1"), port_highlight=QColor("#4ade80"), rubber_band=QColor(96, 165, 250, 45),
)

_forced: str = "system"   # system | light | dark
_system_dark: bool | None = None   # read once, before Layerloom sets a palette of its own


def system_is_dark() -> bool:
    global _system_dark
    if _system_dark is None:
        _system_dark = _read_system_dark()
    return _system_dark


def _read_system_dark() -> bool:
    hints = QGuiApplication.styleHints()
    scheme = hints.colorScheme() if hints is not None else Qt.ColorScheme.Unknown
    if scheme == Qt.ColorScheme.Dark:
        return True
    if scheme == Qt.ColorScheme.Light:
        return False
    return QGuiApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128


def current() -> Theme:
    if _forced == "dark":
        return DARK
    if _forced == "light":
        return LIGHT
    return DARK if system_is_dark() else LIGHT


_DARK_ROLES = {
    "Window": "#23262b", "WindowText": "#e5e7eb", "Base": "#2b2f35", "AlternateBase": "#30343b",
    "ToolTipBase": "#2a2d33", "ToolTipText": "#e5e7eb", "Text": "#e5e7eb", "Button": "#2c3036",
    "ButtonText": "#e5e7eb", "BrightText": "#f87171", "Highlight": "#2563eb", "HighlightedText": "#ffffff",
    "Link": "#60a5fa", "PlaceholderText": "#6b7280", "Mid": "#3d424b", "Dark": "#15171a", "Light": "#3d424b",
    "disabled": "#6b7280",
}
_LIGHT_ROLES = {
    "Window": "#f5f6f8", "WindowText": "#111827", "Base": "#ffffff", "AlternateBase": "#f3f4f6",
    "ToolTipBase": "#ffffff", "ToolTipText": "#111827", "Text": "#111827", "Button": "#f9fafb",
    "ButtonText": "#111827", "BrightText": "#dc2626", "Highlight": "#2563eb", "HighlightedText": "#ffffff",
    "Link": "#2563eb", "PlaceholderText": "#9ca3af", "Mid": "#d1d5db", "Dark": "#9ca3af", "Light": "#ffffff",
    "disabled": "#9ca3af",
}


def make_palette(dark: bool) -> QPalette:
    roles = _DARK_ROLES if dark else _LIGHT_ROLES
    p = QPalette()
    for name, colour in roles.items():
        if name != "disabled":
            p.setColor(getattr(QPalette.ColorRole, name), QColor(colour))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(roles["disabled"]))
    return p


def apply(mode: str = "system") -> Theme:
    """Use the Fusion style with a palette for `mode` (system, light or dark)."""
    global _forced
    system_is_dark()
    _forced = mode if mode in ("light", "dark") else "system"
    app = QApplication.instance()
    ui_font.cache_clear()
    if app is not None:
        app.setStyle(wheel_guard.GuardStyle("Fusion"))    # with its wheel guard (app/wheel_guard.py)
        app.setPalette(make_palette(current().dark))
    return current()


@lru_cache(maxsize=32)
def ui_font(pixel_size: int, bold: bool = False) -> QFont:
    """A font sized in scene pixels (the canvas scales it with the zoom)."""
    f = QFont(QApplication.font())
    f.setPixelSize(pixel_size)
    f.setBold(bold)
    f.setHintingPreference(QFont.HintingPreference.PreferNoHinting)
    return f


def mono_font(point_size: int = 10) -> QFont:
    f = QFont("DejaVu Sans Mono")
    f.setStyleHint(QFont.StyleHint.Monospace)
    f.setFixedPitch(True)
    f.setPointSize(point_size)
    return f


def legibility(option, painter) -> float:
    """Scene-to-device-pixel scale of a paint: below ~0.3 a 12 px label is a smudge, so skip it."""
    device = painter.device()
    ratio = device.devicePixelRatioF() if device is not None else 1.0
    return option.levelOfDetailFromTransform(painter.worldTransform()) * ratio
