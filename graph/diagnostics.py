"""Diagnostics in plain words, attached to the block that causes them.

Torch decides whether a block can take its input (analysis runs the real module on meta tensors);
this module turns the failure into a sentence that names the block, says what it received and
what to change, and offers a fix where one is obvious.
"""
from __future__ import annotations

import math
import re

from .blocks import REGISTRY, RuleError, get_kind
from .problems import (FLATTEN_FIX, BlockProblem, Diagnostic, Failure, RankError, rank_problem, scalar_text,
                       shape_text, signature)

__all__ = ["Diagnostic", "BlockProblem", "RankError", "FLATTEN_FIX", "shape_text", "signature", "check_rank",
           "explain_failure", "wiring_diagnostics", "graph_diagnostics"]

_STEP_ID = re.compile(r"(.+)_(outputs|sequence|\d+)")   # names the compiler gives a block's inner steps


def check_rank(kind, shape) -> None:
    """Refuse a sample whose rank is not the kind's `expected_rank` (torch would silently read a
    missing batch dimension as "unbatched" input)."""
    if kind.expected_rank is not None:
        rank, form = kind.expected_rank
        if len(shape) != rank:
            raise RankError(rank, form)


def explain_failure(kind, params: dict, inputs, exc: Exception) -> Diagnostic:
    """Turn torch's exception for this block into a plain-words Diagnostic: the kind's own `explain`
    hook where it has one and it recognises the failure, else the generic words below."""
    if isinstance(exc, BlockProblem):
        return Diagnostic("", str(exc), exc.code)
    if isinstance(exc, RuleError):
        return Diagnostic("", str(exc), exc.code, fix=exc.fix)
    failure = Failure(kind, params, list(inputs), exc)
    if kind.explain is not None:
        found = kind.explain(failure)
        if found is not None:
            return found
    if isinstance(exc, RankError):
        return rank_problem(failure, _sibling_hint(kind, len(failure.x)))
    x = failure.x
    if inputs and x == ():     # torch's words for a scalar sample speak of its own arguments
        return Diagnostic("", scalar_text(kind.name), "rank")
    if "Dimension out of range" in failure.raw or isinstance(exc, IndexError):
        return Diagnostic("", f"{failure.sig}: a dimension is out of range for a {failure.xt} input. With the batch "
                              f"there are {len(x) + 1} dimensions: use 1 to {len(x)}, or −1 for the last.",
                          "bad_param")
    return Diagnostic("", _generic(failure), "shape")


_SIBLING_RANKS = {"1d": (1, 2), "2d": (3,)}     # per-sample ranks a "…1d" / "…2d" kind takes (BatchNorm1d: C or C×L)
_FORMS = {1: "C", 2: "C×L", 3: "C×H×W"}


def _sibling_hint(kind, rank: int) -> str | None:
    """`Use MaxPool1d for a C×L input, or ...` where the kind has a sibling made for the rank received."""
    for own, other in (("2d", "1d"), ("1d", "2d")):
        sibling = REGISTRY.get(kind.name[:-2] + other) if kind.name.endswith(own) else None
        if sibling is not None and rank in _SIBLING_RANKS[other] and (
                sibling.expected_rank is None or sibling.expected_rank[0] == rank):
            return f"Use {sibling.name} for a {_FORMS[rank]} input, or insert a Reshape before it"
    return None


def _generic(failure) -> str:
    """Torch's own words, then what to change: the block's parameters those words name (torch states its
    rules with the parameters' own names, e.g. "num_channels must be divisible by num_groups")."""
    named = [p for p in failure.kind.params if re.search(rf"\b{re.escape(p.name)}\b", failure.raw)]
    change = [p.name for p in named if not p.auto] + [p.name for p in named if p.auto]
    following = [p.name for p in named if p.auto]
    raw = failure.raw.rstrip(".")
    text = f"{signature(failure.kind, failure.params, change)} cannot take an input of shape {failure.xt}: {raw}."
    if not named:
        return text + f" Change {failure.kind.name}'s settings, or the shape of what reaches it."
    text += f" Change {' or '.join(change)} so that this holds"
    if following:
        text += f" ({' and '.join(following)} {'follows' if len(following) == 1 else 'follow'} the input " \
                "when \"auto\")"
    return text + "."


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
