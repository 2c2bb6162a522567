"""Recurrent layers that torch.export can keep for any sequence length.

torch.export writes nn.RNN, nn.LSTM and nn.GRU by unrolling them over the example's time steps, so the
program it gives only takes that one length (and a 200-step sequence becomes 200 copies of the cell).
`scanned(model)` gives a copy of the model whose recurrent layers compute the same thing as one step
function run over time by torch's `scan` operator, which torch.export keeps whole with a symbolic length
(run eagerly, the same step function runs in a loop):

    RNN   h_t = f(x_t·W_ih^T + b_ih + h_(t−1)·W_hh^T + b_hh)                       f = tanh or relu
    LSTM  i, f, g, o = x_t·W_ih^T + b_ih + h_(t−1)·W_hh^T + b_hh   (split in four, torch's order)
          c_t = σ(f) ⊙ c_(t−1) + σ(i) ⊙ tanh(g);  h_t = (σ(o) ⊙ tanh(c_t))·W_hr^T   (W_hr with proj_size)
    GRU   r, z, n from the input and the state separately;  n_t = tanh(n_x + σ(r) ⊙ n_h)
          h_t = (1 − σ(z)) ⊙ n_t + σ(z) ⊙ h_(t−1)

with zero initial states, batch first (as Layerloom builds them), forward then reverse direction when
bidirectional, each layer reading the previous one's output. The copy shares the layers' parameters
under the same names, so its state_dict is the model's. Exports are in eval mode: no dropout between
layers.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

KINDS = (nn.RNN, nn.LSTM, nn.GRU)


class ScannedRecurrence(nn.Module):
    """One nn.RNN, nn.LSTM or nn.GRU (batch first) computed with `scan`; returns what the layer returns."""

    def __init__(self, layer: nn.RNNBase):
        super().__init__()
        self.mode, self.num_layers, self.bidirectional = layer.mode, layer.num_layers, layer.bidirectional
        self.hidden_size, self.proj_size, self.bias = layer.hidden_size, layer.proj_size, layer.bias
        for name, param in layer.named_parameters(recurse=False):
            self.register_parameter(name, param)

    def _weights(self, layer: int, reverse: bool):
        suffix = f"_l{layer}" + ("_reverse" if reverse else "")
        get = lambda name: getattr(self, name + suffix, None)      # noqa: E731
        return get("weight_ih"), get("bias_ih"), get("weight_hh"), get("bias_hh"), get("weight_hr")

    def _direction(self, x, layer: int, reverse: bool):
        w_ih, b_ih, w_hh, b_hh, w_hr = self._weights(layer, reverse)
        batch = x.shape[0]
        state = self.proj_size or self.hidden_size
        h0 = x.new_zeros(batch, state)
        inputs = F.linear(x, w_ih, b_ih).transpose(0, 1)          # time first: T×B×(gates·H)
        mode = self.mode

        def step(carry, x_t):
            if mode == "LSTM":
                h, c = carry
                i, f, g, o = (x_t + F.linear(h, w_hh, b_hh)).chunk(4, 1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
                if w_hr is not None:
                    h = F.linear(h, w_hr)
                return (h, c), h.clone()
            h = carry
            if mode == "GRU":
                r_x, z_x, n_x = x_t.chunk(3, 1)
                r_h, z_h, n_h = F.linear(h, w_hh, b_hh).chunk(3, 1)
                r, z = torch.sigmoid(r_x + r_h), torch.sigmoid(z_x + z_h)
                h = (1 - z) * torch.tanh(n_x + r * n_h) + z * h
            else:
                pre = x_t + F.linear(h, w_hh, b_hh)
                h = torch.relu(pre) if mode == "RNN_RELU" else torch.tanh(pre)
            return h, h.clone()

        init = (h0, x.new_zeros(batch, self.hidden_size)) if mode == "LSTM" else h0
        if torch.compiler.is_exporting():
            from torch._higher_order_ops.scan import scan
            final, outputs = scan(step, init, inputs, reverse=reverse)
        else:              # the same steps, run one by one (eager scan compiles the step function first)
            final, steps = init, []
            for x_t in (inputs.flip(0) if reverse else inputs):
                final, y = step(final, x_t)
                steps.append(y)
            outputs = torch.stack(steps[::-1] if reverse else steps)
        return outputs.transpose(0, 1), final

    def forward(self, x):
        finals = []
        for layer in range(self.num_layers):
            results = [self._direction(x, layer, reverse) for reverse in (False, True)[:1 + self.bidirectional]]
            x = torch.cat([out for out, _ in results], dim=2) if len(results) > 1 else results[0][0]
            finals += [final for _, final in results]
        if self.mode == "LSTM":
            return x, (torch.stack([h for h, _ in finals]), torch.stack([c for _, c in finals]))
        return x, torch.stack(finals)


def has_recurrence(model: nn.Module) -> bool:
    return any(isinstance(m, KINDS) for m in model.modules())


def scanned(model: nn.Module) -> nn.Module:
    """A copy of `model` (sharing its parameters) with every recurrent layer a ScannedRecurrence."""
    out = copy.copy(model)
    out._modules = dict(model._modules)
    for name, child in model.named_children():
        out._modules[name] = ScannedRecurrence(child) if isinstance(child, KINDS) else scanned(child)
    return out
