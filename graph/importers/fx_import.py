"""A PyTorch module becomes an editable graph, through torch.fx.

The tracer's leaves are the torch.nn layers that have a block kind (layers.py) and the submodules
that must stay whole; every other module is traced through. Calls map to blocks (functions.py),
shape bookkeeping (`x.size(0)`, arithmetic on sizes) folds into the block that uses it, and a
`[:, -1]` after a recurrent layer becomes its `output: last`. Block ids come from module paths
(`layer1.0.conv1` → `layer1_0_conv1`, `_2`, `_3` for a module called again; a long path shortened with a
hash, block_ids.py); each block remembers its module path as its group. training_check.py compares how
the graph trains with the source (frozen parameters, gradient stops, training-only branches).

A submodule becomes one Opaque block when tracing it fails (data-dependent control flow), when
it uses a call or a tensor attribute that has no block, or when a submodule inside it with weights
is called twice (shared weights are never duplicated). When that would be the whole model, the
import stops with the reason (`ImportFailure`).
"""
from __future__ import annotations

import time

import torch
from torch import fx, nn

from ..blocks import get_kind
from ..document import GraphDocument, id_problem
from ..layout import apply_layout, auto_layout
from ..params import ParamError
from ..quoting import shown
from .block_ids import block_id_of
from .exits import exits_fail
from .batch_check import check_batch_follows, samples_apart_note
from .functions import (ALIAS, Unmapped, batch_dim_problem, call_name, describe, function_text, is_split, map_call,
                        piece_of)
from .hidden import pick_hidden
from .inplace import in_place_problem
from .opaque_block import opaque_params as _opaque_params
from .opaque_block import parametrization_of, parametrization_problem
from .layers import RECURRENT, TUPLE_RESULT, NoBlock, has_block, layer_block
from .report import ImportFailure, ImportReport, group_name
from .shape_run import record_shapes
from .sharing import common_parent, ties_of
from .sharing import parent as _parent
from .whole import MULTIHEAD_ALONE, Whole, drop_defaults, forward_defaults, no_forward_problem, whole_result_problem
from .training_check import check_training, train_mode_note
from .tokens import bare_tensor, select_of, token_call, uses_tensor_attribute

MAX_ATTEMPTS = 60


class _NeedsOpaque(Exception):
    def __init__(self, path: str, reason: str):
        super().__init__(reason)
        self.path, self.reason = path, reason


class _Tracer(fx.Tracer):
    def __init__(self, opaque: set[str]):
        super().__init__()
        self.opaque = opaque
        self.failed_at: str | None = None

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        if qualname in self.opaque or has_block(m):
            return True
        if isinstance(m, (nn.Sequential, nn.ModuleList, nn.ModuleDict)):
            return False
        return type(m).__module__.startswith("torch.nn")   # a torch layer without a block kind

    def call_module(self, m, forward, args, kwargs):
        path = self.path_of_module(m)
        try:
            return super().call_module(m, forward, args, kwargs)
        except Exception:
            if self.failed_at is None:
                self.failed_at = path
            raise


class _Recorder(fx.Interpreter):
    """Runs the traced graph once, keeping what each node produced (shapes for tensors)."""

    def __init__(self, gm):
        super().__init__(gm)
        self.info: dict = {}

    def run_node(self, n):
        result = super().run_node(n)
        self.info[n] = describe(result)
        return result


def _record(gm, example, input_shape) -> "_Recorder":
    """Shapes and size values of every node: on meta or fake tensors (no compute, shape_run.py), or once for
    real when a submodule kept whole looks at values."""
    recorder = record_shapes(gm, example, _Recorder)
    if recorder is not None:
        return recorder
    recorder = _Recorder(gm)
    with torch.no_grad():
        try:
            recorder.run(example)
        except Exception as exc:     # torch's first line says why; the rest is fx's trace of where
            first = next((line for line in str(exc).splitlines() if line.strip()), "")
            raise ImportFailure(f"the model does not run on an input of shape {list(input_shape)} "
                                f"({type(exc).__name__}: {shown(first, 300)}); check the input shape") from None
    return recorder


def _innermost(node: fx.Node) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    paths = [v[0] if isinstance(v, tuple) else k for k, v in stack.items()]
    return paths[-1] if paths else ""


