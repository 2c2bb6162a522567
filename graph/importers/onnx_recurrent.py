"""ONNX RNN, LSTM and GRU operators as Layerloom's RNN, LSTM and GRU blocks, with the glue exporters put
around them.

ONNX recurrent operators work time-major (T×B×F) and keep their gates in another order than torch:

    RNN   one gate, the same in both; activations Tanh or Relu become `nonlinearity`
    LSTM  ONNX i o f c   →  torch i f g o   (g is ONNX's c, the cell candidate)
    GRU   ONNX z r h     →  torch r z n     (torch's GRU is ONNX's with linear_before_reset=1)

W, R and B are often computed from the weights by Slice/Concat/Unsqueeze (the exporter reorders the
gates itself): `fold` evaluates such constant expressions with numpy. The initial states must be
zeros (they usually are an Expand of a zero constant to the batch's size); sequence lengths must be
absent. Around the operator an exporter writes Transpose(1, 0, 2) into time-major, and after it
Transpose(0, 2, 1, 3), a Reshape to T×B×(directions·H) (or, one direction, a Squeeze of axis 1)
and Transpose(1, 0, 2) back: those become the block's input and output wires (a recurrent layer stacked on
another may read the time-major output directly). A Gather of the last step (`y[:, -1]`) sets the block's `output`
to "last"; a Gather of another step becomes a Select. A forward layer's final hidden state Y_h,
squeezed to B×H and read instead of Y, is that last step too.

`data_values(graph)` tells the values that carry data from the model's input apart from shape and
weight arithmetic (computed from Shape nodes and constants), which the importer folds away.
"""
from __future__ import annotations

import numpy as np

from .fx_import import ImportFailure

LSTM_ORDER = [0, 2, 3, 1]    # torch gate k is ONNX gate LSTM_ORDER[k]
GRU_ORDER = [1, 0, 2]
ORDERS = {"RNN": [0], "LSTM": LSTM_ORDER, "GRU": GRU_ORDER}
RECURRENT = tuple(ORDERS)
# the activations torch's layers compute, per direction; an RNN's also give its `nonlinearity`
_ACTIVATIONS = {"LSTM": {("Sigmoid", "Tanh", "Tanh"): None}, "GRU": {("Sigmoid", "Tanh"): None},
                "RNN": {("Tanh",): "tanh", ("Relu",): "relu"}}
_PENDING = "#time-major"     # a recurrent output on its way back to batch-first


def data_values(graph, inputs) -> set[str]:
    """Names of the values computed from the model's inputs (not only from constants and shapes)."""
    data = set(inputs)
    for node in graph.node:
        if node.op_type != "Shape" and any(i in data for i in node.input if i):
            data.update(node.output)
    return data


def _attrs(node) -> dict:
    from onnx import helper
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def fold(builder, name: str):
    """The value of a constant expression (Slice, Concat, Unsqueeze, ... of constants), or None. A value
    computed from the model's input (`builder.data`) is never one: it is not walked back, which would
    retrace the whole network above it each time an operator asks."""
    if name in builder.inits:
        return builder.inits[name]
    if name in builder.data:
        return None
    node = builder.producer.get(name)
    if node is None:
        return None
    if node.op_type == "Gather" and getattr(builder.producer.get(node.input[0]), "op_type", "") == "Shape":
        value = _sample_sizes(builder, node)
        if value is not None:
            builder.inits[name] = value
        return value
    args = [fold(builder, i) if i else None for i in node.input]
    if any(a is None for a, i in zip(args, node.input) if i):
        return None
    a, op = _attrs(node), node.op_type
    x = args[0] if args else None
    if op == "Slice":
        starts, ends = args[1], args[2]
        axes = args[3] if len(args) > 3 and args[3] is not None else range(len(starts))
        steps = args[4] if len(args) > 4 and args[4] is not None else [1] * len(starts)
        index = [slice(None)] * x.ndim
        for s, e, ax, st in zip(starts, ends, axes, steps):
            index[int(ax)] = slice(int(s), int(e), int(st))
        value = x[tuple(index)]
    elif op == "Concat":
        value = np.concatenate(args, axis=int(a["axis"]))
    elif op == "Unsqueeze":
        value = x
        for ax in sorted(int(v) for v in (args[1] if len(args) > 1 else a["axes"])):
            value = np.expand_dims(value, ax)
    elif op == "Squeeze":
        axes = args[1] if len(args) > 1 and args[1] is not None else a.get("axes")
        value = np.squeeze(x, axis=tuple(int(v) for v in axes) if axes is not None else None)
    elif op == "Transpose":
        value = np.transpose(x, a.get("perm"))
    elif op == "Reshape":
        value = x.reshape([int(v) for v in args[1]])
    elif op in ("Identity", "Cast"):
        value = x
    elif op == "Gather":
        value = np.take(x, args[1], axis=int(a.get("axis", 0)))
    elif op in ("Add", "Sub", "Mul") and x.dtype.kind == "i":
        value = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply}[op](x, args[1])
    elif op == "Div" and x.dtype.kind == "i" and np.all(args[1] != 0):
        value = (np.trunc(x / args[1])).astype(x.dtype)              # ONNX divides whole numbers toward zero
    else:
        return None
    builder.inits[name] = value
    return value


