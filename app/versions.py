"""Installed packages' versions, read from a source file of the package without importing it.

importlib.metadata answers the same but scans every installed distribution and parses its metadata
(~40 ms here), which the window would pay before its first paint. Each package below writes its version
into a plain source file at build time; where that file is missing or unreadable, importlib.metadata
answers after all.
"""
from __future__ import annotations

import functools
import importlib.util
import re
from pathlib import Path

# package -> (distribution name(s), source file in the package, the assignment that holds the version)
SOURCES = {
    "PySide6": (("PySide6-Essentials", "PySide6"), "_config.py", "version"),
    "torch": (("torch",), "version.py", "__version__"),
}


@functools.cache
def installed_version(package: str) -> str | None:
    """`package`'s version ("6.12.0"), or None when it is not installed."""
    dists, file, name = SOURCES[package]
    spec = importlib.util.find_spec(package)
    if spec is None:
        return None
    for folder in spec.submodule_search_locations or ():
        try:
            text = (Path(folder) / file).read_text(encoding="utf-8")
        except OSError:
            continue
        found = re.search(rf"^{re.escape(name)}\s*(?::\s*str\s*)?=\s*['\"]([^'\"]+)['\"]", text, re.MULTILINE)
        if found:
            return found.group(1)
    from importlib import metadata
    for dist in dists:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None
