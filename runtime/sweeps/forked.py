"""Sweep trials forked from one interpreter that has imported PyTorch and Layerloom's training code once.

A trial is `layerloom train …` in a process of its own (trial.py). Started as a new interpreter, every trial
spent about 4 s importing PyTorch and TorchDynamo before its first step: longer than a small model's whole
training, and again for each trial of the sweep. Here trials come from multiprocessing's fork server
instead: one interpreter, started as a sweep starts (`prepare`, while the coordinator checks its data set),
imports what a trial needs (trial_imports.py) and forks a process for each trial. The fork server is a new interpreter, never a fork of the coordinator,
so forking is safe from the app's threads, and it stays for the next sweep of the same coordinator.

To the coordinator a forked trial is what the new interpreter was (`start` returns either, with Popen's
face: pid, args, stdout, stderr, poll, wait, send_signal, kill, returncode):
- it runs the same command line, `python -m layerloom.app.main train …` (or what trial.TRAIN says), as
  `python` runs it: `__main__`, sys.argv, SystemExit's code as its exit status;
- in the environment and working folder it is given, with stdout and stderr on pipes (UTF-8, a line at
  a time), its stdin empty;
- in its own session and process group (a terminal's Ctrl-C reaches the coordinator only; killpg(pid)
  ends the trial with its data-loading workers), which may start processes of its own;
- its exit status is negative for the signal that ended it;
- it gets SIGTERM (a clean stop) when the coordinator dies, even by SIGKILL: the fork server exits when
  its coordinator does (no trial keeps it alive), and each trial asks for SIGTERM when the server goes.

Where multiprocessing has no fork server, or the server cannot start (no Unix sockets in a sandbox), a
trial is a new interpreter as before: slower to start, the same otherwise.
"""
from __future__ import annotations

import ctypes
import multiprocessing
import os
import runpy
import signal
import subprocess
import sys
from multiprocessing import reduction

PRELOAD = ["layerloom.runtime.sweeps.trial_imports"]
FORK = sys.platform.startswith("linux") and "forkserver" in multiprocessing.get_all_start_methods()

_context = None


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
    if not FORK:
        return
    try:
        _fork_context()
        from multiprocessing import forkserver
        forkserver.ensure_running()
    except (OSError, ValueError):
        pass


def exit_with_parent():
    """In a trial: get SIGTERM (a clean stop in `layerloom train`) when its parent dies, even by SIGKILL
    (Linux). Not SIGINT: it can arrive more than once, and a second Ctrl-C means abort."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _fork_context():
    global _context
    if _context is None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        _context = context
    return _context


class _ChildFd:
    """A file descriptor handed to the forked trial: pickled as multiprocessing's DupFd, which the fork
    server passes along; in the trial it is the descriptor's number."""

    def __init__(self, fd: int):
        self.fd = fd

    def __reduce__(self):
        return _fd_in_child, (reduction.DupFd(self.fd),)


def _fd_in_child(dup) -> int:
    return dup.detach()


class ForkedTrial:
    """A trial forked from the fork server, with subprocess.Popen's face (see the module's text)."""

    def __init__(self, command: list[str], env: dict):
        self.args = [sys.executable, *command]        # the command line it runs, as a new interpreter would
        self.returncode = None
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            self._process = _fork_context().Process(
                target=_run, args=(list(command), dict(env), os.getcwd(), _ChildFd(out_w), _ChildFd(err_w)),
                name="layerloom-trial", daemon=True)   # daemon: ended, not waited for, if the coordinator exits
            self._process.start()
        except BaseException:
            os.close(out_r)
            os.close(err_r)
            raise
        finally:
            os.close(out_w)
            os.close(err_w)
        self.pid = self._process.pid
        self.stdout = open(out_r, encoding="utf-8", errors="replace")
        self.stderr = open(err_r, encoding="utf-8", errors="replace")

    def poll(self):
        if self.returncode is None:
            code = self._process.exitcode
            if code is not None:
                self.returncode = code
                self._process.close()
        return self.returncode

    def wait(self, timeout=None) -> int:
        if self.returncode is None:
            self._process.join(timeout)
            if self.poll() is None:
                raise subprocess.TimeoutExpired(self.args, timeout)
        return self.returncode

    def send_signal(self, sig) -> None:
        if self.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def _run(command: list[str], env: dict, cwd: str, out: int, err: int) -> None:
    """In the forked trial: become what `python *command` would have been, then run it."""
    os.setsid()
    exit_with_parent()
    from multiprocessing import forkserver
    server = getattr(forkserver, "_forkserver", None)
    alive = getattr(server, "_forkserver_alive_fd", None)
    if isinstance(alive, int):      # the server exits when its coordinator does only if no trial holds this
        os.close(alive)
        server._forkserver_alive_fd = None
    os.dup2(out, 1)
    os.dup2(err, 2)
    os.close(out)
    os.close(err)
    sys.stdout = open(1, "w", encoding="utf-8", errors="backslashreplace", buffering=1, closefd=False)
    sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", buffering=1, closefd=False)
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    multiprocessing.current_process().daemon = False      # its data-loading workers are its own children
    if command[:1] == ["-m"]:
        sys.argv = list(command[1:])                      # runpy puts the module's path in sys.argv[0]
        runpy.run_module(command[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = list(command)
        runpy.run_path(command[0], run_name="__main__")