class _Builder:
    name_of = staticmethod(call_name)      # how a call is named and mapped; the torch.export path has its own
    what = "model"
    mapper = staticmethod(map_call)

    def __init__(self, model, info, batch, name, source, opaque_reasons):
        self.model, self.info, self.batch, self.source = model, info, batch, source
        self.doc = GraphDocument(name)
        self.out_of: dict = {}            # tensor node -> block id
        self.tuple_of: dict = {}          # tuple node -> block id (element 0 is the block's output)
        self.state: dict = {}
        self.report_nodes: list[dict] = []
        self.opaque_reasons = opaque_reasons
        self.opaque_blocks: list[dict] = []
        self.calls: dict[str, int] = {}
        self.users: dict = {}
        self.attrs: dict = {}             # get_attr node of a tensor -> its name (`class_token`)
        self.expanded: dict = {}          # `token.expand(n, -1, -1)` node -> the tensor's name
        self.ties = ties_of(model) if model is not None else {}

    def new_id(self, base: str, sep: str = "_") -> str:
        """`layer1_0_relu`, then `layer1_0_relu_2` for a module called again; blocks made from calls
        number without the underscore (`add`, `add2`), which never reads as a compiled step's name."""
        base = block_id_of(base) or "block"
        if id_problem(base):
            base = base + "_"
        bid, n = base, 1
        while bid in self.doc.blocks:
            n += 1
            bid = f"{base}{sep}{n}"
        return bid

    def add(self, node, kind, params, inputs, base, group, module=None):
        bid = self.new_id(base, "_" if node.op in ("call_module", "placeholder") else "")
        self.doc.add_block(kind, params, block_id=bid, group=group_name(group))
        for port, src in enumerate(inputs):
            if src in self.attrs or src in self.expanded:
                bare_tensor(self, src)
            if src not in self.out_of:
                raise _NeedsOpaque(_innermost(node), "an input that is not a tensor of the network")
            self.doc.connect(self.out_of[src], bid, dst_port=port)
        if module is not None:
            for k, v in module.state_dict().items():
                self.state[f"{bid}.{k}"] = v.detach().clone()
        self.report_nodes.append({"node": node.name, "op": _op_text(node), "block": bid, "kind": kind})
        return bid

    def build(self, graph: fx.Graph):
        for node in graph.nodes:
            self.users[node] = list(node.users)
        self.order = {node: i for i, node in enumerate(graph.nodes)}
        for node in graph.nodes:
            entry = self.info.get(node, ("value", None))
            if node.op == "placeholder":
                if entry[0] != "tensor":
                    raise ImportFailure(f"the model's input {node.name} is not a tensor")
                bid = self.add(node, "Input", {"shape": list(entry[1][1:]), "dtype": _dtype(entry[2])}, [],
                               "input", "")
                self.out_of[node] = bid
            elif node.op == "output":
                outs = node.args[0] if isinstance(node.args[0], (tuple, list)) else [node.args[0]]
                for o in outs:
                    if o in self.tuple_of:
                        raise ImportFailure(whole_result_problem(self.doc.blocks[self.tuple_of[o]].kind, self.what))
                    if o not in self.out_of:
                        raise ImportFailure("the model's result is not one tensor (or a tuple of tensors)")
                    self.add(node, "Output", {}, [o], "output", "")
            elif node.op == "get_attr":
                if entry[0] == "tensor":
                    self.attrs[node] = str(node.target)      # tokens.py maps the uses it knows
            else:
                module = self.model.get_submodule(str(node.target)) if node.op == "call_module" else None
                problem = in_place_problem(node, module, self.order)
                if problem:
                    raise _NeedsOpaque(_parent(str(node.target)) if module is not None else _innermost(node), problem)
                if module is not None:
                    self.module_call(node, entry)
                else:
                    self.function_call(node, entry)

    def module_call(self, node, entry):
        path = str(node.target)
        module = self.model.get_submodule(path)
        self.calls[path] = self.calls.get(path, 0) + 1
        tied = self.ties.get(path)
        if tied:
            where = common_parent(path, tied[1])
            if not where:
                raise ImportFailure(f"{path}.{tied[0]} and {tied[1]}.{tied[2]} are one tensor (tied weights); "
                                    "Layerloom blocks own their weights, so they would become two separate copies "
                                    "that train apart. Wrap both layers in a submodule of their own (it then "
                                    "imports as one Opaque block) or untie them")
            raise _NeedsOpaque(where, f"{path}.{tied[0]} and {tied[1]}.{tied[2]} are one tensor (tied weights)")
        if self.calls[path] > 1 and any(True for _ in module.state_dict()):
            if not path or "." not in path and not _parent(path):
                if not path:
                    raise ImportFailure("the model calls itself twice")
            parent = _parent(path)
            if not parent:
                raise ImportFailure(f"{path} is called twice with the same weights; Layerloom blocks own their "
                                    "weights, so it would have to become two blocks with separate copies. Wrap "
                                    "the shared part in a submodule of its own (it then imports as one Opaque "
                                    "block) or give each call its own layer")
            raise _NeedsOpaque(parent, f"its submodule {path.rpartition('.')[2]} is called twice with the same weights")
        tensors = [a for a in node.args if isinstance(a, fx.Node)]
        if any(self.info.get(a, ("",))[0] != "tensor" for a in tensors) or \
                any(not isinstance(a, fx.Node) for a in node.args):
            if not has_block(module) or path in self.opaque_reasons:
                raise _NeedsOpaque(_parent(path), f"{path} is called with values that are not tensors")
        kind = params = None
        if path not in self.opaque_reasons:
            try:
                kind, params = layer_block(module)
                rank = len(self.info[tensors[0]][1]) if tensors else 0
                problem = batch_dim_problem(kind, params, rank)    # nn.Softmax(dim=0): the layer as it is
                if problem:
                    raise NoBlock(problem)
            except NoBlock as exc:
                kind = None
                self.opaque_reasons[path] = str(exc)
        if kind is None:
            if node.kwargs:
                raise _NeedsOpaque(_parent(path), f"{path} is called with keyword arguments")
            if entry[0] == "tuple":     # an LSTM that is not batch-first: its parent, which picks the result
                raise _NeedsOpaque(_parent(path), f"{path}: {self.opaque_reasons[path]}, and an Opaque block "
                                                  "gives one result, not several")
            params = _opaque_params(module, path, self.opaque_reasons[path], self.source, len(tensors))
            bid = self.add(node, "Opaque", params, tensors, path, _parent(path), module)
            self.opaque_blocks.append({"block": bid, "target": params["target"], "reason": self.opaque_reasons[path]})
        elif kind == "MultiheadAttention":
            q, k, v = (node.args[i] if i < len(node.args) else node.kwargs.get(n)       # attn(x, key=k, value=k)
                       for i, n in enumerate(("query", "key", "value")))
            extra = {n: node.kwargs.get(n) for n in ("key_padding_mask", "attn_mask")}
            if any(x is not None for x in extra.values()) or node.kwargs.get("is_causal"):
                raise _NeedsOpaque(_parent(path), f"{path} is called with a mask")
            inputs = [q] if (k is q and v is q) else [q, k] if k is v else [q, k, v]
            bid = self.add(node, kind, {**params, "num_inputs": len(inputs)}, inputs, path, _parent(path), module)
        else:
            inputs = tensors[:1] if kind in RECURRENT else tensors
            if kind in RECURRENT and len(tensors) > 1:
                raise _NeedsOpaque(_parent(path), f"{path} is given an initial hidden state")
            if len(inputs) != 1 or len(node.args) != 1 or node.kwargs:   # `up(x, output_size=...)`: a block
                raise _NeedsOpaque(_parent(path), f"{path} is called with more than its input")   # would drop it
            bid = self.add(node, kind, params, inputs, path, _parent(path), module)
        if entry[0] == "tuple":
            if kind not in TUPLE_RESULT:
                raise _NeedsOpaque(_parent(path), f"{path} returns several tensors")
            self.tuple_of[node] = bid
        else:
            self.out_of[node] = bid

    def function_call(self, node, entry):
        name = self.name_of(node)
        if uses_tensor_attribute(self, node):
            return token_call(self, node, name)
        if name == "getitem":
            return self.getitem(node, entry)
        if entry[0] != "tensor":
            if is_split(node, self.info):    # folded: each piece taken from it becomes a block (getitem)
                self.report_nodes.append({"node": node.name, "op": _op_text(node), "block": None, "kind": None})
                return
            if entry[0] == "tuple":
                raise _NeedsOpaque(_innermost(node), f"{_op_text(node)} returns several tensors")
            self.report_nodes.append({"node": node.name, "op": _op_text(node), "block": None, "kind": None})
            return                           # shape bookkeeping: folded into its users
        try:
            mapped = self.mapper(node, self.info, self.batch)
        except Unmapped as exc:
            raise _NeedsOpaque(_innermost(node), str(exc)) from None
        if mapped[0] is ALIAS:
            self.out_of[node] = self.out_of[mapped[1]]
            self.report_nodes.append({"node": node.name, "op": _op_text(node), "block": self.out_of[node],
                                      "kind": None})
            return
        kind, params, inputs, *then = mapped       # `then`: blocks that follow the first (x.mean([2, 3]))
        for step, (kind, params) in enumerate([(kind, params), *(then[0] if then else [])]):
            kind_obj = get_kind(kind)
            try:
                clean = {k: kind_obj.param(k).check(v) for k, v in params.items()}
            except ParamError as exc:        # F.interpolate(mode="area"): a setting the block does not have
                raise _NeedsOpaque(_innermost(node), f"{_op_text(node)} has no {kind} block ({exc})") from None
            base, group = self.call_base(node, kind)
            self.out_of[node] = self.add(node, kind, clean, inputs if step == 0 else [node], base, group)

    def call_base(self, node, kind: str) -> tuple[str, str]:
        """(id base, group) of a block made from a call: named after the module that makes the call."""
        where = _innermost(node)
        return (f"{where}.{kind.lower()}" if where else kind.lower()), where

    def getitem(self, node, entry):
        src, index = node.args
        if pick_hidden(self, node, src, index):         # `h[-1]` of `out, h = self.gru(x)`
            return
        if src in self.tuple_of:
            if index != 0 and self.users.get(node) and all(u.op == "output" for u in self.users[node]):
                raise ImportFailure(whole_result_problem(self.doc.blocks[self.tuple_of[src]].kind, self.what))
            if index != 0:
                raise _NeedsOpaque(_innermost(node), "it uses a recurrent layer's hidden state or attention weights")
            self.out_of[node] = self.tuple_of[src]
            self.report_nodes.append({"node": node.name, "op": "getitem 0", "block": self.tuple_of[src], "kind": None})
            return
        if is_split(src, self.info):          # x1, x2 = x.chunk(2, dim=1): a Narrow per piece
            try:
                kind, params, inputs = piece_of(src, index, self.info, self.batch)
            except Unmapped as exc:
                raise _NeedsOpaque(_innermost(node), str(exc)) from None
            self.out_of[node] = self.add(node, kind, params, inputs, *self.call_base(node, kind))
            return
        if entry[0] != "tensor":
            self.report_nodes.append({"node": node.name, "op": _op_text(node), "block": None, "kind": None})
            return
        bid = self.out_of.get(src)
        block = self.doc.blocks.get(bid) if bid else None
        if (block is not None and block.kind in RECURRENT and block.params.get("output", "sequence") == "sequence"
                and _is_last_step(index) and len(self.users.get(src, [])) == 1
                and not self.doc.edges_from(bid)):
            self.doc.set_param(bid, "output", "last")
            self.out_of[node] = bid
            self.report_nodes.append({"node": node.name, "op": "[:, -1]", "block": bid, "kind": "output: last"})
            return
        picked = select_of(index)
        if picked is not None and bid is not None:
            self.out_of[node] = self.add(node, "Select", {"dim": picked[0], "index": picked[1]}, [src],
                                         *self.call_base(node, "Select"))
            return
        raise _NeedsOpaque(_innermost(node), f"indexing a tensor with {index!r} has no block")


