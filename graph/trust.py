"""The code a person allowed Opaque blocks to run, remembered between runs (Qt-free).

One small JSON file in Layerloom's per-user data folder (the folder that holds its data sets:
``$XDG_DATA_HOME/layerloom`` or ``~/.local/share/layerloom`` on Linux, ``~/Library/Application
Support/layerloom`` on macOS, ``%LOCALAPPDATA%\\layerloom`` on Windows), ``trusted-code.json``:

    {"format": "layerloom-trusted-code", "version": 1,
     "files": {"/home/me/model.py": "<sha-256 of the content that was allowed>"},
     "packages": ["timm"]}

A Python file is trusted for exactly the content that was allowed: a file changed since is refused
until it is allowed again. A package is trusted by its name (whatever version is installed), since
Layerloom cannot tell one version's code from another's. `layerloom import` and the app's import
record the file they were asked to import; `--trust-code` and the app's "Run its code" record the
files and packages of a graph's Opaque blocks. The file is read with a size limit and validated:
anything in it that is not a path with a hash, or a package name, is ignored (it trusts nothing).
Writes are atomic (a temp file and a rename), so a crash never leaves half a record.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from pathlib import Path

from .user_folder import platform_data_home

FORMAT = "layerloom-trusted-code"
VERSION = 1
FILE_NAME = "trusted-code.json"
MAX_BYTES = 4 * 2**20
_HASH = re.compile(r"[0-9a-f]{64}")
_PACKAGE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


class TrustRecordError(OSError):
    """The record could not be written; the message says where and why."""


RECORD_ENV = "LAYERLOOM_TRUST_RECORD"    # another place for the record (the tests keep theirs apart)


def record_path() -> Path:
    other = os.environ.get(RECORD_ENV, "").strip()
    return Path(other) if other else platform_data_home() / "layerloom" / FILE_NAME


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_record() -> tuple[dict[str, str], set[str]]:
    """({resolved file path: sha-256}, {package name}) as recorded; empty when there is no record or it
    cannot be read (nothing is then trusted)."""
    try:
        with open(record_path(), "rb") as f:
            raw = f.read(MAX_BYTES + 1)
        data = json.loads(raw.decode("utf-8")) if len(raw) <= MAX_BYTES else None
    except (OSError, ValueError, RecursionError):
        return {}, set()
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return {}, set()
    files = data.get("files") if isinstance(data.get("files"), dict) else {}
    packages = data.get("packages") if isinstance(data.get("packages"), list) else []
    return ({p: h for p, h in files.items() if isinstance(p, str) and os.path.isabs(p) and p.endswith(".py")
             and isinstance(h, str) and _HASH.fullmatch(h)},
            {p for p in packages if isinstance(p, str) and len(p) <= 200 and _PACKAGE.fullmatch(p)})


def recorded_hash(path: str) -> str | None:
    """The hash of the content of the (resolved) file `path` that was allowed, or None."""
    return read_record()[0].get(path)


def package_recorded(name: str) -> bool:
    """Whether the package `name`, or a package it is part of ("a" for "a.b"), was allowed."""
    packages = read_record()[1]
    parts = name.split(".")
    return any(".".join(parts[:n]) in packages for n in range(1, len(parts) + 1))


@contextlib.contextmanager
def _changing():
    """While the block reads, changes and writes the record, no other Layerloom process does (two windows
    allowing code at once each kept only their own). Where no lock can be taken (no flock, a folder that cannot
    be written), the block runs all the same: writing then says what is wrong."""
    path = record_path()
    try:
        import fcntl
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock = open(path.with_name(path.name + ".lock"), "a")
    except (ImportError, OSError):
        yield
        return
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
        except OSError:
            pass
        yield                              # (closing the file releases the lock)


def remember_file(path: str, digest: str) -> None:
    """Record that the (resolved) file `path` may run while its content hashes to `digest`."""
    with _changing():
        files, packages = read_record()
        if files.get(path) != digest:
            files[path] = digest
            _write(files, packages)


def remember_package(name: str) -> None:
    with _changing():
        files, packages = read_record()
        if name not in packages:
            _write(files, packages | {name})


def _write(files: dict, packages: set) -> None:
    from .fileformat import atomic_write_text     # (fileformat loads the blocks, and with them opaque.py)
    path = record_path()
    data = {"format": FORMAT, "version": VERSION, "files": dict(sorted(files.items())),
            "packages": sorted(packages)}
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write_text(path, json.dumps(data, indent=1) + "\n")
    except OSError as exc:
        raise TrustRecordError(f"cannot write the record of allowed code {path}: {exc.strerror or exc}") from None
