"""Every action, menu and toolbar button of the window, as tables.

How to add a menu entry (e.g. File ▸ Import Model…):
  1. Add an `Act` row to ACTIONS: a unique `name`, the menu `text`, and `slot`, the dotted path of
     what it calls on the window (``"importing.open_dialog"`` calls ``window.importing.open_dialog()``
     when triggered; the part is constructed in window.py). `keys` only if the key is free: the test
     tests/app/test_menus.py fails on a key sequence used twice.
  2. Put the name where it belongs in MENUS (``"-"`` is a separator) and, if wanted, in TOOLBAR.
  The action is then `window.actions_by_name["import_model"]`, listed in Help ▸ Keyboard Shortcuts.
How to add a dock/panel: add a `Dock` row to app/docks.py (its widget is a dotted path on the
window, e.g. ``"explaining.panel"``, and says where it sits in the default layout); it appears in
View ▸ Panels and View ▸ Reset Layout puts it back.

Slots are looked up when an action fires, so actions can be built before the parts they call.
Nothing here is found by its visible text: menus are `window.menus[name]`, actions `window.actions_by_name[name]`.
"""
from __future__ import annotations

import json
import operator
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMenu, QToolBar

from layerloom.presets import preset_paths

from . import settings

Key = QKeySequence.StandardKey


@dataclass(frozen=True)
class Act:
    name: str
    text: str
    slot: str                               # dotted path on the window, called with no arguments
    keys: tuple = ()                        # QKeySequence.StandardKey values or "Ctrl+X" strings
    tip: str = ""
    icon_text: str = ""                     # fixed toolbar label (the menu text may change, e.g. Undo …)
    args: tuple = field(default=())         # arguments passed to the slot
    waits: bool = True                      # a slot on a part built once torch has loaded runs then (False: it
    #                                         acts on a run, and before then no run can exist: it does nothing)

    @property
    def label(self) -> str:
        """The action's name in a sentence: "Export Model" for "&Export Model…"."""
        return self.text.replace("&", "").replace("…", "").removeprefix("▶ ").strip()