def _is_last_step(index) -> bool:
    if not isinstance(index, tuple) or len(index) < 2 or index[1] != -1:
        return False
    full = slice(None, None, None)
    return index[0] == full and all(i == full for i in index[2:])


def _op_text(node: fx.Node) -> str:
    if node.op == "call_module":
        return f"module {node.target}"
    if node.op == "call_method":
        return f".{node.target}()"
    if node.op in ("call_function",):
        return function_text(node.target)
    return node.op


def _dtype(text: str) -> str:
    if text in ("float32", "int64"):
        return text
    raise ImportFailure(f"the model's input is {text}; Layerloom graphs take float32 or int64 inputs")


@exits_fail
def import_module(model: nn.Module, input_shape, name: str = "Imported", source: str = "module",
                  input_dtype: str = "float32"):
    """Import `model` (its eval-mode behaviour; training_check.py notes where training differs) for inputs of
    `input_shape` (one sample, no batch).
    Returns (GraphDocument, state_dict for the graph's blocks, ImportReport); raises ImportFailure."""
    started = time.monotonic()
    model = model.eval()
    whole = has_block(model) or type(model).__module__.startswith("torch.nn") and not any(model.children())
    if isinstance(model, nn.MultiheadAttention):
        raise ImportFailure(MULTIHEAD_ALONE)
    if no_forward_problem(model):
        raise ImportFailure(no_forward_problem(model))
    if parametrization_of(model) is not None:     # nn.Linear under weight_norm itself: a Linear block, once removed
        raise ImportFailure(parametrization_problem(model, ""))
    if whole:                           # nn.Linear(4, 3) itself: Input → Linear → Output
        model = Whole(model)
    defaults = forward_defaults(model)   # forward(self, x, mask=None): traced as given x alone
    batch = 2
    dtype = getattr(torch, input_dtype)
    example = (torch.randn(batch, *input_shape) if dtype.is_floating_point
               else torch.zeros(batch, *input_shape, dtype=dtype))
    opaque: dict[str, str] = {}
    for _ in range(MAX_ATTEMPTS):
        tracer = _Tracer(set(opaque))
        try:
            graph = tracer.trace(model, concrete_args=defaults or None)
            if defaults:
                drop_defaults(graph)
            gm = fx.GraphModule(model, graph)     # (torch.fx writes its code with the submodules' names as they are)
        except Exception as exc:
            path = tracer.failed_at
            if not path or path in opaque:
                from .export_import import export_fallback
                why = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
                doc, state, report = export_fallback(model, example, name, source, why)
                report.fidelity["seconds"] = round(time.monotonic() - started, 3)
                return doc, state, report
            opaque[path] = f"torch.fx cannot trace it ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})"
            continue
        graph = gm.graph
        graph.eliminate_dead_code()
        recorder = _record(gm, example, input_shape)
        builder = _Builder(model, recorder.info, batch, name, source, dict(opaque))
        try:
            builder.build(graph)
        except _NeedsOpaque as need:
            if not need.path and whole:
                raise ImportFailure(need.reason) from None
            if not need.path:
                raise ImportFailure(f"the model itself must stay whole: {need.reason}; move that part into a "
                                    "submodule (it then imports as one Opaque block)") from None
            if need.path in opaque:
                raise ImportFailure(f"{need.path}: {need.reason}") from None
            opaque[need.path] = need.reason
            continue
        opaque.update(builder.opaque_reasons)
        check_batch_follows(gm, builder, input_shape, dtype, _Recorder)
        break
    else:
        raise ImportFailure("the model needs too many Opaque blocks to import")
    doc = builder.doc
    apply_layout(doc, auto_layout(doc))
    report = ImportReport(source, "torch.fx", builder.report_nodes, builder.opaque_blocks)
    report.fidelity = {}
    check_training(doc, builder.state, model, example, report)
    changed = train_mode_note(model, lambda: _Tracer(set(opaque)).trace(model, concrete_args=defaults or None), graph)
    if changed:
        report.notes.append(changed)
    report.fidelity["seconds"] = round(time.monotonic() - started, 3)
    return doc, builder.state, report


