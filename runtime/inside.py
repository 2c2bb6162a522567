"""A look inside one computation: the numbers that made one value of one block's output.

For a model (a compiled graph, usually a trained run's) and one sample, `trace` runs the sample
through a torch.fx Interpreter and keeps every node's inputs and output (node names are block ids).
The functions below then take one output value apart with the block's real weights:

    conv_pixel        Conv2d: the receptive-field patch of every input channel, the kernel, their
                      element-wise products, the sum plus the bias, and the result; the receptive
                      field on the input image too (None, with the block that mixes positions, when
                      the value depends on the whole image)
    pool_window       MaxPool2d: the window and which element won; AvgPool2d: the window and its mean
    linear_terms      Linear: the inputs that contribute most (weight × activation), and the sum
    activation_curve  ReLU, Tanh, GELU, ...: the function's curve with this input and output marked
    recurrent_gates   LSTM / GRU: the gates of one unit at every time step
    embedding_row     Embedding: the token id and the row of the table it looked up

Every function recomputes its value from the parts it shows and returns both that and the value
the network really produced (`computed`, `actual`), so a person (and the tests) can see they agree.
Arrays are small numpy arrays, ready for a view.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass

import numpy as np
import torch
from torch import fx, nn
from torch.nn import functional as F

from layerloom.graph.convnet_modules import LayerNorm2d, LayerScale


class InsideError(ValueError):
    """The requested look inside does not fit the block (wrong kind, index out of range, ...)."""


def _not_in_run(block: str) -> InsideError:
    return InsideError(f"{block} is not in this run's network (it was added or renamed after the run): train the "
                       "graph again, or pick another block.")


def _changed(block: str, what: str) -> InsideError:
    return InsideError(f"{block} is not {what} in this run's network (the graph changed after the run): train "
                       "the graph again, or pick another block.")


@dataclass
class Trace:
    model: fx.GraphModule
    values: dict[str, torch.Tensor]           # node name -> output (batch of one, detached)
    inputs: dict[str, list[torch.Tensor]]     # node name -> its tensor arguments
    nodes: dict[str, fx.Node]

    def module(self, block: str) -> nn.Module:
        try:
            return self.model.get_submodule(block)
        except AttributeError:
            raise InsideError(f"{block} has no module of its own (it is a function such as Add): pick a block with "
                              "weights or an activation.") from None

    def module_input(self, block: str) -> torch.Tensor:
        """What the block's module was called with (one sample, batch dimension removed)."""
        for node in self.nodes.values():
            if node.op == "call_module" and node.target == block and self.inputs.get(node.name):
                return self.inputs[node.name][0][0]
        raise _not_in_run(block)

    def output(self, block: str) -> torch.Tensor:
        if block not in self.values:
            raise _not_in_run(block)
        return self.values[block]


class _Keeper(fx.Interpreter):
    def __init__(self, gm):
        super().__init__(gm)
        self.values: dict[str, torch.Tensor] = {}
        self.inputs: dict[str, list[torch.Tensor]] = {}

    def run_node(self, n):
        args = [self.env[a] for a in n.all_input_nodes if isinstance(self.env.get(a), torch.Tensor)]
        out = super().run_node(n)
        self.inputs[n.name] = [a.detach() for a in args]
        if isinstance(out, torch.Tensor):
            self.values[n.name] = out.detach()
        return out


@torch.no_grad()
def trace(model: fx.GraphModule, x: torch.Tensor) -> Trace:
    """Run one sample (with its batch dimension of 1) and keep every node's inputs and output."""
    if x.dim() == 0 or x.shape[0] != 1:
        raise InsideError("give one sample with a batch dimension of 1")
    was = model.training
    model.eval()
    try:
        keeper = _Keeper(model)
        keeper.run(x)
    finally:
        model.train(was)
    return Trace(model, keeper.values, keeper.inputs, {n.name: n for n in model.graph.nodes})


