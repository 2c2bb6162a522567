"""The window's parts that need torch (phase 2 of building the window; see app/window.py).

Training, export, import, explaining and the rest import torch and pyqtgraph at module level, so the
window builds them once analysis has loaded: their modules are imported in a background thread
(`_schedule_later`), then each part is built in steps, one per turn of the event loop
(`_build_in_steps`), so the window answers input and paints meanwhile. An action that needs a part
asked for before then waits for it (`when_built`), with a note in the status bar. Where a library they
need cannot be imported (PyTorch, pyqtgraph: a broken or partial install), none is built
(`_parts_unavailable`): their docks and the actions that need them say which library, why, and what to
do, and the graph can still be edited and saved.

`LaterParts` is a part of `MainWindow` (a base class of it), kept apart for its size; it uses the
window's docks, session, status bar and `_connect_later`.
"""
from __future__ import annotations

import inspect
import sys
from typing import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QMessageBox

from layerloom.graph.lazy_torch import explained

from . import analysis_loading, docks

# The parts built once analysis is ready (phase 2): each imports torch or pyqtgraph
LATER = ("memory", "training", "extras", "learning", "explaining", "experiments", "exporting", "importing",
         "pruning", "benchmarking")
LATER_MODULES = tuple(f"layerloom.app.{m}" for m in (
    "benchmarking", "explaining", "exporting", "extras_ui", "importing", "learning", "memory_estimate",
    "panels.experiments", "pruning", "training.ui"))      # what build_later imports


