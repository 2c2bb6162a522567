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

import errno
import json
import math
import os
import pickle
import re
import shutil
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from layerloom.graph.fileformat import GraphFileError, atomic_write_text, default_mode, graph_from_dict, read_bounded
from layerloom.graph.quoting import shown

META_BYTES = 64 * 2**20     # meta.json: the graph (at most 16 MB), settings, class names, vocabulary


EARLIER = "Resume or export an earlier checkpoint."      # what the commands can do about a damaged checkpoint


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message says why (`reason`) and, where there is one, what to do about
    it with Layerloom's commands (`advice`). A caller that offers other ways out (a dialog's list of weights, a
    teacher named in a run's settings) says `reason` with its own advice."""

    def __init__(self, reason: str, advice: str = ""):
        super().__init__(f"{reason}. {advice}" if advice else reason)
        self.reason, self.advice = reason, advice


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
    try:
        save_file(_contiguous(model_state), str(tmp / "model.safetensors"), metadata=metadata)
        torch.save(state, tmp / "state.pt")
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        for f in ("model.safetensors", "state.pt", "meta.json"):      # safetensors writes 0600: every file of
            os.chmod(tmp / f, default_mode())                          # the checkpoint gets the usual permissions
    except BaseException as exc:      # a full disk, a file size limit, Ctrl-C: no half-written folder stays
        shutil.rmtree(tmp, ignore_errors=True)
        failure = _write_failure(exc, final)
        if failure is None:
            raise
        raise failure from None
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


def _write_failure(exc: BaseException, where: Path) -> OSError | None:
    """The OSError a failed write of checkpoint `where` amounts to, naming it: safetensors and torch.save
    report the system's refusal in their own words ("I/O error: File too large (os error 27)", "unexpected
    pos", "file write failed"). None for anything that is not a failed write."""
    if isinstance(exc, OSError):
        return OSError(exc.errno, exc.strerror or str(exc), str(where))
    text = str(exc)
    code = re.search(r"os error (\d+)", text)
    if code:
        number = int(code.group(1))
        return OSError(number, os.strerror(number), str(where))
    if isinstance(exc, RuntimeError) and ("unexpected pos" in text or "write" in text.lower()):
        if shutil.disk_usage(where.parent).free < 64 * 2**20:
            return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(where))
        return OSError(errno.EIO, "it could not be written (is the disk full, or a limit on file sizes reached?)",
                       str(where))
    return None


CHECKPOINT_NAME = re.compile(r"epoch-\d+-step-\d+")


