"""torch.export programs (`.pt2` files, and models torch.fx cannot trace) as editable graphs.

torch.export records a model as ATen calls, each tagged with the module that made it
(`nn_module_stack`), and nothing is decomposed further here. A call with weights (aten.conv2d,
conv1d, linear, batch_norm, layer_norm, group_norm, embedding) becomes the block of that layer: the
layer is rebuilt from the call's settings and its weights' shapes (layers.py reads it, exactly as for
a traced module), and the block takes the id of the module that owns the weights
(`layer1.0.conv1.weight` → `layer1_0_conv1`) and that module's parent as its group. Every other call
maps like a traced one (aten.relu → ReLU, aten.add → Add, aten.view → Reshape, ...). Recurrent
calls (aten.lstm, gru, rnn_tanh, rnn_relu) take their weights as a list: export_recurrent.py. A weight
used directly (a layer scale, a class token, a position embedding) and a LayerNorm over channels written
out are read by export_tensors.py; the calls an nn.MultiheadAttention makes become its block again in
export_attention.py.

A call with no block stops the import with its reason: an Opaque block rebuilds a module from its
class and arguments, which an exported program does not keep. Weights used by two calls are refused
for the same reason as in the torch.fx path (they would silently become two copies).
"""
from __future__ import annotations

import operator
import pickle
import time
from pathlib import Path

import torch
from torch import nn

from .batch_check import OTHER_BATCH, check_affordable, check_in_batches, check_outputs_follow, other_batch
from .functions import HANDLERS, Call, Unmapped, describe
from .fx_import import ImportFailure, ImportReport, _Builder, _dtype, _innermost, _NeedsOpaque, _parent, check_fidelity
from .block_ids import block_id_of
from .export_recurrent import CALLS as RECURRENT_CALLS
from .export_recurrent import is_default_state, recurrent_call
from .export_scan import check_steps, fix_steps, scan_block, scan_layers
from .export_attention import attention_calls, attention_step
from .export_tensors import norm_over_channels, norm_step, program_tensors, tensor_call
from .layers import NoBlock, layer_block
from ..quoting import shown
from .training_check import check_training
from .pt2_check import check_pt2, layerloom_steps, plain_tensors_only, refusal


def aten_name(node) -> str:
    """`relu` for aten.relu.default and aten.relu_.default; `getitem` for tuple indexing."""
    if node.target is operator.getitem:
        return "getitem"
    packet = getattr(node.target, "overloadpacket", None)
    name = getattr(packet, "__name__", None) or getattr(node.target, "__name__", str(node.target))
    name = name.rpartition(".")[2].strip("_")
    return name.removesuffix("_with_indices")


def map_aten(node, info: dict, batch: int):
    name = aten_name(node)
    handler = HANDLERS.get(name)
    if handler is None:
        raise Unmapped(f"{node.target} has no block")
    return handler(Call(node, info, batch))


def _arg(node, index: int, name: str, default=None):
    return node.args[index] if index < len(node.args) else node.kwargs.get(name, default)


