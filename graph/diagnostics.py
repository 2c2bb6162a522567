"""Diagnostics in plain words, attached to the block that causes them.

Torch decides whether a block can take its input (analysis runs the real module on meta tensors);
this module turns the failure into a sentence that names the block, says what it received and
what to change, and offers a fix where one is obvious.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

from .blocks import RuleError, get_kind

# How many dimensions one sample must have (without the batch) for kinds where torch would
# otherwise silently read a missing batch dimension as "unbatched" input.
EXPECTED_RANK = {
    "Conv1d": (2, "C×L"), "MaxPool1d": (2, "C×L"),
    "Conv2d": (3, "C×H×W"), "ConvTranspose2d": (3, "C×H×W"), "MaxPool2d": (3, "C×H×W"),
    "AvgPool2d": (3, "C×H×W"), "AdaptiveAvgPool2d": (3, "C×H×W"), "BatchNorm2d": (3, "C×H×W"),
    "AdaptiveMaxPool2d": (3, "C×H×W"),
    "RNN": (2, "T×F (time steps × features)"), "LSTM": (2, "T×F (time steps × features)"),
    "GRU": (2, "T×F (time steps × features)"),
}
KEY_PARAMS = {"out_channels", "kernel_size", "out_features", "hidden_size", "num_embeddings", "embedding_dim"}
_SPATIAL = {"Conv1d": 1, "MaxPool1d": 1, "Conv2d": 2, "MaxPool2d": 2, "AvgPool2d": 2}


@dataclass(frozen=True)
class Diagnostic:
    block: str | None          # the block it is about; None for the graph as a whole
    message: str               # a sentence without the block id
    code: str                  # machine-readable kind of problem
    severity: str = "error"    # error | warning | info
    fix: dict | None = None    # {"action": ..., "label": ...} where the fix is obvious

    def for_block(self, block_id: str) -> "Diagnostic":
        fix = dict(self.fix, block=block_id) if self.fix else None
        if fix and "label" in fix:
            fix["label"] = fix["label"].replace("{block}", block_id)
        return replace(self, block=block_id, fix=fix)

    @property
    def text(self) -> str:
        return f"{self.block}: {self.message}" if self.block else self.message


_STEP_ID = re.compile(r"(.+)_(outputs|sequence|\d+)")   # names the compiler gives a block's inner steps


class RankError(Exception):
    pass


def shape_text(shape) -> str:
    if shape is None:
        return "?"
    if len(shape) == 0:
        return "a scalar"
    return "×".join(str(s) for s in shape)


def signature(kind, params: dict) -> str:
    """`MaxPool2d(kernel_size=3, stride=2)`: the params that differ from the defaults."""
    parts = []
    for p in kind.params:
        v = params.get(p.name, p.default)
        if (p.auto and not p.data_auto) or p.name in ("output", "num_inputs"):
            continue
        if v != p.default or p.name in KEY_PARAMS:
            parts.append(f"{p.name}={_value_text(v)}")
    return f"{kind.name}({', '.join(parts)})"


def _value_text(v) -> str:
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, list):
        return "(" + ", ".join(str(x) for x in v) + ")"
    return str(v)


def _per_dim(v, n):
    return list(v) if isinstance(v, (list, tuple)) else [v] * n


def check_rank(kind_name: str, shape) -> None:
    if kind_name in EXPECTED_RANK:
        rank, form = EXPECTED_RANK[kind_name]
        if len(shape) != rank:
            raise RankError(rank, form)


def _fix_auto(param: str) -> dict:
    return {"action": "set_param", "param": param, "value": "auto", "label": f'Set {param} to "auto"'}


FLATTEN_FIX = {"action": "insert_before", "kind": "Flatten", "label": "Insert a Flatten before {block}"}


class BlockProblem(ValueError):
    """Raised while building or running a block with a message that is already a sentence for the user."""

    code = "block"


def explain_failure(kind, params: dict, inputs, exc: Exception) -> Diagnostic:
    """Turn torch's exception for this block into a plain-words Diagnostic."""
    if isinstance(exc, BlockProblem):
        return Diagnostic("", str(exc), exc.code)
    shapes = [s for s, _ in inputs]
    dtypes = [d for _, d in inputs]
    name = kind.name
    x = shapes[0] if shapes else ()
    xt = shape_text(x)
    sig = signature(kind, params)
    raw = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__

    if isinstance(exc, RuleError):
        return Diagnostic("", str(exc), exc.code, fix=exc.fix)
    if isinstance(exc, RankError):
        rank, form = exc.args
        hint = ("Insert a Reshape before it to give each sample that shape"
                if len(x) < rank else "Insert a Flatten or Reshape before it to drop the extra dimensions")
        if name in ("RNN", "LSTM", "GRU") and len(x) == 1:
            hint = "Insert a Reshape (e.g. to [T, 1]) or an Embedding before it"
        return Diagnostic("", f"{name} needs a {form} input ({rank}-D per sample) but receives {xt} "
                              f"({len(x)}-D). {hint}.", "rank")

    if name in ("Embedding",) and dtypes and dtypes[0].startswith("float"):
        return Diagnostic("", f"Embedding needs integer token ids but receives {dtypes[0]} values: "
                              "set the Input's dtype to int64.", "dtype")

    if name in _SPATIAL and len(x) == _SPATIAL[name] + 1:
        n = _SPATIAL[name]
        ks = _per_dim(params["kernel_size"], n)
        dil = _per_dim(params.get("dilation", 1), n)
        pad = params.get("padding", 0)
        pads = [0] * n if isinstance(pad, str) else _per_dim(pad, n)
        if name.startswith(("MaxPool", "AvgPool")) and any(p > k // 2 for p, k in zip(pads, ks)):
            return Diagnostic("", f"{sig} has padding larger than half its kernel_size: use padding at most "
                                  f"{min(k // 2 for k in ks)}.", "bad_param")
        need = [d * (k - 1) + 1 - 2 * p for k, d, p in zip(ks, dil, pads)]
        spatial = list(x[1:])
        if any(s < m for s, m in zip(spatial, need)):
            what = "Remove a pooling block upstream or use a larger input."
            if name.startswith("Conv"):
                what = "Use a smaller kernel_size, add padding, remove a pooling block upstream or use a larger input."
            return Diagnostic("", f"{sig} needs an input of at least {shape_text(need)}, but receives {xt}. {what}",
                              "too_small")

    if name in ("Conv1d", "Conv2d", "ConvTranspose2d") and x and params["in_channels"] != x[0]:
        return Diagnostic("", f"{name} expects {params['in_channels']} input channels but receives {x[0]} "
                              f"(input {xt}). Set in_channels to {x[0]} or to \"auto\".",
                          "channels", fix=_fix_auto("in_channels"))
    if name.startswith("BatchNorm") and x and params["num_features"] != x[0]:
        return Diagnostic("", f"{name} expects {params['num_features']} features but receives {x[0]} "
                              f"(input {xt}). Set num_features to {x[0]} or to \"auto\".",
                          "channels", fix=_fix_auto("num_features"))
    if name == "Linear" and x and params["in_features"] != x[-1]:
        total = math.prod(x)
        if len(x) > 1 and params["in_features"] == total:
            return Diagnostic("", f"Linear expects {total} features but receives a {xt} tensor; it acts on the "
                                  f"last dimension only. Insert a Flatten before it.", "needs_flatten",
                              fix=dict(FLATTEN_FIX))
        return Diagnostic("", f"Linear(in_features={params['in_features']}) receives {x[-1]} features "
                              f"(input {xt}). Set in_features to {x[-1]} or to \"auto\".",
                          "features", fix=_fix_auto("in_features"))
    if name in ("RNN", "LSTM", "GRU") and x and params["input_size"] != x[-1]:
        return Diagnostic("", f"{name}(input_size={params['input_size']}) receives {x[-1]} features per step "
                              f"(input {xt}). Set input_size to {x[-1]} or to \"auto\".",
                          "features", fix=_fix_auto("input_size"))
    if name == "LayerNorm" and isinstance(params["normalized_shape"], list):
        ns = params["normalized_shape"]
        if list(x[-len(ns):]) != ns:
            return Diagnostic("", f"LayerNorm normalises over {shape_text(ns)} but the input ends in "
                                  f"{shape_text(x[-len(ns):])} (input {xt}). Set normalized_shape to "
                                  f"{list(x[-len(ns):])} or to \"auto\".", "features",
                              fix=_fix_auto("normalized_shape"))
    if name == "Add" and len(set(shapes)) > 1:
        return Diagnostic("", f"Add needs inputs of the same shape but receives "
                              f"{' and '.join(shape_text(s) for s in shapes)}. Change the blocks feeding it so "
                              "their outputs match (e.g. a 1×1 Conv2d on the skip path).", "merge_shapes")
    if name == "Concat":
        return Diagnostic("", f"Concat joins along dim {params['dim']}; all other dimensions must match, but it "
                              f"receives {' and '.join(shape_text(s) for s in shapes)}.", "merge_shapes")
    if name == "Reshape":
        total = math.prod(x)
        return Diagnostic("", f"cannot reshape {xt} ({total} values) into {shape_text(params['shape'])}: the new "
                              f"shape must hold the same {total} values.", "reshape")
    if name == "Permute":
        return Diagnostic("", f"Permute dims {params['dims']} must list each of the input's {len(x)} "
                              f"dimensions (0 to {len(x) - 1}) exactly once (input {xt}).", "bad_param")
    if "Dimension out of range" in raw or isinstance(exc, IndexError):
        return Diagnostic("", f"{sig}: a dimension is out of range for a {xt} input. With the batch there are "
                              f"{len(x) + 1} dimensions: use 1 to {len(x)}, or −1 for the last.", "bad_param")
    return Diagnostic("", f"{sig} cannot take an input of shape {xt}: {raw}", "shape")


def wiring_diagnostics(doc, cycles) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for cyc in cycles:
        path = " → ".join(cyc + [cyc[0]])
        for b in cyc:
            out.append(Diagnostic(b, f"is part of a cycle ({path}); a network must flow one way: "
                                     "remove one of these wires.", "cycle"))
    on_cycle = {b for c in cycles for b in c}
    into: dict[str, dict[int, list]] = {}
    for e in doc.edges:   # one pass over the wires: a per-block scan is quadratic on large graphs
        into.setdefault(e.dst, {}).setdefault(e.dst_port, []).append(e)
    for bid, block in doc.blocks.items():
        if bid in on_cycle:
            continue
        kind = get_kind(block.kind)
        n = kind.input_count(block.full_params())
        ports = into.get(bid, {})
        for port in range(n):
            wires = ports.get(port, [])
            label = "its input" if n == 1 else f"input {port + 1}"
            if not wires:
                out.append(Diagnostic(bid, f"{label} is not connected: wire a block's output into it.",
                                      "unconnected"))
            elif len(wires) > 1:
                srcs = ", ".join(w.src for w in wires)
                out.append(Diagnostic(bid, f"{label} has {len(wires)} wires into it (from {srcs}); an input takes "
                                           "one wire: remove all but one, or merge them with an Add or Concat.",
                                      "multiple_inputs"))
        for port, wires in ports.items():
            if port >= n:
                for w in wires:
                    out.append(Diagnostic(bid, f"a wire from {w.src} goes into input {port + 1}, but {block.kind} has "
                                               f"only {n}: remove the wire or raise num_inputs.", "bad_port"))
    return out


def graph_diagnostics(doc, results) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    kinds = [b.kind for b in doc.blocks.values()]
    if "Input" not in kinds:
        out.append(Diagnostic(None, "The graph has no Input block: add an Input (Input/Output in the palette) "
                                    "and wire it to the first layer.", "no_input"))
    if "Output" not in kinds:
        out.append(Diagnostic(None, "The graph has no Output block: add an Output and wire the last layer "
                                    "into it.", "no_output"))
    used = {e.src for e in doc.edges}
    for bid in doc.blocks:
        m = _STEP_ID.fullmatch(bid)
        # only a block whose forward records several steps (recurrent, attention, merges, Reshape) names them
        if m and m.group(1) in doc.blocks and get_kind(doc.blocks[m.group(1)].kind).forward is not None:
            out.append(Diagnostic(bid, f"its id looks like the name of a step inside {m.group(1)} "
                                       f"({m.group(1)}_outputs, {m.group(1)}_1, ...) in the generated code, "
                                       "where the two would clash: rename it.", "id_clash"))
    for bid, r in results.items():
        if r.kind != "Output" and r.ok and bid not in used:
            out.append(Diagnostic(bid, "its result is not used by any block: wire it onward (e.g. into the "
                                       "Output) or delete it.", "dead_end", severity="warning"))
        if (r.kind == "Linear" and r.ok and len(r.input_shapes[0]) >= 3
                and doc.blocks[bid].params.get("in_features", "auto") == "auto"):
            x = r.input_shapes[0]
            out.append(Diagnostic(bid, f"Linear acts only on the last dimension ({x[-1]}) of its {shape_text(x)} "
                                       f"input. To use all {math.prod(x)} values, insert a Flatten before it.",
                                  "needs_flatten", severity="warning", fix=dict(FLATTEN_FIX, block=bid,
                                  label=f"Insert a Flatten before {bid}")))
    return out
