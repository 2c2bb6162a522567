"""An ONNX operator with no block, kept as one Opaque block that runs the operator through onnxruntime.

    OnnxOperator("Erf", {}, ["x"], "float32")          # y = erf(x), computed by onnxruntime

The block stores the operator's type, its attributes (plain numbers, text and lists), which of its
inputs come from wires ("x") and which are constants (kept as buffers `const<i>`, in the graph's
weights file), and the type of its result. It computes on real tensors only: no gradient flows
through it (training updates the blocks after it, not before), and a graph holding one cannot be
exported to ONNX again through torch. Operators whose attributes are tensors or subgraphs are refused.
"""
from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

from ..params import MAX_TEXT
from ..quoting import shown
from .fx_import import ImportFailure

TARGET = "layerloom.graph.importers.onnx_opaque:OnnxOperator"
_ONNX_TYPES = {"float32": 1, "int64": 7, "bool": 9, "float64": 11, "int32": 6}
SMALL_CONSTANT = 256      # values of a constant input kept in the block's settings as well as its weights
OUTPUT_BYTES = 4 * 2**30   # one result of an operator (8 bytes a value at most)
SESSIONS = 256             # onnxruntime sessions kept for one-operator models (each takes ~30 ms to make)
_sessions: OrderedDict = OrderedDict()      # the one-operator model's bytes -> its session, shared by blocks
_sessions_lock = threading.Lock()


def _shared_session(model_bytes: bytes):
    """The onnxruntime session of a one-operator model, made once for every block (and every compile of a
    graph) with the same operator, attributes and input types: the 26 Slices of a ShuffleNet share one."""
    with _sessions_lock:
        session = _sessions.get(model_bytes)
        if session is not None:
            _sessions.move_to_end(model_bytes)
            return session
    import onnxruntime as ort
    options = ort.SessionOptions()       # one operator: a pool of (cores - 1) idle threads per kept session would
    options.intra_op_num_threads = 1     # come to thousands on a large machine (256 sessions on 16 cores: 3,840)
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])   # run() is thread-safe
    with _sessions_lock:
        _sessions[model_bytes] = session
        while len(_sessions) > SESSIONS:
            _sessions.popitem(last=False)
    return session


class OnnxOperator(nn.Module):
    def __init__(self, op_type: str, attributes: dict, layout: list, out_dtype: str = "float32",
                 constants: dict | None = None, domain: str = "", opset: int = 17):
        super().__init__()
        self.op_type, self.attributes, self.layout = op_type, dict(attributes), list(layout)
        self.out_dtype, self.domain, self.opset = out_dtype, domain, int(opset)
        for name, (shape, dtype, *values) in (constants or {}).items():     # values: a small constant's own
            self.register_buffer(name, torch.tensor(values[0], dtype=getattr(torch, dtype)).reshape(shape) if values
                                 else torch.zeros(shape, dtype=getattr(torch, dtype)))
        self._sessions: dict = {}
        self._checked: set = set()

    def _session(self, feeds: dict):
        from onnx import helper
        key = tuple((k, v.dtype.str, v.ndim) for k, v in feeds.items())
        if key not in self._sessions:
            inputs = [helper.make_tensor_value_info(k, _ONNX_TYPES[str(v.dtype)], [None] * v.ndim)
                      for k, v in feeds.items()]
            node = helper.make_node(self.op_type, list(feeds), ["out"], domain=self.domain, **self.attributes)
            graph = helper.make_graph([node], "operator", inputs,
                                      [helper.make_tensor_value_info("out", _ONNX_TYPES[self.out_dtype], None)])
            model = helper.make_model(graph, opset_imports=[helper.make_opsetid(self.domain, self.opset)])
            self._sessions[key] = _shared_session(model.SerializeToString())
        return self._sessions[key]

    def _check_output_size(self, feeds: dict) -> None:
        """The result's size from ONNX shape inference on these inputs, before onnxruntime allocates it:
        a graph file may ask for Upsample by 1000 (a 28×28 input would give 20 GB). Cached per shapes."""
        key = tuple((k, v.dtype.str, v.shape) for k, v in feeds.items())
        if key in self._checked:
            return
        import onnx
        from onnx import helper
        inputs = [helper.make_tensor_value_info(k, _ONNX_TYPES[str(v.dtype)], list(v.shape)) for k, v in feeds.items()]
        node = helper.make_node(self.op_type, list(feeds), ["out"], domain=self.domain, **self.attributes)
        graph = helper.make_graph([node], "operator", inputs, [])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid(self.domain, self.opset)])
        try:
            inferred = onnx.shape_inference.infer_shapes(model).graph.value_info
        except Exception:
            inferred = []
        for info in inferred:
            dims = [d.dim_value for d in info.type.tensor_type.shape.dim]
            if all(d > 0 for d in dims) and int(np.prod(dims, dtype=object)) * 8 > OUTPUT_BYTES:
                raise RuntimeError(f"the ONNX operator {self.op_type} would give a result of "
                                   f"{'×'.join(map(str, dims))} values, more than {OUTPUT_BYTES // 2**30} GB: "
                                   "check its attributes")
        self._checked.add(key)

    def forward(self, *xs):
        wired = iter(xs)
        feeds = {}
        for i, entry in enumerate(self.layout):
            value = next(wired) if entry == "x" else getattr(self, entry)
            feeds[f"in{i}"] = np.ascontiguousarray(value.detach().cpu().numpy())
        self._check_output_size(feeds)
        out = self._session(feeds).run(None, feeds)[0]
        return torch.from_numpy(np.array(out)).to(xs[0].device if xs else "cpu")


