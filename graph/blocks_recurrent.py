"""The recurrent kinds: RNN, LSTM and GRU, batch first, passing on the whole sequence or its last step.

torch's recurrent modules return (output, hidden state); the block passes on the output sequence,
or only its last step when `output` is "last".
"""
from __future__ import annotations

from . import failures
from .lazy_torch import nn
from .blocks import BlockKind, _auto_text, _features_from, register
from .params import AUTO, Param


def _recurrent_forward(call, inputs, params):
    out = call(inputs[0])[0]          # torch returns (output, hidden state)
    if params["output"] == "last":
        return out[:, -1]
    return out


def _recurrent_params(extra: tuple[Param, ...] = ()) -> tuple[Param, ...]:
    return (
        Param("input_size", "int", AUTO, "features per time step of the input", min=1, max=65536, auto=True),
        Param("hidden_size", "int", 64, "features of the hidden state", min=1, max=65536),
        Param("num_layers", "int", 1, "recurrent layers stacked on each other", min=1, max=16),
        *extra,
        Param("bias", "bool", True, "learned biases"),
        Param("dropout", "float", 0.0, "dropout between stacked layers", min=0.0, max=1.0),
        Param("bidirectional", "bool", False, "also read the sequence backwards"),
        Param("output", "choice", "sequence",
              'what the block passes on: "sequence" (every step, T×H) or "last" (the last step, H)',
              choices=("sequence", "last")),
    )


# what the three kinds share besides their params
_RECURRENT_FACTS = dict(expected_rank=(2, "T×F (time steps × features)"), key_params=("hidden_size",),
                        explain=failures.recurrent)


def _recurrent_label(p: dict) -> str:
    return f"{_auto_text(p['input_size'])}→{p['hidden_size']} {p['output']}"


register(BlockKind(
    "RNN", "Recurrent",
    "A plain recurrent layer: reads a T×F sequence step by step, carrying a hidden state.",
    params=_recurrent_params((Param("nonlinearity", "choice", "tanh", "activation of the recurrence",
                                    choices=("tanh", "relu")),)),
    formula="h_t = tanh(W_ih · x_t + b_ih + W_hh · h_(t−1) + b_hh)",
    module=nn.RNN, forward=_recurrent_forward, auto_from=_features_from, label=_recurrent_label,
    module_params=("input_size", "hidden_size", "num_layers", "nonlinearity", "bias", "dropout", "bidirectional"),
    fixed_kwargs={"batch_first": True}, **_RECURRENT_FACTS,
))
register(BlockKind(
    "LSTM", "Recurrent",
    "A recurrent layer with gates and a cell state, good at remembering over long sequences.",
    params=_recurrent_params((Param("proj_size", "int", 0, "project the hidden state to this size (0: off)",
                                    min=0, max=65536),)),
    formula="c_t = f_t ⊙ c_(t−1) + i_t ⊙ g_t;  h_t = o_t ⊙ tanh(c_t)",
    module=nn.LSTM, forward=_recurrent_forward, auto_from=_features_from, label=_recurrent_label,
    module_params=("input_size", "hidden_size", "num_layers", "bias", "dropout", "bidirectional", "proj_size"),
    fixed_kwargs={"batch_first": True}, **_RECURRENT_FACTS,
))
register(BlockKind(
    "GRU", "Recurrent",
    "A gated recurrent layer, lighter than an LSTM (no separate cell state).",
    params=_recurrent_params(),
    formula="h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_(t−1)",
    module=nn.GRU, forward=_recurrent_forward, auto_from=_features_from, label=_recurrent_label,
    module_params=("input_size", "hidden_size", "num_layers", "bias", "dropout", "bidirectional"),
    fixed_kwargs={"batch_first": True}, **_RECURRENT_FACTS,
))