class _ProgramBuilder(_Builder):
    name_of = staticmethod(aten_name)
    mapper = staticmethod(map_aten)
    what = "program"

    advice = "an exported program keeps no module that could become an Opaque block; import the model.py it came " \
             "from instead"

    def __init__(self, program, info, batch, name, source):
        super().__init__(None, info, batch, name, source, {})
        sig = program.graph_signature
        self.fqn = {**sig.inputs_to_parameters, **sig.inputs_to_buffers}
        self.tensors = {**program.state_dict, **getattr(program, "constants", {})}
        self.user_inputs = set(sig.user_inputs)
        self.graph_module = program.graph_module
        self.used: dict[str, str] = {}        # weight FQN -> the node that used it first
        self.skipped: set = set()              # nodes nothing reads that need no block (an LSTM's final state)
        self.expanded_tokens: dict = {}        # class_token.expand(N, -1, -1) -> the token (export_tensors.py)
        self.attention_note: str | None = None  # said when an attention's dropout was left behind

    def weight(self, node, index: int, name: str) -> tuple[str | None, torch.Tensor | None]:
        """(FQN, tensor) of a weight argument, or (None, None) when the call has none."""
        arg = _arg(node, index, name)
        return (None, None) if arg is None else self.owned_weight(node, arg, name)

    def owned_weight(self, node, arg, name: str) -> tuple[str, torch.Tensor]:
        """(FQN, tensor) of the weight `arg` that `node` takes, which becomes its block's own; raises
        ImportFailure when it is computed from the input or another call already took it."""
        fqn = self.fqn.get(getattr(arg, "name", None))
        if fqn is None or fqn not in self.tensors:
            raise ImportFailure(f"{node.name} ({node.target}) computes its {name} from the input; Layerloom blocks "
                                "own their weights, so give the layer its weight as a parameter")
        if fqn in self.used and self.used[fqn] != node.name:
            raise ImportFailure(f"{fqn} is used by two calls ({self.used[fqn]} and {node.name}); Layerloom blocks own "
                                "their weights, so it would become two separate copies. Give each call its own layer")
        self.used[fqn] = node.name
        return fqn, self.tensors[fqn]

    def build(self, graph) -> None:
        for node in graph.nodes:
            self.users[node] = list(node.users)
        scans = scan_layers(self, graph)         # {node: the recurrent layer whose scan it is part of}
        norms = norm_over_channels(self, graph)  # {node: its step of a LayerNorm over channels written out}
        attention = attention_calls(self, graph)  # {node: the MultiheadAttention call it is a step of}
        for node in graph.nodes:
            entry = self.info.get(node, ("value", None))
            if node in scans:
                if node is scans[node].output:
                    scan_block(self, node, scans[node])
                else:
                    self.report_nodes.append({"node": node.name, "op": str(node.target), "block": None, "kind": None})
            elif node in attention:
                attention_step(self, node, attention[node])
            elif node.op == "placeholder":
                if node.name not in self.user_inputs:
                    continue                                   # a weight: its layer's call takes it
                if entry[0] != "tensor":
                    raise ImportFailure(f"the program's input {node.name} is not a tensor")
                dynamic = [f"dim {i}" for i, size in enumerate(entry[1]) if i and not isinstance(size, int)]
                if dynamic:
                    raise ImportFailure(f"the program's input has a dynamic size after the batch "
                                        f"({', '.join(dynamic)}); a graph takes one fixed shape per sample: export the "
                                        "program with only the batch dynamic (dynamic_shapes={0: "
                                        "torch.export.Dim('batch')}) and import again")
                self.out_of[node] = self.add(node, "Input", {"shape": list(entry[1][1:]), "dtype": _dtype(entry[2])},
                                             [], "input", "")
            elif node.op == "output":
                for o in node.args[0] if isinstance(node.args[0], (tuple, list)) else [node.args[0]]:
                    if o not in self.out_of:
                        raise ImportFailure("the program's result is not one tensor (or a tuple of tensors)")
                    self.add(node, "Output", {}, [o], "output", "")
            elif node in self.skipped or is_default_state(node, aten_name):
                self.report_nodes.append({"node": node.name, "op": str(node.target), "block": None, "kind": None})
            elif node.op == "call_function":
                layer = LAYERS.get(aten_name(node))
                try:
                    if aten_name(node) in RECURRENT_CALLS:
                        recurrent_call(self, node, entry, aten_name(node))
                    elif node in norms:
                        norm_step(self, node, entry, norms[node], _layer_norm_2d)
                    elif layer is not None:
                        self.layer_call(node, entry, layer)
                    elif program_tensors(self, node):
                        tensor_call(self, node)
                    else:
                        self.function_call(node, entry)
                except _NeedsOpaque as need:
                    raise ImportFailure(f"{need.path or 'the model'}: {need.reason} ({self.advice})") from None
            else:
                raise ImportFailure(f"the program has a {node.op} node ({node.name}) Layerloom cannot read")

    def call_base(self, node, kind: str) -> tuple[str, str]:
        """A torch.nn layer without weights (`self.pool = nn.AdaptiveAvgPool2d(2)`) keeps its own name."""
        stack = list((node.meta.get("nn_module_stack") or {}).values())
        where = _innermost(node)
        layer_type = str(stack[-1][1]) if stack and isinstance(stack[-1], tuple) else ""
        if where and layer_type.startswith("torch.nn.modules.") and block_id_of(where) not in self.doc.blocks:
            return where, _parent(where)
        return super().call_base(node, kind)

    def layer_call(self, node, entry, layer) -> None:
        read, input_index, weight_names = layer
        found = {key: self.weight(node, index, key) for key, index in weight_names.items()}
        module = read(node, {k: t for k, (_, t) in found.items()}, self.info)
        named = {k: t for k, (_, t) in found.items() if t is not None}
        fqns = [f for f, _ in found.values() if f]
        owner = _parent(fqns[0]) if fqns else _innermost(node)
        for key in ("running_mean", "running_var"):
            if key in named:
                extra = self.tensors.get(f"{owner}.num_batches_tracked")
                if extra is not None:
                    named["num_batches_tracked"] = extra
        missing, unexpected = module.load_state_dict(named, strict=False)
        if unexpected or [k for k in missing if k != "num_batches_tracked"]:
            raise ImportFailure(f"{node.name} ({node.target}): its weights do not fit a {type(module).__name__}")
        try:
            kind, params = layer_block(module)
        except NoBlock as exc:
            raise ImportFailure(f"{node.name}: {exc}") from None
        src = _arg(node, input_index, "input")
        bid = self.add(node, kind, params, [src], owner or kind.lower(), _parent(owner), module)
        if entry[0] == "tuple":
            self.tuple_of[node] = bid
        else:
            self.out_of[node] = bid


