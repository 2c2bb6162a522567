"""Crash recovery: while a document has unsaved changes it is written to a recovery file every few
seconds (at most 30); a clean close removes it. On the next start, recovery files left by a process
that is gone are offered for restore, newest first, one at a time: each is restored, discarded or
kept for later, and only the restored and the discarded files are deleted (several windows may
have crashed, each leaving its own file).

A recovery file is JSON: {"layerloom_recovery": 1, "path": original file or null, "saved": time,
"graph": the graph-file dict}. It is written atomically and read back through the normal loader.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QStandardPaths

from layerloom.graph.document import GraphDocument
from layerloom.graph.fileformat import VERSION, GraphFileError, atomic_write_text, graph_from_dict, graph_to_dict
from layerloom.graph.quoting import shown
from layerloom.runtime.processes import STARTED as PROCESS_STARTED, process_started, same_process  # noqa: F401
from layerloom.runtime.processes import usable_pid

INTERVAL_MS = 20_000
KEY = "layerloom_recovery"
LATEST = 2**36           # seconds since 1970: a "saved" time past this (year 4147) is not a real one


class TooNew(GraphFileError):
    """A recovery file written by a newer Layerloom: this one cannot read it, a newer one can (keep it)."""


def recovery_dir() -> Path:
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base or Path.home() / ".layerloom") / "recovery"


STARTED = int(PROCESS_STARTED)   # this process's start, in a recovery file's name


def own_file() -> Path:
    """This process's recovery file, named by its process id and start time: a process that got the id of
    one that crashed (in a container every start may get the same one) neither takes its file for its own
    nor writes over it."""
    return recovery_dir() / f"session-{os.getpid()}-{STARTED}.json"


def _writer_gone(name: str, saved: float) -> bool:
    """Has the process that wrote recovery file `name` (session-PID[-START].json) ended? Its id may belong to a
    later process by now: this one, or another that started after the file was written."""
    parts = name.split("-")
    pid, start = int(parts[1]), (int(parts[2]) if len(parts) > 2 else None)
    return not same_process(pid, start if start is not None else saved)


def write(doc: GraphDocument, path: Path | None, target: Path | None = None) -> Path:
    target = target or own_file()
    target.parent.mkdir(parents=True, exist_ok=True)
    data = {KEY: 1, "path": str(path) if path else None, "saved": time.time(), "graph": graph_to_dict(doc)}
    atomic_write_text(target, json.dumps(data))
    return target


def discard(target: Path | None = None) -> None:
    try:
        (target or own_file()).unlink()
    except OSError:
        pass


DAMAGED = ".damaged"      # a recovery file that cannot be restored is kept under its name with this added


def set_aside(file: Path) -> Path:
    """Keep a recovery file that cannot be restored, renamed so it is not offered again at every start
    (session-….json.damaged, or …damaged-2, … when that name is taken); where it is now. Never deletes it:
    where it cannot be renamed it stays where it is (and is offered again)."""
    for n in range(1, 100):
        target = file.with_name(file.name + DAMAGED + ("" if n == 1 else f"-{n}"))
        if target.exists():
            continue
        try:
            os.rename(file, target)
        except OSError:
            return file
        return target
    return file


@dataclass
class Recovered:
    file: Path
    path: Path | None
    saved: float
    name: str


def orphans() -> list[Recovered]:
    """Recovery files whose process has ended (a crash), newest first. Unreadable ones are skipped."""
    folder = recovery_dir()
    found = []
    for f in sorted(folder.glob("session-*.json")) if folder.is_dir() else []:
        parts = f.stem.split("-")
        if not (2 <= len(parts) <= 3 and all(p.isascii() and p.isdigit() for p in parts[1:])):
            continue
        if usable_pid(int(parts[1])) is None:    # no process id (session-4294967296-…): not a file Layerloom wrote
            continue
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
            graph = data["graph"]
            saved = float(data.get("saved", 0))
            if not (math.isfinite(saved) and 0 <= saved < LATEST):     # not a time: when the file was written
                saved = f.stat().st_mtime
            if not _writer_gone(f.stem, saved):
                continue
            found.append(Recovered(f, Path(data["path"]) if data.get("path") else None,
                                   saved, str(graph.get("name", "Untitled"))))
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
            continue                    # RecursionError: JSON nested deeper than Python's parser goes
    return sorted(found, key=lambda r: -r.saved)


def load(rec: Recovered) -> GraphDocument:
    """The recovered document; raises TooNew if a newer Layerloom wrote it, GraphFileError if it is damaged."""
    try:
        data = json.loads(rec.file.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise GraphFileError(f"the recovery file cannot be read ({exc})", str(rec.file)) from None
    graph = data.get("graph") if isinstance(data, dict) else None
    version = graph.get("version") if isinstance(graph, dict) else None
    if isinstance(version, int) and not isinstance(version, bool) and version > VERSION:
        raise TooNew(f"a newer Layerloom wrote these unsaved changes (format version {shown(str(version))}; this "
                     f"version reads format version {VERSION}). They are kept: start the newer Layerloom to "
                     "restore them.")
    return graph_from_dict(graph, str(rec.file))


def choose(found: list[Recovered], ask) -> Recovered | None:
    """Offer each recovery file in turn (`found` is newest first). `ask(rec, number, total)` answers
    "restore", "discard" or "keep". Discarded files are deleted here; the file to restore is
    returned (the caller deletes it once restored); "keep" stops asking and leaves it and the
    rest for the next start."""
    for number, rec in enumerate(found, 1):
        answer = ask(rec, number, len(found))
        if answer == "discard":
            discard(rec.file)
        elif answer == "restore":
            return rec
        else:
            return None
    return None
