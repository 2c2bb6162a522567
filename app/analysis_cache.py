"""The last analysis results, kept on disk so that a graph opened again shows its shapes at once.

Analysis needs torch, which takes a second or two to import when the window opens. A graph that was
analysed before (the LeNet-5 preset `make run` opens, the file worked on yesterday) needs none of it:
its result, computed by torch's analysis last time, is kept here under a key made of everything the
result depends on, the network (blocks, parameters and wires, not positions), the data set's facts,
and the versions of Layerloom, torch and of the graph package's own source files. The window shows a
kept result while analysis loads; analysis then runs as always and its result replaces it.

A missing, unreadable or damaged file is an empty cache: it never stops the window from opening.
Writes are atomic (a temporary file, then rename); the newest MAX_ENTRIES results are kept.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path

from PySide6.QtCore import QStandardPaths

from layerloom import __version__
from layerloom.graph import analysis_result
from layerloom.graph.fileformat import atomic_write_text, graph_to_dict, network_part

from .versions import installed_version

MAX_ENTRIES = 16
FILE_NAME = "analysis-cache.json"
FORMAT = 1


def cache_file() -> Path:
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base or Path.home() / ".layerloom") / FILE_NAME


@functools.cache
def _versions() -> str:
    """Layerloom's and torch's versions (read without importing torch) and the graph package's source
    files (name, size, modification time): a change to any of them makes every kept result stale."""
    parts = [str(FORMAT), f"layerloom {__version__}", f"torch {installed_version('torch') or '?'}"]
    graph_dir = Path(analysis_result.__file__).parent
    for path in sorted(graph_dir.rglob("*.py")):
        st = path.stat()
        parts.append(f"{path.relative_to(graph_dir)} {st.st_size} {st.st_mtime_ns}")
    return "\n".join(parts)


def key(doc, data) -> str:
    """What the result of analysing `doc` with the data set's facts `data` depends on, as a digest."""
    text = json.dumps([_versions(), network_part(graph_to_dict(doc)), data], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):     # RecursionError: nested deeper than Python's parser goes
        return {}
    entries = data.get("entries") if isinstance(data, dict) else None
    return entries if isinstance(entries, dict) else {}


def lookup(doc, data, path: Path | None = None):
    """The kept result for `doc` as it is now, or None."""
    entry = _read(path or cache_file()).get(key(doc, data))
    if entry is None:
        return None
    try:
        return analysis_result.from_dict(entry)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def store(doc, data, result, path: Path | None = None) -> None:
    """Keep `result`, the analysis of `doc` as it is now; the oldest entries beyond MAX_ENTRIES go."""
    path = path or cache_file()
    entries = _read(path)
    k = key(doc, data)
    entries.pop(k, None)
    entries[k] = analysis_result.to_dict(result)
    while len(entries) > MAX_ENTRIES:
        entries.pop(next(iter(entries)))
    try:
        os.makedirs(path.parent, exist_ok=True)
        atomic_write_text(path, json.dumps({"format": FORMAT, "entries": entries}))
    except OSError:
        pass            # a read-only home: no cache, nothing else changes
