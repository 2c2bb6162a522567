"""The block library: one registry entry per kind of block (the entries: blocks_core.py, blocks_modern.py,
blocks_recurrent.py, blocks_tokens.py, blocks_convnets.py, opaque.py).

Each entry gives the kind's category, ports, parameter schema, documentation (a line and the
formula where one exists), a factory for its real `torch.nn` module and a `forward` that says how
the module is applied. `forward` is written once and serves both analysis (called with real meta
tensors) and the compiler (called with torch.fx proxies, so it records graph nodes). Names of kinds
and parameters are exactly torch.nn's.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from .lazy_torch import nn
from .params import AUTO
from .rules import RuleError  # noqa: F401  (analysis reads it from here)

CATEGORIES = (
    "Input/Output", "Convolution", "Pooling", "Linear", "Recurrent", "Embedding",
    "Activation", "Normalization", "Merge", "Shape", "Attention", "Opaque",
)

Shape = tuple[int, ...]


@dataclass(frozen=True)
class BlockKind:
    name: str
    category: str
    doc: str
    params: tuple[Param, ...] = ()
    formula: str = ""
    module: Callable[..., nn.Module] | None = None   # factory called with the module kwargs
    forward: Callable[[Any, list, dict], Any] | None = None  # (call, inputs, params) -> output
    inputs: int | str = 1          # number of input ports, or the name of the param that gives it
    outputs: int = 1
    module_params: tuple[str, ...] | None = None     # params passed to the factory (default: all)
    fixed_kwargs: dict = field(default_factory=dict)  # always passed to the factory
    auto_from: Callable[[str, Shape], Any] | None = None  # (param name, input shape) -> value
    label: Callable[[dict], str] | None = None       # short form shown on the canvas
    # generated code for a module that is not torch.nn's: params -> (import line, constructor expression)
    code: Callable[[dict], tuple[str, str]] | None = None
    # What one sample may be: "float" (floating-point values), "int" (token ids) or "any". Meta
    # tensors let an int64 tensor into kernels that refuse it on a real CPU tensor.
    input_dtype: str = "float"
    # Rules torch checks only on real tensors (meta kernels let them pass): called with the sample
    # shapes of the inputs and the resolved params; raises RuleError saying what is wrong.
    check: Callable[[list, dict], None] | None = None
    # Facts about the kind that used to live in tables keyed by its name:
    id_prefix: str = ""             # new blocks are named prefix1, prefix2... ("": the name in lower case)
    expected_rank: tuple[int, str] | None = None  # (rank of one sample, its form e.g. "C×H×W") where torch
    #                                               would read a missing batch dimension as unbatched input
    key_params: tuple[str, ...] = ()  # params a signature always shows, e.g. Conv2d(out_channels=16, kernel_size=3)
    # Explains torch's refusal in plain words: Failure -> Diagnostic, or None for the generic words
    # (graph/failures.py holds the hooks; graph/diagnostics.py the generic fallback).
    explain: Callable[[Any], Any] | None = None
    # Pruning (graph/pruning.py): the param that counts the channels the kind makes, lowered when some are
    # removed ("": not pruned); the param that counts the channels it reads; and whether output channel c
    # depends on input channel c alone (activations, pooling, norms), so a pruned layout passes through.
    prunes: str = ""
    reads_channels: str = ""
    channelwise: bool = False
    # Named inputs: number of inputs -> one (name, what it takes) per input port, e.g. attention's query, key,
    # value (None: the inputs are alike and unnamed)
    input_ports: Callable[[int], tuple[tuple[str, str], ...]] | None = None

    @property
    def prefix(self) -> str:
        """The start of a new block's id: `id_prefix`, else the kind's name as an id in lower case."""
        return self.id_prefix or re.sub(r"^[^a-z]+|[^a-z0-9_]", "", self.name.lower()) or "block"

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def defaults(self) -> dict:
        return {p.name: p.default for p in self.params}

    def full_params(self, explicit: dict) -> dict:
        """Defaults overlaid with the explicitly set values."""
        out = self.defaults()
        out.update(explicit)
        return out

    def input_count(self, params: dict) -> int:
        """Input ports; a count outside the parameter's bounds (set through the API) counts as the default."""
        if isinstance(self.inputs, int):
            return self.inputs
        p = self.param(self.inputs)
        value = params.get(self.inputs, p.default)
        ok = isinstance(value, int) and not isinstance(value, bool) and p.min <= value <= p.max
        return value if ok else p.default

    def module_kwargs(self, params: dict) -> dict:
        names = self.module_params if self.module_params is not None else self.param_names
        kwargs = {n: params[n] for n in names}
        for k, v in kwargs.items():
            if isinstance(v, list) and self.param(k).type == "size":
                kwargs[k] = tuple(v)
        kwargs.update(self.fixed_kwargs)
        return kwargs

    def input_port_names(self, params: dict) -> tuple[tuple[str, str], ...]:
        """(name, what it takes) for each input port, or () where the inputs are alike."""
        count = self.input_count(params)
        ports = tuple(self.input_ports(count)) if self.input_ports else ()
        return ports if len(ports) == count else ()

    def short_label(self, params: dict) -> str:
        return self.label(params) if self.label else self.name

    def worked_out(self, params: dict, input_shapes: list):
        """The kind's shape and parameter rules with these numbers (graph/arithmetic.py holds the rules
        by kind name; a test checks every registered kind against torch)."""
        from .arithmetic import explain
        return explain(self.name, params, input_shapes)


REGISTRY: dict[str, BlockKind] = {}


def register(kind: BlockKind) -> BlockKind:
    if kind.category not in CATEGORIES:
        raise ValueError(f"unknown category {kind.category}")
    REGISTRY[kind.name] = kind
    return kind


def get_kind(name: str) -> BlockKind:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown block kind {name!r}") from None


def kinds_by_category() -> dict[str, list[BlockKind]]:
    out: dict[str, list[BlockKind]] = {c: [] for c in CATEGORIES}
    for kind in REGISTRY.values():
        out[kind.category].append(kind)
    return out


# -- helpers for the entries -------------------------------------------------------------------
# One rule for every dimension parameter (dim, start_dim, end_dim): dims are numbered as torch
# numbers them on the batched tensor, and must stay inside one sample. Analysis refuses the rest.
DIMS_RULE = "(1 is a sample's first dimension, −1 its last; 0, the batch, is refused)"


def _apply(call, inputs, params):
    return call(inputs[0])


def _size_text(v) -> str:
    if isinstance(v, (list, tuple)):
        return "×".join(str(x) for x in v) if len(set(v)) > 1 else str(v[0])
    return str(v)


def _auto_text(v) -> str:
    return "?" if v == AUTO else str(v)


def _channels_from(name: str, shape: Shape):
    return shape[0] if shape else AUTO


def _features_from(name: str, shape: Shape):
    return shape[-1] if shape else AUTO


def forward_of(kind: BlockKind):
    return kind.forward or _apply


# The kinds live in modules of their own and register themselves on import; the core kinds come first, so
# the palette lists them first.
from . import blocks_core, blocks_modern, blocks_recurrent, blocks_tokens, blocks_convnets, opaque  # noqa: E402,F401
