"""The per-user application-data folder of this platform (what platformdirs would say), Qt-free: data sets
(runtime/data/paths.py) and the trusted-code record (graph/trust.py) live under it."""
from __future__ import annotations

import os
import sys
from pathlib import Path


def platform_data_home() -> Path:
    home = Path.home()
    if sys.platform.startswith("win"):
        base = os.environ.get("LOCALAPPDATA")
        return Path(base) if base else home / "AppData" / "Local"
    if sys.platform == "darwin":
        return home / "Library" / "Application Support"
    base = os.environ.get("XDG_DATA_HOME", "").strip()
    # The XDG spec says a relative path is invalid and must be ignored.
    if base and Path(base).is_absolute():
        return Path(base)
    return home / ".local" / "share"
