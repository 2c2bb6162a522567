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
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from layerloom.graph.fileformat import atomic_write_text


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


def save_checkpoint(ckpt_dir, name: str, model_state: dict, state: dict, meta: dict, keep: int = 2) -> Path:
    ckpt_dir = Path(ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    final = ckpt_dir / name
    tmp = ckpt_dir / f".{name}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    metadata = {"format": "layerloom.checkpoint", "graph": str(meta.get("graph_name", ""))}
    save_file(_contiguous(model_state), str(tmp / "model.safetensors"), metadata=metadata)
    torch.save(state, tmp / "state.pt")
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    atomic_write_text(ckpt_dir / "latest.json", json.dumps({"checkpoint": name}) + "\n")
    _prune(ckpt_dir, keep, final)
    return final


def _prune(ckpt_dir: Path, keep: int, newest: Path) -> None:
    done = sorted((p for p in ckpt_dir.iterdir() if p.is_dir() and not p.name.startswith(".")),
                  key=lambda p: p.stat().st_mtime_ns)
    for old in done[:-keep]:
        if old != newest:
            shutil.rmtree(old, ignore_errors=True)


def latest_checkpoint(run_or_ckpt) -> Path:
    """The newest complete checkpoint of a run folder (or the checkpoint folder itself)."""
    path = Path(run_or_ckpt)
    if (path / "model.safetensors").is_file():
        return path
    ckpt_dir = path / "checkpoints" if (path / "checkpoints").is_dir() else path
    pointer = ckpt_dir / "latest.json"
    if pointer.is_file():
        try:
            name = json.loads(pointer.read_text(encoding="utf-8"))["checkpoint"]
        except (ValueError, KeyError, TypeError):
            name = None
        if name and (ckpt_dir / name / "model.safetensors").is_file():
            return ckpt_dir / name
    raise CheckpointError(f"{path} holds no checkpoint: train at least one epoch (or stop a run) first")


def load_checkpoint(run_or_ckpt, map_location="cpu") -> Checkpoint:
    path = latest_checkpoint(run_or_ckpt)
    try:
        weights = load_file(str(path / "model.safetensors"), device=str(map_location))
        state = torch.load(path / "state.pt", map_location=map_location, weights_only=True)
        meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"the checkpoint {path} cannot be read: {exc}") from None
    except Exception as exc:   # an unpickling refusal from weights_only=True lands here
        raise CheckpointError(f"the checkpoint {path} holds data that is not allowed ({type(exc).__name__}); "
                              "only tensors and plain values are loaded") from None
    return Checkpoint(path, weights, state, meta)
