"""A trainer's run/pause flag that counts how often the paused trainer woke up and found itself still
paused: a test waits for a few of those wake-ups instead of sleeping and hoping."""
from __future__ import annotations

import threading


class CountedPause(threading.Event):
    """Stands in for `Trainer._running` (set: run; clear: pause). The trainer waits on it with a timeout
    while paused; every wait that times out is one look at the flag that found the run still paused."""

    def __init__(self):
        super().__init__()
        self.set()
        self.idle_wakeups = 0
        self._seen = threading.Condition()

    def wait(self, timeout=None) -> bool:
        running = super().wait(timeout)
        if not running:
            with self._seen:
                self.idle_wakeups += 1
                self._seen.notify_all()
        return running

    def wait_for_wakeups(self, n: int, timeout: float = 30.0) -> bool:
        """Block until the paused trainer has looked at the flag `n` more times and stayed paused."""
        with self._seen:
            target = self.idle_wakeups + n
            return self._seen.wait_for(lambda: self.idle_wakeups >= target, timeout)
