"""Where data sets live on disk: one per-user folder, overridable."""

from __future__ import annotations

import os
from pathlib import Path

from layerloom.graph.user_folder import platform_data_home as _platform_data_home

ENV_VAR = "LAYERLOOM_DATA"
APP_NAME = "layerloom"


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
