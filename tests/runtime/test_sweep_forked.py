"""Sweep trials forked from the interpreter that imported PyTorch once (runtime/sweeps/forked.py) are what a
new interpreter running the same command line was: the reference is `python ARGS` itself, run by subprocess.
They get SIGTERM when their coordinator is killed, and a fork server that cannot start leaves a new
interpreter doing the same."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from layerloom.runtime.sweeps import forked

pytestmark = pytest.mark.skipif(not forked.FORK, reason="trials are forked on Linux only")

PROBE = """import atexit, json, multiprocessing, os, sys
preloaded = "torch" in sys.modules
worker = multiprocessing.Process(target=os._exit, args=(0,), daemon=True)
worker.start()                      # as a DataLoader starts its workers: with the default start method
worker.join()
import threading, time, torch
atexit.register(lambda: print("atexit ran", file=sys.stderr))
late = threading.Thread(target=lambda: (time.sleep(0.3), print("thread ended", file=sys.stderr)))
late.start()                        # not a daemon: the process waits for it, then runs the atexit handlers
print(json.dumps({"torch": preloaded, "own_session": os.getsid(0) == os.getpid(),
                  "group_leader": os.getpgrp() == os.getpid(), "argv": sys.argv, "cwd": os.getcwd(),
                  "path0": sys.path[0], "env": os.environ.get("LAYERLOOM_PROBE"), "name": __name__,
                  "worker": worker.exitcode, "start_method": multiprocessing.get_start_method(),
                  "threads": torch.get_num_threads(), "stdin": sys.stdin.read(),
                  "stdout": sys.stdout.encoding.lower().replace("-", "")}))
