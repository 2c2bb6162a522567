"""Files: new, open, open a preset, save, save as, recent files, and asking before losing changes.

A file that cannot be read shows the loader's message and leaves the current document alone.
Saves are atomic (the graph core writes a temp file and renames it).
"""
from __future__ import annotations

import errno
import os
import re
import time
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox

from layerloom.graph.document import GraphDocument
from layerloom.graph.fileformat import load_graph, save_graph
from layerloom.graph.quoting import shown

from . import places, recovery, settings
from .modal import run_modal

FILTER = "Layerloom graphs (*.loom.json);;JSON files (*.json);;All files (*)"
SUFFIX = ".loom.json"


def file_name_for(graph_name: str) -> str:
    """The file name Save As offers for a graph: its name in lower case, with anything a file name cannot
    hold safely ("/", ":", a leading dot...) as "_" ("ResNet/18: v2" -> "resnet_18_v2.loom.json")."""
    stem = re.sub(r"[^\w.-]+", "_", graph_name.strip().lower()).strip("._")[:100]
    return (stem or "graph") + SUFFIX


class Files:
    def __init__(self, win):
        self.win = win
        self.session = win.session
        self._on_disk: tuple[int, int] | None = None    # the open file's (mtime, size) when opened or saved
        self.ask_about_code = True     # False where no one can answer (--screenshot): the code does not run

    # -- asking -----------------------------------------------------------------------------------
    def maybe_save(self) -> bool:
        """True when it is fine to drop the current document (saved, discarded, or nothing to lose)."""
        self.win.commit_typing()           # a value typed but not confirmed is a change to ask about
        if not self.session.modified:
            return True
        answer = QMessageBox.question(
            self.win, "Unsaved changes",
            f"“{shown(self.session.document.name, 80)}” has changes that are not saved. Save them first?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save)
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    def _error(self, title: str, text: str) -> None:
        QMessageBox.warning(self.win, title, text)

    # -- opening ----------------------------------------------------------------------------------
    def may_replace(self, doing: str, stop: bool = True) -> bool:
        """May the open graph give way to another? Asks to stop a run, then to save changes; then stops the run,
        unless `stop` is False: a caller with more to ask (whose answer may still cancel) calls `stop_run` last."""
        training = self.win.built("training")      # not built yet: no run to stop
        if training is not None and not training.asks_to_stop(doing):
            return False
        if not self.maybe_save():                   # Cancel here leaves the run training, too
            return False
        return not stop or self.stop_run()

    def stop_run(self) -> bool:
        """Stop the run (the person said yes to stopping it); False when it did not stop."""
        training = self.win.built("training")
        return training is None or training.stop_and_wait()

    def open_document(self, doc: GraphDocument, doing: str) -> bool:
        """Open a graph made in the app (a lesson's start) as a new, untitled document."""
        if not self.may_replace(doing):
            return False
        self._replace(doc, None)
        return True

    def new(self) -> bool:
        if not self.may_replace("start a new graph"):
            return False
        self._replace(GraphDocument("Untitled"), None)
        return True

    def open(self, path: str | Path | None = None, ask: bool = True) -> bool:
        if path is None:                            # the file first: cancelling it stops no run, asks nothing
            start = str(self.session.path.parent if self.session.path else places.graphs_folder())
            path, _ = QFileDialog.getOpenFileName(self.win, "Open graph", start, FILTER)
            if not path:
                return False
        if not Path(path).exists() and str(Path(path).resolve()) in self.recent_files():
            self._missing_recent(Path(path))      # before asking to save: nothing would replace the graph
            return False
        doc = self._load(path, "Cannot open this file")     # first: a file that cannot be opened stops no run
        if doc is None:                                       # and asks about nothing
            return False
        if ask and not self.may_replace("open another graph", stop=False):
            return False
        if not self.may_run_code(doc, Path(path).name):      # asked last: a "yes" is remembered, so it must open
            self.session.message.emit(f"Did not open {shown(Path(path).name, 80)}: its code was not allowed to run.")
            return False                                     # (and a run goes on: nothing replaced the graph)
        if ask and not self.stop_run():
            return False
        self._replace(doc, Path(path))
        self.add_recent(path)
        self.session.message.emit(f"Opened {Path(path).name}.")
        return True

    def open_preset(self, path: str | Path) -> bool:
        """A preset opens as a new, untitled graph: saving asks where, the preset stays as shipped."""
        doc = self._load(path, "Cannot open this preset")
        if (doc is None or not self.may_replace("open the preset", stop=False)
                or not self.may_run_code(doc, Path(path).name) or not self.stop_run()):
            return False
        self._replace(doc, None)
        self.session.message.emit(f"Opened the {shown(doc.name, 80)} preset. Save it to keep your changes.")
        return True

    def may_run_code(self, doc: GraphDocument, name: str) -> bool:
        """Before anything runs: a graph whose Opaque blocks run a Python file or package not allowed yet
        (graph/opaque.py) asks whether to run it. Yes allows it and remembers that it may (graph/trust.py).
        True when nothing needs asking or the person said yes."""
        from layerloom.graph.opaque import allow_code, code_to_allow, remember_code
        need = code_to_allow(doc)
        if not need or not self.ask_about_code:       # (unasked, the code is refused when analysis needs it)
            return True
        box = code_question(self.win, name, need)
        if run_modal(box) != QMessageBox.StandardButton.Ok:
            return False
        for where, _why in need:
            try:
                remember_code(where)
            except OSError as exc:     # allowed for this session all the same
                allow_code(where)
                self.session.message.emit(f"{exc}; Layerloom will ask again next time.")
        return True

    def _missing_recent(self, path: Path) -> None:
        """A recent file that is no longer there: say what to do, and offer to take it off the list."""
        answer = QMessageBox.question(self.win, "File not found", missing_text(path),
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.Yes)
        if answer == QMessageBox.StandardButton.Yes:
            self.forget_recent(path)
            self.session.message.emit(f"Removed {shown(path.name, 80)} from Open Recent.")

    def _load(self, path, title: str) -> GraphDocument | None:
        try:
            return load_graph(path)
        except Exception as exc:  # GraphFileError says where and why; anything else still gets a dialog
            self._error(title, f"{shown(Path(path).name, 120)} could not be opened.\n\n{exc}")
            return None

    def _replace(self, doc: GraphDocument, path: Path | None, modified: bool = False) -> None:
        recovery.discard()
        self.session.set_document(doc, path, modified=modified)
        self._on_disk = stamp(path)
        self.win.view.fit(legible=True)

    # -- saving -----------------------------------------------------------------------------------
    def save(self) -> bool:
        self.win.commit_typing()           # what is typed in a field is part of what is saved
        if self.session.path is None:
            return self.save_as()
        path = self.session.path
        now = stamp(path)
        if now is not None and self._on_disk is not None and now != self._on_disk:
            answer = QMessageBox.question(
                self.win, "File changed on disk",
                f"{shown(path.name, 80)} has changed on disk since Layerloom opened or saved it (another program "
                "or window wrote it). Save replaces that version with yours; Cancel keeps it, and File ▸ Save "
                "As… saves yours under another name.",
                QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Cancel)
            if answer != QMessageBox.StandardButton.Save:
                return False
        return self._write(path)

    def save_as(self) -> bool:
        self.win.commit_typing()
        start = str(self.session.path or places.graphs_folder() / file_name_for(self.session.document.name))
        path, _ = QFileDialog.getSaveFileName(self.win, "Save graph", start, FILTER)
        if not path:
            return False
        if not path.lower().endswith(".json"):       # "net.JSON" is a JSON file already
            path += SUFFIX
        if not self._write(Path(path)):
            return False
        self.session.set_path(Path(path))
        return True

    def _write(self, path: Path) -> bool:
        try:
            if read_only(path):
                raise PermissionError(errno.EROFS, "read-only file")
            save_graph(self.session.document, path)
        except OSError as exc:
            self._error("Cannot save", f"The graph could not be saved to {shown(str(path), 200)}: "
                                       f"{save_problem(exc, path)}")
            return False
        self._on_disk = stamp(path)
        self.session.mark_saved()
        recovery.discard()
        self.add_recent(str(path))
        self.session.message.emit(f"Saved {path.name}.")
        return True

    # -- recent files ---------------------------------------------------------------------------
    def recent_files(self) -> list[str]:
        return settings.recent_files()

    def add_recent(self, path) -> None:
        settings.add_recent_file(path)

    def clear_recent(self) -> None:
        settings.clear_recent_files()

    def forget_recent(self, path) -> None:
        """Take one file off the recent files (the others keep their order)."""
        gone = str(Path(path).resolve())
        keep = [p for p in self.recent_files() if p != gone]
        settings.clear_recent_files()
        for p in reversed(keep):
            settings.add_recent_file(p)

    # -- recovery ---------------------------------------------------------------------------------
    def autosave(self) -> None:
        if self.session.modified:
            try:
                recovery.write(self.session.document, self.session.path)
            except OSError as exc:
                self.session.message.emit(f"Could not write the recovery file: {exc.strerror or exc}")

    def offer_recovery(self) -> bool:
        """After a crash: offer each unsaved graph left behind, newest first. True if one was restored."""
        found = recovery.orphans()
        if not found:
            return False
        buttons = QMessageBox.StandardButton

        def ask(rec, number, total):
            where = f" ({rec.path.name})" if rec.path else ""
            count = f" ({number} of {total})" if total > 1 else ""
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(rec.saved))
            answer = QMessageBox.question(
                self.win, "Restore unsaved work?",
                f"Layerloom did not close properly last time{count}. Restore the unsaved changes to "
                f"“{shown(rec.name, 80)}”{where}, last saved {when}?\n\nYes restores it, No discards it, "
                "Cancel keeps it for the next start.",
                buttons.Yes | buttons.No | buttons.Cancel, buttons.Yes)
            return {buttons.Yes: "restore", buttons.No: "discard"}.get(answer, "keep")

        rec = recovery.choose(found, ask)
        if rec is None:
            return False
        try:
            doc = recovery.load(rec)
        except recovery.TooNew as exc:
            self._error("Cannot restore here", f"“{shown(rec.name, 80)}” cannot be restored by this version of "
                                               f"Layerloom: {exc.reason}")
            return False
        except Exception as exc:            # kept, never deleted: the unsaved work may still be read out of it
            kept = recovery.set_aside(rec.file)
            again = "" if kept != rec.file else " Layerloom will offer it again at the next start."
            self._error("Cannot restore", damaged_text(rec, exc, kept) + again)
            return False
        held = "" if self.may_run_code(doc, rec.name) else (
            " Its Opaque blocks' code was not allowed to run: they show why until it is (reopen the graph).")
        self._replace(doc, rec.path, modified=True)
        recovery.discard(rec.file)
        self.autosave()
        left = len(recovery.orphans())
        more = f" {left} more unsaved graph(s) will be offered at the next start." if left else ""
        self.session.message.emit(f"Restored unsaved changes. Save to keep them.{more}{held}")
        return True