class LaterParts:
    def _init_later_parts(self) -> None:
        self._later_state = "waiting"        # waiting | building | built | unavailable (a library is missing)
        self._parts_to_build: list[tuple[str, Callable]] = []
        self._part_steps = None              # the generator making the part being built in steps
        self._building_part: str | None = None
        self._preloading = None
        self._waiting: dict[str, Callable[[], object]] = {}   # what the person asked for before it was built
        self._closed = False
        self._unavailable: tuple[str, str] | None = None   # (library, why) when the later parts cannot be built

    def __getattr__(self, name: str):
        """A part of LATER asked for by code before it was built (a test): build them all now (not from a
        part's own making: each part uses only those made before it)."""
        if name in LATER and self.__dict__.get("_later_state") in ("waiting", "building") \
                and not self.__dict__.get("_building_part"):
            self.build_later()
            if name in self.__dict__:          # (not when a library it needs could not be loaded)
                return self.__dict__[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def when_built(self, what: str, part: str, call: Callable[[], object]) -> None:
        """Call `call` now, or, when it needs `part` (one of LATER) and the later parts are not built yet,
        once they are: the window stays responsive meanwhile and the status bar says what is coming.
        Asked for twice meanwhile (`what` names it), it runs once."""
        if part not in LATER or self._later_state == "built":
            call()
            return
        if self._unavailable:
            self._tell_unavailable(f"{what} needs {self._unavailable[0]}, which could not be loaded.")
            return
        self._waiting[what] = call
        self.statusBar().showMessage(f"{what}: waiting for PyTorch to load…")
        if not self.session.ready:
            self.session.start_loading()          # asked for before the first paint: load now

    def _parts_unavailable(self, library: str, reason: str) -> None:
        """A library the later parts need (PyTorch, pyqtgraph…) could not be imported: they are not built
        (those built so far are shut down). Their docks, and what the person asked for meanwhile, say why;
        the graph can still be edited and saved."""
        if self._unavailable:
            return
        self._unavailable = (library, reason)
        self._later_state = "unavailable"
        self._parts_to_build, self._part_steps = [], None
        self._shut_down_parts()
        for name in LATER:
            self.__dict__.pop(name, None)
        waiting, self._waiting = list(self._waiting), {}
        self.statusBar().clearMessage()
        docks.say_unavailable(self, LATER, reason)
        asked = f"{', '.join(waiting)}: not possible. " if waiting else ""
        needs = "Shapes, training and export need" if library == "PyTorch" else "Training, export and explaining need"
        self._tell_unavailable(f"{asked}{needs} {library}, which could not be loaded.")

    def _tell_unavailable(self, what: str) -> None:
        """A warning that does not block: what cannot be done, that editing and saving still work, and why
        (none for a window already closed: the loading may end after it)."""
        if self._closed:
            return
        library, reason = self._unavailable
        box = QMessageBox(QMessageBox.Icon.Warning, f"{library} could not be loaded",
                          f"{what} The graph can still be edited and saved.\n\n{reason}",
                          QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def _run_waiting(self) -> None:
        waiting, self._waiting = self._waiting, {}
        if waiting:
            self.statusBar().clearMessage()
        for call in waiting.values():
            call()

    def built(self, name: str):
        """The part `name` if it has been built, else None (e.g. no training panel yet: no run to stop)."""
        return self.__dict__.get(name)

    @property
    def later_built(self) -> bool:
        return self._later_state == "built"

    @property
    def unavailable(self) -> str | None:
        """Why the later parts cannot be built (a library could not be loaded), or None."""
        return self._unavailable[1] if self._unavailable else None

    def _schedule_later(self) -> None:
        """Analysis has loaded: import the later parts' modules in the background (pyqtgraph, Optuna...:
        about a second the GUI thread would otherwise stand still for), then build them."""
        if self._later_state != "waiting" or self._preloading is not None:
            return
        missing = tuple(m for m in LATER_MODULES if m not in sys.modules)
        if not missing:
            QTimer.singleShot(0, self, self._build_in_steps)
            return
        self._preloading = analysis_loading.preload(missing)
        self._preloading.finished.connect(lambda: QTimer.singleShot(0, self, self._build_in_steps))

    def build_later(self) -> None:
        """Build the parts of LATER (they import torch and pyqtgraph) that are not built yet, put their panels
        in their docks and connect them, all now. Runs once."""
        if self._later_state == "built" or self._building_part:
            return
        while self._build_next():
            pass

    def _build_in_steps(self) -> None:
        """build_later one step per turn of the event loop: the window answers input and paints between
        steps (all at once held it for about half a second, 2-3 s after start)."""
        if self._later_state != "built" and not self._building_part and not self._closed and self._build_next():
            QTimer.singleShot(0, self, self._build_in_steps)

    def _later_factories(self) -> list[tuple[str, Callable]]:
        """How each part of LATER is made from the window, in LATER's order (a part may use the ones before
        it). A maker may be a generator: each of its steps is a step of the build, and what it returns is
        the part."""
        from .benchmarking import Benchmarking
        from .explaining import Explaining
        from .exporting import Exporting
        from .extras_ui import Extras
        from .importing import Importing
        from .learning import Learning
        from .memory_estimate import MemoryEstimator
        from .panels.experiments import ExperimentPanel
        from .pruning import Pruning
        from .training.ui import TrainingUI
        made = {"memory": MemoryEstimator, "training": TrainingUI.made_in_steps, "extras": Extras,
                "learning": Learning, "explaining": Explaining,
                "experiments": lambda win: ExperimentPanel(win.session, win), "exporting": Exporting,
                "importing": Importing, "pruning": Pruning, "benchmarking": Benchmarking}
        return [(name, made[name]) for name in LATER]

    def _build_next(self) -> bool:
        """Build the next part of LATER, or, when all are built, finish (docks, connections, `later_ready`).
        Returns whether anything is left to do. A library a part needs that cannot be imported (broken or
        missing) ends the building: see `_parts_unavailable`."""
        if self._later_state == "unavailable":
            return False
        try:
            return self._build_step()
        except (ImportError, OSError) as exc:
            problem = explained(exc)
            if problem is None:
                raise
            self._parts_unavailable(problem.library, str(problem))
            return False

    def _build_step(self) -> bool:
        if self._later_state == "waiting":
            self._later_state = "building"
            self._parts_to_build = self._later_factories()
        if self._parts_to_build:
            name, make = self._parts_to_build[0]
            self._building_part = name
            try:
                if self._part_steps is None:
                    made = make(self)
                    if not inspect.isgenerator(made):
                        self._part_made(name, made)
                        return True
                    self._part_steps = made
                try:
                    next(self._part_steps)
                except StopIteration as done:
                    self._part_made(name, done.value)
            finally:
                self._building_part = None
            return True
        self._finish_later()
        return False

    def _part_made(self, name: str, part) -> None:
        setattr(self, name, part)
        self._parts_to_build.pop(0)
        self._part_steps = None

    def _finish_later(self) -> None:
        self.status_room.add(self.training.status_text, self.training.status, cap=430)
        docks.fill_later(self, LATER)
        self.training.connect_docks(self.docks)
        self._later_state = "built"
        self._connect_later()
        if self._collector is not None and self._preloading is not None:
            self._collector.freeze_again()        # torch, pyqtgraph and the panels just loaded: frozen with the rest
        self.later_ready.emit()
        if self._waiting:     # from the event loop: a dialog that opens runs its own loop, not inside this call
            QTimer.singleShot(0, self, self._run_waiting)

    def _shut_down_parts(self) -> None:
        """training: stops a run (it keeps a checkpoint) and waits for its thread; explaining, benchmarking,
        extras (a run's Embedding loading): cancel and wait; experiments: stops a sweep (every trial keeps a checkpoint); memory: gives up an
        estimate at its next phase and waits for it. Those built, where not all are (closed, or a library
        missing, while they were being built)."""
        for name in ("training", "learning", "explaining", "extras", "experiments", "benchmarking", "memory"):
            part = self.built(name)
            if part is not None:
                part.shutdown()