def _plain(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (int, float, str)):
        return value
    raise TypeError(type(value).__name__)


def opaque_operator(builder, node, attrs: dict, why: str | None = None) -> None:
    """Add `node` as an Opaque block that runs it through onnxruntime (or raise ImportFailure); `why` says
    why no block computes it where the operator's name alone does not."""
    try:
        attributes = {k: _plain(v) for k, v in attrs.items()}
    except TypeError as exc:
        raise ImportFailure(f"the ONNX operator {node.op_type} ({node.name}) has no block, and its attribute of "
                            f"type {exc} cannot be kept as data") from None
    layout, wired, tensors, constants = [], [], {}, {}
    for i, name in enumerate(node.input):
        if not name:
            raise ImportFailure(f"the ONNX operator {node.op_type} ({node.name}) has no block and skips an input")
        value = builder.fold_value(name)
        if name in builder.produced or value is None:
            layout.append("x")
            wired.append(name)
        else:
            value = np.asarray(value)
            dtype = str(value.dtype)
            if dtype not in _ONNX_TYPES:
                raise ImportFailure(f"{node.name}: a constant of type {dtype} cannot be kept")
            key = f"const{i}"
            layout.append(key)
            constants[key] = [list(value.shape), dtype]
            if value.size <= SMALL_CONSTANT:      # Slice's ends, Pad's pads: the result's shape depends on them,
                constants[key].append(value.ravel().tolist())    # so analysis, which loads no weights, needs them
            tensors[key] = value
    if len(node.output) != 1:
        advice = ("; PyTorch's TorchScript exporter writes torch.chunk and split as Slices, which import: export "
                  "with torch.onnx.export(..., dynamo=False)") if node.op_type == "Split" else ""
        raise ImportFailure(f"the ONNX operator {node.op_type} ({node.name}) has no block, and it gives "
                            f"{len(node.output)} results where an Opaque block gives one{advice}")
    if not wired:
        raise ImportFailure(f"the ONNX operator {node.op_type} ({node.name}) has no block")
    out_type = builder.elem_types.get(node.output[0], 1)
    out_dtype = next((k for k, v in _ONNX_TYPES.items() if v == out_type), "float32")
    kwargs = {"op_type": node.op_type, "attributes": attributes, "layout": layout, "out_dtype": out_dtype,
              "constants": constants, "domain": node.domain or "",
              "opset": builder.opsets.get(node.domain, builder.opset) if node.domain else builder.opset}
    params = {"target": TARGET, "args": [], "kwargs": kwargs, "num_inputs": len(wired),
              "origin": shown(f"ONNX operator {node.op_type} ({node.name}), run by onnxruntime", MAX_TEXT)}
    bid = builder.add(node, "Opaque", params, wired, builder.base(node), node.output[0], tensors)
    builder.opaque.append({"block": bid, "target": f"ONNX {node.op_type}",
                           "reason": f"{why or f'no block computes {node.op_type}'}: it runs through onnxruntime, "
                                     "and no gradient flows through it"})
