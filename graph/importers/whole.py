"""One torch.nn layer as the whole model (`nn.Linear(4, 3)` itself), and results that hold more than the output.

torch.fx traces a model's own forward, so a layer given as the model would be traced through to the calls
that use its weights; wrapped in `Whole`, the one call of it is traced instead and becomes its block:
Input → Linear → Output, as the same layer inside a model would.
"""
from __future__ import annotations

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
