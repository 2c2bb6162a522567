"""The model as a whole: one torch.nn layer as the model (`nn.Linear(4, 3)` itself), a forward's arguments after
the input, and results that hold more than the output.

torch.fx traces a model's own forward, so a layer given as the model would be traced through to the calls
that use its weights; wrapped in `Whole`, the one call of it is traced instead and becomes its block:
Input → Linear → Output, as the same layer inside a model would. A forward's arguments after the input that
have defaults (`forward(self, x, mask=None, scale=2.0)`) are traced at those defaults, as the model runs when
given its input alone; torch.fx's checks that they keep them are dropped with them.
"""
from __future__ import annotations

import inspect

from torch import nn

from ..weights import module_path_to_id

MULTIHEAD_ALONE = ("nn.MultiheadAttention itself takes a query, a key and a value and returns its attention weights "
                   "beside the output; a graph takes one tensor and gives the output alone: import a module whose "
                   "forward calls it (out, _ = self.attention(x, x, x); return out)")


def whole_result_problem(kind: str, what: str) -> str:
    """Why a result that is everything an LSTM (or attention) gives cannot be a graph's."""
    rest = "attention weights" if kind == "MultiheadAttention" else "final hidden state"
    verb = "export" if what == "program" else "import"
    return (f"the {what} returns the {rest} of its {kind} beside the output; a graph's result is the output "
            f"alone: {verb} a module whose forward returns only that (out, _ = self.{kind.lower()}(x); return out)")


class Whole(nn.Module):
    """A torch.nn layer imported as the whole model: the one call of it is traced, so it becomes its block."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.called = module_path_to_id(type(layer).__name__.lower()) or "layer"
        self.add_module(self.called, layer)

    def forward(self, x):
        return getattr(self, self.called)(x)


def no_forward_problem(model: nn.Module) -> str | None:
    """Why `model` cannot be imported when it has no forward of its own (nn.ModuleList holds layers only)."""
    if getattr(type(model), "forward", None) is getattr(nn.Module, "forward", None):
        return (f"{type(model).__name__} has no forward of its own (it holds layers and never calls them): import "
                "the module that calls its layers")
    return None


def forward_defaults(model: nn.Module) -> dict:
    """{name: default} of the forward's arguments after the input, when each of them has a default."""
    try:
        params = list(inspect.signature(model.forward).parameters.values())[1:]
    except (TypeError, ValueError):
        return {}
    named = [p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if any(p.default is p.empty for p in named):
        return {}
    return {p.name: p.default for p in named}


def drop_defaults(graph) -> None:
    """Remove the placeholders of arguments traced at their defaults, with the checks torch.fx adds that they keep
    them (`_assert(scale == 2.0)`): the traced steps use the defaults themselves."""
    for placeholder in [n for n in graph.nodes if n.op == "placeholder"][1:]:
        checks = list(placeholder.users)
        if not all(c.op == "call_function" and all(u.op == "call_function" for u in c.users) for c in checks):
            continue
        for check in checks:
            for then in list(check.users):
                graph.erase_node(then)
            graph.erase_node(check)
        graph.erase_node(placeholder)