print("é ✓ on stderr", file=sys.stderr)
sys.exit(3)
"""
BROKEN = "raise ValueError('é: broken')\n"
# The fork server without its preload (seconds of importing PyTorch), for the tests of processes and signals that
# preloading changes nothing in: the same serve() and run() as `python -m layerloom.runtime.sweeps.fork_server`.
LIGHT_SERVER = ("import socket, sys\nfrom layerloom.runtime.sweeps import fork_server as server\n"
                "trial = server.serve(socket.socket(fileno=int(sys.argv[1])))\n"
                "if trial is not None:\n    server.run_to_end(trial['command'])\n")
LIGHT = [sys.executable, "-c", LIGHT_SERVER]


@pytest.fixture
def own_server_with_ctrl_c(monkeypatch):
    """A fork server of the test's own, in which Ctrl-C is Python's KeyboardInterrupt however the suite was
    started: a shell starts a background job with SIGINT ignored, and an ignored SIGINT stays ignored in every
    process started from it, a new interpreter and a fork server with its trials alike (a handler does not)."""
    before = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    monkeypatch.setattr(forked, "_server", None)
    try:
        yield
    finally:
        if forked._server is not None:
            forked._server.proc.kill()
        if before is not None:
            signal.signal(signal.SIGINT, before)


def _reference(args, env, cwd):
    """`python ARGS` in a new interpreter of its own session, as trials were started before."""
    return subprocess.run([sys.executable, *args], env=env, cwd=cwd, capture_output=True, text=True,
                          encoding="utf-8", stdin=subprocess.DEVNULL, start_new_session=True, timeout=120)


def _forked(args, env, cwd, monkeypatch):
    monkeypatch.chdir(cwd)
    proc = forked.start(args, env)
    assert isinstance(proc, forked.ForkedTrial)
    out, err = proc.stdout.read(), proc.stderr.read()
    return proc, out, err, proc.wait(120)


def test_a_forked_trial_runs_its_command_as_a_new_interpreter_does(tmp_path, monkeypatch):
    script = tmp_path / "probe.py"
    script.write_text(PROBE, encoding="utf-8")
    # a thread count the server (started with this process's environment) did not get: the trial's own is applied
    threads = "2" if os.environ.get("OMP_NUM_THREADS") == "1" else "1"
    env = dict(os.environ, LAYERLOOM_PROBE="é from the coordinator", OMP_NUM_THREADS=threads)
    args = [str(script), "two words", "ü"]
    reference = _reference(args, env, tmp_path)
    proc, out, err, code = _forked(args, env, tmp_path, monkeypatch)
    assert code == reference.returncode == 3 and proc.returncode == 3
    assert err == reference.stderr == "é ✓ on stderr\nthread ended\natexit ran\n"
    mine, theirs = json.loads(out), json.loads(reference.stdout)
    assert theirs["torch"] is False and mine.pop("torch") is True      # what forking saves: PyTorch is imported
    theirs.pop("torch")
    assert mine == theirs
    assert mine["own_session"] and mine["group_leader"] and mine["worker"] == 0 and mine["stdout"] == "utf8"
    assert mine["threads"] == min(int(threads), os.cpu_count()) and mine["start_method"] == "fork"
    assert mine["path0"] == str(tmp_path)
    assert proc.args == [sys.executable, *args]

    # an uncaught exception: printed, exit status 1
    (tmp_path / "broken.py").write_text(BROKEN, encoding="utf-8")
    reference = _reference([str(tmp_path / "broken.py")], env, tmp_path)
    _proc, out, err, code = _forked([str(tmp_path / "broken.py")], env, tmp_path, monkeypatch)
    assert code == reference.returncode == 1 and out == reference.stdout == ""
    assert err.splitlines()[0] == "Traceback (most recent call last):"
    assert err.splitlines()[-1] == reference.stderr.splitlines()[-1] == "ValueError: é: broken"

    # `-m module`, as trial.TRAIN runs `layerloom train`: its output and exit status
    module = ["-m", "layerloom.app.main", "train", str(tmp_path / "missing.loom.json")]
    reference = _reference(module, env, tmp_path)
    _proc, out, err, code = _forked(module, env, tmp_path, monkeypatch)
    assert (code, out, err) == (reference.returncode, reference.stdout, reference.stderr)
    assert code == 2 and "missing.loom.json" in err        # the command line's own refusal


def test_a_forked_trial_reports_the_signal_that_ended_it(tmp_path, monkeypatch):
    script = tmp_path / "wait.py"
    script.write_text("import time\nprint('ready', flush=True)\ntime.sleep(120)\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    proc = forked.start([str(script)], dict(os.environ))
    assert proc.stdout.readline() == "ready\n"
    assert proc.poll() is None
    with pytest.raises(subprocess.TimeoutExpired):
        proc.wait(0.2)
    os.killpg(proc.pid, signal.SIGKILL)        # how Abort ends a trial with its workers: its group is its pid
    assert proc.wait(60) == -signal.SIGKILL
    proc.send_signal(signal.SIGINT)            # a signal for a trial that has ended reaches nobody


# A coordinator: starts a forked trial (TRIAL), says its pid once the trial is ready, then does what its mode
# says: waits (to be killed), pauses the trial and exits, or sends SIGTERM to its own process group.
COORDINATOR = """import json, os, signal, sys, time
from layerloom.runtime.sweeps import forked
forked.SERVER = json.loads(sys.argv[3])
proc = forked.start([sys.argv[1]], dict(os.environ))
assert isinstance(proc, forked.ForkedTrial)
print(proc.stdout.readline().strip(), proc.pid, flush=True)
if sys.argv[2] == "pause":
    os.kill(proc.pid, signal.SIGSTOP)
    sys.exit(0)
if sys.argv[2] == "group":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.killpg(0, signal.SIGTERM)           # as `timeout`, or `kill -TERM -PGID`, signals the coordinator's group
    time.sleep(1)
    print(proc.poll(), flush=True)          # the trial (and its server) did not get it: still running
    proc.kill()
    print(proc.wait(30), flush=True)
    sys.exit(0)
time.sleep(300)
"""

TRIAL = """import signal, sys, time
from pathlib import Path
def stop(signum, frame):
    Path(sys.argv[0]).with_suffix(".stopped").write_text(signal.Signals(signum).name)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print("ready", flush=True)
