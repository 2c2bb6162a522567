"""An ONNX file becomes an editable graph, through Layerloom's own mapper.

The file is read and its shapes inferred first (onnx_file.py); then Conv, Gemm, MatMul (+ Add of a bias),
Relu, Tanh, Sigmoid, LeakyRelu, MaxPool, AveragePool, GlobalAveragePool, ReduceMean over the image, BatchNormalization,
Add, Mul, Concat, Flatten, Reshape, Transpose, Gather from a table (Embedding), Softmax, LogSoftmax, Slice and
Split of one dimension (onnx_split.py), (onnx_layers.py) Gelu, LayerNormalization, Dropout and a layer scale,
(onnx_pooling.py) pools and BatchNormalization of any rank, and (onnx_linear.py) an Add of a position table map to
blocks, as does GELU written out in elementary operators (onnx_gelu.py), with their weights taken from the
constants (Gemm's and MatMul's transposed as needed; one tensor is never given to two blocks). Block ids come
from the weights' names (`conv1.weight` → `conv1`) or the exporter's module scopes. A Conv into which the exporter folded a BatchNorm is reported. RNN,
LSTM and GRU become recurrent blocks (onnx_recurrent.py); any other operator becomes an Opaque block run by
onnxruntime (onnx_opaque.py).
"""
from __future__ import annotations

import math
import re
import time

import numpy as np
import torch

from ..document import GraphDocument, id_problem
from ..layout import apply_layout, auto_layout
from ..quoting import shown
from ..weights import module_path_to_id
from .fx_import import ImportFailure, ImportReport
from .report import group_name
from .onnx_file import constant_value, first_line, read_model
from .onnx_gather import gather_axis, gather_rows
from .onnx_gelu import gelu_steps, map_gelu
from .onnx_layers import OPERATORS as LAYER_OPERATORS, layer_scale, map_layer
from .onnx_linear import claim, map_gemm, map_matmul, map_position, position_table
from .onnx_opaque import opaque_operator
from .onnx_pooling import map_batch_norm, map_pool, one_value as _one, pool_fits, symmetric_pads as _symmetric
from .onnx_shapes import conv_pads
from .onnx_split import map_split, narrow_of_slice, split_sizes
from .onnx_recurrent import RECURRENT, data_values, fold, gather_step, map_recurrent, reshape, squeeze, transpose

_DTYPES = {1: "float32", 7: "int64"}
RECURRENT_KINDS = ("RNN", "LSTM", "GRU")      # blocks whose result is not always the value mapped to them
_STEP_NAME = re.compile(r"(.+)_(outputs|sequence|\d+)")    # how the compiler names a block's inner steps


_TIME_FIRST = ("a time-first sequence: a recurrent layer that the dynamo exporter unrolled into single steps "
               "imports when exported with torch.onnx.export(..., dynamo=False), which keeps it as one ONNX "
               "RNN, LSTM or GRU operator; otherwise keep the batch first")

def _where(node) -> str:
    """The node as a message names it: its name from the file, escaped, or its operator and result."""
    return shown(node.name, 80) if node.name else f"the {node.op_type} that gives {shown(node.output[0], 80)}"


def _attrs(node) -> dict:
    from onnx import helper
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _shape(value_info) -> list | None:
    t = value_info.type.tensor_type
    if not t.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]


def _scope(node) -> str:
    for p in node.metadata_props:
        if p.key == "pkg.torch.onnx.name_scopes":
            try:
                parts = [x.strip(" '\"") for x in p.value.strip("[]").split(",")]
            except ValueError:
                return ""
            return ".".join(x for x in parts[1:-1] if x)
    return ""


def _folded_bn(node) -> bool:
    return any(p.key == "pkg.onnxscript.rewriter.rule_name" and "FuseBatchNormIntoConv" in p.value
               for p in node.metadata_props)


