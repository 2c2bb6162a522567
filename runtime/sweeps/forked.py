"""Sweep trials forked from one interpreter that has imported PyTorch and Layerloom's training code once.

A trial is `layerloom train …` in a process of its own (trial.py). Started as a new interpreter, every trial
spent about 4 s importing PyTorch and TorchDynamo before its first step: longer than a small model's whole
training, and again for each trial of the sweep. Here a trial is forked from a fork server instead
(fork_server.py): one interpreter per coordinator, started as a sweep starts (`prepare`, while the coordinator
checks its data set), that imports what a trial needs and forks a process for each trial. The server is a new
interpreter, never a fork of the coordinator, so forking is safe from the app's threads; it stays for the next
sweep of the same coordinator and exits with it.

`start` returns either a ForkedTrial or, where trials are not forked, a subprocess.Popen, with the same face:
pid, args, stdout, stderr, poll, wait, send_signal, kill, returncode. A forked trial runs the same command line
as the new interpreter did (`python -m layerloom.app.main train …`, or what trial.TRAIN says) and is the same to
the coordinator (fork_server.py lists how): its own session and group, its pipes, environment and folder, its
exit status (negative for a signal), and SIGTERM when the coordinator dies. What differs: `ps` shows the fork
server's command line for it, and settings read when PyTorch loads (other than the thread count) are the
server's.

Where trials cannot be forked (not Linux) or the server cannot start or answer, a trial is a new interpreter as
before: slower to start, the same otherwise. A server that does not answer in ANSWER_S is asked nothing more.
A server that ends before its trials (killed when the system ran out of memory) stops them (SIGTERM, paused
ones continued first); each says so (`server_lost`), and the sweep tries their values again.
"""
from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref

from ..processes import process_started
from .fork_server import REQUEST_BYTES, STATUS, exit_with_parent

FORK = sys.platform.startswith("linux") and hasattr(socket, "send_fds")
SERVER = [sys.executable, "-m", "layerloom.runtime.sweeps.fork_server"]
ANSWER_S = 300          # the longest a trial waits for the server to fork it (its first import takes seconds)

_server = None
_server_lock = threading.Lock()
_retired: list = []         # servers that did not answer in time, kept for the trials they may run


def start(command: list[str], env: dict):
    """`python *command` with `env`, stdout and stderr on text pipes: forked from the fork server where it
    can be, else a new interpreter (subprocess.Popen)."""
    if FORK:
        try:
            return ForkedTrial(command, env)
        except (OSError, EOFError, ValueError):
            pass                 # the fork server could not start or answer: a new interpreter does the same
    return subprocess.Popen([sys.executable, *command], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, encoding="utf-8", errors="replace", env=env,
                            start_new_session=True,
                            preexec_fn=exit_with_parent if sys.platform.startswith("linux") else None)


def prepare() -> None:
    """Start the fork server now where trials are forked: it imports what a trial needs (seconds) while the
    coordinator makes its own checks (its data set, the study), so the first trial waits less. Starting it
    takes milliseconds; a server that cannot start is left to `start`, which falls back."""
    if FORK:
        try:
            _running_server()
        except OSError:
            pass


class _Server:
    """The fork server's process, the coordinator's end of its socket, and the trials it forked. A thread waits
    for the server's end: if it goes before them (killed when the system ran out of memory), each of its trials
    is continued, paused or not, so that it takes the SIGTERM the server's end sent it."""

    def __init__(self):
        mine, its = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = subprocess.Popen([*SERVER, str(its.fileno())], pass_fds=(its.fileno(),),
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL, start_new_session=True)
        except BaseException:
            mine.close()
            raise
        finally:
            its.close()
        self.sock = mine
        self.lock = threading.Lock()
        self.trials = weakref.WeakSet()
        self.ended = threading.Event()
        threading.Thread(target=_watch, args=(self.proc, self.trials, self.ended), name="fork-server-watch",
                         daemon=True).start()              # not a method: a server no one uses can go

    def ask(self, command: list[str], env: dict, fds: list[int]) -> None:
        message = json.dumps({"command": list(command), "env": dict(env), "cwd": os.getcwd()}).encode()
        if len(message) > REQUEST_BYTES:
            raise ValueError("the trial's command line and environment are too large to send")
        with self.lock:
            socket.send_fds(self.sock, [message], fds)

    def close(self) -> None:
        """The coordinator's end of the socket closed: the server exits (and stops the trials it still runs)."""
        self.sock.close()


def _watch(proc, trials, ended) -> None:
    proc.wait()
    ended.set()
    for trial in list(trials):
        trial.server_gone()


def _running_server() -> _Server:
    global _server
    with _server_lock:
        if _server is None or _server.ended.is_set() or _server.proc.poll() is not None:
            _server = _Server()
        return _server


def _set_aside(server: _Server, retire: bool) -> None:
    """The next trial asks another server. One that has ended is let go; one that did not answer in time
    (`retire`) is asked nothing more and kept while it runs trials of this coordinator's, and it does not
    start the trial it was waited for (that trial's status pipe is closed)."""
    global _server
    with _server_lock:
        if _server is server:
            _server = None
        _retired[:] = [s for s in _retired if len(s.trials) and not s.ended.is_set()]
        if retire and len(server.trials) and not server.ended.is_set():
            _retired.append(server)
        elif server not in _retired:
            server.close()


