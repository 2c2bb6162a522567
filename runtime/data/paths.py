"""Where data sets live on disk: one per-user folder, overridable."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ENV_VAR = "LAYERLOOM_DATA"
APP_NAME = "layerloom"


def _platform_data_home() -> Path:
    """The per-user application-data folder of this platform (what platformdirs would say)."""
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


def data_root(override: str | os.PathLike | None = None) -> Path:
    """The folder that holds every downloaded data set, one subfolder per set.

    In order of precedence: ``override``, the ``LAYERLOOM_DATA`` environment variable, then the
    platform's per-user data folder: ``$XDG_DATA_HOME/layerloom/datasets`` (default
    ``~/.local/share``) on Linux, ``~/Library/Application Support/layerloom/datasets`` on macOS,
    ``%LOCALAPPDATA%\\layerloom\\datasets`` on Windows. The folder is not created here.
    """
    if override is not None and str(override) != "":
        return Path(override).expanduser()
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    return _platform_data_home() / APP_NAME / "datasets"
