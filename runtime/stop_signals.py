"""Ctrl-C and SIGTERM in the CLI commands that stop cleanly (train, export, sweep): their handlers, installed
and put back in one place, and which of the two came, for the command's last line "interrupted (SIGTERM)".

`kill`, a service manager, a logout or a sweep's coordinator send SIGTERM, which those commands take as a stop
request as they take Ctrl-C; a line that said "Ctrl-C" would send a person looking for a keyboard nobody
touched. A KeyboardInterrupt outside such a block comes from Python's own handler: Ctrl-C.
"""
from __future__ import annotations

import contextlib
import signal

WORDS = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}
_seen: list[int] = []        # the stop signals the handlers below caught, in order (this process's command)


def forget() -> None:
    """A command starts: no signal has come yet."""
    _seen.clear()


def words() -> str:
    """What stopped the command: "Ctrl-C", "SIGTERM", or both in the order they first came."""
    came = [WORDS[n] for n in dict.fromkeys(_seen) if n in WORDS]
    return ", then ".join(came) or "Ctrl-C"


@contextlib.contextmanager
def handled(on_sigint, on_sigterm=None):
    """While the block runs, Ctrl-C calls `on_sigint(signum, frame)` and SIGTERM `on_sigterm` (else `on_sigint`),
    each recorded first; the handlers that were there before are put back after it."""
    def recorded(handler):
        def on_signal(signum, frame):
            _seen.append(signum)
            handler(signum, frame)
        return on_signal

    previous = signal.signal(signal.SIGINT, recorded(on_sigint))
    previous_term = signal.signal(signal.SIGTERM, recorded(on_sigterm or on_sigint))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, previous_term)