time.sleep(120)
"""


def _coordinator(tmp_path, mode):
    trial = tmp_path / "trial.py"
    trial.write_text(TRIAL, encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-c", COORDINATOR, str(trial), mode, json.dumps(LIGHT)],
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    ready, pid = proc.stdout.readline().split()
    assert ready == "ready"
    return proc, int(pid), trial.with_suffix(".stopped")


def _kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.mark.parametrize("mode", ["killed", "pause"])
def test_a_forked_trial_gets_sigterm_when_its_coordinator_ends(tmp_path, mode):
    """The coordinator dies by SIGKILL, or exits while its trial is paused (SIGSTOP): its fork server exits and
    the trial, whose parent the server is, gets SIGTERM (a clean stop in `layerloom train`), continued first if
    paused, instead of training on (or staying stopped) with no one to follow it. The coordinator's exit waits
    for nothing."""
    coordinator, pid, stopped = _coordinator(tmp_path, mode)
    try:
        if mode == "killed":
            os.kill(coordinator.pid, signal.SIGKILL)
        assert coordinator.wait(60) == (-signal.SIGKILL if mode == "killed" else 0)
        deadline = time.monotonic() + 60
        while not stopped.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert stopped.read_text() == "SIGTERM"
    finally:
        if coordinator.poll() is None:
            coordinator.kill()
        _kill(pid)


def test_signals_to_the_coordinators_group_do_not_reach_its_trials(tmp_path):
    coordinator, pid, stopped = _coordinator(tmp_path, "group")
    try:
        out, _ = coordinator.communicate(timeout=60)
        assert out.split() == ["None", str(-signal.SIGKILL)]        # running until killed, then its own status
        assert not stopped.exists()
    finally:
        if coordinator.poll() is None:
            coordinator.kill()
        _kill(pid)


def test_without_a_fork_server_a_trial_is_a_new_interpreter(tmp_path, monkeypatch):
    script = tmp_path / "probe.py"
    script.write_text(PROBE, encoding="utf-8")

    def unavailable():
        raise OSError("no Unix sockets here")
    monkeypatch.setattr(forked, "_running_server", unavailable)
    monkeypatch.chdir(tmp_path)
    proc = forked.start([str(script)], dict(os.environ, LAYERLOOM_PROBE="yes"))
    assert isinstance(proc, subprocess.Popen)
    said = json.loads(proc.stdout.read())
    assert proc.wait(60) == 3
    assert not said["torch"] and said["own_session"] and said["env"] == "yes" and said["worker"] == 0


def test_a_fork_server_that_does_not_answer_is_set_aside_and_the_trial_is_a_new_interpreter(tmp_path, monkeypatch):
    script = tmp_path / "hello.py"
    script.write_text("print('hello')\n", encoding="utf-8")
    monkeypatch.setattr(forked, "_server", None)          # this test's own server, whatever this process has
    monkeypatch.setattr(forked, "_retired", [])
    monkeypatch.setattr(forked, "SERVER", [sys.executable, "-c", "import time; time.sleep(120)"])
    monkeypatch.setattr(forked, "ANSWER_S", 1)
    servers, running = [], forked._running_server
    monkeypatch.setattr(forked, "_running_server", lambda: servers.append(running()) or servers[-1])
    monkeypatch.chdir(tmp_path)
    try:
        proc = forked.start([str(script)], dict(os.environ))
        assert isinstance(proc, subprocess.Popen)
        assert proc.stdout.read() == "hello\n" and proc.wait(60) == 0
        assert forked._server is None            # the next trial starts another server
        assert forked._retired == [] and servers[0].sock.fileno() == -1     # running no trial: let go
    finally:
        for server in servers:
            server.proc.kill()


def test_a_stop_sent_the_moment_a_trial_starts_is_not_lost(tmp_path, monkeypatch, own_server_with_ctrl_c):
    """Python clears a new child's pending signals: the server holds them back until the trial is set up, so a
    Ctrl-C sent as soon as the pid is known ends the trial as it ends a new interpreter (SIGINT: -2)."""
    script = tmp_path / "wait.py"
    script.write_text("import time\ntime.sleep(60)\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for _ in range(5):
        proc = forked.start([str(script)], dict(os.environ))
        assert isinstance(proc, forked.ForkedTrial)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == -signal.SIGINT


# The light server, with 0.3 s of setting up in each trial: a signal sent at once arrives while it is held.
SLOW_SETUP = [sys.executable, "-c", LIGHT_SERVER.replace(
    "as server\n", "as server\nimport time\nbecome = server._become\n"
                    "server._become = lambda *args: (time.sleep(0.3), become(*args))\n", 1)]


def test_a_stop_held_while_the_trial_is_set_up_ends_it_in_its_own_run(tmp_path, monkeypatch, own_server_with_ctrl_c):
    """The held Ctrl-C is let through as the trial's command starts, so it ends the trial as a Ctrl-C in its run
    does (SIGINT: -2, "KeyboardInterrupt"), not in the server's loop, whose whole interpreter, with all the
    server had loaded, would then be torn down (its traceback named the loop)."""
    monkeypatch.setattr(forked, "SERVER", SLOW_SETUP)
    script = tmp_path / "wait.py"
    script.write_text("import time\ntime.sleep(60)\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    proc = forked.start([str(script)], dict(os.environ))
    assert isinstance(proc, forked.ForkedTrial)
    proc.send_signal(signal.SIGINT)
    err = proc.stderr.read()
    assert proc.wait(60) == -signal.SIGINT
    assert err.rstrip().endswith("KeyboardInterrupt") and "in serve" not in err, err


@pytest.mark.parametrize("paused,pidfd", [(False, True), (True, True), (True, False)])
def test_a_trial_whose_server_is_killed_stops_cleanly_and_says_so(tmp_path, monkeypatch, paused, pidfd):
    """The server killed (the system out of memory): each trial gets SIGTERM and is continued first if paused
    (by the coordinator's watch on its server: nobody needs to ask for the trial's status), and its end shows as
    the server's loss, not as a failure of its own; also where the system gives no pidfd (Linux before 5.3)."""
    monkeypatch.setattr(forked, "_server", None)          # a server of this test's own
    monkeypatch.setattr(forked, "SERVER", LIGHT)
    if not pidfd:
        monkeypatch.setattr(forked, "_pidfd", lambda pid: None)
    (tmp_path / "trial.py").write_text(TRIAL, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    proc = forked.start([str(tmp_path / "trial.py")], dict(os.environ))
    try:
        assert proc.stdout.readline() == "ready\n"
        if paused:
            proc.send_signal(signal.SIGSTOP)
        forked._server.proc.kill()
        stopped = tmp_path / "trial.stopped"
        deadline = time.monotonic() + 60
        while not stopped.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stopped.read_text() == "SIGTERM"
        assert proc.wait(60) == 255 and proc.server_lost
    finally:
        _kill(proc.pid)


ONE_REQUEST = ("import socket, sys\n"
               "socket.recv_fds(socket.socket(fileno=int(sys.argv[1])), 1 << 20, 3)\n")   # then ends
FORK_FAILS_ONCE = ("import os\n"
                   "real, failed = os.fork, []\n"
                   "def fork():\n"
                   "    if not failed:\n"
                   "        failed.append(1)\n"
                   "        raise BlockingIOError(11, 'Resource temporarily unavailable')\n"
                   "    return real()\n"
                   "os.fork = fork\n" + LIGHT_SERVER)


@pytest.mark.parametrize("server", ["ends", "cannot fork"])
def test_a_server_that_ends_or_cannot_fork_leaves_that_trial_to_a_new_interpreter_at_once(tmp_path, monkeypatch,
                                                                                           server):
    """The trial does not wait out the server's time to answer: the status pipe closes. A server that could not
    fork (no memory or process left for a moment) goes on, and forks the next trial."""
    script = tmp_path / "hello.py"
    script.write_text("print('hello')\n", encoding="utf-8")
    monkeypatch.setattr(forked, "_server", None)
    monkeypatch.setattr(forked, "SERVER", [sys.executable, "-c", ONE_REQUEST if server == "ends" else FORK_FAILS_ONCE])

    def not_retired(server, retire):
        assert not retire, "the trial waited for the server's time to answer"
        real(server, retire)
    real = forked._set_aside
    monkeypatch.setattr(forked, "_set_aside", not_retired)
    monkeypatch.chdir(tmp_path)
    try:
        first = forked.start([str(script)], dict(os.environ))
        assert isinstance(first, subprocess.Popen) and first.stdout.read() == "hello\n" and first.wait(60) == 0
        if server == "cannot fork":
            again = forked.start([str(script)], dict(os.environ))
            assert isinstance(again, forked.ForkedTrial) and again.stdout.read() == "hello\n" and again.wait(60) == 0
    finally:
        if forked._server is not None:
            forked._server.proc.kill()


def test_a_request_too_large_for_the_socket_or_a_crowded_coordinator_still_starts_its_trial(tmp_path, monkeypatch):
    script = tmp_path / "hello.py"
    script.write_text("import os\nprint(sum(len(v) for k, v in os.environ.items() if k.startswith('BIG')))\n",
                      encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    big = {f"BIG{i}": "x" * 100_000 for i in range(11)}                     # 1.1 MB: more than a request holds
    big = forked.start([str(script)], dict(os.environ, **big))
    assert isinstance(big, subprocess.Popen) and big.stdout.read() == "1100000\n" and big.wait(60) == 0
    import resource
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < 1200:
        pytest.skip("cannot open 1,100 files here")
    crowd = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]    # the trial's pipes get numbers past 1023
    try:
        proc = forked.start([str(script)], dict(os.environ, BIG="small"))
        assert isinstance(proc, forked.ForkedTrial)
        assert proc.stdout.read() == "5\n" and proc.wait(60) == 0
    finally:
        for fd in crowd:
            os.close(fd)


PREPARED = """import json, os, sys
from layerloom.runtime.sweeps import forked
forked.prepare()
print(json.dumps({"server": forked._server.proc.pid, "torch": "torch" in sys.modules}))
"""


def test_the_fork_server_starts_before_the_first_trial_and_leaves_the_coordinators_output_alone(tmp_path):
    """prepare() starts the server (which imports what a trial needs) and returns at once, without importing
    PyTorch in the coordinator: a sweep calls it before it loads its data set. The server holds none of the
    coordinator's output: a coordinator that stops there (a sweep refused for its data set) leaves its output's
    reader waiting for nothing, although the server is still importing (for seconds: long enough to look)."""
    coordinator = subprocess.Popen([sys.executable, "-c", PREPARED], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)
    out, err = coordinator.communicate(timeout=120)
    said = json.loads(out)
    try:
        assert coordinator.returncode == 0, err
        assert not said["torch"]
        assert "layerloom.runtime.sweeps.fork_server" in _cmdline(said["server"])
    finally:
        _kill(said["server"])


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode()
    except OSError:
        return ""


LOSES_ITS_SERVER = """import json, signal, sys, time
from pathlib import Path
said = lambda **event: print(json.dumps(event), flush=True)
ran = Path(sys.argv[0]).with_suffix(".ran")
if ran.exists():                      # its values tried again: a trial that finishes
    said(type="started", run_dir=None, epochs=1)
    said(type="epoch_end", epoch=1, val_accuracy=0.5)
    said(type="finished", summary={"status": "finished", "val_accuracy": 0.5, "epochs": 1})
    sys.exit(0)
ran.touch()
def stop(*_):                         # `layerloom train` stops cleanly on SIGTERM
    said(type="finished", summary={"status": "stopped", "epochs": 0})
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
said(type="started", run_dir=None, epochs=1)
time.sleep(60)
"""


def test_a_sweep_whose_fork_server_is_killed_tries_the_stopped_trials_values_again(tmp_path, monkeypatch):
    from layerloom.runtime.sweeps import trial

    from .sweep_running import sweep_runner
    script = tmp_path / "trial.py"
    script.write_text(LOSES_ITS_SERVER, encoding="utf-8")
    monkeypatch.setattr(trial, "TRAIN", [str(script)])
    monkeypatch.setattr(forked, "_server", None)          # a server of this test's own
    monkeypatch.setattr(forked, "SERVER", LIGHT)
    runner, _study, _folder = sweep_runner(tmp_path, {"name": "lost", "params": {"training.lr": "choice:0.003"},
                                                      "strategy": "grid"}, data_checked=True)
    killed = []

    def on_event(event):
        if event["type"] == "started" and not killed:    # the first trial runs: its server is killed
            killed.append(forked._server.proc.pid)
            forked._server.proc.kill()
    runner.callback = on_event
    try:
        rows = runner.run()
    finally:
        if forked._server is not None:
            forked._server.proc.kill()                      # this test's second server
    assert [r["state"] for r in rows] == ["failed", "complete"], rows
    assert rows[0]["message"].startswith("stopped: the process that starts the trials ended while this trial ran")
    assert rows[1]["params"] == rows[0]["params"] and rows[1]["value"] == 0.5
    assert forked._server.proc.pid != killed[0]            # the values ran again from a new server
    assert forked._server.proc.wait(30) is not None