def code_question(parent, name: str, need: list[tuple[str, str]]) -> QMessageBox:
    """"Run its code?" for a graph whose Opaque blocks need the files or packages `need` [(where, why)]."""
    lines = []
    for where, why in need[:8]:
        if not where.endswith(".py"):
            state = "a package, allowed by its name: any version installed now or later runs"
        elif "changed since it was allowed" in why:
            state = "changed since you allowed it"
        else:
            state = "not allowed before"
        lines.append(f"• {shown(where, 200)} ({state})")
    if len(need) > 8:
        lines.append(f"• … and {len(need) - 8} more")
    box = QMessageBox(QMessageBox.Icon.Warning, "Run code from this graph?",
                      f"{shown(name, 80)} has Opaque blocks that run Python code from:\n\n" + "\n".join(lines)
                      + "\n\nOpening it runs that code, with your permissions. Run it only if you trust it.",
                      QMessageBox.StandardButton.Ok | QMessageBox.StandardButton.Cancel, parent)
    box.button(QMessageBox.StandardButton.Ok).setText("Run its code")
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.setEscapeButton(QMessageBox.StandardButton.Cancel)
    box.setInformativeText("Cancel leaves the graph closed; nothing of it runs. Layerloom remembers the answer "
                           "for this content of each file.")
    return box


