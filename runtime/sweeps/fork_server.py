"""The interpreter that forks a sweep's trials (forked.py): `python -m layerloom.runtime.sweeps.fork_server FD`.

It imports what a trial (`layerloom train`) imports before its first step, once: PyTorch, TorchDynamo (an
optimizer's first step imports it), the data sets, the preflight check with analysis, the trainer and the
command line. Then it waits on the Unix socket FD for requests, one message each: JSON {"command", "env",
"cwd"} with three file descriptors, the trial's stdout, its stderr and its status pipe. On the status pipe the
server writes the trial's pid at once and its exit status once it has ended (negative for the signal that
ended it), each a signed 8-byte number.

A trial is a fork of this interpreter that leaves the server's loop and runs its command at the top level, as
`python COMMAND` runs it: as `__main__`, with its sys.argv and sys.path[0], SystemExit's code as its exit
status, an uncaught exception printed and exit status 1, atexit handlers and non-daemon threads waited for at
its end. Before that it becomes what a new interpreter started for it would have been: its own session and
process group (a terminal's Ctrl-C and signals to the coordinator's group do not reach it), stdout and stderr
on the pipes it was given (UTF-8, a line at a time), stdin empty, the environment and working folder it was
given, and the thread count its OMP_NUM_THREADS asks for (PyTorch read that variable when the server imported
it; other settings read at that import follow the server's start). It gets SIGTERM, a clean stop in
`layerloom train`, when the server exits. A signal sent to it before it is set up waits until then (none is
lost in the fork), and its pid stays held until its exit status is written (none reaches a later process).
A request whose coordinator stopped waiting for it starts nothing.

The server runs in a session of its own, with no terminal and its output discarded (it holds no reader of
the coordinator's output waiting). It exits when the socket closes, which is when its coordinator ends, even
by SIGKILL; it continues any paused trial first, so that the trial can take that SIGTERM.
"""
from __future__ import annotations

import atexit
import ctypes
import json
import os
import runpy
import select
import signal
import socket
import struct
import sys
import threading

STATUS = struct.Struct("q")
REQUEST_BYTES = 1 << 20       # one request: the command line and the environment
_held: list = []              # in a trial: the signal mask to restore as its command starts (run_to_end)


