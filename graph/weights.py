"""Weights that travel with a graph, and matching weights from elsewhere onto a graph's blocks.

A graph may carry initial weights: its file names a safetensors file (relative to the graph
file's folder) whose keys are the compiled module's `state_dict` keys, i.e. `<block id>.<name>`
(`conv1.weight`, `layer1_0_bn1.running_mean`). Importers write one, pruning writes one with the
kept weights, and every consumer loads it the same way:

    doc.weights = "net.safetensors"            # or "weights": "net.safetensors" in the file
    model = compile_graph(doc)                 # loads them; model.meta["layerloom"]["weights"] reports
    save_graph_weights(doc, model.state_dict(), "net.safetensors")   # write + name them

Training (the trainer's initial-weights extension), export from a graph file and the generated
`train.py` start from them. A block whose shape changed since the weights were written keeps its
fresh initialisation and the report says so; nothing is ever loaded into the wrong shape.

`match_weights(target_state, source_state)` is the one matching rule, used for graph weights and
for "Initialise from…" (runs, checkpoints, safetensors/state_dict files, torchvision's published
weights): a source key is used when it names the same block (`conv1.weight`), else when its module
path names it (`layer1.0.conv1.weight` → `layer1_0_conv1.weight`, an optional `module.` prefix
dropped), and only when the shapes agree; a block takes all its tensors or none. A complex, whole-number
or true/false tensor for a floating-point one is skipped (the reason names its dtype), and NaN or
infinite values are refused with a WeightsError. The `WeightReport` lists what was loaded, what was
skipped (and why) and which target keys were left new.
"""
from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .quoting import shown


class WeightsError(ValueError):
    """Weights that cannot be read or used; the message says which file and what to do. It is one printable
    line: a path, a tensor's name or a reader's error from the file (safetensors quotes its header) is escaped."""

    def __init__(self, message: str = ""):
        super().__init__(shown(str(message), 2000))


@dataclass
class WeightReport:
    loaded: list[str] = field(default_factory=list)        # target keys given a source tensor
    skipped: list[tuple[str, str]] = field(default_factory=list)   # (source key, why)
    new: list[str] = field(default_factory=list)           # target keys left as initialised
    source: str = ""

    def to_dict(self) -> dict:
        return {"source": self.source, "loaded": list(self.loaded),
                "skipped": [{"key": k, "why": w} for k, w in self.skipped], "new": list(self.new)}

    def blocks(self, keys: list[str]) -> list[str]:
        return list(dict.fromkeys(k.split(".", 1)[0] for k in keys))

    def summary(self) -> str:
        text = (f"{len(self.loaded)} tensors loaded, {len(self.skipped)} skipped, {len(self.new)} left new"
                + (f" from {self.source}" if self.source else ""))
        new_blocks = self.blocks(self.new)
        if new_blocks:
            text += f" (new: {', '.join(new_blocks[:6])}{', …' if len(new_blocks) > 6 else ''})"
        return text


def module_path_to_id(path: str) -> str:
    """The block id a module path becomes: `layer1.0.conv1` → `layer1_0_conv1`."""
    text = re.sub(r"[^A-Za-z0-9_]", "_", path)
    return text if text[:1].isalpha() else "m_" + text


def _candidates(key: str):
    yield key
    stripped = key
    for prefix in ("module.", "model.", "_orig_mod."):
        if stripped.startswith(prefix):
            stripped = stripped[len(prefix):]
            yield stripped
    parts = stripped.split(".")
    for cut in range(len(parts) - 1, 0, -1):     # `a.b.out_proj.bias` → `a_b_out_proj.bias`, then `a_b.out_proj.bias`
        yield f"{module_path_to_id('.'.join(parts[:cut]))}.{'.'.join(parts[cut:])}"
    # a module's own tensor (a ViT's class_token, encoder.pos_embedding, a ConvNeXt block's layer_scale) is the
    # weight of the ClassToken, PositionEmbedding or LayerScale block imported from it
    yield f"{module_path_to_id(stripped)}.token"
    yield f"{module_path_to_id(stripped)}.embedding"
    yield f"{module_path_to_id(stripped)}.weight"


