"""The walk that turns per-block results into a graph's analysis, and the checks that need no torch.

Analysis goes through a document in topological order, gives each block the shapes and dtypes its
inputs produced, and gathers diagnostics. How a block's result is computed is the caller's: the full
analysis (analysis.py) runs the block's real module on meta tensors; the quick analysis
(quick_analysis.py) works it out from the documented rules before torch has loaded, and says nothing
where it cannot be sure. Both walk through `walk`, so they fill in "auto" parameters, order blocks and
word diagnostics in exactly the same way.

Nothing here imports torch (nor networkx, unless the graph has a cycle).
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Callable

from .analysis_result import AnalysisResult, BlockResult, Shape
from .blocks import RuleError, get_kind
from .diagnostics import Diagnostic, graph_diagnostics, wiring_diagnostics
from .params import AUTO, ParamError
from .problems import scalar_text, shape_text, signature
from .quoting import shown

MESSAGE_LIMIT = 1000


@dataclass(frozen=True)
class Computed:
    """One block's result for given input shapes."""
    params: dict
    output_shape: Shape | None
    output_dtype: str | None
    param_count: int
    macs: int
    problem: Diagnostic | None            # block id left empty; filled per use
    notes: tuple[Diagnostic, ...] = ()    # warnings torch raised


def one_line(text: str) -> str:
    """A message as one printable line: words from the file (an Opaque block's target) or from torch may hold
    newlines and terminal escapes; a terminal, the summary table and the problems panel get them escaped."""
    return shown(text, MESSAGE_LIMIT)


def checked_params(kind, explicit: dict) -> tuple[dict, Computed | None]:
    """The kind's full parameters, each checked against its schema; the second item is the result of a
    block whose parameter is invalid (None when they all are valid)."""
    full = kind.full_params(explicit)
    for p in kind.params:
        try:
            full[p.name] = p.check(full[p.name])
        except ParamError as exc:
            text, takes = str(exc), p.takes()
            words = f"{kind.name}: {text}." + ("" if takes in text else f" Set {p.name} to {takes}.")
            return full, Computed(full, None, None, 0, 0, Diagnostic(
                "", one_line(words), "bad_param", fix={"action": "reset_param", "param": p.name}))
    return full, None


def with_data(kind, explicit: dict, data: dict | None) -> tuple[dict, list[str]]:
    """Explicit params with data-driven "auto" values (vocabulary size, class count) filled in.
    Also returns the names filled from fallbacks because no data set is known yet."""
    out, guessed = explicit, []
    for p in kind.params:
        if p.data_auto and explicit.get(p.name, p.default) == AUTO:
            value = (data or {}).get(p.data_auto)
            if value is None:
                value = p.data_fallback
                guessed.append(p.name)
            out = {**out, p.name: int(value)}
    return out, guessed


def resolve_params(kind, params: dict, in_shape: Shape | None) -> dict:
    """Full params with every shape-driven "auto" filled in from the first input's shape."""
    full = kind.full_params(params)
    if kind.auto_from is None:
        return full
    for p in kind.params:
        if p.auto and not p.data_auto and full[p.name] == AUTO and in_shape is not None:
            full[p.name] = kind.auto_from(p.name, in_shape)
    return full


def check_dims(kind_name: str, params: dict, sample: Shape) -> None:
    """Dims count as torch counts them on the batched tensor but must stay inside one sample:
    1..n or -n..-1 for an n-dimensional sample. 0 (or -(n + 1)) is the batch, which no block may
    touch: meta tensors have a batch of 1, so such a block would look fine and mix samples at run time."""
    n = len(sample)
    for name in ("dim", "start_dim", "end_dim"):
        d = params.get(name)
        if isinstance(d, int) and not isinstance(d, bool) and not n:
            raise RuleError(scalar_text(kind_name), "rank")
        if isinstance(d, int) and not isinstance(d, bool) and not (1 <= d <= n or -n <= d <= -1):
            where = "is the batch dimension" if d in (0, -(n + 1)) else "is out of range"
            shape = "×".join(map(str, sample))
            use = (f"a sample of shape {shape} has {n} dimensions: set {name} between 1 and {n}, or between −1 and "
                   f"−{n}" if n > 1 else f"a sample of shape {shape} has 1 dimension: set {name} to 1 or −1")
            raise RuleError(f"{kind_name}: {name}={d} {where}. Dims count within one sample (1 is its first "
                            f"dimension, −1 its last); {use}.", "bad_param", {"action": "reset_param", "param": name})
    start, end = params.get("start_dim"), params.get("end_dim")
    first, last = (d if d > 0 else n + 1 + d for d in (start, end)) if isinstance(start, int) and \
        isinstance(end, int) else (0, 0)        # each counted from 1, the sample's first dimension
    if first > last:
        shape = "×".join(map(str, sample))
        raise RuleError(f"{kind_name}: start_dim={start} comes after end_dim={end} in a sample of shape {shape} "
                        f"(dimension {first} after {last}): set end_dim to −1 (the last "
                        "dimension), or start_dim to a dimension at or before end_dim.", "bad_param",
                        {"action": "reset_param", "param": "end_dim"})