@exits_fail
def check_fidelity(doc, state: dict, model: nn.Module, input_shape, report: ImportReport | None = None,
                   input_dtype: str = "float32", batch: int = 2) -> dict:
    """Compile the imported graph, load its weights strictly, and compare outputs with the model."""
    from ..compiler import CompileError, compile_graph
    try:
        gm = compile_graph(doc, weights=False).eval()
    except CompileError as exc:     # a gap in the import: say so rather than show a traceback
        raise ImportFailure(f"the imported graph would not run ({exc.diagnostics[0].text}); Layerloom cannot "
                            "import this model as it is: change that part of the model and import again") from None
    missing, unexpected = gm.load_state_dict(state, strict=False)
    strict = not missing and not unexpected
    compiled = gm.state_dict()
    equal = strict and all(torch.equal(compiled[k], v) for k, v in state.items())
    g = torch.Generator().manual_seed(1)
    dtype = getattr(torch, input_dtype)
    x = (torch.randn((batch, *input_shape), generator=g) if dtype.is_floating_point
         else torch.zeros((batch, *input_shape), dtype=dtype))
    if not isinstance(model, fx.GraphModule):     # an exported program's module is already in eval mode
        model = model.eval()
    with torch.no_grad():       # each gets its own copy: a model may change its input in place
        expected, got = model(x.clone()), gm(x.clone())
    diff = _max_difference(expected, got)
    note = samples_apart_note(gm, doc, input_shape, input_dtype)
    if note and report is not None:
        report.notes.append(note)
    figures = {"max_abs_diff": diff, "strict_load": strict, "tensors_equal": equal}
    if report is not None:
        report.fidelity.update(figures)
    return figures


def _max_difference(expected, got) -> float | None:
    """The largest difference between the model's outputs and the graph's (a tensor or a tuple of them),
    or None where they cannot be compared."""
    expected, got = [expected] if torch.is_tensor(expected) else expected, [got] if torch.is_tensor(got) else got
    if not isinstance(expected, (tuple, list)) or len(expected) != len(got) or \
            not all(torch.is_tensor(a) and torch.is_tensor(b) and a.shape == b.shape for a, b in zip(expected, got)):
        return None
    return max((float((a - b).abs().max()) if a.numel() else 0.0 for a, b in zip(expected, got)), default=None)