def _shape(info, node) -> tuple:
    return info[_arg(node, 0, "input")][1]


def _conv(node, w, info):
    weight = w["weight"]
    cls = {3: nn.Conv1d, 4: nn.Conv2d}.get(weight.dim())
    if cls is None:
        raise ImportFailure(f"{node.name}: a {weight.dim() - 2}-d convolution has no block")
    groups = _arg(node, 6, "groups", 1)
    return cls(weight.shape[1] * groups, weight.shape[0], tuple(weight.shape[2:]), stride=_arg(node, 3, "stride", 1),
               padding=_arg(node, 4, "padding", 0), dilation=_arg(node, 5, "dilation", 1), groups=groups,
               bias=w["bias"] is not None)


def _batch_norm(node, w, info):
    legit = aten_name(node) != "batch_norm"     # _native_batch_norm_legit_no_training: no `training` argument
    if not legit and _arg(node, 5, "training", False) and w["running_mean"] is None:
        raise ImportFailure(f"{node.name}: a batch norm without running statistics (track_running_stats=False) "
                            "normalises each batch by itself, also in evaluation, so a prediction depends on the "
                            "rest of its batch; build the layer with track_running_stats=True, or use a LayerNorm")
    if not legit and _arg(node, 5, "training", False):
        raise ImportFailure(f"{node.name}: batch norm in training mode; switch the model to evaluation mode "
                            "(model.train(False)) before exporting it")
    momentum, eps = (_arg(node, 5, "momentum", 0.1), _arg(node, 6, "eps", 1e-5)) if legit else \
        (_arg(node, 6, "momentum", 0.1), _arg(node, 7, "eps", 1e-5))
    rank = len(_shape(info, node))
    cls = nn.BatchNorm2d if rank == 4 else nn.BatchNorm1d
    features = _shape(info, node)[1]
    return cls(features, eps=eps, momentum=momentum, affine=w["weight"] is not None,
               track_running_stats=w["running_mean"] is not None)


def _layer_norm(node, w, info):
    return nn.LayerNorm(list(_arg(node, 1, "normalized_shape")), eps=_arg(node, 4, "eps", 1e-5),
                        elementwise_affine=w["weight"] is not None, bias=w["bias"] is not None)


def _layer_norm_2d(node, w, info):
    from ..convnet_modules import LayerNorm2d
    return LayerNorm2d(list(_arg(node, 1, "normalized_shape")), eps=_arg(node, 4, "eps", 1e-5),
                       elementwise_affine=w["weight"] is not None, bias=w["bias"] is not None)