def damaged_text(rec, exc: Exception, kept: Path) -> str:
    """What a recovery file that cannot be restored means, where it is kept and what to do with it."""
    reason = getattr(exc, "reason", None) or str(exc)
    where = getattr(exc, "location", None)
    return (f"The unsaved changes to “{shown(rec.name, 80)}” cannot be restored: the recovery file does not load "
            f"({f'at {where}: ' if where else ''}{shown(reason, 400)}).\n\n"
            f"It is kept, not deleted, as:\n{shown(str(kept), 300)}\n\n"
            "It is JSON text: its \"graph\" part is a graph file. To get the work back, copy that part into a new "
            ".loom.json file in a text editor, correct what is named above, and open it with File ▸ Open.")


def missing_text(path: Path) -> str:
    """What a recent file that is gone means and what to do about it."""
    folder = shown(str(path.parent), 120)
    where = (f"it is not in {folder} any more (moved, renamed or deleted)" if path.parent.is_dir() else
             f"its folder {folder} is not there (moved, deleted, or on a drive not connected now)")
    return (f"{shown(path.name, 120)} could not be opened: {where}.\n\n"
            "If you moved it, open it from its new place with File ▸ Open.\n\n"
            "Remove it from File ▸ Open Recent? (No keeps it there, e.g. until its drive is connected.)")


def stamp(path: Path | None) -> tuple[int, int] | None:
    """The file's modification time and size, to notice another program writing it; None if it is not there."""
    try:
        st = os.stat(path) if path is not None else None
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size) if st is not None else None


def read_only(path: Path) -> bool:
    """Is `path` a file nobody may write (its write permissions all off)? Saving would replace it all the same."""
    try:
        return Path(path).is_file() and not os.stat(path).st_mode & 0o222
    except OSError:
        return False


def save_problem(exc: OSError, path: Path) -> str:
    """What went wrong in a save, and what to do, in a sentence."""
    other = "choose another place with File ▸ Save As…"
    if exc.errno == errno.EROFS or isinstance(exc, PermissionError):
        what = "the file is read-only" if read_only(path) else "Layerloom may not write there"
        return f"{what}. Make it writable, or {other}"
    if exc.errno == errno.ENOENT:
        return f"the folder {shown(str(Path(path).parent), 120)} does not exist. Create it, or {other}"
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return f"the disk is full. Free some space, or {other}"
    if exc.errno == errno.EISDIR:
        return f"that is a folder. {other[0].upper()}{other[1:]}"
    return f"{exc.strerror or exc}. Try again, or {other}"
