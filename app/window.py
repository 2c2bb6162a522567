"""The main window: palette (left), canvas (centre), inspector (right), summary and problems (bottom).

Later panels (training, feature maps, runs) hook in through `document`, `undo_stack`, `scene`, the
`selected_block_changed` signal and `add_panel()`.
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QSettings, Qt, QTimer, Signal
from PySide6.QtWidgets import QApplication, QDockWidget, QLabel, QMainWindow, QMessageBox, QWidget

from layerloom.graph.summary import human

from . import recovery, theme
from .extras_ui import install_extras
from .actions import build_actions, build_menus
from .canvas.scene import GraphScene
from .canvas.view import GraphView
from .editing import Editing
from .files import Files
from .panels.code_view import CodeDialog
from .panels.diagnostics import DiagnosticsPanel
from .panels.inspector import Inspector
from .panels.palette import Palette
from .panels.summary import SummaryPanel
from .session import Session
from .training_ui import install_training

ORGANISATION = "Layerloom"
APPLICATION = "Layerloom"


def ensure_identity() -> None:
    """Name the application so QSettings and QStandardPaths use Layerloom's own places."""
    if not QCoreApplication.organizationName():
        QCoreApplication.setOrganizationName(ORGANISATION)
    if not QCoreApplication.applicationName() or QCoreApplication.applicationName() in ("python", "python3"):
        QCoreApplication.setApplicationName(APPLICATION)


class MainWindow(QMainWindow):
    selected_block_changed = Signal(object)   # a block id, or None when no single block is selected

    def __init__(self, restore_settings: bool = True):
        super().__init__()
        ensure_identity()
        self.theme_mode = str(QSettings().value("theme", "system"))
        self.session = Session(self)
        self.scene = GraphScene(self.session, self)
        self.view = GraphView(self.scene, self)
        self.setCentralWidget(self.view)
        self.files = Files(self)
        self.editing = Editing(self.session, self.scene, self.view)

        self.palette = Palette(self)
        self.inspector = Inspector(self.session, self)
        self.summary = SummaryPanel(self.session, self)
        self.problems = DiagnosticsPanel(self.session, self)
        self.docks: dict[str, QDockWidget] = {}
        self.add_panel("palette", "Blocks", self.palette, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.add_panel("inspector", "Inspector", self.inspector, Qt.DockWidgetArea.RightDockWidgetArea)
        self.add_panel("summary", "Summary", self.summary, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.add_panel("problems", "Problems", self.problems, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.tabifyDockWidget(self.docks["summary"], self.docks["problems"])
        self.docks["summary"].raise_()
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks)

        self.actions_by_name = build_actions(self)
        build_menus(self, self.actions_by_name)
        install_extras(self)
        self._status = QLabel(self)
        self.statusBar().addPermanentWidget(self._status)

        self.scene.selected_block_changed.connect(self.selected_block_changed)
        self.selected_block_changed.connect(self.inspector.show_block)
        self.palette.add_requested.connect(self._add_from_palette)
        self.view.file_dropped.connect(self.files.open)
        self.summary.block_clicked.connect(self.focus_block)
        self.problems.block_clicked.connect(self.focus_block)
        self.problems.count_changed.connect(self._problems_counted)
        self.session.message.connect(lambda text: self.statusBar().showMessage(text, 6000))
        self.session.meta_changed.connect(self._update_title)
        self.session.analysed.connect(self._analysed)
        self.undo_stack.cleanChanged.connect(self._clean_changed)

        self.autosave_timer = QTimer(self)
        self.autosave_timer.setInterval(recovery.INTERVAL_MS)
        self.autosave_timer.timeout.connect(self.files.autosave)
        self.autosave_timer.start()

        install_training(self)   # training panel, live views, runs (self.training)

        self.resize(1440, 900)
        self.resizeDocks([self.docks["palette"], self.docks["inspector"]], [190, 310], Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["summary"]], [190], Qt.Orientation.Vertical)
        if restore_settings:
            self.restore_settings()
        self._update_title()
        self._analysed(self.session.flush())

    # -- the API later panels use -------------------------------------------------------------
    @property
    def document(self):
        return self.session.document

    @property
    def undo_stack(self):
        return self.session.undo_stack

    def add_panel(self, name: str, title: str, widget: QWidget,
                  area: Qt.DockWidgetArea = Qt.DockWidgetArea.BottomDockWidgetArea) -> QDockWidget:
        """Dock a panel (its state is remembered by name); tabs with an existing panel in that area."""
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock:{name}")
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        self.docks[name] = dock
        if hasattr(self, "panels_menu"):
            self.panels_menu.addAction(dock.toggleViewAction())
        return dock

    def selected_block(self) -> str | None:
        ids = self.scene.selected_block_ids()
        return ids[0] if len(ids) == 1 else None

    def focus_block(self, block_id: str) -> None:
        """Select a block and centre it on the canvas."""
        if block_id in self.scene.blocks:
            self.scene.select_blocks([block_id])
            self.view.center_on_block(block_id)

    # -- reactions --------------------------------------------------------------------------------
    def _add_from_palette(self, kind: str) -> None:
        centre = self.view.mapToScene(self.view.viewport().rect().center())
        n = len(self.document.blocks) % 6
        centre.setX(centre.x() + 20 * n)
        centre.setY(centre.y() + 20 * n)
        self.view.add_block_at(kind, centre)

    def _update_title(self) -> None:
        doc = self.session.document
        where = f" — {self.session.path.name}" if self.session.path else ""
        self.setWindowTitle(f"{doc.name}{where}[*] — Layerloom")
        self.setWindowModified(self.session.modified)

    def _clean_changed(self, clean: bool) -> None:
        self.setWindowModified(not clean)
        if clean:
            recovery.discard()

    def _analysed(self, result) -> None:
        if result is None:
            return
        errors = len(result.errors)
        state = "✓ no errors" if not errors else f"✕ {errors} error{'s' if errors != 1 else ''}"
        self._status.setText(f"{len(self.document.blocks)} blocks · {result.total_params:,} params · "
                             f"{human(result.total_flops)} FLOPs · {state}  ")
        self._update_title()

    def _problems_counted(self, errors: int, warnings: int) -> None:
        n = errors + warnings
        self.docks["problems"].setWindowTitle(f"Problems ({n})" if n else "Problems")

    def show_code(self) -> None:
        CodeDialog(self.document, self).exec()

    def show_about(self) -> None:
        QMessageBox.about(self, "About Layerloom",
                          "<b>Layerloom</b><br>Design, check, train and export PyTorch networks visually.<br><br>"
                          "Drag blocks from the palette, wire outputs to inputs, and watch every tensor "
                          "shape as you go.")

    def set_theme(self, mode: str) -> None:
        self.theme_mode = mode
        QSettings().setValue("theme", mode)
        theme.apply(mode)
        for item in self.scene.items():
            item.update()
        self.scene.update()
        self.view.resetCachedContent()
        self.view.viewport().update()

    # -- settings and closing -------------------------------------------------------------------
    def restore_settings(self) -> None:
        s = QSettings()
        geometry, state = s.value("window/geometry"), s.value("window/state")
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)

    def save_settings(self) -> None:
        s = QSettings()
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())

    def closeEvent(self, event) -> None:
        if not self.files.maybe_save():
            event.ignore()
            return
        self.training.shutdown()   # stops a run (it keeps a checkpoint) and waits for its thread
        self.save_settings()
        self.autosave_timer.stop()
        recovery.discard()
        event.accept()


