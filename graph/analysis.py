"""Live analysis: every block's output shape, parameter count, cost and diagnostics.

PyTorch is the source of truth. Each block's real `torch.nn` module is built on the meta device and
run on meta tensors in topological order (exact shapes, no compute). Costs come from
`FlopCounterMode`, which counts 2 FLOPs per multiply-add: a block's MACs (multiply-adds, the figure
papers and torchvision publish) are half its count, and its FLOPs are 2 × MACs. Results are cached per (kind, params, input shapes), so after an edit only the
changed block and the blocks whose inputs really changed are recomputed. The walk through the graph (order,
"auto" parameters, wiring and graph diagnostics) is graph/analysis_walk.py, shared with the analysis worked
out from the rules before torch has loaded (graph/quick_analysis.py), which must equal this one.

Threads: the GUI, training and export threads analyse at once. The caches take a lock around every
read and write, and computing a block (building its meta module, catching the warnings torch raises,
counting its cost) holds one lock, because `warnings.catch_warnings` swaps process-wide state: two
blocks computed at once would record each other's warnings. A cache hit takes no compute lock.
"""
from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from dataclasses import replace

import torch

from . import deferred_imports

deferred_imports.install()     # before FlopCounterMode is made: the first analysis need not import Dynamo
FlopCounterMode = deferred_imports.flop_counter().FlopCounterMode     # nor Triton

from .analysis_result import AnalysisResult, BlockResult, Shape  # noqa: F401  (read from here)
from .analysis_walk import (Computed, check_dims, check_dtypes, checked_params, empty_result, one_line,
                            resolve_params, topological_order, walk, with_data)  # noqa: F401
from .blocks import RuleError, forward_of, get_kind
from .diagnostics import Diagnostic, check_rank, explain_failure

DTYPES = {"float32": torch.float32, "int64": torch.int64, "float64": torch.float64, "int32": torch.int32,
          "bool": torch.bool, "float16": torch.float16, "bfloat16": torch.bfloat16}


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


def compute_block(kind_name: str, params: dict, inputs: list[tuple[Shape, str]]) -> Computed:
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


LONG_SEQUENCE = 2      # recurrent blocks on more steps are analysed on 1 and 2 (see _long_sequence)


def _compute(kind_name: str, explicit: dict, inputs: list[tuple[Shape, str]], shown=None) -> Computed:
    """`shown`: the inputs a problem's message names, when `inputs` stand in for them (_long_sequence)."""
    kind = get_kind(kind_name)
    if kind.category == "Recurrent" and inputs and len(inputs[0][0]) == 2 and inputs[0][0][0] > LONG_SEQUENCE:
        return _long_sequence(kind_name, explicit, inputs)
    full, invalid = checked_params(kind, explicit)
    if invalid is not None:
        return invalid
    if kind_name == "Input":
        return Computed(full, tuple(full["shape"]), full["dtype"], 0, 0, None)
    in_shapes = [s for s, _ in inputs]
    resolved = resolve_params(kind, full, in_shapes[0] if in_shapes else None)
    notes: list[Diagnostic] = []
    try:
        if in_shapes:
            check_rank(kind, in_shapes[0])
            check_dims(kind_name, resolved, in_shapes[0])
        check_dtypes(kind, [d for _, d in inputs])
        if kind.check is not None:
            kind.check(in_shapes, resolved)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            module, built_warnings = _meta_module(kind, resolved) if kind.module is not None else (None, ())
            xs = [torch.empty((1, *shape), dtype=DTYPES[dtype], device="meta") for shape, dtype in inputs]
            with FlopCounterMode(display=False) as counter:
                y = forward_of(kind)(module, xs, resolved)
        for text in (*built_warnings, *(str(w.message) for w in caught)):
            notes.append(Diagnostic("", f"PyTorch warns: {one_line(text)}", "torch_warning", severity="warning"))
        if not isinstance(y, torch.Tensor):
            raise TypeError(f"{kind_name} produced {type(y).__name__}, not a tensor")
        if y.dim() == 0:
            raise ValueError("the result has no batch dimension")
        if 0 in y.shape[1:]:
            raise empty_result(kind, resolved, in_shapes, tuple(y.shape[1:]))
        params_n = sum(p.numel() for p in module.parameters()) if module is not None else 0
        dtype = str(y.dtype).removeprefix("torch.")
        return Computed(resolved, tuple(y.shape[1:]), dtype, params_n, int(counter.get_total_flops()) // 2,
                         None, tuple(notes))
    except Exception as exc:  # torch's error becomes a sentence about this block
        problem = explain_failure(kind, resolved, shown or inputs, exc)
        return Computed(resolved, None, None, 0, 0, replace(problem, message=one_line(problem.message)))


def _long_sequence(kind_name: str, explicit: dict, inputs) -> Computed:
    """A recurrent block on T steps: meta kernels step through time (a few ms a step; 100,000 steps took
    minutes), but every step is the same, so analyse 1 and 2 steps and extend: the shape keeps T,
    and the cost grows by the same amount per step. A problem is worded for the block's real input."""
    (steps, features), dtype = inputs[0]
    one = compute_block(kind_name, explicit, [((1, features), dtype)])
    two = compute_block(kind_name, explicit, [((2, features), dtype)])
    if one.problem is not None:
        return _compute(kind_name, explicit, [((1, features), dtype)], shown=inputs)
    if one.output_shape is None or two.output_shape is None:
        return one
    shape = (steps, *one.output_shape[1:]) if len(one.output_shape) == 2 else one.output_shape
    macs = one.macs + (steps - 1) * (two.macs - one.macs)
    return Computed(one.params, shape, one.output_dtype, one.param_count, macs, None, one.notes)


def analyze(doc, data: dict | None = None) -> AnalysisResult:
    """Analyse a GraphDocument: shapes, params, MACs and diagnostics for every block.

    `data` describes the data set the graph will train on ({"num_classes": C, "vocab_size": V});
    parameters set to "auto" that follow the data (Linear out_features, Embedding num_embeddings)
    take those values, or a stated fallback when no data set is known."""
    return walk(doc, data, compute_block)


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
