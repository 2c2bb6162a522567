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

PROBE = """import json, multiprocessing, os, sys
worker = multiprocessing.get_context("fork").Process(target=os._exit, args=(0,), daemon=True)
worker.start()                      # as a DataLoader starts its workers: a trial may have children
worker.join()
print(json.dumps({"torch": "torch" in sys.modules, "own_session": os.getsid(0) == os.getpid(),
                  "group_leader": os.getpgrp() == os.getpid(), "argv": sys.argv, "cwd": os.getcwd(),
                  "env": os.environ.get("LAYERLOOM_PROBE"), "name": __name__, "worker": worker.exitcode,
                  "stdin": sys.stdin.read(), "stdout": sys.stdout.encoding.lower().replace("-", "")}))
print("é ✓ on stderr", file=sys.stderr)
sys.exit(3)
"""


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
    env = dict(os.environ, LAYERLOOM_PROBE="é from the coordinator")
    args = [str(script), "two words", "ü"]
    reference = _reference(args, env, tmp_path)
    proc, out, err, code = _forked(args, env, tmp_path, monkeypatch)
    assert code == reference.returncode == 3 and proc.returncode == 3
    assert err == reference.stderr == "é ✓ on stderr\n"
    mine, theirs = json.loads(out), json.loads(reference.stdout)
    assert theirs["torch"] is False and mine.pop("torch") is True      # what forking saves: PyTorch is imported
    theirs.pop("torch")
    assert mine == theirs
    assert mine["own_session"] and mine["group_leader"] and mine["worker"] == 0 and mine["stdout"] == "utf8"
    assert proc.args == [sys.executable, *args]

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


COORDINATOR = """import os, sys, time
from layerloom.runtime.sweeps import forked
proc = forked.start([sys.argv[1]], dict(os.environ))
assert isinstance(proc, forked.ForkedTrial)
print(proc.stdout.readline().strip(), proc.pid, flush=True)
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


def test_a_forked_trial_gets_sigterm_when_its_coordinator_is_killed(tmp_path):
    """The coordinator dies by SIGKILL: its fork server exits, and the trial, whose parent the server is, gets
    SIGTERM (a clean stop in `layerloom train`) instead of training on with no one to follow it."""
    trial = tmp_path / "trial.py"
    trial.write_text(TRIAL, encoding="utf-8")
    coordinator = subprocess.Popen([sys.executable, "-c", COORDINATOR, str(trial)], stdout=subprocess.PIPE,
                                   text=True, start_new_session=True)
    try:
        ready, pid = coordinator.stdout.readline().split()
        assert ready == "ready"
        os.kill(coordinator.pid, signal.SIGKILL)
        coordinator.wait(30)
        stopped = trial.with_suffix(".stopped")
        deadline = time.monotonic() + 60
        while not stopped.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert stopped.read_text() == "SIGTERM"
    finally:
        if coordinator.poll() is None:
            coordinator.kill()
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (NameError, ProcessLookupError):
            pass


def test_without_a_fork_server_a_trial_is_a_new_interpreter(tmp_path, monkeypatch):
    script = tmp_path / "probe.py"
    script.write_text(PROBE, encoding="utf-8")

    def unavailable():
        raise OSError("no Unix sockets here")
    monkeypatch.setattr(forked, "_fork_context", unavailable)
    monkeypatch.chdir(tmp_path)
    proc = forked.start([str(script)], dict(os.environ, LAYERLOOM_PROBE="yes"))
    assert isinstance(proc, subprocess.Popen)
    said = json.loads(proc.stdout.read())
    assert proc.wait(60) == 3
    assert not said["torch"] and said["own_session"] and said["env"] == "yes" and said["worker"] == 0


PREPARED = """import json, os, sys
from layerloom.runtime.sweeps import forked
forked.prepare()
children = []
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        with open(f"/proc/{pid}/stat") as stat, open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            if int(stat.read().rsplit(")", 1)[1].split()[1]) == os.getpid():
                children.append(cmdline.read().replace(b"\\0", b" ").decode())
    except (OSError, ValueError, IndexError):
        pass
print(json.dumps(children))
print("torch" in sys.modules)
"""


def test_the_fork_server_starts_before_the_first_trial_and_leaves_the_coordinators_output_alone(tmp_path):
    """prepare() starts the server (which imports what a trial needs) and returns at once, without importing
    PyTorch in the coordinator: a sweep calls it before it loads its data set. The server lets go of the
    coordinator's stdout and stderr: a coordinator that stops there (a sweep refused for its data set) leaves its
    output's reader waiting for nothing, although the server is still importing."""
    coordinator = subprocess.Popen([sys.executable, "-c", PREPARED], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)
    out, err = coordinator.communicate(timeout=120)
    assert coordinator.returncode == 0, err
    children, torch_loaded = out.strip().splitlines()
    (server,) = [c for c in json.loads(children) if "multiprocessing.forkserver" in c]
    assert "layerloom.runtime.sweeps.trial_imports" in server
    assert torch_loaded == "False"
    server_pid = next(int(pid) for pid in filter(str.isdigit, os.listdir("/proc"))
                      if _cmdline(pid) == server)
    assert _alive(server_pid)      # still importing when the output's reader saw the end of it


def _cmdline(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