# -- starting the app --------------------------------------------------------------------------
def _excepthook(kind, value, tb) -> None:
    """An unexpected error becomes a dialog with a plain message (details go to stderr)."""
    traceback.print_exception(kind, value, tb)
    app = QApplication.instance()
    if app is not None and not os.environ.get("LAYERLOOM_NO_ERROR_DIALOG"):
        QMessageBox.critical(app.activeWindow(), "Something went wrong",
                             f"Layerloom hit an unexpected problem and did not finish that action:\n\n{value}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="layerloom", description="Open the Layerloom editor.", allow_abbrev=False)
    p.add_argument("file", nargs="?", help="a .loom.json graph to open (default: the LeNet-5 preset)")
    p.add_argument("--screenshot", metavar="OUT.png", help="render the window to a PNG and exit")
    p.add_argument("--theme", choices=("system", "light", "dark"), help="colour theme")
    p.add_argument("--size", default="1600x1000", help="window size for --screenshot (WxH)")
    p.add_argument("--select", metavar="BLOCK", help="select a block (the inspector shows it)")
    return p.parse_args(argv)


def launch(argv: list[str] | None = None) -> int:
    args = parse_args(list(argv or []))
    if args.screenshot and "QT_QPA_PLATFORM" not in os.environ:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "layerloom"])
    ensure_identity()
    mode = args.theme or str(QSettings().value("theme", "system"))
    theme.apply(mode)
    win = MainWindow(restore_settings=not args.screenshot)
    win.theme_mode = mode
    if args.file:
        if not win.files.open(args.file, ask=False) and args.screenshot:
            return 1
    else:
        from layerloom.presets import preset_path
        win.files.open_preset(preset_path("lenet5"))
        win.statusBar().clearMessage()
    if args.select:
        win.scene.select_blocks([args.select])
    if args.screenshot:
        return _screenshot(app, win, args.screenshot, args.size)
    sys.excepthook = _excepthook
    win.show()
    app.processEvents()
    win.view.fit()
    QTimer.singleShot(0, win.files.offer_recovery)
    return app.exec()


def _screenshot(app, win: MainWindow, out: str, size: str) -> int:
    try:
        w, h = (int(v) for v in size.lower().split("x"))
    except ValueError:
        w, h = 1600, 1000
    win.resize(w, h)
    win.show()
    for _ in range(3):
        app.processEvents()
    win.view.fit()
    app.processEvents()
    pixmap = win.grab()
    ok = pixmap.save(str(Path(out)))
    win.session.undo_stack.setClean()
    win.close()
    if not ok:
        print(f"layerloom: could not write {out}", file=sys.stderr)
        return 1
    print(f"wrote {out} ({pixmap.width()}×{pixmap.height()})")
    return 0
