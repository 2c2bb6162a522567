"""Run folders: `runs/<YYYYmmdd-HHMMSS>-<graph name>/` with everything a run leaves behind.

    graph.loom.json   the graph that was trained
    config.json       the training settings
    metrics.csv       one row per epoch
    summary.json      {"val_accuracy", "val_loss", "epochs", "steps", "seconds", ...}
    checkpoints/      see checkpoints.py
    training.json     {"pid", "started", "host"} while a process trains it (processes.py); a killed one leaves it
The CLI and the app write the same folders, so a run trained in one shows up in the other.
"""
from __future__ import annotations

import csv
import io
import json
import re
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from layerloom.graph.fileformat import atomic_write_text, dumps_graph
from layerloom.graph.quoting import shown

METRIC_FIELDS = ("epoch", "step", "train_loss", "val_loss", "val_accuracy", "lr", "seconds")


# Names Windows keeps for devices, whatever the extension ("con.onnx" cannot be created there either).
_RESERVED = {"con", "prn", "aux", "nul", *(f"{p}{d}" for p in ("com", "lpt") for d in "0123456789¹²³")}


def _kept(ch: str) -> bool:
    """A letter, mark or digit of any script: safe in a file name on Windows, macOS and Linux (separators,
    punctuation that Windows refuses, control and format characters are none of these)."""
    return unicodedata.category(ch)[0] in "LMN"


def slug(name: str) -> str:
    """The part of a file or folder name that stands for a graph: its letters and digits in any script,
    lower case, with one "-" for every run of anything else; at most 40 characters; never a name Windows
    reserves for a device; "graph" when nothing is left."""
    text = unicodedata.normalize("NFC", str(name)).lower()     # macOS keeps names decomposed: one spelling
    text = "".join(ch if _kept(ch) else "-" for ch in text)
    text = re.sub(r"-+", "-", text).strip("-")
    while text and unicodedata.category(text[0])[0] == "M":     # an accent with no letter under it
        text = text[1:].lstrip("-")
    text = text[:40].rstrip("-")
    if text.lower() in _RESERVED:
        text += "-graph"
    return text or "graph"


def create_run_dir(base, graph_name: str, now: float | None = None) -> Path:
    base = Path(base)
    base.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    name = f"{stamp}-{slug(graph_name)}"
    path = base / name
    n = 2
    while True:
        try:
            path.mkdir()
            break
        except FileExistsError:
            path = base / f"{name}-{n}"
            n += 1
    (path / "checkpoints").mkdir()
    return path


def write_json(path, data) -> None:
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")


class NestedTooDeep(ValueError):
    """A JSON file nested deeper than Python's parser goes (a damaged or crafted file: thousands of "[")."""