def _prune(ckpt_dir: Path, keep: int, newest: Path) -> None:
    """Remove all but the `keep` newest checkpoints; a folder or link of another name is not Layerloom's."""
    done = sorted((p for p in ckpt_dir.iterdir()
                   if CHECKPOINT_NAME.fullmatch(p.name) and p.is_dir() and not p.is_symlink()),
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
    if path.is_file():     # e.g. the graph file itself: a run's weights are in its folder
        raise CheckpointError(f"{path} is a file, not a run: give a run folder (runs/...) or one of its "
                              "checkpoint folders")
    ckpt_dir = path / "checkpoints" if (path / "checkpoints").is_dir() else path
    pointer = ckpt_dir / "latest.json"
    if pointer.is_file():
        try:   # a few dozen bytes when Layerloom wrote it: more is garbage, not read into memory
            name = json.loads(read_bounded(pointer, 64 * 1024, ValueError).decode("utf-8"))["checkpoint"]
        except (ValueError, KeyError, TypeError, OSError, RecursionError):
            name = None
        named = _inside(ckpt_dir, name)
        if named is not None and _complete(named):
            return named
    if ckpt_dir.is_dir():
        found = [p for p in ckpt_dir.iterdir() if _inside(ckpt_dir, p.name) is not None and p.is_dir() and _complete(p)]
        if found:
            return max(found, key=lambda p: (p.name, p.stat().st_mtime_ns))
    raise CheckpointError(f"{path} holds no checkpoint: train at least one epoch (or stop a run) first")


def load_checkpoint(run_or_ckpt, map_location="cpu", training_state: bool = True) -> Checkpoint:
    """The newest complete checkpoint, checked: its files read, its meta.json holds what the trainer
    wrote (with the right types), its state.pt holds plain data only, and its weights fit its graph
    (names, shapes and dtypes). Raises CheckpointError with a one-line reason. `training_state=False`: the
    weights and meta.json only (export, which never uses the optimizer's state): state.pt is not read, and
    the Checkpoint's `state` is {}."""
    path = latest_checkpoint(run_or_ckpt)
    try:
        weights = load_file(str(path / "model.safetensors"), device=str(map_location))
    except SafetensorError as exc:
        raise CheckpointError(f"the checkpoint {path} is corrupt or truncated: its model.safetensors cannot be "
                              f"read ({shown(str(exc), 120)})", earlier_advice(path)) from None
    except OSError as exc:
        raise CheckpointError(f"the checkpoint {path} cannot be read: {exc}") from None
    state = _read_state(path, map_location) if training_state else {}
    meta = _read_meta(path)
    if training_state:
        _check_state(path, state)
    _check_weights(path, weights, meta)
    return Checkpoint(path, weights, state, meta)


def _read_state(path: Path, map_location):
    """The checkpoint's state.pt (optimizer, scheduler and RNG states), read without unpickling objects."""
    check_unpacked_size(path, path / "state.pt")
    try:
        with warnings.catch_warnings():     # torch warns about a pickle protocol it then refuses anyway
            warnings.simplefilter("ignore")
            return torch.load(path / "state.pt", map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:          # weights_only=True refused an object
        raise CheckpointError(f"the checkpoint {path} holds data that is not allowed (only tensors and plain "
                              "values are loaded), or is damaged", earlier_advice(path)) from None
    except Exception as exc:
        raise CheckpointError(f"the checkpoint {path} is corrupt or truncated: its state.pt cannot be read "
                              f"({shown(str(exc), 120)}).") from None


def check_unpacked_size(path: Path, file: Path) -> None:
    """A state.pt that unpacks to more than it holds is refused (see `unpacks_beyond`)."""
    sizes = unpacks_beyond(file)
    if sizes:
        raise _corrupt(path, f"its state.pt unpacks to {sizes[0] / 2**20:,.0f} MB from a file of "
                             f"{sizes[1] / 2**20:,.1f} MB, which Layerloom never writes")


def unpacks_beyond(file: Path) -> tuple[int, int] | None:
    """(unpacked bytes, file bytes) of a zip that unpacks to more than it holds, else None. torch.save stores
    its zip without compression, but torch.load unpacks compressed members too: a 1 MB file could ask for a
    gigabyte (a 260 KB file made 256 MB here), so such a file is refused before torch reads it. Reads the
    zip's directory only; a file that is no zip (torch's older format, bounded by the file) gives None."""
    try:
        with zipfile.ZipFile(file) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
        size = Path(file).stat().st_size
    except Exception:      # noqa: BLE001 - advisory: a zip it cannot list (BadZipFile, a version it does not
        return None        # know: NotImplementedError) is torch.load's to refuse, in its own words
    return (unpacked, size) if unpacked > size + 2**20 else None


def _corrupt(path: Path, what: str) -> CheckpointError:
    return CheckpointError(f"the checkpoint {path} is corrupt: {what}", earlier_advice(path))


def earlier_advice(path: Path) -> str:
    """What to do about the damaged checkpoint `path` with the commands: the newest complete one before it in
    its run, by name, or that there is none."""
    try:
        older = sorted((p for p in path.parent.iterdir() if p != path and CHECKPOINT_NAME.fullmatch(p.name)
                        and p.is_dir() and not p.is_symlink() and _complete(p)), key=lambda p: p.name)
    except OSError:
        older = []
    if older:
        return f"{EARLIER[:-1]}, such as {older[-1]}."
    graph = path.parent.parent / "graph.loom.json"
    return f"The run keeps no other checkpoint: train {'its graph ' + str(graph) if graph.is_file() else 'it'} again."


def _refuse_constant(name):
    raise ValueError(f"{name} is not a number JSON allows")


def _read_meta(path: Path) -> dict:
    try:
        raw = read_bounded(path / "meta.json", META_BYTES, CheckpointError)
        meta = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, CheckpointError):
            raise _corrupt(path, f"its meta.json {shown(str(exc).rpartition('meta.json ')[2], 120)}") from None
        raise CheckpointError(f"the checkpoint {path} is corrupt or truncated: its meta.json cannot be read "
                              f"({shown(str(exc), 120)}).") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("graph"), dict):
        raise _corrupt(path, 'its meta.json does not describe the graph (an object with a "graph" entry)')
    for key in ("epoch", "step", "step_in_epoch"):
        value = meta.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _corrupt(path, f'its meta.json has "{key}": {shown(json.dumps(value))}, not a whole number ≥ 0')
    loss = meta.get("epoch_loss", [0.0, 0])      # the loss summed over the epoch's steps so far, and their count
    if not (isinstance(loss, list) and len(loss) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                               and math.isfinite(v) and v >= 0 for v in loss)
            and isinstance(loss[1], int)):
        raise _corrupt(path, f'its meta.json has "epoch_loss": {shown(json.dumps(loss), 60)}, not [a loss sum, a '
                       'count of steps]')
    kinds = {"config": dict, "data_context": (dict, type(None)), "normalize": bool, "dataset": (str, type(None)),
             "graph_name": str, "class_names": list, "vocabulary": list, "input_shape": list, "mean": list,
             "std": list}
    for key, kind in kinds.items():
        if key in meta and not isinstance(meta[key], kind):
            raise _corrupt(path, f'its meta.json has a "{key}" of the wrong type ({type(meta[key]).__name__})')
    for key in ("class_names", "vocabulary"):
        if not all(isinstance(v, str) for v in meta.get(key, ())):
            raise _corrupt(path, f'its meta.json has "{key}" that are not all text')
    for key in ("input_shape", "mean", "std"):
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                   for v in meta.get(key, ())):
            raise _corrupt(path, f'its meta.json has "{key}" that are not all numbers')
    return meta


