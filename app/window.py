"""The main window: palette (left), canvas (centre), inspector and training (right), summary, problems,
curves and runs (bottom).

The window is built in two phases so that it paints its graph before torch has loaded (torch,
torchvision and pyqtgraph take about two seconds to import):
  1. `MainWindow()` builds the parts that draw and edit the graph, all torch-free: the session
     (document, undo stack), the canvas, files, editing, the palette, inspector, summary and problems,
     the actions of app/menus.py, the docks of app/docks.py (the later parts' docks hold a placeholder)
     and the menus and toolbar. Meanwhile the session loads analysis in a background thread; shapes,
     parameters and MACs show the rules' analysis where it vouches for every block
     (graph/quick_analysis.py), else "analysing…" until it is ready.
  2. Once analysis is ready, `build_later()` builds the parts in LATER (training, export, import,
     explaining...): they import torch and pyqtgraph at module level. A person who asks for one of
     them earlier (a menu action or key, a block's context menu) gets it once they are built, with a
     note in the status bar meanwhile (`when_built`): building them on the spot would hold the window
     until torch has loaded, 2-3 s after start. Code that asks for one (a test) builds them on the spot.
     Phase 2 lives in app/later_parts.py (`LaterParts`, a base class of the window).
A part added later is one line in `_build_parts` or `_later_factories` plus its rows in menus.py /
docks.py. The later parts are built one step per turn of the event loop (`_build_in_steps`), so the
window answers input and paints while they load. Where PyTorch or pyqtgraph cannot be imported, the
window still edits and saves the graph, and says which library failed, why, and what to do.
"""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (QAbstractSpinBox, QApplication, QDockWidget, QLineEdit, QMainWindow, QMessageBox,
                               QPlainTextEdit, QWidget)

from layerloom import __version__
from layerloom.graph.quoting import shown
from layerloom.graph.summary import COST_TOOLTIP, cost_text, partial_text

from . import docks, menus, recovery, settings, theme, wheel_guard
from .canvas.scene import GraphScene
from .canvas.view import GraphView
from .editing import Editing
from .files import Files
from .later_parts import LATER, LaterParts
from .modal import run_modal
from .panels.diagnostics import DiagnosticsPanel
from .panels.inspector import Inspector
from .panels.palette import Palette
from .panels.shortcuts import ShortcutsDialog
from .panels.summary import SummaryPanel
from .pyside_workarounds import collect_garbage_in_gui_thread
from .session import Session
from .status_room import ElidedLabel, MessageBar, StatusRoom


MEMORY_DELAY_MS = 400       # after the last edit or settings change, estimate training memory


FIRST_SIZE = QSize(1440, 900)


def first_size(room: QSize) -> QSize:
    """The size of a first window (no layout saved yet): 1440×900, or what the screen has room for with
    its frame, on a laptop's 1366×768 or 1280×800, so that no panel starts beyond the screen's edge."""
    return FIRST_SIZE.boundedTo(QSize(room.width() - 16, room.height() - 40)).expandedTo(QSize(640, 480))


