"""Live analysis: every block's output shape, parameter count, cost and diagnostics.

PyTorch is the source of truth. Each block's real `torch.nn` module is built on the meta device and
run on meta tensors in topological order (exact shapes, no compute). Costs come from
`FlopCounterMode`, which counts 2 FLOPs per multiply-add: a block's MACs (multiply-adds, the figure
papers and torchvision publish) are half its count, and its FLOPs are 2 × MACs. Results are cached per (kind, params, input shapes), so after an edit only the
changed block and the blocks whose inputs really changed are recomputed.

Threads: the GUI, training and export threads analyse at once. The caches take a lock around every
read and write, and computing a block (building its meta module, catching the warnings torch raises,
counting its cost) holds one lock, because `warnings.catch_warnings` swaps process-wide state: two
blocks computed at once would record each other's warnings. A cache hit takes no compute lock.
"""
from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass, replace

import networkx as nx
import torch

from . import deferred_imports

deferred_imports.install()     # before FlopCounterMode is made: the first analysis need not import Dynamo
FlopCounterMode = deferred_imports.flop_counter().FlopCounterMode     # nor Triton

from .analysis_result import AnalysisResult, BlockResult, Shape
from .blocks import RuleError, forward_of, get_kind
from .diagnostics import Diagnostic, check_rank, explain_failure, graph_diagnostics, wiring_diagnostics
from .params import AUTO, ParamError
from .quoting import shown
from .problems import scalar_text, shape_text, signature

DTYPES = {"float32": torch.float32, "int64": torch.int64, "float64": torch.float64, "int32": torch.int32,
          "bool": torch.bool, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class _Computed:
    params: dict
    output_shape: Shape | None
    output_dtype: str | None
    param_count: int
    macs: int
    problem: Diagnostic | None            # block id left empty; filled per use
    notes: tuple[Diagnostic, ...] = ()    # warnings torch raised


class _Cache:
    """A least-recently-used map, safe to share between threads."""

    def __init__(self, size: int = 8192):
        self.size = size
        self.data: OrderedDict = OrderedDict()
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            value = self.data.get(key)
            if value is not None:
                self.data.move_to_end(key)
                self.hits += 1
            else:
                self.misses += 1
            return value

    def put(self, key, value):
        with self._lock:
            self.data[key] = value
            self.data.move_to_end(key)
            while len(self.data) > self.size:
                self.data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self.data.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self.data)


CACHE = _Cache()
MODULES = _Cache(2048)   # meta modules by (kind, module kwargs): a shape-only change reuses them
_COMPUTING = threading.RLock()   # one block computed at a time (re-entered for long sequences)


def _meta_module(kind, resolved: dict):
    kwargs = kind.module_kwargs(resolved)
    key = (kind.name, _freeze(kwargs))
    hit = MODULES.get(key)
    if hit is None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with torch.device("meta"):
                module = kind.module(**kwargs)
        module.eval()
        hit = (module, tuple(str(w.message) for w in caught))
        MODULES.put(key, hit)
    return hit


def _freeze(value):
    """A hashable key that tells apart values Python calls equal (True, 1 and 1.0)."""
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_freeze(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple(sorted((k, _freeze(v)) for k, v in value.items())))
    return (type(value).__name__, value)


def compute_block(kind_name: str, params: dict, inputs: list[tuple[Shape, str]]) -> _Computed:
    """Shape, params and MACs of one block for given input shapes (cached)."""
    key = (kind_name, _freeze(params), tuple(inputs))
    hit = CACHE.get(key)
    if hit is None:
        with _COMPUTING:
            hit = CACHE.get(key)   # another thread may have computed it meanwhile
            if hit is None:
                hit = _compute(kind_name, params, inputs)
                if hit.problem is None or hit.problem.code != "opaque":   # permission to run code can change
                    CACHE.put(key, hit)
    return hit


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


LONG_SEQUENCE = 16


def _compute(kind_name: str, explicit: dict, inputs: list[tuple[Shape, str]]) -> _Computed:
    kind = get_kind(kind_name)
    if kind.category == "Recurrent" and inputs and len(inputs[0][0]) == 2 and inputs[0][0][0] > LONG_SEQUENCE:
        return _long_sequence(kind_name, explicit, inputs)
    full = kind.full_params(explicit)
    for p in kind.params:
        try:
            full[p.name] = p.check(full[p.name])
        except ParamError as exc:
            return _Computed(full, None, None, 0, 0, Diagnostic(
                "", _one_line(_param_text(kind_name, p, exc)), "bad_param",
                fix={"action": "reset_param", "param": p.name}))
    if kind_name == "Input":
        return _Computed(full, tuple(full["shape"]), full["dtype"], 0, 0, None)
    in_shapes = [s for s, _ in inputs]
    resolved = resolve_params(kind, full, in_shapes[0] if in_shapes else None)
    notes: list[Diagnostic] = []
    try:
        if in_shapes:
            check_rank(kind, in_shapes[0])
            _check_dims(kind_name, resolved, in_shapes[0])
        _check_dtypes(kind, [d for _, d in inputs])
        if kind.check is not None:
            kind.check(in_shapes, resolved)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            module, built_warnings = _meta_module(kind, resolved) if kind.module is not None else (None, ())
            xs = [torch.empty((1, *shape), dtype=DTYPES[dtype], device="meta") for shape, dtype in inputs]
            with FlopCounterMode(display=False) as counter:
                y = forward_of(kind)(module, xs, resolved)
        for text in (*built_warnings, *(str(w.message) for w in caught)):
            notes.append(Diagnostic("", f"PyTorch warns: {_one_line(text)}", "torch_warning", severity="warning"))
        if not isinstance(y, torch.Tensor):
            raise TypeError(f"{kind_name} produced {type(y).__name__}, not a tensor")
        if y.dim() == 0:
            raise ValueError("the result has no batch dimension")
        if 0 in y.shape[1:]:
            raise RuleError(f"{signature(kind, resolved)} would give an empty result ({shape_text(y.shape[1:])}) "
                            f"from its input {shape_text(in_shapes[0]) if in_shapes else ''}: change its parameters "
                            "or give it a larger input.", "too_small")
        params_n = sum(p.numel() for p in module.parameters()) if module is not None else 0
        dtype = str(y.dtype).removeprefix("torch.")
        return _Computed(resolved, tuple(y.shape[1:]), dtype, params_n, int(counter.get_total_flops()) // 2,
                         None, tuple(notes))
    except Exception as exc:  # torch's error becomes a sentence about this block
        problem = explain_failure(kind, resolved, inputs, exc)
        return _Computed(resolved, None, None, 0, 0, replace(problem, message=_one_line(problem.message)))