def match_weights(target: dict, source: dict, source_name: str = "") -> tuple[dict, WeightReport]:
    """Which source tensors go to which target keys (see the module docstring); returns
    ({target key: tensor}, report). `target` maps keys to tensors (or anything with .shape)."""
    report = WeightReport(source=source_name)
    chosen: dict[str, torch.Tensor] = {}
    origin: dict[str, str] = {}        # target key -> the source key it was given
    refused: dict[str, tuple] = {}     # target key -> (source key, why) of a tensor of its shape it cannot take
    for key, value in source.items():
        if not isinstance(value, torch.Tensor):
            report.skipped.append((key, "not a tensor"))
            continue
        why = "no block of this graph has it"
        for cand in _candidates(key):
            if cand in target and cand not in chosen:
                if tuple(target[cand].shape) == tuple(value.shape):
                    why = _unusable(value, target[cand], cand)
                    if why is None:
                        _refuse_non_finite(value, key, source_name)
                        chosen[cand] = value
                        origin[cand] = key
                    else:
                        refused[cand] = (key, why)
                    break
                why = (f"shape {list(value.shape)} does not fit {cand} "
                       f"{list(target[cand].shape)}")
        if why is not None:
            report.skipped.append((key, why))
    _whole_blocks(target, chosen, report, origin, refused)
    if refused and not chosen:       # else it would read as "nothing fits this graph"
        key, why = next(iter(refused.values()))
        raise WeightsError(f"nothing in {source_name or 'these weights'} can be loaded: {key}: {why}")
    report.loaded = [k for k in target if k in chosen]
    report.new = [k for k in target if k not in chosen]
    return chosen, report