def check_dtypes(kind, dtypes: list[str]) -> None:
    """Meta kernels accept int64 where CPU kernels refuse it: the registry says what a block takes."""
    for dtype in dtypes:
        if kind.input_dtype == "float" and not dtype.startswith(("float", "bfloat")):
            raise RuleError(f"{kind.name} needs floating-point values but receives {dtype} (token ids): put an "
                            "Embedding before it, or set the Input's dtype to float32.", "dtype")
        if kind.input_dtype == "int" and not dtype.startswith("int"):
            raise RuleError(f"{kind.name} needs integer token ids but receives {dtype} values: set the "
                            "Input's dtype to int64.", "dtype")


def empty_result(kind, resolved: dict, in_shapes: list[Shape], out: Shape) -> RuleError:
    """The error for a block whose result would hold no values."""
    return RuleError(f"{signature(kind, resolved)} would give an empty result ({shape_text(out)}) from its input "
                     f"{shape_text(in_shapes[0]) if in_shapes else ''}: change its parameters or give it a larger "
                     "input.", "too_small")


def _lexicographic_order(nodes: list[str], edges: set[tuple[str, str]]) -> list[str]:
    """Nodes in topological order, taking the earliest in `nodes` whenever there is a choice (a heap of
    the blocks whose inputs are all placed). Nodes left out lie on or after a cycle."""
    index = {b: i for i, b in enumerate(nodes)}
    waiting = {b: 0 for b in nodes}
    after: dict[str, list[str]] = {b: [] for b in nodes}
    for src, dst in edges:
        waiting[dst] += 1
        after[src].append(dst)
    ready = [(index[b], b) for b in nodes if waiting[b] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, b = heapq.heappop(ready)
        order.append(b)
        for nxt in after[b]:
            waiting[nxt] -= 1
            if waiting[nxt] == 0:
                heapq.heappush(ready, (index[nxt], nxt))
    return order


def topological_order(doc) -> tuple[list[str], set[str], list[list[str]]]:
    """(order of the acyclic part, blocks on a cycle, the cycles), stable in document order."""
    nodes = list(doc.blocks)
    edges = {(e.src, e.dst) for e in doc.edges if e.src in doc.blocks and e.dst in doc.blocks}
    order = _lexicographic_order(nodes, edges)
    if len(order) == len(nodes):
        return order, set(), []
    import networkx as nx        # only a graph with a cycle needs its strongly connected parts
    g = nx.DiGraph()
    g.add_nodes_from(nodes)
    g.add_edges_from(edges)
    index = {b: i for i, b in enumerate(nodes)}
    cycles = [sorted(c, key=index.__getitem__) for c in nx.strongly_connected_components(g) if len(c) > 1]
    cycles += [[s] for s, d in edges if s == d]
    on_cycle = {b for c in cycles for b in c}
    rest = [b for b in nodes if b not in on_cycle]
    return _lexicographic_order(rest, {(s, d) for s, d in edges if s not in on_cycle and d not in on_cycle}), \
        on_cycle, cycles


class Unknown(Exception):
    """A block whose result a quick computation cannot vouch for: the walk gives up (returns None)."""


Compute = Callable[[str, dict, list[tuple[Shape, str]]], Computed]


def walk(doc, data: dict | None, compute: Compute) -> AnalysisResult | None:
    """Analyse a GraphDocument with `compute(kind, explicit params, [(shape, dtype) of each input])`
    giving each block's result; None where `compute` raised Unknown for any block."""
    order, on_cycle, cycles = topological_order(doc)
    results: dict[str, BlockResult] = {}
    diags: list[Diagnostic] = []
    wiring = wiring_diagnostics(doc, cycles)
    diags.extend(wiring)
    wiring_broken = {d.block for d in wiring if d.severity == "error"}
    into: dict[str, dict[int, list]] = {b: {} for b in doc.blocks}
    for e in doc.edges:
        into[e.dst].setdefault(e.dst_port, []).append(e)

    for bid in on_cycle:
        results[bid] = BlockResult(bid, doc.blocks[bid].kind, status="cycle")
    for bid in order:
        block = doc.blocks[bid]
        kind = get_kind(block.kind)
        res = BlockResult(bid, block.kind)
        results[bid] = res
        if bid in wiring_broken:
            res.status = "error"
            res.params = kind.full_params(block.params)
            continue
        inputs = []
        for port in range(kind.input_count(block.full_params())):
            src = into[bid][port][0]
            up = results.get(src.src)
            if up is None or not up.ok:
                res.status = "blocked"
                break
            inputs.append((up.output_shape, up.output_dtype))
        if res.status == "blocked":
            res.params = kind.full_params(block.params)
            continue
        explicit, guessed = with_data(kind, block.params, data)
        for name in guessed:
            p = kind.param(name)
            what = {"vocab_size": "vocabulary size", "num_classes": "number of classes"}.get(p.data_auto, p.data_auto)
            diags.append(Diagnostic(bid, f'{name} is "auto": it will follow the data set\'s {what}; '
                                         f"shown here with {p.data_fallback} until a data set is chosen.",
                                    "data_auto", severity="info"))
        try:
            c = compute(block.kind, explicit, inputs)
        except Unknown:
            return None
        res.params = c.params
        res.input_shapes = [s for s, _ in inputs]
        if c.problem is not None:
            res.status = "error"
            diags.append(c.problem.for_block(bid))
            continue
        res.output_shape, res.output_dtype = c.output_shape, c.output_dtype
        res.param_count, res.macs = c.param_count, c.macs
        diags.extend(n.for_block(bid) for n in c.notes)

    diags.extend(graph_diagnostics(doc, results))
    ordered = {b: results[b] for b in order}
    ordered.update({b: results[b] for b in on_cycle})
    return AnalysisResult(ordered, order, diags)