ACTIONS: tuple[Act, ...] = (
    # File
    Act("new", "&New", "files.new", (Key.New,), "Start an empty graph"),
    Act("open", "&Open…", "files.open", (Key.Open,), "Open a .loom.json graph"),
    Act("save", "&Save", "files.save", (Key.Save,), "Save the graph"),
    Act("save_as", "Save &As…", "files.save_as", (Key.SaveAs, "Ctrl+Shift+S"), "Save the graph under a new name"),
    Act("import_model", "&Import Model…", "importing.open_dialog", ("Ctrl+Shift+I",),
        "Import a torchvision model, a model.py, an ONNX file or a .pt2 program as a graph with its weights"),
    Act("export", "&Export Model…", "exporting.open_dialog", ("Ctrl+E",),
        "Export a trained run of this graph (or the untrained graph) to ONNX, pt2, weights or a PyTorch project"),
    Act("quit", "&Quit", "close", (Key.Quit, "Ctrl+Q"), "Close Layerloom"),
    # Edit
    Act("undo", "&Undo", "session.undo", (Key.Undo,), icon_text="Undo"),
    Act("redo", "&Redo", "session.redo", (Key.Redo, "Ctrl+Shift+Z", "Ctrl+Y"), icon_text="Redo"),
    Act("cut", "Cu&t", "editing.cut", (Key.Cut,), "Cut the selected blocks"),
    Act("copy", "&Copy", "editing.copy", (Key.Copy,), "Copy the selected blocks (with the wires between them)"),
    Act("paste", "&Paste", "editing.paste", (Key.Paste,), "Paste blocks at the cursor"),
    Act("duplicate", "&Duplicate", "editing.duplicate", ("Ctrl+D",), "Duplicate the selected blocks"),
    Act("delete", "&Delete", "editing.delete", (Key.Delete, "Backspace"), "Delete the selected blocks and wires"),
    Act("select_all", "Select &All", "editing.select_all", (Key.SelectAll,), "Select every block"),
    Act("init_from", "&Initialise Weights From…", "importing.initialise_from", (),
        "Start training from a run's, a file's or torchvision's weights (matched by block id, else module path)"),
    Act("prune", "&Prune Channels…", "pruning.open_dialog", (),
        "Remove the weakest channels of Conv and Linear blocks, keeping the other weights (one undoable edit)"),
    Act("add_block", "Add &Block…", "view.open_quick_add_at_mouse", (), "Search for a block to add (Tab)"),
    # View
    Act("fit_view", "&Fit View", "view.fit", ("F",), "Show the whole graph"),
    Act("zoom_in", "Zoom &In", "view.zoom_by", (Key.ZoomIn, "Ctrl+="), "Zoom in", args=(1.25,)),
    Act("zoom_out", "Zoom &Out", "view.zoom_by", (Key.ZoomOut,), "Zoom out", args=(0.8,)),
    Act("zoom_reset", "&Actual Size", "view.set_zoom", ("Ctrl+0",), "Zoom to 100%", args=(1.0,)),
    Act("auto_layout", "Auto &Layout", "editing.auto_layout", ("Ctrl+L",), "Arrange the blocks left to right"),
    Act("collapse_groups", "Collapse All &Groups", "view.collapse_all_groups", (),
        "Show every group (an imported module such as layer1) as one card; undoable"),
    Act("expand_groups", "E&xpand All Groups", "view.expand_all_groups", (),
        "Show the blocks of every group; undoable"),
    Act("view_code", "View &Code", "show_code", ("Ctrl+Shift+C",), "Show the generated PyTorch code"),
    Act("embeddings", "Explore &Embeddings", "extras.explore_embeddings", (),
        "Nearest words and a 2-D map of a trained Embedding block"),
    Act("reset_layout", "&Reset Layout", "reset_layout", (), "Put every panel back where it starts"),
    # Train
    Act("train_start", "▶ Train", "training.train", ("F5",), "Train the graph on the chosen data set"),
    Act("train_pause", "&Pause / Resume", "training.toggle_pause", ("F6",), "Pause the run, or resume it",
        waits=False),
    Act("train_stop", "&Stop Training", "training.stop", ("Shift+F5",), "Stop the run (a checkpoint is kept)",
        waits=False),
    Act("new_sweep", "New &Sweep…", "show_sweeps", (),
        "Try many settings of the graph: open the Experiment panel, give the parameters to sweep, then ▶ Start"),
    Act("refresh_runs", "&Refresh Runs", "training.runs.refresh", (), "Look for new run folders"),
    # Learning
    Act("lessons", "&Lessons", "learning.show_lessons", (), "Step-by-step lessons the app checks as you go"),
    Act("inside", "Look &Inside…", "learning.show_inside", (),
        "The arithmetic behind one value of a trained block: a convolution's products, a pool's winner, …"),
    Act("step_mode", "S&tep Mode", "learning.show_step", (),
        "Run exactly one training step and see the loss, the gradients and one weight's update"),
    Act("benchmark", "&Benchmark…", "benchmarking.show", (),
        "Size, latency (median, p90), accuracy and agreement of a trained run in each deployment format"),
    Act("explain", "E&xplain Predictions", "explaining.open", (),
        "Why the latest trained run predicts what it does: saliency, integrated gradients, Grad-CAM, occlusion"),
    # Help
    Act("shortcuts", "&Keyboard Shortcuts", "show_shortcuts", ("Ctrl+/",), "Every action and its keys, searchable"),
    Act("about", "&About Layerloom", "show_about", (), "The version of Layerloom and what it is for"),
)