def _dtype_name(dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _unusable(value: torch.Tensor, target, cand: str) -> str | None:
    """Why a source tensor of the right shape cannot go into `target`: complex values into a real tensor (the
    imaginary part would be dropped), whole numbers or truth values into a floating-point one (they are not
    weights). None when it can. A target without a dtype (only a shape) is taken to be floating point. An
    integer buffer (a BatchNorm's num_batches_tracked) takes whole numbers as before."""
    dtype = getattr(target, "dtype", torch.float32)
    if value.is_complex() and not dtype.is_complex:
        return (f"holds complex values ({_dtype_name(value.dtype)}), but {cand} is real "
                f"({_dtype_name(dtype)}): save the weights as real floating-point numbers")
    if (dtype.is_floating_point or dtype.is_complex) and not (value.is_floating_point() or value.is_complex()):
        kind = "true/false values" if value.dtype == torch.bool else "whole numbers"
        return (f"holds {kind} ({_dtype_name(value.dtype)}), not the floating-point weights {cand} needs "
                f"({_dtype_name(dtype)}): save the weights as floating-point numbers")
    return None


def _refuse_non_finite(value: torch.Tensor, key: str, source_name: str) -> None:
    """NaN or infinite weights are refused outright: training would fail at its first steps, and its message
    would point at the learning rate, not at the weights."""
    if (value.is_floating_point() or value.is_complex()) and not _finite(value):
        raise WeightsError(f"{key} holds NaN or infinite values{' in ' + source_name if source_name else ''}: "
                           "weights saved from a training that diverged cannot be a starting point; use an "
                           "earlier checkpoint's weights, or start from fresh weights")


def _finite(value: torch.Tensor) -> bool:
    """Whether every value is finite, read in slices so that a large tensor needs little extra memory."""
    flat = value.detach().reshape(-1)
    step = 1 << 22
    for start in range(0, flat.numel(), step):
        part = flat[start:start + step]
        if part.dtype not in (torch.float16, torch.bfloat16, torch.float32, torch.float64) and not part.is_complex():
            part = part.to(torch.float32)          # float8 has no finiteness test of its own
        if not bool(torch.isfinite(part).all()):
            return False
    return True


def _whole_blocks(target: dict, chosen: dict, report: WeightReport, origin: dict, refused: dict | None = None) -> None:
    """A block loads all its tensors or none: a Linear given its bias but not its weight would compute
    something neither the source nor a fresh layer computes. A source without a BatchNorm's
    `num_batches_tracked` (older checkpoints) still loads the block."""
    refused = refused or {}
    keys: dict[str, list[str]] = {}
    for key in target:
        keys.setdefault(key.split(".", 1)[0], []).append(key)
    for block, names in keys.items():
        given = [k for k in names if k in chosen]
        lacking = [k for k in names if k not in chosen and not k.endswith(".num_batches_tracked")]
        if not given or not lacking:
            continue
        short = ", ".join(k.split(".", 1)[1] for k in lacking[:3]) + (", …" if len(lacking) > 3 else "")
        unusable = [k for k in lacking if k in refused]
        reason = (f"the source's {unusable[0].split('.', 1)[1]} cannot be used (see that tensor)" if unusable
                  else f"the source has no {short} of its shape")
        for k in given:
            del chosen[k]
            report.skipped.append((origin[k], f"block {block} loads all its tensors or none, and {reason}; the "
                                              "block keeps fresh weights"))


def load_matching(model: torch.nn.Module, source: dict, source_name: str = "") -> WeightReport:
    """Copy every matching source tensor into `model` (in place, no autograd); returns the report."""
    state = model.state_dict()
    chosen, report = match_weights(state, source, source_name)
    with torch.no_grad():
        for key, value in chosen.items():
            state[key].copy_(value.to(state[key].dtype))
    return report


# -- the graph's own weights file -------------------------------------------------------------
def weights_path(doc) -> Path | None:
    """Where the graph's weights file is, or None when it names none. Relative to the graph file's
    folder (the current folder for a graph that was never saved)."""
    if not getattr(doc, "weights", None):
        return None
    base = Path(doc.path).parent if getattr(doc, "path", None) else Path.cwd()
    return base / doc.weights


def read_graph_weights(doc) -> dict | None:
    """The graph's weights, keyed by its blocks' ids now: a block renamed since the file was written
    (`doc.weights_ids`) gets the tensors of the id it had then."""
    path = weights_path(doc)
    if path is None:
        return None
    return renamed_keys(read_safetensors(path, what="the graph's weights file"), getattr(doc, "weights_ids", {}))


def renamed_keys(source: dict, weights_ids: dict) -> dict:
    """`source` (a graph's weights) with the keys of renamed blocks under their ids now. `weights_ids` maps a
    block id to the id its tensors have in `source`, and always describes the file the graph names (a new
    weights file comes with an empty map: save_graph_weights, and the prune edit). A renamed block takes the
    tensors of the id it had, whatever other tensors its new id has in the file (a deleted block's, or the
    other half of a swap), and no other block takes them."""
    prefixes = {k.split(".", 1)[0] for k in source}
    moved = {old: new for new, old in weights_ids.items() if old in prefixes}
    if not moved:
        return source
    out = {}
    for key, value in source.items():
        block, dot, rest = key.partition(".")
        if block in moved:
            out[f"{moved[block]}{dot}{rest}"] = value
        elif block not in moved.values():
            out[key] = value
    return out


def read_safetensors(path, what: str = "the weights file") -> dict:
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    path = Path(path)
    if not path.exists():
        raise WeightsError(f"{what} {path} does not exist: put it back next to the graph, or remove "
                           '"weights" from the graph to start from fresh weights')
    if not path.is_file():            # a folder, a device (a link to /dev/zero) or a pipe: never read
        raise WeightsError(f"{what} {path} is not a file but a {_file_kind(path)}: name a .safetensors file, "
                           'or remove "weights" from the graph to start from fresh weights')
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{what} {path} is not a readable safetensors file ({exc})") from None


def safetensors_problem(path, what: str = "the weights file") -> str | None:
    """Why `path` cannot be read as a safetensors file, seen from its header alone (no tensor is read, so
    the readiness check before a run can ask on every change): it is missing, not a file, or its header
    does not describe the file (cut short, or not safetensors). None when nothing is seen."""
    from safetensors import SafetensorError, safe_open
    path = Path(path)
    if not path.exists():
        return f"{what} {path} does not exist"
    if not path.is_file():
        return f"{what} {path} is not a file but a {_file_kind(path)}"
    try:
        with safe_open(str(path), framework="numpy"):     # checks the header against the file's length
            return None
    except (SafetensorError, OSError, ValueError) as exc:
        return f"{what} {path} is not a readable safetensors file ({exc})"


def _file_kind(path: Path) -> str:
    import stat
    mode = path.stat().st_mode
    return ("folder" if stat.S_ISDIR(mode) else "pipe" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(mode)
            else "device")


def apply_graph_weights(doc, model: torch.nn.Module) -> WeightReport | None:
    """Load the graph's own weights into a freshly compiled model; None when it names none."""
    source = read_graph_weights(doc)
    if source is None:
        return None
    return load_matching(model, source, doc.weights)


def save_graph_weights(doc, state_dict: dict, path) -> Path:
    """Write `state_dict` as safetensors (atomically) and make the graph name it, relative to the
    graph file's folder (or the current folder for an unsaved graph)."""
    from safetensors.torch import save_file
    path = Path(path)
    base = Path(doc.path).parent if doc.path else Path.cwd()
    target = path if path.is_absolute() else base / path
    target.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in state_dict.items()}
    from .fileformat import default_mode
    try:              # a file written again keeps its permissions; a new one gets the usual ones, as the graph file
        mode = target.stat().st_mode & 0o7777 if target.is_file() else default_mode()    # (mkstemp's are 0600)
    except OSError:
        mode = default_mode()
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata={"format": "layerloom.weights", "graph": str(doc.name)})
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    doc.weights = os.path.relpath(target.resolve(), base.resolve()).replace(os.sep, "/")
    if getattr(doc, "weights_ids", None):
        doc.weights_ids = {}          # the new file's keys are the blocks' ids now
    return target
