"""An export is all or nothing. What can be known before exporting (a folder where a file goes, a project
folder that is not empty, metadata JSON cannot hold) is checked before anything is written; every format
and model.json are then written into a hidden folder inside the destination and moved into place only when
all of them are there. An export that fails on the way leaves the destination as it was: the files it would
have replaced are put back, and folders it made are removed.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from ..path_problems import in_the_way, os_error_text
from .source import ExportError

NOTHING = "nothing was exported"
FOLDERS = ("project",)          # formats that write a folder (which must be absent or empty)


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
def staged_export(out: Path):
    """Yield a hidden folder inside `out` to write the export into; it is removed at the end. If the block
    fails, the folders made for `out` are removed too, and an OSError becomes an ExportError in words."""
    made = _missing(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".export-", suffix=".tmp", dir=out))
    except OSError as exc:
        _remove_empty(made)
        raise ExportError(f"{os_error_text(exc)} ({NOTHING})") from None
    try:
        yield staging
    except OSError as exc:
        raise ExportError(f"{os_error_text(exc).replace(str(staging), str(out))} ({NOTHING})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        _remove_empty(made)           # (only those left empty: a folder that holds the export stays)


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
