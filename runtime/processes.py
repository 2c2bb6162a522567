"""Whether a process still runs, for files left by a process that may have died (sweeps, recovery), and
which process trains a run folder now.

A run's trainer writes `training.json` ({"pid", "started", "host"}) into the run folder when it starts or
resumes it and removes it when it ends, however it ends; a killed process leaves it behind. `trained_elsewhere`
tells a folder a live process trains (refuse to resume it: two trainers would write one folder) from one whose
trainer was killed (resumable), even when a later process got the killed one's id (Linux's /proc says when
a process started). A folder trained on another machine (one runs folder shared by two) cannot be checked from
here: it counts as trained there until its training.json is deleted. Files from before "host" was written are
read as this machine's. `resume_refusal` says in words why a run cannot be resumed now, a damaged
training.json included.
"""
from __future__ import annotations

import json
import math
import os
import socket
import time
from pathlib import Path

from layerloom.graph.quoting import shown

OWNER = "training.json"
MAX_PID = 2**31 - 1          # a process id is a positive C int on every system Layerloom runs on


def usable_pid(value) -> int | None:
    """`value` as a process id: a whole number from 1 to MAX_PID (not True, 1.0 or "12"); else None."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_PID:
        return value
    return None


def _time(value) -> float | None:
    """`value` as a time in seconds: a finite number (not True); else None (unknown)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    try:
        value = float(value)
    except OverflowError:                   # an int beyond any float
        return None
    return value if math.isfinite(value) else None


def alive(pid: int) -> bool:
    """True while process `pid` exists on this machine (one we may not signal counts as alive); False for a
    value that is no process id (0, -1, a number too large for one)."""
    if usable_pid(pid) is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:
        return False
    return True


def process_started(pid: int) -> float | None:
    """When process `pid` started (seconds since 1970), where the system says (Linux's /proc); else None."""
    if usable_pid(pid) is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
        ticks = int(stat[stat.rindex(")") + 2:].split()[19])        # field 22: start time, in ticks since boot
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration, AttributeError):
        return None


STARTED = process_started(os.getpid()) or time.time()    # this process's start


def _host() -> str | None:
    try:
        return socket.gethostname() or None
    except (OSError, UnicodeError):
        return None


HOST = _host()      # this machine's name as this process started (a container's or a laptop's may change later)


def this_host() -> str | None:
    """This machine's name, as training.json records it; None where the system does not say."""
    return HOST


def same_process(pid: int, started: float | None) -> bool:
    """Is process `pid`, which started by `started` (None: unknown), still running? Its id may belong to a
    later process by now (one that started after it), this one included. A `pid` that is no process id
    (0, -1, True, a number too large for one) is no process."""
    if usable_pid(pid) is None:
        return False
    started = _time(started)
    if pid == os.getpid():
        return started is None or abs(started - STARTED) <= 2
    if not alive(pid):
        return False
    began = process_started(pid)
    return began is None or started is None or began <= started + 2


class OnAnotherMachine(int):
    """The process id in a training.json written on another machine: it reads as "PID on HOST", since this
    machine cannot tell whether that process still runs."""

    host: str

    def __new__(cls, pid: int, host: str):
        value = super().__new__(cls, pid)
        value.host = host
        return value

    def __str__(self) -> str:
        return f"{int(self)} on {shown(self.host, 80)}"


def _owner(run_dir):
    """(pid, started or None, host or None) from `run_dir`'s training.json; None when there is none; else a
    phrase saying why it is damaged."""
    try:
        owner = json.loads((Path(run_dir) / OWNER).read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        return f"it cannot be read: {(exc.strerror or 'the system refused').lower()}"
    except RecursionError:
        return "its JSON is nested too deeply to read"
    except ValueError:                      # not JSON, not UTF-8: cut short or spoilt
        return "it is not the JSON a trainer writes"
    if not isinstance(owner, dict):
        return "it is not the JSON a trainer writes"
    pid = usable_pid(owner.get("pid"))
    if pid is None:
        return "its process id is not a whole number from 1 to 2147483647"
    started = _time(owner.get("started"))
    host = owner.get("host")
    if host is not None and (not isinstance(host, str) or not host.strip()):
        return "its host is not a machine's name"
    return pid, started, host


def trained_elsewhere(run_dir) -> int | None:
    """The id of another live process that trains `run_dir` now, or None (no trainer, a killed one, or a
    training.json too damaged to name one: resume_refusal says so). A trainer on another machine counts as
    live, its id an OnAnotherMachine."""
    found = _owner(run_dir)
    if not isinstance(found, tuple):
        return None                  # none, or damaged: no process to wait for that it could name
    pid, started, host = found
    if pid == os.getpid() and started is not None and abs(started - STARTED) <= 2:
        return None                  # this process's own claim, whatever the machine is called now
    here = this_host()
    if host is not None and here is not None and host != here and not _ended_after_claim(run_dir):
        return OnAnotherMachine(pid, host)
    if host is not None and here is not None and host != here:
        return None                  # its summary was written after the claim: that training has ended
    if pid == os.getpid():
        return None                  # this process: its window knows its own run
    return pid if same_process(pid, started) else None


def _ended_after_claim(run_dir) -> bool:
    """Was the run's summary.json written after its training.json? (A trainer writes the summary as it ends; a
    resumed run keeps the summary of its earlier end, older than the new claim.)"""
    try:
        return (Path(run_dir) / "summary.json").stat().st_mtime >= (Path(run_dir) / OWNER).stat().st_mtime
    except OSError:
        return False


def resume_refusal(run_dir) -> str | None:
    """Why `run_dir` cannot be resumed now, in words, or None: another live process trains it, a process on
    another machine did, or its training.json is damaged (which process trains it cannot be known)."""
    name = shown(Path(run_dir).name, 80)
    found = _owner(run_dir)
    if isinstance(found, str):
        return f"{name}/{OWNER} is damaged ({found}); delete it if no process trains this run"
    other = trained_elsewhere(run_dir)
    if isinstance(other, OnAnotherMachine):
        return (f"{name} was being trained on {shown(other.host, 80)}; delete {name}/{OWNER} if that run "
                "has ended")
    if other is not None:
        return f"{name} is being trained by process {other} now: stop it (or let it end) before resuming it"
    return None


def claim_run(run_dir) -> None:
    """Record this process as the trainer of `run_dir` (written whole: a temporary file, then renamed)."""
    path = Path(run_dir) / OWNER
    tmp = path.with_name(f".{OWNER}.{os.getpid()}.tmp")
    record = {"pid": os.getpid(), "started": STARTED}
    if this_host() is not None:
        record["host"] = this_host()
    tmp.write_text(json.dumps(record), encoding="utf-8")
    os.replace(tmp, path)


def release_run(run_dir) -> None:
    """`run_dir`'s training by this process has ended."""
    path = Path(run_dir) / OWNER
    try:
        owner = json.loads(path.read_text(encoding="utf-8"))
        if owner.get("pid") == os.getpid() and owner.get("started") == STARTED:     # this process's own claim
            path.unlink()
    except (OSError, ValueError, AttributeError, RecursionError):
        pass