class _OnnxBuilder:
    data: frozenset | set = frozenset()      # the values computed from the input, once build() knows them

    def __init__(self, model, name):
        from onnx import numpy_helper
        self.graph = model.graph
        self.doc = GraphDocument(name)
        self.inits = {i.name: numpy_helper.to_array(i) for i in self.graph.initializer}
        self.shapes = {v.name: _shape(v) for v in [*self.graph.value_info, *self.graph.input, *self.graph.output]}
        self.produced: dict[str, str] = {}
        self.state: dict = {}
        self.nodes: list[dict] = []
        self.notes: list[str] = []
        self.consumers: dict[str, list] = {}
        self.skip: set[str] = set()      # first results of operators mapped with an earlier one
        self.producer = {out: node for node in self.graph.node for out in node.output}
        self.opaque: list[dict] = []
        self.elem_types = {v.name: v.type.tensor_type.elem_type
                           for v in [*self.graph.value_info, *self.graph.input, *self.graph.output]}
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 17)
        self.opsets = {o.domain: o.version for o in model.opset_import}   # each operator domain's version
        self.pending: dict[str, str] = {}       # recurrent output, still time-major -> its block
        self.time_major: dict[str, str] = {}    # a time-major copy of a batch-first value -> that value
        self.final_state: dict[str, str] = {}   # a forward recurrent layer's Y_h -> its block
        self.graph_outputs = {o.name for o in self.graph.output}
        self.file_tensors = set(self.inits) | {n.output[0] for n in self.graph.node if n.op_type == "Constant"}
        self.owners: dict[tuple, tuple] = {}     # a weight (shape, bytes) -> the block holding it: onnx_linear.claim
        for node in self.graph.node:
            for i in node.input:
                self.consumers.setdefault(i, []).append(node)

    def fold_value(self, name):
        return fold(self, name)

    def shape_of(self, name: str) -> list | None:
        """A value's shape as shape inference gave it, or, where inference lost a size after the batch (past a
        Slice or Reshape whose sizes the file computes from a shape), as analysis of the blocks mapped so far
        gives it: a ShuffleNet exported with a dynamic batch reads its channel count so, block after block."""
        shape = self.shapes.get(name)
        bid = self.produced.get(name)
        if (shape and None not in shape[1:]) or bid is None or self.doc.blocks[bid].kind in RECURRENT_KINDS:
            return shape
        from ..analysis import analyze
        sample = analyze(self.doc).output_shape(bid)
        if sample is None:
            return shape
        self.shapes[name] = [(shape or [None])[0], *sample]
        return self.shapes[name]

    def const(self, name):
        value = fold(self, name)
        if value is not None:
            return value
        raise ImportFailure(f"{name} must be a constant here")

    def new_id(self, base: str) -> str:
        base = module_path_to_id(base or "block")[:58]
        if id_problem(base):
            base += "_"
        step = _STEP_NAME.fullmatch(base)
        if step and step.group(1) in self.doc.blocks:   # `/Transpose_1` beside `/Transpose`: X_1 would read as
            base = step.group(1) + step.group(2)        # a step inside X in the generated code
        bid, n = base, 1
        while bid in self.doc.blocks:
            n += 1
            bid = f"{base}{n}"
        return bid

    def add(self, node, kind, params, inputs, base, output=None, tensors=None):
        bid = self.new_id(base)
        self.doc.add_block(kind, params, block_id=bid, group=group_name(_scope(node)) if node is not None else "")
        for port, name in enumerate(inputs):
            if name not in self.produced:
                who = "the output" if node is None else \
                    f"the {node.op_type} {_where(node)}" if node.name else _where(node)
                raise ImportFailure(f"{who} reads {name}, which comes from no tensor of the network: {NO_TENSOR}")
            self.doc.connect(self.produced[name], bid, dst_port=port)
        for k, v in (tensors or {}).items():
            dtype = np.float32 if v.dtype != np.int64 else v.dtype
            self.state[f"{bid}.{k}"] = torch.from_numpy(np.array(v, dtype=dtype))
        if tensors and node is not None and kind != "Opaque":     # an Opaque block's constants are not trained
            claim(self, bid, node, tensors, node.input)
        if output is not None:
            self.produced[output] = bid
        if node is not None:
            self.nodes.append({"node": node.name, "op": node.op_type, "block": bid, "kind": kind})
        return bid

    def base(self, node, weight: str | None = None) -> str:
        if weight and weight.endswith(".weight"):
            return weight[: -len(".weight")]
        return _scope(node) or re.sub(r"^node_", "", node.name)

    def activation(self, node, a) -> str | None:
        """The block of an activation torch exports as Clip, HardSigmoid or HardSwish, or None."""
        op = node.op_type
        if op == "HardSwish":
            return "Hardswish"
        if op == "HardSigmoid":     # torch's Hardsigmoid is relu6(x + 3) / 6
            alpha, beta = float(a.get("alpha", 0.2)), float(a.get("beta", 0.5))
            return "Hardsigmoid" if abs(alpha - 1 / 6) < 1e-6 and beta == 0.5 else None
        if op != "Clip":
            return None
        bounds = []
        for i, name in ((1, "min"), (2, "max")):
            if self.opset < 11:
                bounds.append(a.get(name))
                continue
            value = self.fold_value(node.input[i]) if len(node.input) > i and node.input[i] else None
            if value is None and len(node.input) > i and node.input[i]:
                return None                                  # a bound computed from the data
            bounds.append(None if value is None else float(np.ravel(value)[0]))
        return {(0.0, 6.0): "ReLU6", (0.0, None): "ReLU"}.get(tuple(bounds))

    def softmax_axis(self, node, a) -> int | None:
        """The dim of a Softmax block for this operator, or None: before opset 13 Softmax normalises over
        every dimension from `axis` (default 1) on together, which a block does only for the last."""
        if self.opset >= 13:
            return self.sample_axis(node, int(a.get("axis", -1)), "normalises")
        axis, rank = int(a.get("axis", 1)), len(self.shapes.get(node.input[0]) or [])
        return self.sample_axis(node, axis, "normalises") if rank and axis % rank == rank - 1 else None

    def sample_axis(self, node, axis: int, does: str) -> int:
        """`axis` as the file counts it (the batch is axis 0, as in torch and in a block's dim), refused where
        it is the batch itself, as the file's own number says it: axis=-3 of a 3-d tensor is axis 0."""
        rank = len(self.shapes.get(node.input[0]) or [])
        if axis == 0 or rank and axis % rank == 0:
            also = f" (axis {axis} of a {rank}-d tensor is its axis 0)" if axis != 0 else ""
            fits = f"axis 1 to {rank - 1}, or -1 to -{rank - 1}" if rank > 1 else "axis 1 or later"
            raise ImportFailure(f"{_where(node)}: {node.op_type} with axis={axis} {does} across the batch{also}, which "
                                f"no block does; change the model so that it {does} within each sample ({fits}) "
                                "and export it again")
        return axis

    def reshape_target(self, node) -> list[int]:
        """A Reshape's target with 0 (keep) for the batch: a constant, where a file exported for a fixed
        batch may name it (`[2, -1]` for inputs of batch 2), or a Concat of constants and the batch size
        read from a tensor's shape (`x.view(x.size(0), -1)` exported with a dynamic batch)."""
        value = self.fold_value(node.input[1])
        batch = (self.shapes.get(node.input[0]) or [None])[0] or self.file_batch()
        if value is not None:
            target = [int(v) for v in np.ravel(value)]
            return [0] + target[1:] if target and batch and target[0] == batch else target
        concat = self.producer.get(node.input[1])
        target = []
        for part in concat.input if concat is not None and concat.op_type == "Concat" else [None]:
            if part is not None and self.batch_size_of(part):
                target.append(0 if not target else None)
                continue
            value = self.fold_value(part) if part is not None else None
            if value is None:
                target = None
                break
            target += [int(v) for v in np.ravel(value)]
        if not target or None in target:
            raise ImportFailure(f"{node.name}: a Reshape to a shape computed from the input, other than the batch "
                                "size, has no block; export the model with a fixed input shape")
        return target

    def file_batch(self):
        """The batch the file's inputs are fixed to (1 for a model exported on one sample), else None: where
        shape inference lost a tensor's shape, its batch is still that one."""
        sizes = {(self.shapes.get(i.name) or [None])[0] for i in self.graph.input if i.name not in self.inits}
        return sizes.pop() if len(sizes) == 1 else None

    def batch_size_of(self, name: str) -> bool:
        """Whether `name` is a tensor's batch size read from its shape (Shape → Gather 0 → Unsqueeze)."""
        node = self.producer.get(name)
        while node is not None and node.op_type in ("Unsqueeze", "Cast", "Identity"):
            node = self.producer.get(node.input[0])
        shape = self.producer.get(node.input[0]) if node is not None and node.input else None
        if shape is None or shape.op_type != "Shape" or int(_attrs(shape).get("start", 0)) != 0:
            return False
        if node.op_type == "Gather" and int(_attrs(node).get("axis", 0)) == 0:
            index = self.fold_value(node.input[1])
            return index is not None and np.ravel(index).tolist() == [0]
        if node.op_type == "Slice" and len(node.input) >= 3:
            starts, ends = self.fold_value(node.input[1]), self.fold_value(node.input[2])
            axes = self.fold_value(node.input[3]) if len(node.input) > 3 and node.input[3] else [0]
            return starts is not None and ends is not None and np.ravel(starts).tolist() == [0] and \
                np.ravel(ends).tolist() == [1] and np.ravel(axes).tolist() == [0]
        return False

    def build(self):
        self.check_order()
        inputs = [i for i in self.graph.input if i.name not in self.inits]
        if len(inputs) > 1:
            raise ImportFailure(f"the file's graph takes {len(inputs)} inputs "
                                f"({', '.join(shown(i.name, 40) for i in inputs[:4])}); a Layerloom graph takes one "
                                "tensor: export a model whose forward takes one input")
        for inp in inputs:
            shape = _shape(inp)
            dtype = _DTYPES.get(inp.type.tensor_type.elem_type)
            if dtype is None:
                from onnx import TensorProto
                kind = inp.type.tensor_type.elem_type
                kind = TensorProto.DataType.Name(kind) if kind in TensorProto.DataType.values() else kind
                raise ImportFailure(f"the input {inp.name} holds {kind} values; Layerloom graphs take float32 (or "
                                    "int64 token ids): export the model with a float32 input")
            if shape is not None and len(shape) < 2:
                text = ", ".join("N" if d is None else str(d) for d in shape)
                raise ImportFailure(f"the input {inp.name} has the shape [{text}], so a sample (what follows the "
                                    "batch) would have no dimension; give the model inputs of shape N×1 and export "
                                    "it again")
            if not shape or None in shape[1:]:
                raise ImportFailure(f"the input {inp.name} needs a fixed shape after the batch: export the model "
                                    "with only the batch dynamic")
            if any(d < 1 for d in shape[1:]):
                raise ImportFailure(f"the input {inp.name} has the shape {shape}: every size after the batch must be "
                                    "at least 1")
            self.add(None, "Input", {"shape": shape[1:], "dtype": dtype}, [], "input", inp.name)
        if not any(b.kind == "Input" for b in self.doc.blocks.values()) or not self.graph.output:
            raise ImportFailure("the file holds no graph with an input and an output (is it an empty or unfinished "
                                "ONNX file?)")
        data = self.data = data_values(self.graph, [i.name for i in self.graph.input if i.name not in self.inits])
        for node in self.graph.node:
            if node.output and node.output[0] in self.skip:    # a later step of a block mapped already
                continue
            if node.op_type == "Constant":
                self.inits[node.output[0]] = constant_value(node)
                continue
            if not any(o in data for o in node.output):     # shape or weight arithmetic: folded where used
                self.nodes.append({"node": node.name, "op": node.op_type, "block": None, "kind": None})
                continue
            self.map(node, _attrs(node))
        for out in self.graph.output:
            self.add(None, "Output", {}, [out.name], "output")

    def check_order(self) -> None:
        """Every operator reads only values given before it (ONNX keeps its nodes in order): a node that reads
        a value given later or never (a cycle, a damaged file) stops the import here, in words."""
        known = {i.name for i in self.graph.input} | set(self.inits) | {""}
        for node in self.graph.node:
            missing = next((i for i in node.input if i not in known), None)
            if missing is not None:
                raise ImportFailure(f"{_where(node)} reads {shown(missing, 60)} before any operator gives it (the "
                                    "file's nodes are out of order or form a cycle), so it is not a valid ONNX graph: "
                                    "export the model again")
            known.update(node.output)

    def map(self, node, a):
        op, x = node.op_type, node.input[0] if node.input else None
        simple = {"Relu": "ReLU", "Tanh": "Tanh", "Sigmoid": "Sigmoid"}
        if op in RECURRENT:
            map_recurrent(self, node, a)
        elif (gelu := gelu_steps(self, node)) is not None:      # GELU written out before opset 20: onnx_gelu.py
            map_gelu(self, *gelu)
        elif ((op == "Transpose" and transpose(self, node, a)) or (op == "Reshape" and reshape(self, node))
              or (op == "Squeeze" and squeeze(self, node, a))):
            pass
        elif op in simple or self.activation(node, a):
            self.add(node, simple.get(op) or self.activation(node, a), {}, [x], self.base(node), node.output[0])
        elif op == "LeakyRelu":
            self.add(node, "LeakyReLU", {"negative_slope": float(a.get("alpha", 0.01))}, [x], self.base(node),
                     node.output[0])
        elif op == "Identity":
            self.produced[node.output[0]] = self.produced[x]
            self.nodes.append({"node": node.name, "op": op, "block": self.produced[x], "kind": None})
        elif op == "Conv":
            w = self.const(node.input[1])
            n = w.ndim - 2
            pads = conv_pads(a, w.shape[2:]) if n in (1, 2) else None
            if pads is None:       # Conv3d, or padding more on one side (TensorFlow's SAME with an even kernel)
                why = (f"a Conv with {n} spatial dimensions" if n not in (1, 2) else
                       "a Conv padded more on one side than the other (auto_pad SAME, or asymmetric pads)")
                return opaque_operator(self, node, a, why=f"no block computes {why}")
            a = {**a, "pads": pads + pads}
            group = int(a.get("group", 1))
            bias = node.input[2] if len(node.input) > 2 and node.input[2] else None
            params = {"in_channels": w.shape[1] * group, "out_channels": w.shape[0], "kernel_size": _one(w.shape[2:]),
                      "stride": _one(a.get("strides", [1] * n)), "padding": _one(_symmetric(a.get("pads"), n)),
                      "dilation": _one(a.get("dilations", [1] * n)), "groups": group, "bias": bias is not None}
            tensors = {"weight": w, **({"bias": self.const(bias)} if bias else {})}
            bid = self.add(node, f"Conv{n}d", params, [x], self.base(node, node.input[1]), node.output[0], tensors)
            if _folded_bn(node):
                self.notes.append(f"{bid}: the exporter folded a BatchNorm into this Conv (its weights include "
                                  "the normalisation); add a BatchNorm2d after it to train one separately")
        elif op == "Gemm":                      # Gemm, MatMul (+ Add of a bias), a position table: onnx_linear.py
            map_gemm(self, node, a)
        elif op == "MatMul" and node.input[1] in self.inits and self.const(node.input[1]).ndim == 2:
            map_matmul(self, node, a)
        elif (op in ("MaxPool", "AveragePool") and pool_fits(node, a)) or op in ("GlobalAveragePool", "GlobalMaxPool"):
            map_pool(self, node, a)             # SAME padding, a dilated average: onnxruntime runs it; onnx_pooling.py
        elif op == "ReduceMean":
            axes = a.get("axes") or (list(self.const(node.input[1])) if len(node.input) > 1 else None)
            rank = len(self.shapes.get(x) or [0, 0, 0, 0])
            if sorted(int(v) % rank for v in (axes or [])) != [2, 3] or rank != 4:
                raise ImportFailure(f"{node.name}: ReduceMean over axes {axes} has no block")
            mid = node.output[0] if a.get("keepdims", 1) else node.output[0] + "#pooled"
            self.add(node, "AdaptiveAvgPool2d", {"output_size": 1}, [x], self.base(node), mid)
            if not a.get("keepdims", 1):
                self.add(node, "Flatten", {"start_dim": 1, "end_dim": -1}, [mid], self.base(node) + "_flatten",
                         node.output[0])
        elif op == "BatchNormalization":
            map_batch_norm(self, node, a)
        elif op in ("Add", "Mul") and all(i in self.produced for i in node.input):
            self.add(node, op, {"num_inputs": 2}, list(node.input), self.base(node), node.output[0])
        elif op == "Add" and position_table(self, node) is not None:
            map_position(self, node)
        elif op == "Concat" and all(i in self.produced for i in node.input):     # with a constant: Opaque
            axis = self.sample_axis(node, int(a["axis"]), "joins its inputs")
            self.add(node, "Concat", {"num_inputs": len(node.input), "dim": axis}, list(node.input), self.base(node),
                     node.output[0])
        elif op == "Flatten":
            axis, rank = int(a.get("axis", 1)), len(self.shapes.get(x) or [])
            if axis != 1 and not (rank and axis % rank == 1):
                raise ImportFailure(f"{_where(node)}: Flatten at axis {axis} merges the batch with other dimensions "
                                    "(only axis 1 keeps each sample apart), which no block does; flatten each sample "
                                    "instead (torch.flatten(x, 1)) and export the model again")
            self.add(node, "Flatten", {}, [x], self.base(node), node.output[0])
        elif op == "Reshape":
            target = self.reshape_target(node)
            in_shape = self.shapes.get(x)
            rest = [in_shape[i + 1] if v == 0 and in_shape else v for i, v in enumerate(target[1:])]
            sample = in_shape[1:] if in_shape and None not in in_shape[1:] else None
            if target[0] not in (0, -1) or target[0] == -1 and (-1 in rest or not rest or (   # [-1]: batch and all
                    sample is not None and math.prod(rest) != math.prod(sample))):
                raise ImportFailure(f"{node.name}: a Reshape to {target} moves the batch dimension, which no block "
                                    "does; reshape each sample instead (x.view(x.size(0), -1))")
            self.add(node, "Reshape", {"shape": rest}, [x], self.base(node), node.output[0])
        elif op == "Transpose":
            perm = list(a["perm"])
            if perm[0] != 0:
                raise ImportFailure(f"{node.name}: a Transpose to {perm} moves the batch dimension, which no block "
                                    f"does; {_TIME_FIRST if perm[:2] == [1, 0] else 'keep the batch first'}")
            self.add(node, "Permute", {"dims": [p - 1 for p in perm[1:]]}, [x], self.base(node), node.output[0])
        elif op == "Gather" and gather_axis(self, node, a) == 0:
            gather_rows(self, node, a)          # a table lookup (Embedding), or samples picked from the batch
        elif op == "Gather" and gather_step(self, node, a):
            pass
        elif op in LAYER_OPERATORS or (op == "Mul" and layer_scale(self, node)):
            map_layer(self, node, a)            # Gelu, LayerNormalization, a layer scale: onnx_layers.py
        elif op == "Slice" and (narrow := narrow_of_slice(self, node, a)) is not None:     # onnx_split.py
            self.add(node, "Narrow", narrow, [x], self.base(node), node.output[0])
        elif op == "Split" and split_sizes(self, node, a) is not None:
            map_split(self, node, a)
        elif op in ("Softmax", "LogSoftmax") and self.softmax_axis(node, a) is not None:
            self.add(node, op, {"dim": self.softmax_axis(node, a)}, [x], self.base(node), node.output[0])
        else:
            opaque_operator(self, node, a)