def read_json(path) -> dict:
    """The JSON in `path`: ValueError for a file that is no JSON, NestedTooDeep (a ValueError, its message
    naming the file) for one nested too deeply to read, OSError as open raises it."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except RecursionError:
        raise NestedTooDeep(f"{path.name} is damaged: its JSON is nested too deeply to read") from None


def write_run_start(run_dir: Path, doc, config) -> None:
    atomic_write_text(run_dir / "graph.loom.json", dumps_graph(doc))
    write_json(run_dir / "config.json", config.to_dict())
    metrics = run_dir / "metrics.csv"
    if not metrics.exists():
        atomic_write_text(metrics, ",".join(METRIC_FIELDS) + "\n")


def append_metrics(run_dir: Path, row: dict) -> None:
    """Add one epoch's row (rewritten atomically: a crash never leaves half a line).

    A row for this epoch or a later one can only be there when a process was killed after writing
    it but before its checkpoint committed, and the run resumed from an earlier checkpoint: the
    epoch is being trained again, so those rows are replaced (one row per epoch, always)."""
    path = run_dir / "metrics.csv"
    text = path.read_text(encoding="utf-8") if path.exists() else ",".join(METRIC_FIELDS) + "\n"
    lines = text.splitlines(keepends=True)
    header, body = lines[:1], lines[1:]
    epoch = row.get("epoch")
    if isinstance(epoch, int):
        body = [line for line in body if not _epoch_at_least(line, epoch)]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([_fmt(row.get(k)) for k in METRIC_FIELDS])
    atomic_write_text(path, "".join(header + body) + buf.getvalue())


def _epoch_at_least(line: str, epoch: int) -> bool:
    first = line.split(",", 1)[0].strip()
    return first.isdigit() and int(first) >= epoch


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.6g}"
    return "" if v is None else v


def read_metrics(run_dir) -> list[dict]:
    """The epoch rows of a run's metrics.csv: epoch and step as integers, the rest as floats (None where
    empty). A row without a whole epoch and step (a file edited by hand or cut short) is left out, a value
    that is no number reads as None, and a file that cannot be read at all as no rows."""
    path = Path(run_dir) / "metrics.csv"
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = [_metrics_row(row) for row in csv.DictReader(f)]
    except (OSError, UnicodeDecodeError, csv.Error):
        return []
    return [row for row in rows if row is not None]


def _metrics_row(row: dict) -> dict | None:
    out = dict.fromkeys(METRIC_FIELDS)
    for key, value in row.items():
        if not isinstance(key, str):          # values beyond the header's columns
            continue
        value = (value or "").strip() if isinstance(value, str) else ""
        if key in ("epoch", "step"):
            if not value.isdigit():
                return None
            out[key] = int(value)
        else:
            try:
                out[key] = float(value) if value else None
            except ValueError:
                out[key] = None
    return out if out["epoch"] is not None and out["step"] is not None else None


@dataclass
class RunInfo:
    path: Path
    name: str
    graph_name: str
    config: dict
    summary: dict | None       # None while running or when it ended abruptly


RUN_FILES = ("config.json", "graph.loom.json", "summary.json")


def list_runs(base, cache: dict | None = None, damaged: list | None = None) -> list[RunInfo]:
    """Runs under `base`, newest first; folders that are not runs are skipped, and so are run folders whose
    files are damaged: for each of these a line saying which file and what to do goes to `damaged` when it
    is a list. `cache`, a dict the caller keeps between calls, spares reading again the runs whose files
    have not changed (see read_run)."""
    base = Path(base)
    out = []
    try:
        paths = sorted(base.iterdir(), reverse=True) if base.is_dir() else []
    except OSError:                      # the folder cannot be listed (permission, a disk gone)
        paths = []
    for path in paths:
        run = _cached_read(path, cache)
        if isinstance(run, RunInfo):
            out.append(run)
        elif run is not None and damaged is not None:
            damaged.append(run)
    if cache is not None:                # folders gone since: forgotten
        for gone in set(cache) - set(paths):
            if gone.parent == base:
                del cache[gone]
    return out


def read_run(path, cache: dict | None = None) -> RunInfo | None:
    """One run folder (anywhere: a sweep keeps its trials' runs in its own folder); None if it is not one.
    With `cache` ({folder: (stamp, RunInfo, None or why it is damaged)}), a folder whose run files have the stamp (size, time and
    inode of each: a file replaced atomically is a new inode) they had when last read is not read again."""
    run = _cached_read(Path(path), cache)
    return run if isinstance(run, RunInfo) else None


def _cached_read(path: Path, cache: dict | None) -> RunInfo | str | None:
    stamp = _stamp(path) if cache is not None else None
    if cache is not None and path in cache and cache[path][0] == stamp:
        return cache[path][1]
    run = _read_run(path)
    if cache is not None:
        cache[path] = (stamp, run)
    return run


def _stamp(path: Path) -> tuple:
    out = []
    for name in RUN_FILES:
        try:
            st = (path / name).stat()
            out.append((st.st_size, st.st_mtime_ns, st.st_ino))
        except OSError:
            out.append(None)
    return tuple(out)


def _read_run(path: Path) -> RunInfo | str | None:
    """The run in folder `path`; None for a folder that is no run; a line saying which file is damaged and
    what to do for a run folder whose files cannot be read (never an exception: one damaged folder must not
    stop the others from being listed)."""
    if not (path / "config.json").is_file() or not (path / "graph.loom.json").is_file():
        return None
    data = {}
    for name in RUN_FILES:
        try:
            data[name] = read_json(path / name) if name != "summary.json" or (path / name).exists() else None
        except (OSError, ValueError) as exc:
            if name == "summary.json":       # the run's own files are whole: it reads as a run without an end
                data[name] = None
                continue
            why = (f"it cannot be read: {(exc.strerror or 'the system refused').lower()}" if isinstance(exc, OSError) else
                   "its JSON is nested too deeply to read" if isinstance(exc, NestedTooDeep) else
                   "it is not readable JSON")
            return _damaged(path, name, why)
    config, graph, summary = data["config.json"], data["graph.loom.json"], data["summary.json"]
    for name, value in (("config.json", config), ("graph.loom.json", graph)):
        if not isinstance(value, dict):      # JSON, but not a run's
            return _damaged(path, name, "it is JSON but not a run's")
    summary = summary if isinstance(summary, dict) else None
    return RunInfo(path, path.name, str(graph.get("name", "")), config, summary)


def _damaged(path: Path, name: str, why: str) -> str:
    return (f"{shown(path.name, 80)}/{name} is damaged ({why}), so the run is left out of the list: put back a "
            "good copy of the file, or delete the run's folder if the run is not needed")