def _sample_sizes(builder, node):
    """Gather(Shape(x), i) of sizes after the batch that shape inference or analysis knows (chunk's channel
    count), else None: the batch size is never a constant."""
    shape_node = builder.producer[node.input[0]]
    sa = _attrs(shape_node)
    shape = builder.shape_of(shape_node.input[0])
    index = fold(builder, node.input[1])
    if shape is None or index is None or int(sa.get("start", 0)) != 0 or sa.get("end") is not None or \
            int(_attrs(node).get("axis", 0)) != 0:
        return None
    picked = np.asarray(index).astype(np.int64) % len(shape)
    if np.any(picked == 0) or any(shape[int(i)] is None for i in np.ravel(picked)):
        return None
    return np.array([shape[int(i)] for i in np.ravel(picked)], np.int64).reshape(np.shape(index))


def _zero(builder, name: str) -> bool:
    """Is this initial state zeros (absent, a zero constant, or an Expand/Slice of one)?"""
    if not name:
        return True
    value = fold(builder, name)
    if value is not None:
        return not np.any(value)
    node = builder.producer.get(name)
    if node is not None and node.op_type in ("Expand", "Slice", "Squeeze", "Unsqueeze", "Identity", "Cast"):
        return _zero(builder, node.input[0])
    return False


def _torch_order(blocks: np.ndarray, order: list[int], hidden: int) -> np.ndarray:
    parts = [blocks[k * hidden:(k + 1) * hidden] for k in range(len(order))]
    return np.concatenate([parts[o] for o in order], axis=0)


def _nonlinearity(node, a, directions: int):
    """The RNN's `nonlinearity` (None for LSTM and GRU) from the operator's activations, or a refusal."""
    op = node.op_type
    names = [v.decode() if isinstance(v, bytes) else v for v in a.get("activations") or []]
    if not names:
        return "tanh" if op == "RNN" else None
    for acts, nonlinearity in _ACTIVATIONS[op].items():
        if [n.lower() for n in names] == [n.lower() for n in acts] * directions:
            if a.get("activation_alpha") or a.get("activation_beta"):
                break
            return nonlinearity
    wanted = " or ".join(", ".join(acts) for acts in _ACTIVATIONS[op])
    raise ImportFailure(f"{node.name}: a {op} with activations {names} has no block (torch's {op} computes "
                        f"{wanted}, per direction)")


def map_recurrent(builder, node, a) -> None:
    op = node.op_type
    order = ORDERS[op]
    hidden = int(a["hidden_size"])
    direction = a.get("direction", b"forward")
    direction = direction.decode() if isinstance(direction, bytes) else direction
    if direction not in ("forward", "bidirectional") or int(a.get("layout", 0)) != 0:
        raise ImportFailure(f"{node.name}: a {direction} {op} (layout {a.get('layout', 0)}) has no block")
    if op == "GRU" and not int(a.get("linear_before_reset", 0)):
        raise ImportFailure(f"{node.name}: a GRU with linear_before_reset=0 computes differently from torch's GRU")
    if op == "LSTM" and (len(node.input) > 7 and node.input[7] or int(a.get("input_forget", 0))):
        raise ImportFailure(f"{node.name}: an LSTM with peepholes or coupled gates has no block")
    if a.get("clip"):
        raise ImportFailure(f"{node.name}: a {op} with a clip has no block")
    nonlinearity = _nonlinearity(node, a, 2 if direction == "bidirectional" else 1)
    inputs = list(node.input) + [""] * 8
    if inputs[4]:
        raise ImportFailure(f"{node.name}: sequence lengths have no block (all sequences must be the full length)")
    if not all(_zero(builder, inputs[i]) for i in ((5, 6) if op == "LSTM" else (5,))):
        raise ImportFailure(f"{node.name}: the {op} starts from a hidden state other than zeros")
    w, r = fold(builder, inputs[1]), fold(builder, inputs[2])
    b = fold(builder, inputs[3]) if inputs[3] else None
    if w is None or r is None or (inputs[3] and b is None):
        raise ImportFailure(f"{node.name}: the {op}'s weights must be constants")
    x = inputs[0]
    source = builder.time_major.get(x)
    if source is None and x in builder.pending:      # stacked: the layer below's time-major output
        source = x + "#batch-first"
        builder.produced[source] = builder.pending[x]
    if source is None:
        raise ImportFailure(f"{node.name}: the {op}'s input is not a batch-first sequence transposed to time-major")
    gates = len(order)
    tensors = {}
    for d, suffix in enumerate(["", "_reverse"][: w.shape[0]]):
        tensors[f"weight_ih_l0{suffix}"] = _torch_order(w[d], order, hidden)
        tensors[f"weight_hh_l0{suffix}"] = _torch_order(r[d], order, hidden)
        if b is not None:
            tensors[f"bias_ih_l0{suffix}"] = _torch_order(b[d][: gates * hidden], order, hidden)
            tensors[f"bias_hh_l0{suffix}"] = _torch_order(b[d][gates * hidden:], order, hidden)
    params = {"input_size": int(w.shape[2]), "hidden_size": hidden, "bias": b is not None,
              "bidirectional": direction == "bidirectional", **({"nonlinearity": nonlinearity} if op == "RNN" else {})}
    bid = builder.add(node, op, params, [source], builder.base(node), None, tensors)
    y, y_h = (list(node.output) + ["", ""])[:2]
    if y:
        builder.produced[y] = bid
        builder.pending[y] = bid
    for k, extra in enumerate(node.output[1:], start=1):
        if not _used(builder, extra):
            continue
        if k == 1 and direction == "forward" and not _used(builder, y):
            builder.final_state[y_h] = bid          # = the last step of Y: the block passes on that
            continue
        raise ImportFailure(f"{node.name}: the {op}'s final {'cell' if k == 2 else 'hidden'} state is used"
                            f"{' beside its output sequence' if k == 1 and direction == 'forward' else ''}; only "
                            "the output sequence, or the last hidden state of a forward layer alone, has a block")