class ForkedTrial:
    """A trial forked from the fork server, with subprocess.Popen's face (see the module's text).

    `server_lost` becomes True when the server ended before the trial did: the trial got SIGTERM then (a clean
    stop), its exit status is unknown (255 once it has ended), and it is still signalled safely (a pidfd, or
    its pid with the start time the system gave it)."""

    def __init__(self, command: list[str], env: dict):
        self.args = [sys.executable, *command]        # the command line it runs, as a new interpreter would
        self.returncode = None
        self.server_lost = False
        self._lock = threading.Lock()
        self._open: dict[str, int] = {}               # the status pipe and the pidfd, closed at the end or by GC
        weakref.finalize(self, _close_all, self._open)
        pipes = [os.pipe() for _ in range(3)]           # stdout, stderr, status: (read end, write end)
        try:
            for attempt in (1, 2):
                server = _running_server()
                try:
                    server.ask(command, env, [w for _r, w in pipes])
                    break
                except OSError:                       # it has just ended: once more, with a new one
                    _set_aside(server, retire=False)
                    if attempt == 2:
                        raise
            for _r, w in pipes:                       # the server has its own copies: its end shows as EOF
                os.close(w)
            pipes = [(r, None) for r, _w in pipes]
            self._open["status"] = pipes[2][0]
            try:
                self.pid = self._read(ANSWER_S)
            except TimeoutError:
                _set_aside(server, retire=True)
                raise
            except EOFError:                          # it could not fork the trial, or it has ended
                if server.ended.wait(1):
                    _set_aside(server, retire=False)
                raise
            self._started = process_started(self.pid)
            pidfd = _pidfd(self.pid)
            if pidfd is not None:
                self._open["pidfd"] = pidfd
            server.trials.add(self)
        except BaseException:
            if "pidfd" in self._open:
                os.close(self._open.pop("pidfd"))
            self._open.clear()                        # the status pipe is closed with the others
            for r, w in pipes:
                os.close(r)
                if w is not None:
                    os.close(w)
            raise
        self.stdout = open(pipes[0][0], encoding="utf-8", errors="replace")
        self.stderr = open(pipes[1][0], encoding="utf-8", errors="replace")

    def _read(self, timeout) -> int:
        """The next number on the status pipe; TimeoutError when none came in `timeout` seconds, EOFError when
        the server went without writing it."""
        data = b""
        status = self._open["status"]
        while len(data) < STATUS.size:
            if not _ready(status, timeout):
                raise TimeoutError("the fork server did not answer")
            chunk = os.read(status, STATUS.size - len(data))
            if not chunk:
                raise EOFError("the fork server ended")
            data += chunk
        return STATUS.unpack(data)[0]

    def server_gone(self) -> None:
        """The server ended: continue the trial (if paused) so that it takes the server's SIGTERM."""
        self._signal(signal.SIGCONT)

    def _alive(self, timeout) -> bool:
        """Once the server has gone: whether the trial still runs after up to `timeout` seconds."""
        pidfd = self._open.get("pidfd")
        if pidfd is not None:
            return not _ready(pidfd, timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._started is not None and process_started(self.pid) == self._started:
            if deadline is not None and time.monotonic() >= deadline:
                return True
            time.sleep(0.05)
        return False

    def _ended(self, timeout) -> None:
        if not self.server_lost:
            try:
                self.returncode = self._read(timeout)
                self._close()
                return
            except EOFError:
                self.server_lost = True
                self.server_gone()
        if self._alive(timeout):
            raise TimeoutError("the trial is still running")
        self.returncode = 255               # ended; its status went with the server
        self._close()

    def _close(self) -> None:
        with self._lock:                    # the server's watch may be signalling through the pidfd
            _close_all(self._open)

    def poll(self):
        if self.returncode is None:
            try:
                self._ended(0)
            except TimeoutError:
                pass
        return self.returncode

    def wait(self, timeout=None) -> int:
        if self.returncode is None:
            try:
                self._ended(timeout)
            except TimeoutError:
                raise subprocess.TimeoutExpired(self.args, timeout) from None
        return self.returncode

    def _signal(self, sig) -> None:
        with self._lock:
            if self.returncode is not None:
                return
            try:
                pidfd = self._open.get("pidfd")
                if pidfd is not None:
                    signal.pidfd_send_signal(pidfd, sig)
                elif not self.server_lost or process_started(self.pid) == self._started:
                    os.kill(self.pid, sig)      # held by the server until its status is written, or still its own
            except ProcessLookupError:
                pass

    def send_signal(self, sig) -> None:
        if self.poll() is None:
            self._signal(sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def _close_all(fds: dict) -> None:
    while fds:
        os.close(fds.popitem()[1])


def _pidfd(pid: int):
    """A pidfd for the trial (Linux 5.3+): signals reach it, not a later process given its pid, even once the
    server that started it is gone. None where there is none (the trial's status then says when it ended)."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _ready(fd: int, timeout) -> bool:
    """Whether `fd` can be read within `timeout` seconds (None: wait as long as it takes)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    return bool(poller.poll(None if timeout is None else max(0, int(timeout * 1000))))
