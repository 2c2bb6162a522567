"""The live views of a run: the trainer events the run controller has folded into its LiveRun, redrawn
at a pace (curves, feature maps, epoch results, progress text). A part of TrainingUI (app/training/ui.py), which it is mixed into."""
from __future__ import annotations

import time
from pathlib import Path

from layerloom.graph.diagnostics import Diagnostic
from layerloom.runtime.health_indicators import grouped_texts

from .. import settings
from ..docks import in_sight
from .controller import RunState

FRAME_MS = 33          # at most ~30 redraws a second
# Most views need less. Each pyqtgraph repaint holds the GIL the training thread needs (PySide keeps
# it through C++ calls), and on a machine of few cores the GUI thread's time comes out of training's
# cores, so curves and progress text redraw once a second. Measured with LeNet-5 in the app (its steps
# take ~10 ms, the most sensitive case) on 2 cores, alternating in one window: 500 ms for both cut the
# GUI thread's CPU time from 0.77 s to 0.68 s a run and the training time by 5 % against 200 ms for
# curves and 250 ms for progress; 1 s (with the health strip at 2 s and feature maps captured once a
# second, app/training/run_thread.TAP_INTERVAL_S) then gave 6 % more samples a second than 500 ms
# (median of 10 paired runs, 8 of them faster; the GUI thread 18 % -> 16 % of a core).
# Epoch results (a confusion matrix, per-class bars, sample verdicts) come at most every 1.5 s: a small
# data set's epochs can end several times a second, and each redraw of them costs ~10 ms plus its paint.
# The curves show every epoch's validation points meanwhile, and the run's end draws everything.
# The health strip (its chips are rich text, laid out again for each sample) follows at most every
# two seconds: samples come every 50 steps, which LeNet-5 on mnist-sample takes a third of a second for.
# A new health problem is announced at once all the same (`_on_event`).
MIN_INTERVAL_MS = {"progress": 1000, "curves": 1000, "epoch": 1500, "health": 2000}
# Views that nobody can see (their dock closed, or behind another tab) wait until they are shown: the
# curves behind the Runs tab cost nothing. The health strip also marks blocks on the canvas, and the
# progress text is in the status bar, so those two always draw.
SEEN_IN = {"curves": "plots", "maps": "maps", "prediction": "maps", "epoch": "epochs"}


