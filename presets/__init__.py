"""Bundled example graphs (*.loom.json), shipped as package data."""
from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def preset_paths() -> list[Path]:
    return sorted(HERE.glob("*.loom.json"))


def preset_path(name: str) -> Path:
    path = HERE / f"{name}.loom.json"
    if not path.exists():
        known = ", ".join(p.name.removesuffix(".loom.json") for p in preset_paths())
        raise FileNotFoundError(f"no preset named {name!r}; presets: {known}")
    return path