# Menus in menu-bar order: name -> (title, entries). An entry is an action name, "-" for a separator,
# or "@name" for a submenu filled by SUBMENUS below.
MENUS: dict[str, tuple[str, tuple[str, ...]]] = {
    "file": ("&File", ("new", "open", "@recent", "@presets", "-", "save", "save_as", "-", "import_model", "export", "-", "quit")),
    "edit": ("&Edit", ("undo", "redo", "-", "cut", "copy", "paste", "duplicate", "delete", "-", "select_all",
                       "-", "add_block", "-", "init_from", "prune")),
    "view": ("&View", ("fit_view", "zoom_in", "zoom_out", "zoom_reset", "-", "auto_layout", "collapse_groups",
                       "expand_groups", "-", "view_code",
                       "embeddings", "inside", "-", "@theme", "@panels", "reset_layout")),
    "train": ("&Train", ("train_start", "train_pause", "train_stop", "-", "step_mode", "-", "@dock:training",
                         "refresh_runs", "-", "new_sweep", "explain", "benchmark")),
    "help": ("&Help", ("lessons", "shortcuts", "-", "about")),
}

TOOLBAR = ("new", "open", "save", "-", "undo", "redo", "-", "add_block", "auto_layout", "fit_view", "zoom_out",
           "zoom_in", "-", "view_code", "-", "train_start")

GROUP_CONTEXT = ("collapse_groups", "expand_groups")     # on the canvas's menu when the graph has groups
CANVAS_CONTEXT = ("cut", "copy", "paste", "duplicate", "delete", "select_all", "auto_layout", "fit_view")

SUBMENU_TITLES = {"recent": "Open &Recent", "presets": "&Presets", "theme": "&Theme", "panels": "&Panels"}
THEMES = (("system", "Follow System"), ("light", "Light"), ("dark", "Dark"))


def key_sequences(keys) -> list[QKeySequence]:
    """The key sequences of `keys` on this platform, each once (a standard key and the literal key it
    stands for would otherwise both be registered: Qt then calls the shortcut ambiguous and does nothing)."""
    out: list[QKeySequence] = []
    seen: set[str] = set()
    for k in keys:
        for seq in (QKeySequence.keyBindings(k) if isinstance(k, Key) else [QKeySequence(k)]):
            text = seq.toString(QKeySequence.SequenceFormat.PortableText)
            if text and text not in seen:
                seen.add(text)
                out.append(seq)
    return out


def shortcut_text(action: QAction) -> str:
    return ", ".join(s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts())


def build_actions(win) -> dict[str, QAction]:
    """Every action of ACTIONS, parented to the window (so its keys work everywhere in it), by name."""
    acts: dict[str, QAction] = {}
    for spec in ACTIONS:
        act = QAction(spec.text, win)
        act.setObjectName(spec.name)
        seqs = key_sequences(spec.keys)
        if seqs:
            act.setShortcuts(seqs)
        if spec.icon_text:
            act.setIconText(spec.icon_text)
        if spec.tip:
            act.setStatusTip(spec.tip)
            act.setToolTip(f"{spec.tip} ({shortcut_text(act)})" if seqs else spec.tip)
        act.triggered.connect(lambda _=False, s=spec: _trigger(win, s))
        win.addAction(act)
        acts[spec.name] = act
    _follow_undo_stack(win.undo_stack, acts)
    return acts


def _trigger(win, spec: Act) -> None:
    """Call the action's slot; one on a part that is built once torch has loaded waits for it instead of
    building it on the spot (MainWindow.when_built), or does nothing when it acts on a run (no run yet)."""
    part = spec.slot.split(".", 1)[0]
    if not spec.waits and not win.later_built and part in win.later_parts:
        win.statusBar().showMessage(f"{spec.label}: no run yet.", 4000)
        return
    win.when_built(spec.label, part, lambda: operator.attrgetter(spec.slot)(win)(*spec.args))


def _follow_undo_stack(stack, acts) -> None:
    for name, can, text, word in (("undo", stack.canUndoChanged, stack.undoTextChanged, "&Undo"),
                                  ("redo", stack.canRedoChanged, stack.redoTextChanged, "&Redo")):
        act = acts[name]
        can.connect(act.setEnabled)
        text.connect(lambda t, a=act, w=word: a.setText(f"{w} {t}".strip()))
        act.setEnabled(False)