class LiveViews:
    """The live-view half of TrainingUI: its methods use the TrainingUI's views and LiveRun."""

    # -- events and redraws ------------------------------------------------------------------------
    def _folded(self, dirty: set) -> None:
        """A trainer event made these views stale; the frame timer redraws them."""
        self._dirty |= dirty
        if not dirty - self._unseen:
            return                          # only views nobody can see now: drawn when shown
        if not self.frame.isActive() or (dirty - self._waiting and self.frame.interval() > FRAME_MS):
            self.frame.start(FRAME_MS)      # a view that is not waiting for its pace: draw it soon

    def _forget_frames(self) -> None:
        """A new run or another graph: nothing of the last run is left to draw, or held back."""
        self._dirty.clear()
        self._waiting, self._unseen = set(), set()

    def _views_shown(self, visible: bool) -> None:
        """A dock with live views came into sight: what changed while it was hidden is drawn now."""
        if visible and self._unseen:
            self._unseen = set()
            if self._dirty:
                self.frame.start(FRAME_MS)

    def _on_event(self, event: dict) -> None:
        if event.get("type") == "started":
            self.epochs.began()
            self._health_notes = []
            self.runs.set_training(True, event.get("run_dir"))
            if event.get("resumed_from"):
                self.show_resumed_settings(event.get("config"))
        elif event.get("type") == "finished" and not (event.get("summary") or {}).get("epochs"):
            summary = event.get("summary") or {}
            self.epochs.ended_before_an_epoch(summary.get("steps"), summary.get("val_accuracy"),
                                              bool(event.get("stopped")))
        elif event.get("type") == "health" and event.get("new_problems"):     # runtime/health.py's findings
            self._health_notes += event["new_problems"]
            self.panel.show_message(self._health_text(), "warning")

    def _health_text(self) -> str:
        notes = grouped_texts(self._health_notes)
        return ("Training health: " + " ".join(f"{n}." for n in notes)) if notes else ""

    def _redraw(self, everything: bool = False) -> None:
        """One frame: update the views whose data changed (each at most at its own rate, and epoch results
        in a frame of their own); `everything`: all that changed, now (the run has ended)."""
        now = time.monotonic()
        dirty = set(self._dirty)
        pace = not everything and self.run.active and "started" not in dirty
        due = {}                             # view -> seconds until its pace lets it redraw
        for view, ms in MIN_INTERVAL_MS.items():
            left = self._last_drawn.get(view, 0.0) + ms / 1000 - now
            if pace and view in dirty and left > 0:
                dirty.discard(view)          # too soon: it stays dirty for a later frame
                due[view] = left
        self._unseen = set() if everything else \
            {v for v in dirty if v in SEEN_IN and not in_sight(getattr(self, SEEN_IN[v]))}
        dirty -= self._unseen                # they stay dirty until their dock is shown (_views_shown)
        if pace and "epoch" in dirty:
            dirty &= {"epoch", "progress", "state"}
        self._dirty -= dirty
        for view in dirty:
            self._last_drawn[view] = now
        self._waiting = set(due)
        pending = self._dirty - self._unseen
        if pending:                          # the next frame: soon, or when the first waiting view is due
            later = round(min(due.values()) * 1000) if due else 0
            self.frame.start(FRAME_MS if pending - self._waiting else max(FRAME_MS, later))
        live = self.live
        if "started" in dirty and live.started:
            self._run_started(live.started)
        if "curves" in dirty:
            self.plots.refresh()
        if "maps" in dirty:
            target = self.maps.block
            ev = live.maps.get(target) if target else None
            if ev is not None and ev is not self.maps.current:
                self.maps.set_maps(ev)
        if "prediction" in dirty and live.prediction is not None:
            self.maps.set_prediction(live.prediction["probabilities"])
        if "epoch" in dirty and live.last_epoch is not None:
            self.epochs.show_epoch(live.last_epoch)
        if dirty & {"health", "started"}:
            self._show_health()
        if dirty & {"progress", "state", "started"}:
            self._show_progress()

    def _show_health(self) -> None:
        """The health strip beside the curves, and every problem of this run as a diagnostic on its block."""
        h = self.live.health
        self.plots.health.set_indicators(h.get("indicators") if h else None, h.get("step") if h else None)
        scene = self.win.scene
        if self.health_doc is scene.document:
            scene.set_run_diagnostics([Diagnostic(p["block"], f"training health: {p['message']}", p["code"], "warning")
                                       for p in self.live.health_problems.values()])

    def _run_started(self, e: dict) -> None:
        self.plots.start(self.live)
        vocab = self.run_bundle.info.vocabulary if self.run_bundle is not None else ()
        self.maps.set_run_info(e["class_names"], vocab, e.get("probe_input"), e.get("probe_label"),
                               e.get("probe_index", 0))
        if self.run_bundle is None:       # resumed or loaded by the trainer itself
            self.epochs.class_names = list(e["class_names"])
        self.follow(self.followed)
        if e.get("warnings"):
            self.panel.show_message(" ".join(e["warnings"]), "warning")

    def _show_progress(self) -> None:
        live = self.live
        state = self.run.state
        stopping = state == RunState.STOPPING
        text = "Stopping: saving a checkpoint…" if stopping else live.progress_text()
        threads = live.threads_text()       # "Threads: 2 (chosen by measuring: ...)", a line of its own
        self.panel.set_progress(live.fraction, f"{text}<br>{threads}" if threads else text)
        self.status_bar.set_fraction(live.fraction)
        name = self.trained_doc.name if self.trained_doc is not None else ""
        if self.run.active:
            short = "stopping, saving a checkpoint…" if stopping else (live.progress_text(short=True)
                                                                       or "preparing the run…")
            self.status_text.set_texts(f"Training: {short} · graph read-only", f"Training: {short}",
                                       f"Training: {short.split(' · ', 1)[-1]}")
        elif state == RunState.FAILED:
            self.status_text.set_texts(f"{name}: training failed", "training failed")
        elif live.started:               # "LeNet-5: Epoch 2/2 · step 750/750 · stopped in 0:41"
            self.status_text.set_texts(f"{name}: {text}", text, text.split(" · ")[-1])

    def _runs_folder_changed(self, path: str) -> None:
        self.runs_base = Path(path)
        settings.set_runs_dir(path)
        self.recheck()                  # a folder that cannot be written to blocks Start

    def set_runs_folder(self, path) -> None:
        """Where new runs go and which runs the list shows (not remembered; the list's Folder… is)."""
        self.runs_base = Path(path)
        self.runs.set_base(self.runs_base)
        self.recheck()