def exit_with_parent() -> None:
    """In a trial: get SIGTERM (a clean stop in `layerloom train`) when its parent dies, even by SIGKILL
    (Linux). Not SIGINT: it can arrive more than once, and a second Ctrl-C means abort."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _preload() -> None:
    from layerloom.graph.lazy_torch import import_dynamo
    from layerloom.runtime import cli, data_choice, health, preflight, train_cli, trainer  # noqa: F401
    import_dynamo()


def _exit_status(info) -> int:
    """A waitid() result as an exit status: the code, or minus the signal that ended the process."""
    return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status


def _reap(children: dict) -> None:
    """Write the exit status of each ended trial to its status pipe, then let the trial's pid go: until its
    status is written its pid stays held, so the coordinator never signals a pid reused by another process."""
    while True:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if info is None:
            return
        fd = children.pop(info.si_pid, None)
        if fd is not None:
            try:
                os.write(fd, STATUS.pack(_exit_status(info)))
            except OSError:
                pass                  # its coordinator has gone
            os.close(fd)
        os.waitpid(info.si_pid, 0)


def _asker_gone(status: int) -> bool:
    """Whether the coordinator stopped waiting for this trial (it closed the status pipe's reading end after
    waiting too long): the trial is then not started at all."""
    poller = select.poll()
    poller.register(status, select.POLLOUT)
    return any(events & select.POLLERR for _fd, events in poller.poll(0))


def serve(sock: socket.socket) -> dict | None:
    """Fork a trial for each request until the socket closes (then None). In a trial this returns its request,
    with the trial already set up (`_become`) and its signals still held: the caller runs its command with
    `run_to_end`, which lets them through."""
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)     # wakes the select below through wake_w
    children: dict[int, int] = {}                     # a running trial's pid -> its status pipe
    while True:
        try:
            ready = select.select([sock, wake_r], [], [])[0]
        except InterruptedError:
            continue
        if wake_r in ready:
            try:
                while os.read(wake_r, 4096):
                    pass
            except BlockingIOError:
                pass
            _reap(children)
        if sock not in ready:
            continue
        try:
            data, fds, flags, _address = socket.recv_fds(sock, REQUEST_BYTES, 3)
        except OSError:
            data, fds, flags = b"", [], 0
        if not data:
            break                                     # the coordinator has gone
        if len(fds) != 3 or flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC) or _asker_gone(fds[2]):
            for fd in fds:
                os.close(fd)
            continue
        out, err, status = fds
        server = os.getpid()
        # Signals wait (blocked) until the new trial is set up: a Ctrl-C or a stop sent as soon as the pid is known
        # would otherwise be lost in the fork (Python clears its pending signals in a new child).
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
        try:
            pid = os.fork()
        except OSError:                               # no memory or process left for it: the coordinator sees
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)    # the status pipe close and starts it otherwise
            for fd in fds:
                os.close(fd)
            continue
        if pid == 0:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            for fd in (wake_r, wake_w, status, *children.values()):
                os.close(fd)
            sock.close()
            request = json.loads(data)
            _become(request, out, err, server)
            _held.append(mask)            # let through by run_to_end, inside the trial's own run
            return request
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        os.close(out)
        os.close(err)
        try:
            os.write(status, STATUS.pack(pid))
        except OSError:                               # its coordinator gave up waiting meanwhile: it would run
            os.kill(pid, signal.SIGKILL)              # twice (its pid is still held: no other process gets it)
        children[pid] = status
    for pid in children:                              # a paused trial takes its SIGTERM too
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
    return None


def _become(request: dict, out: int, err: int, server: int) -> None:
    """In a new trial: what a new interpreter started for `request` would have been (see the module's text)."""
    os.setsid()
    exit_with_parent()
    if os.getppid() != server:         # the server went before the trial asked to follow it: it is ended as if after
        os.kill(os.getpid(), signal.SIGTERM)       # (delivered once its signals are let through)
    os.dup2(out, 1)
    os.dup2(err, 2)
    os.close(out)
    os.close(err)
    sys.stdout = open(1, "w", encoding="utf-8", errors="backslashreplace", buffering=1, closefd=False)
    sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", buffering=1, closefd=False)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    threads = request["env"].get("OMP_NUM_THREADS", "")
    if threads.isdigit() and int(threads) > 0:      # PyTorch read it (at most a thread a core) in the server
        import torch
        torch.set_num_threads(min(int(threads), os.cpu_count() or 1))


def run(command: list[str]) -> None:
    """Run `command` (what follows `python` on a command line: `-m MODULE ARGS` or `SCRIPT ARGS`) as `__main__`."""
    if command[:1] == ["-m"]:
        sys.argv = list(command[1:])                  # runpy puts the module's path in sys.argv[0]
        sys.path[0] = os.getcwd()
        runpy.run_module(command[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = list(command)
        sys.path[0] = os.path.dirname(os.path.realpath(command[0]))
        runpy.run_path(command[0], run_name="__main__")


def run_to_end(command: list[str]) -> None:
    """Run `command` and end the process as python ends it, less the teardown of every module (about a second
    with PyTorch loaded, longer than a small trial's training): the exit status SystemExit gives, an uncaught
    exception printed (status 1; Ctrl-C ends it by SIGINT, as python does), non-daemon threads waited for, atexit
    handlers run and the standard streams flushed. A file a trial left open is not flushed by that teardown;
    Layerloom closes what it writes."""
    interrupted = False
    try:
        # A signal held while the trial was set up comes now, as in the trial's run: a Ctrl-C raised here and not
        # in the server's loop ends the trial as below, not through the teardown of all the server had loaded.
        while _held:
            signal.pthread_sigmask(signal.SIG_SETMASK, _held.pop())
        run(command)
        code = 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException as exc:     # noqa: B036 - what python does with any error that reaches the top
        sys.excepthook(type(exc), exc, exc.__traceback__)
        interrupted, code = isinstance(exc, KeyboardInterrupt), 1
    for end in (getattr(threading, "_shutdown", None), getattr(atexit, "_run_exitfuncs", None)):
        if end is not None:
            end()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    if interrupted:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(code & 0xFF)


if __name__ == "__main__":
    _preload()
    os.chdir("/")                      # holds no folder of the coordinator's (a drive could not be unmounted)
    trial = serve(socket.socket(fileno=int(sys.argv[1])))
    if trial is not None:
        run_to_end(trial["command"])
