"""Why a path cannot be written, in words: checked before work starts (`in_the_way`), or said of an
OSError met on the way (`os_error_text`). The command line, the Trainer and the app's dialogs use them,
so a file in the way, a folder without permission or a full disk reads the same everywhere."""
from __future__ import annotations

import errno
import os
from pathlib import Path


def in_the_way(path, folder: bool = True) -> str | None:
    """Why nothing can be written at PATH (a folder to write into when `folder`, else a file), or None:
    a file where a folder must be (or the reverse), or a folder that cannot be written to. Checked
    before a command starts its work, so a bad output path costs nothing and leaves nothing behind."""
    p = Path(path)
    if folder and p.exists() and not p.is_dir():
        return f"{p} is a file, not a folder"
    if not folder and p.is_dir():
        return f"{p} is a folder, not a file"
    base = p if folder else p.parent
    for q in (base, *base.parents):
        if q.is_dir():
            if not os.access(q, os.W_OK | os.X_OK):
                return f"{q} cannot be written to (permission denied)"
            return None
        if q.is_symlink() and not q.exists():
            return f"{q} is a link to something that is not there, so nothing can be made inside it"
        if q.exists():
            return f"{q} is a file, so no folder can be made inside it"
    return None


OS_HINTS = {errno.EEXIST: "a file is in the way of a folder", errno.ENOTDIR: "a file is in the way of a folder",
            errno.EACCES: "permission denied: choose a place you can write to",
            errno.EPERM: "permission denied: choose a place you can write to",
            errno.EROFS: "the file system is read-only: choose another place",
            errno.ENOSPC: "the disk is full: free some space and run it again",
            errno.EFBIG: "the file is larger than this file system or a limit allows: choose another place",
            errno.EDQUOT: "your disk quota is used up: free some space and run it again",
            errno.EISDIR: "a folder is in the way of a file"}


def os_error_text(exc: OSError) -> str:
    """An OSError as one line that names the path and says what to do. Of a move (a file written beside
    its place, then put there), the place is named, not the temporary file."""
    where = exc.filename2 if exc.filename2 is not None else exc.filename if exc.filename is not None else ""
    what = OS_HINTS.get(exc.errno) or exc.strerror or str(exc)
    return f"cannot use {where}: {what}" if where != "" else what
