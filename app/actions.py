"""The window's actions, menus and toolbar, with the standard shortcuts."""
from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMenu, QToolBar

from layerloom.presets import preset_paths

Key = QKeySequence.StandardKey


def preset_title(path: Path) -> str:
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("name") or path.name
    except (OSError, ValueError, AttributeError):
        return path.name.removesuffix(".loom.json")


def build_actions(win) -> dict[str, QAction]:
    """Every action of the window by name (objectName is the same name)."""
    acts: dict[str, QAction] = {}

    def add(name, text, slot, shortcuts=(), tip=""):
        act = QAction(text, win)
        act.setObjectName(name)
        if shortcuts:
            act.setShortcuts([QKeySequence(s) for s in shortcuts])
        if tip:
            act.setStatusTip(tip)
            act.setToolTip(f"{tip} ({act.shortcut().toString(QKeySequence.SequenceFormat.NativeText)})"
                           if shortcuts else tip)
        act.triggered.connect(lambda _=False: slot())
        win.addAction(act)
        acts[name] = act
        return act

    f, v, e = win.files, win.view, win.editing
    add("new", "&New", f.new, [Key.New], "Start an empty graph")
    add("open", "&Open…", f.open, [Key.Open], "Open a .loom.json graph")
    add("save", "&Save", f.save, [Key.Save], "Save the graph")
    add("save_as", "Save &As…", f.save_as, [Key.SaveAs, "Ctrl+Shift+S"], "Save the graph under a new name")
    add("quit", "&Quit", win.close, [Key.Quit, "Ctrl+Q"])

    stack = win.undo_stack
    undo = add("undo", "&Undo", win.session.undo, [Key.Undo])
    redo = add("redo", "&Redo", win.session.redo, ["Ctrl+Shift+Z", "Ctrl+Y"])
    for act, can, text, word in ((undo, stack.canUndoChanged, stack.undoTextChanged, "&Undo"),
                                 (redo, stack.canRedoChanged, stack.redoTextChanged, "&Redo")):
        can.connect(act.setEnabled)
        text.connect(lambda t, a=act, w=word: a.setText(f"{w} {t}".strip()))
        act.setEnabled(False)
    add("cut", "Cu&t", e.cut, [Key.Cut], "Cut the selected blocks")
    add("copy", "&Copy", e.copy, [Key.Copy], "Copy the selected blocks (with the wires between them)")
    add("paste", "&Paste", e.paste, [Key.Paste], "Paste blocks at the cursor")
    add("duplicate", "&Duplicate", e.duplicate, ["Ctrl+D"], "Duplicate the selected blocks")
    add("delete", "&Delete", e.delete, [Key.Delete, "Backspace"], "Delete the selected blocks and wires")
    add("select_all", "Select &All", e.select_all, [Key.SelectAll], "Select every block")

    add("auto_layout", "Auto &Layout", e.auto_layout, ["Ctrl+L"], "Arrange the blocks left to right")
    add("fit_view", "&Fit View", v.fit, ["F"], "Show the whole graph")
    add("zoom_in", "Zoom &In", lambda: v.zoom_by(1.25), [Key.ZoomIn, "Ctrl+="], "Zoom in")
    add("zoom_out", "Zoom &Out", lambda: v.zoom_by(0.8), [Key.ZoomOut], "Zoom out")
    add("zoom_reset", "&Actual Size", lambda: v.set_zoom(1.0), ["Ctrl+0"], "Zoom to 100%")
    add("add_block", "Add &Block…", lambda: v.open_quick_add(v.last_mouse), [], "Search for a block to add (Tab)")
    add("view_code", "View &Code", win.show_code, ["Ctrl+Shift+C"], "Show the generated PyTorch code")
    add("about", "&About Layerloom", win.show_about)
    v.context_actions = [acts[n] for n in ("cut", "copy", "paste", "duplicate", "delete")] + \
        [acts[n] for n in ("select_all", "auto_layout", "fit_view")]
    return acts


def build_menus(win, acts: dict[str, QAction]) -> None:
    bar = win.menuBar()
    file_menu = bar.addMenu("&File")
    for name in ("new", "open"):
        file_menu.addAction(acts[name])
    win.recent_menu = file_menu.addMenu("Open &Recent")
    win.recent_menu.aboutToShow.connect(lambda: fill_recent(win))
    fill_recent(win)
    presets = file_menu.addMenu("&Presets")
    for path in preset_paths():
        act = presets.addAction(preset_title(path))
        act.setObjectName(f"preset:{path.name}")
        act.triggered.connect(lambda _=False, p=path: win.files.open_preset(p))
    win.presets_menu = presets
    file_menu.addSeparator()
    for name in ("save", "save_as"):
        file_menu.addAction(acts[name])
    file_menu.addSeparator()
    file_menu.addAction(acts["quit"])

    edit = bar.addMenu("&Edit")
    for name in ("undo", "redo", None, "cut", "copy", "paste", "duplicate", "delete", None, "select_all",
                 None, "add_block"):
        edit.addSeparator() if name is None else edit.addAction(acts[name])

    view = bar.addMenu("&View")
    for name in ("fit_view", "zoom_in", "zoom_out", "zoom_reset", None, "auto_layout", None, "view_code"):
        view.addSeparator() if name is None else view.addAction(acts[name])
    view.addSeparator()
    theme_menu = view.addMenu("&Theme")
    group = QActionGroup(win)
    for mode, text in (("system", "Follow System"), ("light", "Light"), ("dark", "Dark")):
        act = theme_menu.addAction(text)
        act.setCheckable(True)
        act.setObjectName(f"theme:{mode}")
        act.setChecked(mode == win.theme_mode)
        group.addAction(act)
        act.triggered.connect(lambda _=False, m=mode: win.set_theme(m))
    win.panels_menu = view.addMenu("&Panels")
    for dock in win.docks.values():
        win.panels_menu.addAction(dock.toggleViewAction())

    help_menu = bar.addMenu("&Help")
    help_menu.addAction(acts["about"])

    tools = QToolBar("Toolbar", win)
    tools.setObjectName("toolbar")
    tools.setMovable(False)
    for name in ("new", "open", "save", None, "undo", "redo", None, "add_block", "auto_layout", "fit_view",
                 "zoom_out", "zoom_in", None, "view_code"):
        tools.addSeparator() if name is None else tools.addAction(acts[name])
    win.addToolBar(tools)
    win.toolbar = tools


def fill_recent(win) -> None:
    menu: QMenu = win.recent_menu
    menu.clear()
    paths = win.files.recent_files()
    for path in paths:
        act = menu.addAction(Path(path).name)
        act.setToolTip(path)
        act.setStatusTip(path)
        act.triggered.connect(lambda _=False, p=path: win.files.open(p))
    if paths:
        menu.addSeparator()
        menu.addAction("Clear Recent", win.files.clear_recent)
    else:
        empty = menu.addAction("No recent files")
        empty.setEnabled(False)
