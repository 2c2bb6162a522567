"""An export is all or nothing. What can be known before exporting (a folder where a file goes, a project
folder that is not empty, metadata JSON cannot hold) is checked before anything is written; every format
and model.json are then written into a hidden folder inside the destination and moved into place only when
all of them are there. An export that fails on the way leaves the destination as it was: the files it would
have replaced are put back, and folders it made are removed.

A stop request (Ctrl-C, SIGTERM: `Interruption`, which the CLI's signal handler counts) is acted on between
formats, never half-way through moving the files into place. The hidden folder is named after the process
that writes it (`.export-PID-XXXXXXXX.tmp`, with `.owner.json` inside): one left by an export that was killed
is removed by the next export into that folder, and one another live export is writing is left alone.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from layerloom.graph.quoting import shown

from ..path_problems import in_the_way, os_error_text
from ..processes import STARTED, same_process, this_host, usable_pid
from .source import ExportError

NOTHING = "nothing was exported"
FOLDERS = ("project",)          # formats that write a folder (which must be absent or empty)
OWNER = ".owner.json"           # in a staging folder: the process that writes it ({"pid", "started", "host"})
STAGING = re.compile(r"\.export-(\d{1,10})-[a-z0-9_]{8}\.tmp")     # tempfile.mkdtemp's names, as staged_export asks
EARLIER_STAGING = re.compile(r"\.export-[a-z0-9_]{8}\.tmp")          # the same, before they named their process


class Interruption:
    """Stop requests for an export (Ctrl-C, SIGTERM), counted by a signal handler: `requested`. export_model
    acts on them between formats; while `held` (the files being moved into place, the staging folder being
    removed), a handler must not interrupt at all."""

    def __init__(self):
        self.requested = 0
        self.held = False

    def check(self) -> None:
        """Raise KeyboardInterrupt when a stop was requested (the CLI then says "interrupted", status 130)."""
        if self.requested:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def holding(self):
        held, self.held = self.held, True
        try:
            yield
        finally:
            self.held = held


def places_problem(out: Path, names: dict[str, str]) -> str | None:
    """Why the export could not put its files in `out` (`names`: format -> file or folder name, model.json
    included), or None: known before anything is written."""
    blocked = in_the_way(out)
    if blocked:
        return f"cannot export into {out}: {blocked}; choose another folder"
    for fmt, name in names.items():
        place = out / name
        if fmt in FOLDERS:
            if place.is_symlink() or (place.exists() and (not place.is_dir() or any(place.iterdir()))):
                return f"{place} exists and is not empty: move it, or choose a new folder for the project"
        elif place.is_dir():
            what = f"file {name}" if fmt == name else f"{fmt} file"
            return f"{place} is a folder, in the way of the {what}: move it or choose another folder"
    return None


def check_places(out: Path, names: dict[str, str], metadata: dict) -> None:
    """Raise ExportError when the export could not be completed in `out`: found before anything is written."""
    problem = places_problem(out, names)
    if problem:
        raise ExportError(f"{problem} ({NOTHING})")
    try:
        json.dumps(metadata, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ExportError(f"the model's description cannot be written as JSON ({exc}) ({NOTHING})") from None


def _missing(folder: Path) -> list[Path]:
    """`folder` and its parents that do not exist yet, deepest first."""
    missing = []
    for p in (folder, *folder.parents):
        if p.exists() or p.is_symlink():
            break
        missing.append(p)
    return missing


@contextlib.contextmanager
def staged_export(out: Path, stop: Interruption | None = None):
    """Yield a hidden folder inside `out` to write the export into; it is removed at the end (`stop` held
    meanwhile). If the block fails, the folders made for `out` are removed too, and an OSError becomes an
    ExportError in words."""
    made = _missing(out)
    staging = None
    try:
        out.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".export-{os.getpid()}-", suffix=".tmp", dir=out))
        record = {"pid": os.getpid(), "started": STARTED, "host": this_host()}
        (staging / OWNER).write_text(json.dumps(record), encoding="utf-8")
    except OSError as exc:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        _remove_empty(made)
        raise ExportError(f"{os_error_text(exc)} ({NOTHING})") from None
    try:
        yield staging
    except OSError as exc:
        raise ExportError(f"{os_error_text(exc).replace(str(staging), str(out))} ({NOTHING})") from None
    finally:
        with stop.holding() if stop else contextlib.nullcontext():
            shutil.rmtree(staging, ignore_errors=True)
            _remove_empty(made)           # (only those left empty: a folder that holds the export stays)


def _owned_elsewhere(folder: Path, pid: int) -> bool:
    """Is the staging folder `folder` (named after process `pid`) still written by a live export? Its
    `.owner.json` says which process, when it started and on which machine (one written on another machine,
    the folder being shared, cannot be checked from here: it counts as live); a folder without one (killed as
    it was made) goes by the process id in its name."""
    try:
        owner = json.loads((folder / OWNER).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        owner = None
    if not isinstance(owner, dict) or usable_pid(owner.get("pid")) != pid:
        return same_process(pid, None)
    host = owner.get("host")
    if isinstance(host, str) and this_host() is not None and host != this_host():
        return True
    return same_process(pid, owner.get("started"))


def clear_stale_staging(out: Path) -> list[str]:
    """Remove the staging folders in `out` that exports killed on the way left behind (a live export's stays).
    Returns the names of those that look like an earlier Layerloom's, which do not say whose they are: they are
    left, for the person to remove."""
    unknown = []
    try:
        entries = list(out.iterdir()) if out.is_dir() else []
    except OSError:
        return []
    for p in entries:
        found = STAGING.fullmatch(p.name)
        if not (found or EARLIER_STAGING.fullmatch(p.name)) or p.is_symlink() or not p.is_dir():
            continue
        if not found:
            unknown.append(p.name)
        elif not _owned_elsewhere(p, int(found.group(1))):
            shutil.rmtree(p, ignore_errors=True)
    return sorted(unknown)


def stale_warning(out: Path, names: list[str]) -> str:
    them = "them" if len(names) > 1 else "it"
    return (f"{shown(str(out), 120)} holds {', '.join(shown(n) for n in names)}, left by an export that was cut "
            f"short (by an earlier Layerloom, which did not record whose it is): remove {them} once no export into "
            "that folder runs")


def _remove_empty(folders: list[Path]) -> None:
    for p in folders:
        with contextlib.suppress(OSError):
            p.rmdir()


def publish(staging: Path, out: Path, names: list[str]) -> None:
    """Move `names` from `staging` into `out`, replacing what is there; if a move fails (or the export is
    interrupted), every earlier one is undone (the replaced files come back) before the error goes on."""
    kept = staging / ".replaced"
    kept.mkdir()
    undo: list = []
    try:
        for name in names:
            target = out / name
            if target.is_dir() and not target.is_symlink():
                target.rmdir()                                   # an empty folder (check_places saw to it)
                undo.append(lambda t=target: t.mkdir())
            elif target.exists() or target.is_symlink():
                os.replace(target, kept / name)
                undo.append(lambda t=target, k=kept / name: os.replace(k, t))
            os.replace(staging / name, target)
            undo.append(lambda t=target: shutil.rmtree(t) if t.is_dir() and not t.is_symlink() else t.unlink())
    except BaseException:            # a failed move, or an interrupt between two moves
        for step in reversed(undo):
            with contextlib.suppress(OSError):
                step()
        raise


def earlier_files(out: Path, names: list[str]) -> list[str]:
    """The files an earlier export's model.json in `out` lists that are still there and are not in `names`:
    the new model.json will not list them, and they may hold another model."""
    try:
        files = json.loads((out / "model.json").read_text(encoding="utf-8")).get("files") or {}
    except (OSError, ValueError, AttributeError):
        return []
    listed = [f for f in files.values() if isinstance(f, str)] if isinstance(files, dict) else []
    return sorted(f for f in listed if f not in names and Path(f).name == f and (out / f).is_file())