def _group_norm(node, w, info):
    channels = _shape(info, node)[1]
    return nn.GroupNorm(_arg(node, 1, "num_groups"), channels, eps=_arg(node, 4, "eps", 1e-5),
                        affine=w["weight"] is not None)


def _linear(node, w, info):
    weight = w["weight"]
    return nn.Linear(weight.shape[1], weight.shape[0], bias=w["bias"] is not None)


def _embedding(node, w, info):
    weight = w["weight"]
    pad = _arg(node, 2, "padding_idx", -1)
    return nn.Embedding(weight.shape[0], weight.shape[1], padding_idx=None if pad == -1 else pad,
                        scale_grad_by_freq=bool(_arg(node, 3, "scale_grad_by_freq", False)))


# aten name -> (rebuild the layer, index of the tensor input, {weight name: argument index})
LAYERS = {
    "conv2d": (_conv, 0, {"weight": 1, "bias": 2}), "conv1d": (_conv, 0, {"weight": 1, "bias": 2}),
    "linear": (_linear, 0, {"weight": 1, "bias": 2}),
    "batch_norm": (_batch_norm, 0, {"weight": 1, "bias": 2, "running_mean": 3, "running_var": 4}),
    "native_batch_norm_legit_no_training": (_batch_norm, 0, {"weight": 1, "bias": 2, "running_mean": 3,
                                                             "running_var": 4}),
    "layer_norm": (_layer_norm, 0, {"weight": 2, "bias": 3}),
    "group_norm": (_group_norm, 0, {"weight": 2, "bias": 3}),
    "embedding": (_embedding, 1, {"weight": 0}),
}


def import_program(program, name: str = "Imported", source: str = "program", method: str = "torch.export",
                   advice: str | None = None, steps: int | None = None):
    """Import an ExportedProgram. Returns (GraphDocument, state_dict for the blocks, ImportReport, batch);
    `advice` replaces what a refusal tells the person to do; `steps`: the length a program whose steps are
    free is imported for."""
    from ..layout import apply_layout, auto_layout
    started = time.monotonic()
    info = {node: describe(node.meta.get("val")) for node in program.graph.nodes}
    if steps is not None:
        info = fix_steps(info, program, steps)
    inputs = set(program.graph_signature.user_inputs)
    user = [n for n in program.graph.nodes if n.op == "placeholder" and n.name in inputs]
    if len(user) != 1 or info[user[0]][0] != "tensor":
        raise ImportFailure(f"the program takes {len(user)} inputs; Layerloom graphs take one tensor")
    batch = info[user[0]][1][0] if info[user[0]][1] else 1
    builder = _ProgramBuilder(program, info, batch, name, source)
    builder.advice = advice or builder.advice
    builder.build(program.graph)
    doc = builder.doc
    apply_layout(doc, auto_layout(doc))
    report = ImportReport(source, method, builder.report_nodes, [])
    if builder.attention_note:
        report.notes.append(builder.attention_note)
    report.fidelity = {"seconds": round(time.monotonic() - started, 3)}
    return doc, builder.state, report, int(batch)


def load_program(path):
    """The ExportedProgram in a .pt2 file; raises ImportFailure."""
    path = Path(path)
    if not path.is_file():
        raise ImportFailure(f"{path} does not exist")
    check_pt2(path)
    try:
        with plain_tensors_only():
            return torch.export.load(str(path))
    except pickle.UnpicklingError:
        raise refusal(path, "pickled data that is not plain tensors") from None
    except Exception as exc:
        raise ImportFailure(f"{path} is not a torch.export program file ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0][:160] if str(exc) else ''})") from None