def _check_index(shape, index, what: str) -> None:
    if len(index) != len(shape) or any(not 0 <= i < s for i, s in zip(index, shape)):
        raise InsideError(f"{what} {tuple(index)} is outside the output's {'×'.join(map(str, shape))}")


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _conv_padding(m: nn.Conv2d) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) zeros as the convolution adds them."""
    if m.padding == "valid":
        return 0, 0, 0, 0
    if m.padding == "same":
        out = []
        for k, d in zip(m.kernel_size, m.dilation):
            total = d * (k - 1)
            out += [total // 2, total - total // 2]
        return tuple(out)
    (ph, pw) = _pair(m.padding)
    return ph, ph, pw, pw


def _pad(x: torch.Tensor, pads, mode: str, value: float = 0.0) -> torch.Tensor:
    top, bottom, left, right = pads
    if mode == "zeros" or mode == "constant":
        return F.pad(x, (left, right, top, bottom), value=value)
    return F.pad(x[None], (left, right, top, bottom), mode=mode)[0]


def conv_pixel(t: Trace, block: str, channel: int, i: int, j: int) -> dict:
    m = t.module(block)
    if not isinstance(m, nn.Conv2d):
        raise _changed(block, "a Conv2d")
    out = t.output(block)[0]
    _check_index(tuple(out.shape), (channel, i, j), "the pixel")
    x = t.module_input(block).float()
    pads = _conv_padding(m)
    xp = _pad(x, pads, m.padding_mode)
    (kh, kw), (sh, sw), (dh, dw) = m.kernel_size, m.stride, m.dilation
    per_group = m.in_channels // m.groups
    group = channel // (m.out_channels // m.groups)
    channels = list(range(group * per_group, (group + 1) * per_group))
    rows = [i * sh + a * dh for a in range(kh)]
    cols = [j * sw + b * dw for b in range(kw)]
    patch = xp[channels][:, rows][:, :, cols]
    kernel = m.weight[channel].detach().float()
    products = patch * kernel
    bias = float(m.bias[channel].detach()) if m.bias is not None else 0.0
    computed = float(products.sum()) + bias
    top, _, left, _ = pads
    field, mixer = field_and_mixer(t, block, (i, i), (j, j))
    return {"kind": "Conv2d", "block": block, "channel": channel, "position": (i, j),
            "input_channels": channels, "rows": [r - top for r in rows], "cols": [c - left for c in cols],
            "patch": patch.numpy(), "kernel": kernel.numpy(), "products": products.numpy(),
            "sum": float(products.sum()), "bias": bias, "computed": computed,
            "actual": float(out[channel, i, j]),
            "receptive_field": field, "field_mixed_by": mixer}


def pool_window(t: Trace, block: str, channel: int, i: int, j: int) -> dict:
    m = t.module(block)
    if not isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        raise _changed(block, "a MaxPool2d or AvgPool2d")
    out = t.output(block)[0]
    _check_index(tuple(out.shape), (channel, i, j), "the position")
    x = t.module_input(block)[channel].float()
    (kh, kw), (ph, pw) = _pair(m.kernel_size), _pair(m.padding)
    (sh, sw) = _pair(m.stride if m.stride is not None else m.kernel_size)
    (dh, dw) = _pair(getattr(m, "dilation", 1))
    is_max = isinstance(m, nn.MaxPool2d)
    xp = F.pad(x, (pw, pw, ph, ph), value=float("-inf") if is_max else 0.0)
    h, w = xp.shape
    rows = [i * sh + a * dh for a in range(kh) if i * sh + a * dh < h]
    cols = [j * sw + b * dw for b in range(kw) if j * sw + b * dw < w]
    window = xp[rows][:, cols]
    result = {"kind": type(m).__name__, "block": block, "channel": channel, "position": (i, j),
              "rows": [r - ph for r in rows], "cols": [c - pw for c in cols], "window": window.numpy(),
              "actual": float(out[channel, i, j])}
    if is_max:
        flat = int(torch.argmax(window))
        result.update(winner=(rows[flat // len(cols)] - ph, cols[flat % len(cols)] - pw),
                      computed=float(window.max()))
    else:
        # PyTorch's divisor: the window clipped to the padded input (count_include_pad) or to the input.
        inside = [(r, c) for r in rows for c in cols if ph <= r < h - ph and pw <= c < w - pw]
        rows_in_pad = [r for r in rows if r < x.shape[0] + 2 * ph]
        cols_in_pad = [c for c in cols if c < x.shape[1] + 2 * pw]
        divisor = len(rows_in_pad) * len(cols_in_pad) if m.count_include_pad else len(inside)
        if m.divisor_override:
            divisor = m.divisor_override
        result.update(divisor=divisor, computed=float(window.sum()) / max(divisor, 1))
    return result


def linear_terms(t: Trace, block: str, feature: int, position: tuple[int, ...] = (), top: int = 8) -> dict:
    m = t.module(block)
    if not isinstance(m, nn.Linear):
        raise _changed(block, "a Linear")
    out = t.output(block)[0]
    _check_index(tuple(out.shape), (*position, feature), "the output")
    x = t.module_input(block)[tuple(position)].float()
    terms = m.weight[feature].detach().float() * x
    bias = float(m.bias[feature].detach()) if m.bias is not None else 0.0
    order = torch.argsort(terms.abs(), descending=True)[:top]
    return {"kind": "Linear", "block": block, "feature": feature, "position": tuple(position),
            "top_inputs": order.tolist(), "top_terms": terms[order].numpy(),
            "top_weights": m.weight[feature, order].detach().float().numpy(), "top_activations": x[order].numpy(),
            "rest": float(terms.sum() - terms[order].sum()), "bias": bias,
            "computed": float(terms.sum()) + bias, "actual": float(out[tuple(position) + (feature,)])}


ELEMENTWISE = (nn.ReLU, nn.Tanh, nn.Sigmoid, nn.LeakyReLU, nn.GELU, nn.ReLU6, nn.SiLU, nn.Hardswish,
               nn.Hardsigmoid, nn.ELU)


def activation_curve(t: Trace, block: str, index: tuple[int, ...], points: int = 101) -> dict:
    m = t.module(block)
    if not isinstance(m, ELEMENTWISE):
        raise _changed(block, "an element-wise activation")
    out = t.output(block)[0]
    _check_index(tuple(out.shape), tuple(index), "the value")
    x_in = float(t.module_input(block)[tuple(index)])
    span = max(3.0, abs(x_in) * 1.25)
    xs = torch.linspace(-span, span, points)
    with torch.no_grad():
        ys = m(xs.clone())
        computed = float(m(torch.tensor([x_in]))[0])
    return {"kind": type(m).__name__, "block": block, "index": tuple(index), "x": xs.numpy(), "y": ys.numpy(),
            "input": x_in, "computed": computed, "actual": float(out[tuple(index)])}


def recurrent_gates(t: Trace, block: str, unit: int) -> dict:
    """The gates of one unit of the first layer (forward direction) at every time step."""
    m = t.module(block)
    if not isinstance(m, (nn.LSTM, nn.GRU)):
        raise _changed(block, "an LSTM or GRU")
    if not 0 <= unit < m.hidden_size:
        raise InsideError(f"unit {unit} is outside the {m.hidden_size} hidden units: pick a unit from 0 to "
                          f"{m.hidden_size - 1}.")
    if isinstance(m, nn.LSTM) and m.proj_size:
        raise InsideError("the gates of an LSTM with proj_size are not shown: pick another block.")
    x = t.module_input(block).float()              # T×F
    w_ih, w_hh = m.weight_ih_l0.detach().float(), m.weight_hh_l0.detach().float()
    b_ih = m.bias_ih_l0.detach().float() if m.bias else torch.zeros(w_ih.shape[0])
    b_hh = m.bias_hh_l0.detach().float() if m.bias else torch.zeros(w_hh.shape[0])
    hsz = m.hidden_size
    h = torch.zeros(hsz)
    c = torch.zeros(hsz)
    names = ("input", "forget", "cell", "output") if isinstance(m, nn.LSTM) else ("reset", "update", "new")
    gates = {n: [] for n in names}
    hidden, cells = [], []
    for step in range(x.shape[0]):
        gi, gh = w_ih @ x[step] + b_ih, w_hh @ h + b_hh
        if isinstance(m, nn.LSTM):
            i_g, f_g, g_g, o_g = (gi + gh).chunk(4)
            i_g, f_g, g_g, o_g = i_g.sigmoid(), f_g.sigmoid(), g_g.tanh(), o_g.sigmoid()
            c = f_g * c + i_g * g_g
            h = o_g * c.tanh()
            values = (i_g, f_g, g_g, o_g)
            cells.append(float(c[unit]))
        else:
            ri, zi, ni = gi.chunk(3)
            rh, zh, nh = gh.chunk(3)
            r, z = (ri + rh).sigmoid(), (zi + zh).sigmoid()
            n = (ni + r * nh).tanh()
            h = (1 - z) * n + z * h
            values = (r, z, n)
        for name, v in zip(names, values):
            gates[name].append(float(v[unit]))
        hidden.append(float(h[unit]))
    actual = None
    sequence = t.values.get(f"{block}_sequence")
    if sequence is None and t.output(block).dim() == 3:
        sequence = t.output(block)             # output "sequence": the block's value is the sequence
    if m.num_layers == 1 and sequence is not None:
        actual = sequence[0, :, unit].float().numpy()    # forward direction comes first
    return {"kind": type(m).__name__, "block": block, "unit": unit,
            "gates": {k: np.array(v, dtype=np.float32) for k, v in gates.items()},
            "cell": np.array(cells, dtype=np.float32) if cells else None,
            "computed": np.array(hidden, dtype=np.float32), "actual": actual}


def embedding_row(t: Trace, block: str, position: int) -> dict:
    m = t.module(block)
    if not isinstance(m, nn.Embedding):
        raise _changed(block, "an Embedding")
    ids = t.module_input(block).reshape(-1)
    if not 0 <= position < ids.numel():
        raise InsideError(f"position {position} is outside the {ids.numel()} tokens: pick a position from 0 to "
                          f"{ids.numel() - 1}.")
    token = int(ids[position])
    out = t.output(block)[0].reshape(ids.numel(), -1)
    return {"kind": "Embedding", "block": block, "position": position, "token": token,
            "row": m.weight[token].detach().float().numpy(), "computed": m.weight[token].detach().float().numpy(),
            "actual": out[position].float().numpy()}


# -- receptive fields ---------------------------------------------------------------------------
def _window_back(m: nn.Module, rows, cols, size):
    """The input rows/cols that an output range [a, b] of a conv or pool reads (clipped)."""
    if isinstance(m, nn.Conv2d):
        pads = _conv_padding(m)
        (kh, kw), (sh, sw), (dh, dw), (ph, pw) = m.kernel_size, m.stride, m.dilation, (pads[0], pads[2])
    else:
        (kh, kw), (ph, pw) = _pair(m.kernel_size), _pair(m.padding)
        (sh, sw) = _pair(m.stride if m.stride is not None else m.kernel_size)
        (dh, dw) = _pair(getattr(m, "dilation", 1))
    h, w = size
    r = (max(0, rows[0] * sh - ph), min(h - 1, rows[1] * sh - ph + dh * (kh - 1)))
    c = (max(0, cols[0] * sw - pw), min(w - 1, cols[1] * sw - pw + dw * (kw - 1)))
    return r, c


def _transpose_back(m: nn.ConvTranspose2d, rows, cols, size):
    """The input rows/cols that an output range [a, b] of a transposed convolution reads: input i
    writes outputs i·s − p + k·d for k = 0 … K−1, so it reaches [a, b] when
    ⌈(a + p − d·(K−1)) / s⌉ ≤ i ≤ ⌊(b + p) / s⌋ (clipped to the input; a range only bias reaches,
    such as output_padding's, keeps the nearest input row)."""
    spans = []
    for (a, b), k, s, p, d, n in zip((rows, cols), m.kernel_size, m.stride, _pair(m.padding), m.dilation, size):
        lo = max(0, -((d * (k - 1) - a - p) // s))
        hi = min(n - 1, (b + p) // s)
        spans.append((lo, hi) if lo <= hi else (min(lo, n - 1),) * 2)
    return tuple(spans)


def receptive_field(t: Trace, block: str, rows, cols) -> dict | None:
    """The rows and columns of the network's input image that can affect the given output range of
    `block` (walking back through convolutions, transposed convolutions and pooling; element-wise
    blocks keep positions). None when the path passes through anything that mixes positions or
    reshapes (Linear, adaptive pooling, GroupNorm, LayerNorm, Softmax over H or W, Upsample, ...)."""
    return field_and_mixer(t, block, rows, cols)[0]


def field_and_mixer(t: Trace, block: str, rows, cols) -> tuple[dict | None, str | None]:
    """`receptive_field`, and when it is None the block on the way that mixes positions (or None)."""
    memo: dict = {}
    spans = _back(t, t.nodes[block], tuple(rows), tuple(cols), memo)
    if spans is None:
        return None, memo.get("mixed_by")
    return {"rows": spans[0], "cols": spans[1]}, None


def _union(a, b):
    if a is None or b is None:
        return None
    return (min(a[0][0], b[0][0]), max(a[0][1], b[0][1])), (min(a[1][0], b[1][0]), max(a[1][1], b[1][1]))


# Modules whose output at a position depends on the same position of the input alone (per-channel
# norms count: BatchNorm in eval, LayerNorm2d over the channels of each pixel, a scale per channel).
_KEEP_POSITIONS = ELEMENTWISE + (nn.Dropout, nn.Identity, nn.BatchNorm1d, nn.BatchNorm2d, nn.ChannelShuffle,
                                 LayerNorm2d, LayerScale)
_KEEP_BY_NAME = ("StochasticDepth",)      # torchvision's: a per-sample factor (identity in eval)


def _keeps_positions(t: Trace, node: fx.Node) -> bool:
    """Whether `node` computes each output position from the same position of its inputs."""
    if node.op == "call_module":
        m = t.model.get_submodule(node.target)
        if isinstance(m, (nn.Softmax, nn.LogSoftmax)):       # over the channels of each pixel only
            rank = t.values[node.name].dim() if node.name in t.values else 0
            return rank == 4 and m.dim is not None and m.dim % rank == 1
        return isinstance(m, _KEEP_POSITIONS) or type(m).__name__ in _KEEP_BY_NAME
    if node.op == "call_function":
        if node.target in (operator.add, operator.mul):
            return True
        if node.target is torch.cat:                           # joined along the channels, not H or W
            rank = t.values[node.name].dim() if node.name in t.values else 0
            dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else 0)
            return rank >= 3 and isinstance(dim, int) and dim % rank < rank - 2
    return False


def _mixed(memo, node: fx.Node):
    memo.setdefault("mixed_by", node.name)
    return None


def _back(t: Trace, node: fx.Node, rows, cols, memo):
    key = (node.name, rows, cols)
    if key in memo:
        return memo[key]
    if node.op == "placeholder":
        return rows, cols
    ups = [a for a in node.all_input_nodes if isinstance(t.values.get(a.name), torch.Tensor)
           or a.op == "placeholder"]
    if not ups:
        return _mixed(memo, node)
    out_shape = tuple(t.values[node.name].shape) if node.name in t.values else None
    m = t.model.get_submodule(node.target) if node.op == "call_module" else None
    if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, nn.ConvTranspose2d)):
        size = tuple(t.inputs[node.name][0].shape[-2:])
        back = _transpose_back if isinstance(m, nn.ConvTranspose2d) else _window_back
        r, c = back(m, rows, cols, size)
        result = _back(t, ups[0], r, c, memo)
    elif not _keeps_positions(t, node):
        return _mixed(memo, node)
    else:
        result = None
        for up in ups:
            up_shape = tuple(t.values[up.name].shape) if up.name in t.values else None
            if up.op != "placeholder" and (up_shape is None or up_shape[-2:] != (out_shape or ())[-2:]):
                return _mixed(memo, node)       # broadcast (C×1×1) or reshaped: positions were mixed
            if up.op == "placeholder" and out_shape is not None and \
                    tuple(t.inputs[node.name][0].shape[-2:]) != out_shape[-2:]:
                return _mixed(memo, node)
            part = _back(t, up, rows, cols, memo)
            result = part if result is None else _union(result, part)
            if result is None:
                return None
    memo[key] = result
    return result