def build_menus(win) -> dict[str, QMenu]:
    """The menu bar from MENUS, the toolbar from TOOLBAR and the canvas's context menu entries."""
    menus: dict[str, QMenu] = {}
    bar = win.menuBar()
    for name, (title, entries) in MENUS.items():
        menu = bar.addMenu(title)
        menu.setObjectName(f"menu:{name}")
        menus[name] = menu
        _fill(win, menu, entries, menus)
    tools = QToolBar("Toolbar", win)
    tools.setObjectName("toolbar")
    tools.setMovable(False)
    for name in TOOLBAR:
        tools.addSeparator() if name == "-" else tools.addAction(win.actions_by_name[name])
    win.addToolBar(tools)
    win.toolbar = tools
    win.view.context_actions = [win.actions_by_name[n] for n in CANVAS_CONTEXT]
    win.view.group_actions = [win.actions_by_name[n] for n in GROUP_CONTEXT]
    return menus


def _fill(win, menu: QMenu, entries, menus: dict[str, QMenu]) -> None:
    for entry in entries:
        if entry == "-":
            menu.addSeparator()
        elif entry.startswith("@dock:"):
            menu.addAction(win.docks[entry[6:]].toggleViewAction())
        elif entry.startswith("@"):
            sub = menu.addMenu(SUBMENU_TITLES[entry[1:]])
            sub.setObjectName(f"menu:{entry[1:]}")
            menus[entry[1:]] = sub
            SUBMENUS[entry[1:]](win, sub)
        else:
            menu.addAction(win.actions_by_name[entry])


# -- submenus filled from data the window holds ---------------------------------------------------
def preset_title(path: Path) -> str:
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("name") or path.name
    except (OSError, ValueError, AttributeError):
        return path.name.removesuffix(".loom.json")


def _presets(win, menu: QMenu) -> None:
    for path in preset_paths():
        act = menu.addAction(preset_title(path))
        act.setObjectName(f"preset:{path.name}")
        act.triggered.connect(lambda _=False, p=path: win.files.open_preset(p))


def _recent(win, menu: QMenu) -> None:
    menu.aboutToShow.connect(lambda: fill_recent(win, menu))
    fill_recent(win, menu)


def recent_labels(paths: list[str]) -> list[str]:
    """Each recent file's name; files of the same name add their folder's name, or its whole path where
    those are alike too ("net.loom.json — a/models" beside "net.loom.json — b/models")."""
    names = [Path(p).name for p in paths]
    folders = [Path(p).parent for p in paths]
    labels = []
    for name, folder in zip(names, folders):
        if names.count(name) == 1:
            labels.append(name)
            continue
        alike = [f for n, f in zip(names, folders) if n == name]
        shown_folder = folder.name if [f.name for f in alike].count(folder.name) == 1 else str(folder)
        labels.append(f"{name} — {shown_folder}")
    return labels


def fill_recent(win, menu: QMenu) -> None:
    menu.clear()
    paths = settings.recent_files()
    for path, text in zip(paths, recent_labels(paths)):
        act = menu.addAction(text.replace("&", "&&"))     # "R&D" is a name, not a shortcut
        act.setToolTip(path)
        act.setStatusTip(path)
        act.triggered.connect(lambda _=False, p=path: win.files.open(p))
    if paths:
        menu.addSeparator()
        menu.addAction("Clear Recent", settings.clear_recent_files)
    else:
        empty = menu.addAction("No recent files")
        empty.setEnabled(False)


def _theme(win, menu: QMenu) -> None:
    group = QActionGroup(menu)
    for mode, text in THEMES:
        act = menu.addAction(text)
        act.setCheckable(True)
        act.setObjectName(f"theme:{mode}")
        act.setChecked(mode == win.theme_mode)
        group.addAction(act)
        act.triggered.connect(lambda _=False, m=mode: win.set_theme(m))


def _panels(win, menu: QMenu) -> None:
    for dock in win.docks.values():
        menu.addAction(dock.toggleViewAction())


SUBMENUS = {"recent": _recent, "presets": _presets, "theme": _theme, "panels": _panels}
