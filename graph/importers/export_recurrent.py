"""Recurrent layers in torch.export programs: aten.lstm, aten.gru, aten.rnn_tanh and aten.rnn_relu.

torch.export records `out, _ = self.lstm(x)` as one call that takes its weights as a list and a
zero initial state made by aten.zeros (the layer's default). The layer is rebuilt from the weights'
shapes and the call's settings and becomes its LSTM, GRU or RNN block; the zeros become nothing (the
block starts from zeros too). An initial state that is not those zeros is refused: a block has none.
"""
from __future__ import annotations

import operator

import torch
from torch import nn

from .layers import NoBlock, layer_block
from .report import ImportFailure

CALLS = {"lstm": (nn.LSTM, 4, {}), "gru": (nn.GRU, 3, {}), "rnn_tanh": (nn.RNN, 1, {"nonlinearity": "tanh"}),
         "rnn_relu": (nn.RNN, 1, {"nonlinearity": "relu"})}
ZEROS = ("zeros", "zeros_like", "new_zeros")


def is_default_state(node, name_of) -> bool:
    """Whether `node` is aten.zeros used only as the initial state of recurrent calls."""
    return name_of(node) in ZEROS and bool(node.users) and \
        all(name_of(u) in CALLS and node is not u.args[0] for u in node.users)


def recurrent_call(builder, node, entry, name: str) -> None:
    """Map one recurrent ATen call to its block (see the module docstring); raises ImportFailure."""
    from .fx_import import _parent
    cls, gates, extra = CALLS[name]
    x, hx, flat = node.args[0], node.args[1], node.args[2]
    has_biases, layers, dropout, _train, bidirectional, batch_first = node.args[3:9]
    states = hx if isinstance(hx, (list, tuple)) else [hx]
    if not all(getattr(s, "op", "") == "call_function" and builder.name_of(s) in ZEROS for s in states):
        raise ImportFailure(f"{node.name} ({node.target}) is given an initial hidden state; a {cls.__name__} block "
                            "starts from zeros: leave the state out of the call")
    fqns, tensors = [], []
    for arg in flat:
        fqn, tensor = builder.owned_weight(node, arg, "weight")
        fqns.append(fqn)
        tensors.append(tensor)
    dirs = 2 if bidirectional else 1
    per = len(tensors) // (layers * dirs)
    w_ih = tensors[0]
    hidden = w_ih.shape[0] // gates
    proj = tensors[per - 1].shape[0] if per in (3, 5) else 0          # weight_hr after the others
    input_size = builder.info[x][1][-1]
    module = cls(input_size, hidden, num_layers=layers, bias=bool(has_biases), batch_first=bool(batch_first),
                 dropout=float(dropout), bidirectional=bool(bidirectional), **extra,
                 **({"proj_size": proj} if proj else {}))
    names = module._flat_weights_names
    if len(names) != len(tensors) or any(tuple(getattr(module, n).shape) != tuple(t.shape)
                                         for n, t in zip(names, tensors)):
        raise ImportFailure(f"{node.name} ({node.target}): its weights do not fit a {cls.__name__}")
    module.load_state_dict(dict(zip(names, tensors)), strict=True)
    try:
        kind, params = layer_block(module)
    except NoBlock as exc:
        raise ImportFailure(f"{node.name}: {exc}") from None
    owner = _parent(fqns[0])
    bid = builder.add(node, kind, params, [x], owner or kind.lower(), _parent(owner), module)
    builder.tuple_of[node] = bid
    for user in node.users:      # the final states nothing reads: no block
        if user.target is operator.getitem and user.args[1] != 0 and not user.users:
            builder.skipped.add(user)
