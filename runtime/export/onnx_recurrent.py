"""torch's plain RNN as one ONNX `RNN` operator per layer, instead of one MatMul/Add/Tanh per time step.

torch's ONNX exporter writes LSTM and GRU as ONNX LSTM and GRU operators, but has no translation
for `aten.rnn_tanh` / `aten.rnn_relu`, so it decomposes an nn.RNN into its time steps: a 28-step
sequence becomes 28 copies of the cell, which is slow to load and cannot be read back as one layer.
`translations()` gives the exporter's `custom_translation_table` entries that write instead, for
every layer, what the ONNX operator computes (opset 14 RNN, time-major, initial state given):

    H_t = f(X_t · W^T + H_(t−1) · R^T + Wb + Rb)        f = Tanh or Relu

torch and ONNX lay out the weights alike for a plain RNN (there is only one gate), so W is
`weight_ih`, R is `weight_hh` and B is `bias_ih` followed by `bias_hh`, each with a leading
direction axis (two directions, forward then reverse, when bidirectional). Stacked layers are one
operator each, fed the previous layer's output reshaped to T×B×(directions·H), as the exporter does
for LSTM and GRU. Dropout between stacked layers only acts in training, and exports are in eval mode.
"""
from __future__ import annotations


def _rnn(op, x, hx, params, has_biases: bool, num_layers: int, dropout: float, train: bool,
         bidirectional: bool, batch_first: bool, activation: str):
    if train and dropout > 0 and num_layers > 1:
        raise ValueError("an RNN with dropout between layers can only be exported in eval mode")
    if batch_first:
        x = op.Transpose(x, perm=[1, 0, 2])
    directions = 2 if bidirectional else 1
    per_direction = 4 if has_biases else 2           # weight_ih, weight_hh[, bias_ih, bias_hh]
    hidden = hx.shape[2]
    finals = []
    for layer in range(num_layers):
        h0 = op.Slice(hx, [layer * directions], [(layer + 1) * directions], axes=[0])
        ws, rs, bs = [], [], []
        for d in range(directions):
            start = (layer * directions + d) * per_direction
            w_ih, w_hh = params[start], params[start + 1]
            ws.append(op.Unsqueeze(w_ih, [0]))
            rs.append(op.Unsqueeze(w_hh, [0]))
            if has_biases:
                bs.append(op.Unsqueeze(op.Concat(params[start + 2], params[start + 3], axis=0), [0]))
        w = op.Concat(*ws, axis=0) if directions > 1 else ws[0]
        r = op.Concat(*rs, axis=0) if directions > 1 else rs[0]
        b = (op.Concat(*bs, axis=0) if directions > 1 else bs[0]) if has_biases else None
        y, y_h = op.RNN(x, w, r, b, None, h0, activations=[activation] * directions, hidden_size=hidden,
                        direction="bidirectional" if bidirectional else "forward")
        # Y is T×directions×B×H: the next layer and the result read T×B×(directions·H)
        x = op.Reshape(op.Transpose(y, perm=[0, 2, 1, 3]), op.Constant(value_ints=[0, 0, -1]))
        finals.append(y_h)
    out = op.Transpose(x, perm=[1, 0, 2]) if batch_first else x
    return out, (op.Concat(*finals, axis=0) if len(finals) > 1 else finals[0])


def translations() -> dict:
    """{aten op: ONNX translation} for torch.onnx.export(..., custom_translation_table=...)."""
    import torch
    from onnxscript import opset18 as op

    def rnn_tanh(input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first):
        return _rnn(op, input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first,
                    "Tanh")

    def rnn_relu(input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first):
        return _rnn(op, input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first,
                    "Relu")

    return {torch.ops.aten.rnn_tanh.input: rnn_tanh, torch.ops.aten.rnn_relu.input: rnn_relu}