class MainWindow(LaterParts, QMainWindow):
    selected_block_changed = Signal(object)   # a block id, or None when no single block is selected
    later_ready = Signal()                    # the parts of LATER have been built (see build_later)
    later_parts = LATER

    def __init__(self, restore_settings: bool = True):
        super().__init__()
        settings.ensure_identity()
        wheel_guard.install(QApplication.instance())
        self._collector = collect_garbage_in_gui_thread()  # worker threads must never run Qt destructors (see there)
        self.theme_mode = settings.theme()
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks)
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        self.setStatusBar(MessageBar(self))       # a message cut at the narrowest width ends in "…"
        self._status = ElidedLabel(self)
        self._status.setToolTip(COST_TOOLTIP)
        self.statusBar().addPermanentWidget(self._status)
        self.status_room = StatusRoom(self.statusBar())
        self.status_room.add(self._status)
        self._init_later_parts()
        self._build_parts()
        self.docks: dict[str, QDockWidget] = docks.build_docks(self, later=LATER)
        self.menus = menus.build_menus(self)
        self._connect()

        self.autosave_timer = QTimer(self)
        self.autosave_timer.setInterval(recovery.INTERVAL_MS)
        self.autosave_timer.timeout.connect(self.files.autosave)
        self.autosave_timer.start()

        self.keeps_layout = True         # closing saves the size and docks (not a --screenshot's offscreen window)
        self.resize(first_size(self.screen().availableGeometry().size()))
        if not (restore_settings and self.restore_settings()):
            docks.arrange_now_or_on_show(self)
        self._update_title()
        self._analysed(self.session.result)
        self.session.analysis_ready.connect(self._schedule_later, Qt.ConnectionType.QueuedConnection)
        self.session.analysis_unavailable.connect(lambda reason: self._parts_unavailable("PyTorch", reason))
        if self.session.ready:
            self._schedule_later()
        self._first_paint = OnFirstPaint(self.view.viewport(), self._painted)

    def _painted(self) -> None:
        """The canvas has painted the graph: the garbage collector's first full collection (about 15 ms,
        kept out of the first paint's way), then analysis loads in the background if it has not."""
        if self._collector is not None:
            self._collector.check()
        if not self.session.ready:
            self.session.start_loading()

    def _build_parts(self) -> None:
        """Every part of the window; each gets what it needs as arguments."""
        self.session = Session(self)
        self.scene = GraphScene(self.session, self)
        self.view = GraphView(self.scene, self)
        self.setCentralWidget(self.view)
        self.actions_by_name = menus.build_actions(self)      # slots are looked up when triggered
        self.files = Files(self)
        self.editing = Editing(self.session, self.scene, self.view)
        self.palette = Palette(self)
        self.inspector = Inspector(self.session, self)
        self.summary = SummaryPanel(self.session, self)
        self.problems = DiagnosticsPanel(self.session, self)

    def _connect(self) -> None:
        self.scene.selected_block_changed.connect(self.selected_block_changed)
        self.selected_block_changed.connect(self.inspector.show_block)
        self.inspector.sweep_requested.connect(
            lambda path, spec: self.when_built("Sweep this parameter", "experiments",
                                               lambda: self._sweep_parameter(path, spec)))
        self.palette.add_requested.connect(self._add_from_palette)
        self.view.file_dropped.connect(self.files.open)
        self.view.prune_requested.connect(
            lambda block: self.when_built("Prune Channels", "pruning", lambda: self.pruning.open_dialog(block)))
        self.summary.block_clicked.connect(self.focus_block)
        self.problems.block_clicked.connect(self.focus_block)
        self.problems.count_changed.connect(self._problems_counted)
        self.session.message.connect(lambda text: self.statusBar().showMessage(text, 6000))
        self.session.meta_changed.connect(self._update_title)
        self.session.analysed.connect(self._analysed)
        self.undo_stack.cleanChanged.connect(self._clean_changed)

    def _connect_later(self) -> None:
        self.training.panel.settings.sweep_requested.connect(self._sweep_parameter)   # the same code path
        self.experiments.runs_selected.connect(self._compare_trials)
        self.selected_block_changed.connect(self.training.follow)
        self.learning.connect()
        self.memory.changed.connect(lambda: self.summary.show_memory(self.memory))
        self.memory.changed.connect(self.training.recheck)      # the readiness check warns when it does not fit
        self._memory_timer = QTimer(self)
        self._memory_timer.setSingleShot(True)
        self._memory_timer.setInterval(MEMORY_DELAY_MS)
        self._memory_timer.timeout.connect(self.request_memory_estimate)
        self.session.analysed.connect(lambda _r: self._memory_timer.start())
        self.training.panel.settings.changed.connect(self._memory_timer.start)
        self.training.run.state_changed.connect(self._run_state_changed)
        self.training.runs.export_requested.connect(self.exporting.export_run)
        self.training.runs.resume_requested.connect(self.training.resume_run)
        self._memory_timer.start()
        if self.selected_block() is not None:     # selected before these parts existed: they follow it now
            self.selected_block_changed.emit(self.selected_block())

    # -- the API later panels use -------------------------------------------------------------
    @property
    def document(self):
        return self.session.document

    @property
    def undo_stack(self):
        return self.session.undo_stack

    def add_panel(self, name: str, title: str, widget: QWidget,
                  area: Qt.DockWidgetArea = Qt.DockWidgetArea.BottomDockWidgetArea) -> QDockWidget:
        """Dock a panel made after the window was built (its state is remembered by name). Panels that
        are part of the window are rows of app/docks.py instead (View ▸ Reset Layout knows those)."""
        dock = docks.make_dock(self, name, title, widget)
        self.addDockWidget(area, dock)
        self.docks[name] = dock
        self.menus["panels"].addAction(dock.toggleViewAction())
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
        self.setWindowTitle(f"{shown(doc.name, 80)}{where}[*] — Layerloom")   # never raw escapes or bidi marks
        self.setWindowModified(self.session.modified)

    def _clean_changed(self, clean: bool) -> None:
        self.setWindowModified(not clean)
        if clean:
            recovery.discard()

    def _analysed(self, result) -> None:
        if result is None:          # analysis is still loading (it needs torch): no numbers yet
            self._status.setText(f"{len(self.document.blocks)} blocks · {self.session.pending_text}  ")
            return
        errors = len(result.errors)
        state = "✓ no errors" if not errors else f"✕ {errors} error{'s' if errors != 1 else ''}"
        blocks, params = f"{len(self.document.blocks)} blocks", f"{result.total_params:,} params"
        self._status.set_texts(f"{blocks} · {params} · {cost_text(result.total_macs)}{_partial(result)} · {state}  ",
                               f"{blocks} · {params} · {state}  ", f"{params} · {state}  ", f"{state}  ",
                               "✓ " if not errors else f"✕ {errors} ")
        self._update_title()

    def _run_state_changed(self, new, old) -> None:
        from .training.controller import ACTIVE
        if self.training.run.active:
            self.memory.cancel()           # the run needs the CPU; estimate again when it ends
        elif old in ACTIVE:
            self._memory_timer.start()

    def request_memory_estimate(self) -> None:
        """Estimate training memory for the graph and the Training panel's settings (not while a run
        trains: the estimate would compete with it for the CPU)."""
        if self.training.run.active:
            return
        self.memory.request(self.document, self.session.result, self.session.data, self.training.config())

    def _problems_counted(self, errors: int, warnings: int) -> None:
        n = errors + warnings
        self.docks["problems"].setWindowTitle(f"Problems ({n})" if n else "Problems")

    def _sweep_parameter(self, path: str, spec: str) -> None:
        """"Sweep this parameter": add it to the Experiment panel's sweep and show the panel."""
        if not self.experiments.params.toPlainText().strip() and self.document.sweep:
            self.experiments.load_section(self.document.sweep)
        self.experiments.add_parameter(path, spec)
        self.docks["experiments"].show()
        self.docks["experiments"].raise_()

    def show_sweeps(self) -> None:
        """Train ▸ New Sweep…: the Experiment panel in front, its parameters ready to type into."""
        self.docks["experiments"].show()
        self.docks["experiments"].raise_()
        self.when_built("New Sweep", "experiments", lambda: self.experiments.params.setFocus())

    def _compare_trials(self, runs: list, labels: dict) -> None:
        """Trials selected in the Experiment panel: the Runs tab overlays their curves."""
        self.training.runs.compare(runs, labels)
        self.statusBar().showMessage(f"Runs tab: the curves of {len(runs)} trial{'s' if len(runs) != 1 else ''} "
                                     "overlaid", 5000)

    def show_code(self) -> None:
        from .panels.code_view import CodeDialog       # the compiler: torch
        run_modal(CodeDialog(self.document, self, self.session.data))

    def show_about(self) -> None:
        QMessageBox.about(self, "About Layerloom", about_text())

    def show_shortcuts(self) -> ShortcutsDialog:
        dialog = ShortcutsDialog(self.actions_by_name, self.menus, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def reset_layout(self) -> None:
        docks.arrange(self)

    def set_theme(self, mode: str) -> None:
        self.theme_mode = mode
        settings.set_theme(mode)
        theme.apply(mode)
        for item in self.scene.items():
            item.update()
        self.scene.update()
        self.view.resetCachedContent()
        self.view.viewport().update()

    def commit_typing(self) -> None:
        """A value typed in a field that still has the focus (not yet confirmed with Enter or Tab) counts
        before an action reads the graph or the settings (▶ Train, Save, Export): the field gives up the
        focus and takes it back, which confirms it as leaving it would."""
        focus = QApplication.focusWidget()
        if isinstance(focus, (QLineEdit, QAbstractSpinBox, QPlainTextEdit)):
            focus.clearFocus()
            focus.setFocus(Qt.FocusReason.OtherFocusReason)

    # -- settings and closing -------------------------------------------------------------------
    def restore_settings(self) -> bool:
        """Restore the last size and layout; False when the saved layout lacks a dock of today's window
        (the default layout is used then)."""
        geometry, state = settings.window_layout()
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is None or not all(settings.saved_state_has(d.objectName()) for d in self.docks.values()):
            return False
        return bool(self.restoreState(state))

    def save_settings(self) -> None:
        settings.set_window_layout(self.saveGeometry(), self.saveState())

    def closeEvent(self, event) -> None:
        if not (self._may_stop_sweep() and self.files.may_replace("close Layerloom")):
            event.ignore()
            return
        self._waiting.clear()            # nothing asked for earlier opens after the window has closed
        self._closed = True              # and no later part is built after it (see _build_in_steps)
        if self.later_built:
            self._memory_timer.stop()
        self._shut_down_parts()
        if self.keeps_layout:
            self.save_settings()
        self.session.remember_result()
        self.autosave_timer.stop()
        recovery.discard()
        event.accept()


    def _may_stop_sweep(self) -> bool:
        """Closing while a sweep runs asks first, as closing during a run does (the sweep stops when the
        window has closed; its trials keep their checkpoints and Start resumes it)."""
        sweep = self.built("experiments")
        if sweep is None or not sweep.running:
            return True
        done = sum(r.get("state") == "complete" for r in sweep.rows)
        answer = QMessageBox.question(
            self, "A sweep is running",
            f"Stop the sweep and close Layerloom?\n\nIts finished trials ({done} so far) are kept in "
            f"{shown(str(sweep.folder), 200)}; Start in the Experiment panel resumes the sweep.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Yes


class OnFirstPaint(QObject):
    """Calls `fn` once, after `widget` has handled its first paint event."""

    def __init__(self, widget: QWidget, fn):
        super().__init__(widget)
        self.widget, self.fn = widget, fn
        widget.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:
        if obj is self.widget and event.type() == QEvent.Type.Paint:
            self.widget.removeEventFilter(self)
            QTimer.singleShot(0, self, self.fn)        # after this paint has finished
        return False


def about_text() -> str:
    return (f"<b>Layerloom {__version__}</b><br>Design, check, train and export PyTorch networks visually."
            "<br><br>Drag blocks from the palette, wire outputs to inputs, and watch every tensor shape as "
            "you go. Press ▶ Train (F5) to train, File ▸ Export Model… to deploy.")


def _partial(result) -> str:
    """' (partial: N blocks not computed)' when a total leaves blocks out."""
    text = partial_text(result)
    return f" ({text})" if text else ""
