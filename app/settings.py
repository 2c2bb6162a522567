"""Every QSettings key the app uses, with its default, in one place.

Other modules never spell a key: they call these functions. A new setting gets a key constant and a
getter/setter pair here.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QCoreApplication, QSettings

ORGANISATION = "Layerloom"
APPLICATION = "Layerloom"

THEME = "theme"                          # "system" | "light" | "dark"
WINDOW_GEOMETRY = "window/geometry"      # QMainWindow.saveGeometry()
WINDOW_STATE = "window/state"            # QMainWindow.saveState(): docks and toolbars
RECENT_FILES = "recent_files"            # newest first
RUNS_DIR = "training/runs_dir"           # where runs go and which runs the Runs tab lists
LESSON_PROGRESS = "lessons/progress"     # JSON object: lesson id -> steps done
EXPORT_BASE = "export/base"              # the folder holding the folder the person last exported into

KEYS = (THEME, WINDOW_GEOMETRY, WINDOW_STATE, RECENT_FILES, RUNS_DIR, LESSON_PROGRESS, EXPORT_BASE)
MAX_RECENT = 10
THEMES = ("system", "light", "dark")


def ensure_identity() -> None:
    """Name the application so QSettings and QStandardPaths use Layerloom's own places."""
    if not QCoreApplication.organizationName():
        QCoreApplication.setOrganizationName(ORGANISATION)
    if not QCoreApplication.applicationName() or QCoreApplication.applicationName() in ("python", "python3"):
        QCoreApplication.setApplicationName(APPLICATION)


def theme() -> str:
    value = str(QSettings().value(THEME, "system"))
    return value if value in THEMES else "system"


def set_theme(mode: str) -> None:
    QSettings().setValue(THEME, mode)


def _bytes_or_none(value):
    """A saved layout as Qt wrote it, or None: a settings file edited by hand or spoilt may hold text or
    a number there, which Qt's restore functions refuse with a TypeError (the window did not open)."""
    return value if isinstance(value, (QByteArray, bytes, bytearray)) else None


def window_layout():
    """(geometry, state) saved by the last close, each None when there is none or it is not a layout."""
    s = QSettings()
    return _bytes_or_none(s.value(WINDOW_GEOMETRY)), _bytes_or_none(s.value(WINDOW_STATE))


def set_window_layout(geometry, state) -> None:
    s = QSettings()
    s.setValue(WINDOW_GEOMETRY, geometry)
    s.setValue(WINDOW_STATE, state)


def saved_state_has(object_name: str) -> bool:
    """Does the saved window layout know the dock or toolbar with this object name?"""
    state = _bytes_or_none(QSettings().value(WINDOW_STATE))
    return state is not None and object_name.encode("utf-16-be") in bytes(state)


def recent_files() -> list[str]:
    value = QSettings().value(RECENT_FILES, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):      # a spoilt settings file: a number, a byte array...
        return []
    return [v for v in value if isinstance(v, str) and v.strip()][:MAX_RECENT]


def add_recent_file(path) -> None:
    path = str(Path(path).resolve())
    paths = [p for p in recent_files() if p != path]
    QSettings().setValue(RECENT_FILES, [path, *paths][:MAX_RECENT])


def clear_recent_files() -> None:
    QSettings().setValue(RECENT_FILES, [])


def runs_dir() -> Path:
    value = QSettings().value(RUNS_DIR)
    if isinstance(value, str) and value.strip():
        return Path(value)
    from .places import runs_folder           # (places reads this module's settings)
    return runs_folder()


def set_runs_dir(path) -> None:
    QSettings().setValue(RUNS_DIR, str(path))


def export_base() -> Path | None:
    """Where the person last chose to export (the parent of that export's folder), or None."""
    value = QSettings().value(EXPORT_BASE)
    return Path(value) if isinstance(value, str) and value.strip() else None


def set_export_base(path) -> None:
    QSettings().setValue(EXPORT_BASE, str(path))


def lesson_progress() -> dict[str, int]:
    import json
    try:
        data = json.loads(str(QSettings().value(LESSON_PROGRESS, "{}")))
    except (ValueError, RecursionError):              # RecursionError: nested deeper than Python's parser goes
        return {}
    return {str(k): int(v) for k, v in data.items() if isinstance(v, int)} if isinstance(data, dict) else {}


def set_lesson_progress(lesson_id: str, done: int) -> None:
    import json
    data = lesson_progress()
    data[lesson_id] = int(done)
    QSettings().setValue(LESSON_PROGRESS, json.dumps(data))
