"""Checkpoints that load without unpickling arbitrary objects.

A checkpoint is a folder `checkpoints/epoch-0003-step-000750/` holding
    model.safetensors   the weights (and buffers) under the compiled module's state_dict keys
    state.pt            optimizer, scheduler and AMP scaler state, RNG states: tensors and plain
                        containers only, read back with torch.load(weights_only=True)
    meta.json           epoch, step, position in the epoch, the graph and the config
It is written to a temporary folder and renamed into place; `checkpoints/latest.json` names the
newest complete one. A crash never leaves a half-written checkpoint behind.
"""
from __future__ import annotations

import json
import os
import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from layerloom.graph.fileformat import atomic_write_text
from layerloom.graph.quoting import shown


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message says why."""


@dataclass
class Checkpoint:
    path: Path
    weights: dict
    state: dict
    meta: dict


def _contiguous(state_dict: dict) -> dict:
    return {k: v.detach().contiguous().cpu() for k, v in state_dict.items()}


def _commit_step(step: str) -> None:
    """Called after each step of a checkpoint's commit (tests replace it to kill the process there)."""


def clean_leftovers(ckpt_dir) -> None:
    """Remove what a killed process left half-written: `.epoch-*.tmp` folders, `.latest.json.*.tmp`."""
    ckpt_dir = Path(ckpt_dir)
    if not ckpt_dir.is_dir():
        return
    for p in ckpt_dir.iterdir():
        if p.name.startswith(".") and p.name.endswith(".tmp"):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)


def save_checkpoint(ckpt_dir, name: str, model_state: dict, state: dict, meta: dict, keep: int = 2) -> Path:
    ckpt_dir = Path(ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    clean_leftovers(ckpt_dir)
    final = ckpt_dir / name
    tmp = ckpt_dir / f".{name}.tmp"
    tmp.mkdir()
    metadata = {"format": "layerloom.checkpoint", "graph": str(meta.get("graph_name", ""))}
    save_file(_contiguous(model_state), str(tmp / "model.safetensors"), metadata=metadata)
    torch.save(state, tmp / "state.pt")
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    _commit_step("written")
    if final.exists():
        shutil.rmtree(final)
    _commit_step("replacing")
    os.replace(tmp, final)
    _commit_step("renamed")
    atomic_write_text(ckpt_dir / "latest.json", json.dumps({"checkpoint": name}) + "\n")
    _commit_step("pointed")
    _prune(ckpt_dir, keep, final)
    _commit_step("pruned")
    return final


def _prune(ckpt_dir: Path, keep: int, newest: Path) -> None:
    done = sorted((p for p in ckpt_dir.iterdir() if p.is_dir() and not p.name.startswith(".")),
                  key=lambda p: p.stat().st_mtime_ns)
    for old in done[:-keep]:
        if old != newest:
            shutil.rmtree(old, ignore_errors=True)


def _complete(folder: Path) -> bool:
    return all((folder / f).is_file() for f in ("model.safetensors", "state.pt", "meta.json"))


def _inside(ckpt_dir: Path, name) -> Path | None:
    """The checkpoint `latest.json` names, only when it is a folder directly inside `ckpt_dir`
    (a pointer such as "../../elsewhere" would load, then write, outside the run)."""
    if not isinstance(name, str) or not name or name.startswith(".") or "/" in name or "\\" in name:
        return None
    path = ckpt_dir / name
    try:
        if path.is_symlink() or path.resolve().parent != ckpt_dir.resolve():
            return None
    except OSError:
        return None
    return path


def latest_checkpoint(run_or_ckpt) -> Path:
    """The newest complete checkpoint of a run folder (or the checkpoint folder itself). `latest.json`
    names it; when that file is garbage or names something unusable, the newest complete
    checkpoint folder inside `checkpoints/` is used."""
    path = Path(run_or_ckpt)
    if (path / "model.safetensors").is_file():
        return path
    ckpt_dir = path / "checkpoints" if (path / "checkpoints").is_dir() else path
    pointer = ckpt_dir / "latest.json"
    if pointer.is_file():
        try:
            name = json.loads(pointer.read_text(encoding="utf-8"))["checkpoint"]
        except (ValueError, KeyError, TypeError, OSError):
            name = None
        named = _inside(ckpt_dir, name)
        if named is not None and _complete(named):
            return named
    if ckpt_dir.is_dir():
        found = [p for p in ckpt_dir.iterdir() if _inside(ckpt_dir, p.name) is not None and p.is_dir() and _complete(p)]
        if found:
            return max(found, key=lambda p: (p.name, p.stat().st_mtime_ns))
    raise CheckpointError(f"{path} holds no checkpoint: train at least one epoch (or stop a run) first")


def load_checkpoint(run_or_ckpt, map_location="cpu") -> Checkpoint:
    path = latest_checkpoint(run_or_ckpt)
    try:
        weights = load_file(str(path / "model.safetensors"), device=str(map_location))
    except SafetensorError as exc:
        raise CheckpointError(f"the checkpoint {path} is corrupt or truncated: its model.safetensors cannot be "
                              f"read ({shown(str(exc), 120)}). Resume or export an earlier checkpoint.") from None
    except OSError as exc:
        raise CheckpointError(f"the checkpoint {path} cannot be read: {exc}") from None
    try:
        state = torch.load(path / "state.pt", map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:   # weights_only=True refused an object
        raise CheckpointError(f"the checkpoint {path} holds data that is not allowed ({type(exc).__name__}); "
                              "only tensors and plain values are loaded") from None
    except Exception as exc:
        raise CheckpointError(f"the checkpoint {path} is corrupt or truncated: its state.pt cannot be read "
                              f"({shown(str(exc), 120)}).") from None
    try:
        meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"the checkpoint {path} is corrupt or truncated: its meta.json cannot be read "
                              f"({shown(str(exc), 120)}).") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("graph"), dict):
        raise CheckpointError(f"the checkpoint {path} is corrupt: its meta.json does not describe the graph "
                              "(an object with a \"graph\" entry). Resume or export an earlier checkpoint.")
    return Checkpoint(path, weights, state, meta)
