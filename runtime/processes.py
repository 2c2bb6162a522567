"""Whether a process still runs, for files left by a process that may have died (sweeps, recovery), and
which process trains a run folder now.

A run's trainer writes `training.json` ({"pid", "started"}) into the run folder when it starts or resumes it
and removes it when it ends, however it ends; a killed process leaves it behind. `trained_elsewhere` tells
a folder a live process trains (refuse to resume it: two trainers would write one folder) from one whose
trainer was killed (resumable), even when a later process got the killed one's id (Linux's /proc says when
a process started).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

OWNER = "training.json"


def alive(pid: int) -> bool:
    """True while process `pid` exists on this machine (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_started(pid: int) -> float | None:
    """When process `pid` started (seconds since 1970), where the system says (Linux's /proc); else None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
        ticks = int(stat[stat.rindex(")") + 2:].split()[19])        # field 22: start time, in ticks since boot
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration, AttributeError):
        return None


STARTED = process_started(os.getpid()) or time.time()    # this process's start


def same_process(pid: int, started: float | None) -> bool:
    """Is process `pid`, which started by `started` (None: unknown), still running? Its id may belong to a
    later process by now (one that started after it), this one included."""
    if pid == os.getpid():
        return started is None or abs(started - STARTED) <= 2
    if not alive(pid):
        return False
    began = process_started(pid)
    return began is None or started is None or began <= started + 2


def trained_elsewhere(run_dir) -> int | None:
    """The id of another live process that trains `run_dir` now, or None (no trainer, or a killed one)."""
    try:
        owner = json.loads((Path(run_dir) / OWNER).read_text(encoding="utf-8"))
        pid, started = int(owner["pid"]), owner.get("started")
        started = float(started) if started is not None else None
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None                  # none, or a file cut short by a kill: nobody to wait for
    if pid == os.getpid():
        return None                  # this process: its window knows its own run
    return pid if same_process(pid, started) else None


def claim_run(run_dir) -> None:
    """Record this process as the trainer of `run_dir` (written whole: a temporary file, then renamed)."""
    path = Path(run_dir) / OWNER
    tmp = path.with_name(f".{OWNER}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), "started": STARTED}), encoding="utf-8")
    os.replace(tmp, path)


def release_run(run_dir) -> None:
    """`run_dir`'s training by this process has ended."""
    path = Path(run_dir) / OWNER
    try:
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError, AttributeError):
        pass