NO_TENSOR = ("it is made from the file's constants and the input's sizes alone (as a token expanded over the batch "
             "is), which no block gives; import the model's .pt2 or model.py instead, which keep it as a weight")


def import_onnx(path, name: str | None = None):
    """(GraphDocument, state_dict, ImportReport) for an ONNX file; raises ImportFailure."""
    started = time.monotonic()
    model, steps = read_model(path)
    try:
        builder = _OnnxBuilder(model, name or str(path).rsplit("/", 1)[-1].removesuffix(".onnx"))
        builder.build()
    except ImportFailure:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:   # contents that contradict
        raise ImportFailure(f"{path} holds a model whose parts do not fit together ({first_line(exc)}); "
                            "export it again") from None
    for bid, kind in ((b, builder.doc.blocks[b].kind) for b in builder.doc.blocks):
        if kind == "BatchNorm2d" or kind == "BatchNorm1d":
            builder.state.setdefault(f"{bid}.num_batches_tracked", torch.tensor(0))
    doc = builder.doc
    apply_layout(doc, auto_layout(doc))
    if steps:
        builder.notes.append(f"the file's input takes any size in dim {steps[0]}; the graph takes {steps[1]}, the "
                             "sample shape Layerloom's export wrote in the file's metadata")
    report = ImportReport(str(path), "onnx", builder.nodes, builder.opaque, builder.notes,
                          {"seconds": round(time.monotonic() - started, 3)})
    return doc, builder.state, report
