"""The live views' frames during a run: each view at most at its pace (MIN_INTERVAL_MS), the next frame
when the first held-back view is due (not every 33 ms meanwhile), a view without a pace soon, and
everything at once when the run ends."""
from __future__ import annotations

from types import SimpleNamespace

from PySide6.QtCore import QTimer
from PySide6.QtGui import QRegion

from layerloom.app.training import live_views
from layerloom.app.training.live_views import FRAME_MS, MIN_INTERVAL_MS, LiveViews


class Views(LiveViews):
    """The frame logic of TrainingUI with recording views."""

    def __init__(self):
        self._dirty, self._waiting, self._unseen, self._last_drawn = set(), set(), set(), {}
        self.frame = QTimer()
        self.frame.setSingleShot(True)
        self.run = SimpleNamespace(active=True)
        self.live = SimpleNamespace(started=None, last_epoch={"epoch": 1}, maps={"conv1": {"block": "conv1"}},
                                    prediction=None)
        self.drawn: list[str] = []
        self.seen = {"plots": True, "epochs": True, "maps": True}
        self.plots = SimpleNamespace(refresh=lambda: self.drawn.append("curves"), **self._sight("plots"))
        self.epochs = SimpleNamespace(show_epoch=lambda _e: self.drawn.append("epoch"), **self._sight("epochs"))
        self.maps = SimpleNamespace(block="conv1", current=None, set_maps=lambda _ev: self.drawn.append("maps"),
                                    **self._sight("maps"))

    def _sight(self, name: str) -> dict:
        """A panel in a dock whose tab may be behind another's: Qt keeps it visible and moves it out of
        the window, so nothing of it is left to paint."""
        return {"isVisible": lambda: True,
                "visibleRegion": lambda: QRegion(0, 0, 100, 100) if self.seen[name] else QRegion()}

    def _show_progress(self):
        self.drawn.append("progress")

    def _show_health(self):
        self.drawn.append("health")

    def frame_now(self):
        """What the frame timer does when it fires."""
        self.frame.stop()
        self._redraw()
        drawn, self.drawn = self.drawn, []
        return drawn


def test_epoch_results_keep_their_pace_and_frames_wait_for_the_first_due_view(qapp, monkeypatch):
    clock = SimpleNamespace(t=100.0)
    monkeypatch.setattr(live_views, "time", SimpleNamespace(monotonic=lambda: clock.t))
    v = Views()
    assert MIN_INTERVAL_MS["epoch"] >= 1000
    epoch_end = {"epoch", "curves", "progress"}
    v._folded(epoch_end)
    assert v.frame.isActive() and v.frame.interval() == FRAME_MS
    assert set(v.frame_now()) == {"epoch", "progress"}      # epoch results in a frame of their own
    clock.t += 0.04
    assert v.frame_now() == ["curves"]
    seen = []
    for _ in range(4):                        # epochs end every 0.3 s
        clock.t += 0.3
        v._folded(epoch_end)
        drawn = v.frame_now()
        seen.append(drawn)
        assert "epoch" not in drawn
        while v._dirty and v._dirty - v._waiting:   # frames for what is not held back
            clock.t += FRAME_MS / 1000
            seen.append(v.frame_now())
        # only paced views wait: the next frame is when the first of them is due, not in 33 ms
        due = min(v._last_drawn[k] + MIN_INTERVAL_MS[k] / 1000 - clock.t for k in v._waiting)
        assert v.frame.interval() == max(FRAME_MS, round(due * 1000))
    assert "epoch" in v._dirty
    clock.t = v._last_drawn["epoch"] + MIN_INTERVAL_MS["epoch"] / 1000 + 0.001
    assert "epoch" in v.frame_now()
    flat = [x for drawn in seen for x in drawn]
    assert flat.count("curves") <= 3 and flat.count("progress") <= 3      # 1.2 s at 500 ms each


def test_a_view_without_a_pace_does_not_wait_for_a_paced_one(qapp, monkeypatch):
    clock = SimpleNamespace(t=100.0)
    monkeypatch.setattr(live_views, "time", SimpleNamespace(monotonic=lambda: clock.t))
    v = Views()
    v._folded({"curves"})
    assert v.frame_now() == ["curves"]
    clock.t += 0.05
    v._folded({"curves"})
    assert v.frame_now() == [] and v._waiting == {"curves"}
    left = round(MIN_INTERVAL_MS["curves"] - 50)   # the curves' pace, less the 50 ms since they were drawn
    assert v.frame.interval() == left
    v._folded({"maps"})                        # feature maps arrive: drawn within 33 ms, not when curves are due
    assert v.frame.isActive() and v.frame.interval() == FRAME_MS     # restarted, not left at `left`
    assert v.frame_now() == ["maps"]
    v.run.active = False                       # the run ended: everything that changed, now
    v._redraw(everything=True)
    assert v.drawn == ["curves"] and not v._dirty


def test_views_nobody_can_see_wait_until_their_dock_is_shown(qapp, monkeypatch):
    clock = SimpleNamespace(t=100.0)
    monkeypatch.setattr(live_views, "time", SimpleNamespace(monotonic=lambda: clock.t))
    v = Views()
    v.seen["plots"] = False                    # the curves behind the Runs tab
    v._folded({"curves", "progress"})
    assert v.frame_now() == ["progress"]       # the status bar's text still draws
    assert v._unseen == {"curves"} and "curves" in v._dirty and not v.frame.isActive()
    for _ in range(5):                         # more steps: no frames at all for the hidden curves
        clock.t += 0.6
        v._folded({"curves"})
        assert not v.frame.isActive()
    v.seen["plots"] = True
    v._views_shown(True)                       # the Curves tab in front again
    assert v.frame.isActive() and v.frame.interval() == FRAME_MS
    assert v.frame_now() == ["curves"] and not v._dirty
    v.seen["epochs"] = False
    v._folded({"epoch"})
    v.run.active = False                       # the run ends while they are hidden: drawn all the same
    v._redraw(everything=True)
    assert v.drawn == ["epoch"]