MESSAGE_LIMIT = 1000


def _param_text(kind_name: str, param, exc) -> str:
    """A parameter's bad value, and what to set it to where the words do not say so already."""
    text, takes = str(exc), param.takes()
    return f"{kind_name}: {text}." + ("" if takes in text else f" Set {param.name} to {takes}.")


def _one_line(text: str) -> str:
    """A message as one printable line: words from the file (an Opaque block's target) or from torch may hold
    newlines and terminal escapes; a terminal, the summary table and the problems panel get them escaped."""
    return shown(text, MESSAGE_LIMIT)


def _long_sequence(kind_name: str, explicit: dict, inputs) -> _Computed:
    """A recurrent block on T steps: meta kernels still step through time (100,000 steps took
    minutes), but every step is the same, so analyse 1 and 2 steps and extend: the shape keeps T,
    and the cost grows by the same amount per step."""
    (steps, features), dtype = inputs[0]
    one = compute_block(kind_name, explicit, [((1, features), dtype)])
    two = compute_block(kind_name, explicit, [((2, features), dtype)])
    if one.problem is not None or one.output_shape is None or two.output_shape is None:
        return one
    shape = (steps, *one.output_shape[1:]) if len(one.output_shape) == 2 else one.output_shape
    macs = one.macs + (steps - 1) * (two.macs - one.macs)
    return _Computed(one.params, shape, one.output_dtype, one.param_count, macs, None, one.notes)


def _check_dims(kind_name: str, params: dict, sample: Shape) -> None:
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


def _check_dtypes(kind, dtypes: list[str]) -> None:
    """Meta kernels accept int64 where CPU kernels refuse it: the registry says what a block takes."""
    for dtype in dtypes:
        if kind.input_dtype == "float" and not dtype.startswith(("float", "bfloat")):
            raise RuleError(f"{kind.name} needs floating-point values but receives {dtype} (token ids): put an "
                            "Embedding before it, or set the Input's dtype to float32.", "dtype")
        if kind.input_dtype == "int" and not dtype.startswith("int"):
            raise RuleError(f"{kind.name} needs integer token ids but receives {dtype} values: set the "
                            "Input's dtype to int64.", "dtype")


def topological_order(doc) -> tuple[list[str], set[str], list[list[str]]]:
    """(order of the acyclic part, blocks on a cycle, the cycles), stable in document order."""
    g = nx.DiGraph()
    g.add_nodes_from(doc.blocks)
    g.add_edges_from((e.src, e.dst) for e in doc.edges)
    index = {b: i for i, b in enumerate(doc.blocks)}
    cycles = [sorted(c, key=index.__getitem__) for c in nx.strongly_connected_components(g) if len(c) > 1]
    on_cycle = {b for c in cycles for b in c}
    if on_cycle:
        g.remove_nodes_from(on_cycle)
    order = list(nx.lexicographical_topological_sort(g, key=index.__getitem__))
    return order, on_cycle, cycles


def analyze(doc, data: dict | None = None) -> AnalysisResult:
    """Analyse a GraphDocument: shapes, params, MACs and diagnostics for every block.

    `data` describes the data set the graph will train on ({"num_classes": C, "vocab_size": V});
    parameters set to "auto" that follow the data (Linear out_features, Embedding num_embeddings)
    take those values, or a stated fallback when no data set is known."""
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
        c = compute_block(block.kind, explicit, inputs)
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


class Analyzer:
    """Keeps an analysis up to date with a document; re-runs lazily after edits."""

    def __init__(self, doc, data: dict | None = None):
        self.doc = doc
        self.data = data
        self._result: AnalysisResult | None = None
        self._revision = -1
        self._lock = threading.Lock()

    def set_data(self, data: dict | None) -> None:
        """The data set's facts ({"num_classes", "vocab_size"}) that data-driven "auto" params follow."""
        with self._lock:
            if data != self.data:
                self.data = data
                self._result = None

    def adopt(self, result: AnalysisResult, revision: int) -> None:
        """Take a result computed elsewhere (on a copy of the document, in another thread) as the
        analysis of the document at `revision`."""
        with self._lock:
            self._result, self._revision = result, revision

    @property
    def result(self) -> AnalysisResult:
        with self._lock:
            result, revision, data = self._result, self._revision, self.data
        now = self.doc.revision
        if result is not None and revision == now:
            return result
        result = analyze(self.doc, data)   # the revision read before it: an edit meanwhile re-runs it next time
        with self._lock:
            if self.data == data:
                self._result, self._revision = result, now
        return result
