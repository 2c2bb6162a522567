"""Where Layerloom proposes to write when the person has not said where: beside the open graph's file, else
a Layerloom folder in their documents. Never the working folder: started from a desktop launcher, that is
"/" or another place nobody means to fill (or may write to)."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QStandardPaths

from layerloom.runtime.path_problems import in_the_way

from . import settings

APP_FOLDER = "Layerloom"


def documents_folder() -> Path:
    """~/Documents/Layerloom (as the system names the documents folder), or ~/Layerloom without one."""
    docs = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    base = Path(docs) if docs else Path.home()
    return base / APP_FOLDER


def writable(folder: Path) -> bool:
    """Could a folder be made or written at `folder` (nothing in the way, permission granted)?"""
    return in_the_way(folder) is None


def work_folder(graph_path, sub: str, elsewhere: Path | None = None) -> Path:
    """`sub` beside the graph's file when it has one that can be written beside, else `elsewhere` when
    given, else `sub` in the documents folder's Layerloom folder."""
    if graph_path:
        beside = Path(graph_path).parent / sub
        if writable(beside):
            return beside
    return elsewhere if elsewhere is not None else documents_folder() / sub


def free_folder(base: Path, name: str) -> Path:
    """base/name, or base/name-2, -3… when it holds files already: a proposal nothing else is in."""
    for n in range(1, 1000):
        folder = base / (name if n == 1 else f"{name}-{n}")
        if not folder.exists() or (folder.is_dir() and _empty(folder)):
            return folder
    return base / name


def _empty(folder: Path) -> bool:
    """Whether `folder` holds nothing; one that cannot be read is not offered."""
    try:
        return not any(folder.iterdir())
    except OSError:
        return False


def graphs_folder() -> Path:
    """Where Open and Save As start for a graph without a file: the folder of the newest recent file, else
    Documents/Layerloom, the documents folder or the home folder, whichever is there first."""
    for path in settings.recent_files():
        if Path(path).parent.is_dir():
            return Path(path).parent
    return next((f for f in (documents_folder(), documents_folder().parent) if f.is_dir()), Path.home())


def runs_folder() -> Path:
    """Where runs go until the person chooses (the Runs tab's folder): ./runs when the app was started in a
    folder to work in (from a terminal, as `layerloom train` is), else Documents/Layerloom/runs: a desktop
    launcher starts it in "/" or the home folder."""
    cwd = Path.cwd()            # (resolved: so is home here, where it is a link)
    if cwd not in (Path(cwd.anchor), Path.home(), Path.home().resolve()) and writable(cwd / "runs"):
        return cwd / "runs"
    return documents_folder() / "runs"


def export_folder(graph_path, name: str) -> Path:
    """The folder the Export dialog proposes for the graph called `name`: an empty folder beside its file
    (exports/NAME); for a graph with no file, in the folder the person last exported into's parent, else
    in Documents/Layerloom/exports."""
    chosen = settings.export_base()
    return free_folder(work_folder(graph_path, "exports", chosen if chosen and writable(chosen) else None), name)
