"""Whether a process still runs (for files left by a process that may have died: sweeps, recovery)."""
from __future__ import annotations

import os


def alive(pid: int) -> bool:
    """True while process `pid` exists on this machine (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