def _used(builder, name: str) -> bool:
    return bool(name) and (bool(builder.consumers.get(name)) or name in builder.graph_outputs)


def transpose(builder, node, a) -> bool:
    """The exporter's transposes around a recurrent operator; True when this one was one of them."""
    x, out, perm = node.input[0], node.output[0], list(a["perm"])
    if x in builder.pending:
        bid = builder.pending[x]
        if perm == [0, 2, 1, 3]:
            builder.pending[out] = bid
        elif perm == [1, 0, 2]:
            builder.produced[out] = bid       # back to batch-first: the block's output
        else:
            raise ImportFailure(f"{node.name}: a Transpose {perm} of a recurrent output has no block")
        builder.nodes.append({"node": node.name, "op": node.op_type, "block": bid, "kind": None})
        return True
    if perm == [1, 0, 2] and x in builder.produced:
        users = builder.consumers.get(out, [])
        # the TorchScript exporter also reads its shape, for the zero initial states
        if any(u.op_type in RECURRENT for u in users) and all(u.op_type in (*RECURRENT, "Shape") for u in users):
            builder.time_major[out] = x
            builder.nodes.append({"node": node.name, "op": node.op_type, "block": None, "kind": None})
            return True
    return False


def reshape(builder, node) -> bool:
    x = node.input[0]
    if x not in builder.pending:
        return False
    builder.pending[node.output[0]] = builder.pending[x]
    builder.nodes.append({"node": node.name, "op": node.op_type, "block": builder.pending[x], "kind": None})
    return True


def squeeze(builder, node, a) -> bool:
    """Y (T×1×B×H) squeezed to T×B×H: a one-direction layer's output on its way back to batch-first; or
    Y_h (1×B×H) squeezed to B×H: the block's last step (`output: last`)."""
    x = node.input[0]
    if x not in builder.pending and x not in builder.final_state:
        return False
    axes = fold(builder, node.input[1]) if len(node.input) > 1 and node.input[1] else a.get("axes")
    axes = None if axes is None else [int(v) for v in np.ravel(axes)]
    if x in builder.final_state:
        if axes not in ([0], [-3]):
            raise ImportFailure(f"{node.name}: a Squeeze of a final hidden state other than its direction axis "
                                "has no block")
        bid = builder.final_state[x]
        builder.doc.set_param(bid, "output", "last")
        builder.produced[node.output[0]] = bid
        builder.nodes.append({"node": node.name, "op": node.op_type, "block": bid, "kind": "output: last"})
        return True
    if axes not in ([1], [-3]):
        raise ImportFailure(f"{node.name}: a Squeeze of a recurrent output other than its direction axis has no block")
    builder.pending[node.output[0]] = builder.pending[x]
    builder.nodes.append({"node": node.name, "op": node.op_type, "block": builder.pending[x], "kind": None})
    return True


def gather_step(builder, node, a) -> bool:
    """`y[:, k]` of a batch-first sequence: the last step of a recurrent block, or a Select."""
    x, axis = node.input[0], int(a.get("axis", 0))
    rank = len(builder.shapes.get(x) or [])
    axis = axis % rank if rank and axis < 0 else axis     # the batch is -3 of a 3-d tensor too
    index = fold(builder, node.input[1])
    if x not in builder.produced or axis == 0 or index is None or np.ndim(index) != 0:
        return False
    index = int(index)
    bid = builder.produced[x]
    block = builder.doc.blocks[bid]
    steps = (builder.shapes.get(x) or [None, None])[1]
    last = index == -1 or (steps is not None and index == steps - 1)
    if (block.kind in ("RNN", "LSTM", "GRU") and axis == 1 and last and len(builder.consumers.get(x, [])) == 1
            and block.params.get("output", "sequence") == "sequence"):
        builder.doc.set_param(bid, "output", "last")
        builder.produced[node.output[0]] = bid
        builder.nodes.append({"node": node.name, "op": node.op_type, "block": bid, "kind": "output: last"})
        return True
    builder.add(node, "Select", {"dim": axis, "index": index}, [x], builder.base(node), node.output[0])
    return True
