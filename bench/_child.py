"""How a benchmark runs one case in a fresh Python process: the child prints one line `RESULT <json>`,
and the parent reads it back (process-wide state, such as OpenMP teams or imported modules, must not
leak between the things a bench compares)."""
from __future__ import annotations

import json
import subprocess


def child_result(cmd: list[str], what: str, env: dict | None = None, timeout: float = 600):
    """Run `cmd` and return the JSON of its `RESULT` line; a child that printed none ends the bench with
    `what` and the end of its output."""
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"{what} failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
    return json.loads(line[len("RESULT "):])