def import_pt2(path, fidelity: bool = True):
    program = load_program(path)
    steps = layerloom_steps(path) if _dynamic_after_batch(program) else None
    try:
        doc, state, report, batch = import_program(program, Path(path).name.removesuffix(".pt2"), str(path),
                                                   steps=steps)
    except ImportFailure:
        raise
    except Exception as exc:         # parts of the file that contradict each other (a size with no range)
        raise ImportFailure(f"{path} holds a program whose parts do not fit together ({type(exc).__name__}: "
                            f"{shown(str(exc).strip().splitlines()[0] if str(exc).strip() else '', 160)}); export "
                            "it again with torch.export.save") from None
    shape, dtype = _input_of(doc)
    check_affordable(doc, max(batch, OTHER_BATCH))
    module = _runnable(program, path)
    _check_program_training(doc, state, module, shape, dtype, batch, report)
    if fidelity:
        check_fidelity(doc, state, module, shape, report, dtype, batch=batch)
    if steps is not None:
        check_steps(doc, state, module, shape, dtype, report)
    diff = check_outputs_follow(doc, state, module, shape, dtype, batch)
    if diff is not None:
        report.fidelity[f"max_abs_diff_batch_{other_batch(batch)}"] = diff
        return doc, state, report
    other, diff = check_in_batches(doc, state, module, shape, dtype, batch)
    fixed = f"the program runs on a batch of {batch} only (it does not run on {other_batch(batch)}); "
    if diff is None:
        report.notes.append(fixed + f"the graph was checked against it on a batch of {batch} alone (its results "
                            f"on {other} samples, {batch} at a time, could not be compared); export it with a "
                            "dynamic batch (torch.export.Dim) to check other sizes too")
    else:
        report.fidelity[f"max_abs_diff_batch_{other}"] = diff
        report.notes.append(fixed + f"the graph was checked against it on a batch of {batch}, and on {other} "
                            f"samples against the program run on them {batch} at a time (max |Δ| {diff:.2g})")
    return doc, state, report


def _check_program_training(doc, state, module, shape, dtype, batch, report) -> None:
    """training_check.py's checks against the program: its frozen parameters (a saved program keeps
    requires_grad) and where its gradient stops."""
    kind = getattr(torch, dtype)
    example = torch.randn(batch, *shape) if kind.is_floating_point else torch.zeros(batch, *shape, dtype=kind)
    check_training(doc, state, module, example, report)


def _runnable(program, path):
    """The program as a module to check the import against; raises ImportFailure when torch cannot make one of
    it (a file whose parts contradict each other)."""
    try:
        with plain_tensors_only():
            return program.module()
    except Exception as exc:
        raise ImportFailure(f"{path} is not a torch.export program Layerloom can run ({type(exc).__name__}: "
                            f"{shown(str(exc).strip().splitlines()[0] if str(exc).strip() else '', 160)}); export "
                            "it again with torch.export.save") from None


def _dynamic_after_batch(program) -> bool:
    inputs = set(program.graph_signature.user_inputs)
    for node in program.graph.nodes:
        if node.op == "placeholder" and node.name in inputs:
            entry = describe(node.meta.get("val"))
            if entry[0] == "tensor" and any(not isinstance(size, int) for size in entry[1][1:]):
                return True
    return False


def _input_of(doc) -> tuple[tuple, str]:
    block = next(b for b in doc.blocks.values() if b.kind == "Input")
    return tuple(block.params["shape"]), block.params.get("dtype", "float32")


def export_fallback(model: nn.Module, example: torch.Tensor, name: str, source: str, why: str):
    """torch.fx could not trace `model` (why): import it through torch.export (non-strict) instead."""
    try:
        program = torch.export.export(model, (example,), strict=False)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
        raise ImportFailure(f"neither torch.fx ({why}) nor torch.export ({type(exc).__name__}: {first}) can trace "
                            "the model; move the part that looks at values into a submodule (it then imports as "
                            "one Opaque block)") from None
    advice = (f"torch.fx could not trace the model ({why}), and torch.export keeps no module that could become "
              "an Opaque block; move the part torch.fx cannot trace into a submodule (it then imports as one Opaque "
              "block)")
    doc, state, report, batch = import_program(program, name, source, method="torch.export", advice=advice)
    check_outputs_follow(doc, state, model, tuple(example.shape[1:]), str(example.dtype).removeprefix("torch."), batch,
                         fixed_batch_ok=False)
    check_training(doc, state, model, example, report)
    report.notes.append(f"torch.fx could not trace the model ({why}); it was imported through torch.export")
    return doc, state, report
