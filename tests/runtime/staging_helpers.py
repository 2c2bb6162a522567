"""Staging folders as killed and live exports leave them, for the tests of their clean-up."""
import json
import os
import subprocess
import sys
from pathlib import Path

from layerloom.runtime.processes import STARTED


def staging(out: Path, pid, owner=None, name="abcdefgh", file="model.onnx") -> Path:
    """A staging folder as an export (or an ensemble) that was writing it left it: named after its process, a file
    half-written, and its `.owner.json` when it lived long enough to write one."""
    folder = out / f".export-{pid}-{name}.tmp"
    folder.mkdir(parents=True)
    (folder / file).write_bytes(b"half-written")
    if owner is not None:
        (folder / ".owner.json").write_text(json.dumps(owner), encoding="utf-8")
    return folder


def killed_and_live(out: Path, file="model.onnx") -> tuple[list[Path], Path]:
    """Two folders of killed exports (one that recorded itself, with this process's id but a start in 1970; one
    that died before it could, with the id of a process that has ended) and one of a live export (this one)."""
    finished = subprocess.Popen([sys.executable, "-c", ""])
    finished.wait()                                   # a process that has ended: its id names no process now
    killed = [staging(out, os.getpid(), {"pid": os.getpid(), "started": 0.0, "host": None}, "killed00", file),
              staging(out, finished.pid, None, "killed01", file)]
    live = staging(out, os.getpid(), {"pid": os.getpid(), "started": STARTED, "host": None}, "livethis", file)
    return killed, live