def _check_state(path: Path, state) -> None:
    """state.pt holds what the trainer saves: optimizer state, scheduler and scaler states, RNG states."""
    def byte_tensor(v):
        return isinstance(v, torch.Tensor) and v.dtype == torch.uint8 and v.dim() == 1

    optimizer = state.get("optimizer") if isinstance(state, dict) else None
    problem = None
    if not isinstance(state, dict):
        problem = f"holds {type(state).__name__}, not the training state"
    elif not (isinstance(optimizer, dict) and isinstance(optimizer.get("state"), dict)
              and isinstance(optimizer.get("param_groups"), list)
              and all(isinstance(g, dict) for g in optimizer["param_groups"])):
        problem = "lacks the optimizer's state"
    elif not (byte_tensor(state.get("rng")) and byte_tensor(state.get("epoch_generator"))):
        problem = "lacks the random number generators' states"
    elif not all(isinstance(state.get(k, {}), dict) for k in ("scheduler", "scaler")):
        problem = "has a scheduler or scaler state that is not one"
    elif state.get("cuda_rng") is not None and not byte_tensor(state["cuda_rng"]):
        problem = "has a CUDA generator state that is not one"
    if problem:
        raise _corrupt(path, f"its state.pt {problem}")


def _check_weights(path: Path, weights: dict, meta: dict) -> None:
    """The weights against the graph the checkpoint names, built on the meta device (no memory):
    a checkpoint from another graph, or edited, is refused with the first tensor that differs."""
    from layerloom.graph.compiler import compile_graph

    try:
        doc = graph_from_dict(meta["graph"])
    except GraphFileError as exc:
        raise _corrupt(path, f"its graph cannot be read ({exc})") from None
    try:
        expected = compile_graph(doc, data=meta.get("data_context"), weights=False, device="meta").state_dict()
    except Exception:   # a graph that does not compile here (code not allowed): whoever compiles it says why
        return
    missing = [k for k in expected if k not in weights]
    extra = [k for k in weights if k not in expected]

    def more(names):
        return f" (and {len(names) - 1} more)" if len(names) > 1 else ""

    if missing:
        raise _corrupt(path, f"its weights lack {shown(missing[0])}{more(missing)}, which its graph has: "
                             "it is from another graph or was edited")
    if extra:
        raise _corrupt(path, f"its weights hold {shown(extra[0])}{more(extra)}, which its graph has no place for: "
                             "it is from another graph or was edited")
    for key, want in expected.items():
        got = weights[key]
        if got.shape != want.shape or got.dtype != want.dtype:
            def text(t):
                return f"{'×'.join(map(str, t.shape)) or 'a scalar'} {str(t.dtype).removeprefix('torch.')}"
            raise _corrupt(path, f"its weight {shown(key)} is {text(got)} where its graph has {text(want)}: "
                                 "it is from another graph or was edited")
