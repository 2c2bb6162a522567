"""Recurrent layers written as torch scans in torch.export programs, and programs whose steps are free.

Layerloom exports nn.RNN, nn.LSTM and nn.GRU to .pt2 as one step function run over time by torch's
`scan` operator (runtime/export/recurrent_scan.py), so the program takes any number of steps. In the
program each such layer is a run of calls tagged with the layer's module (`nn_module_stack`): input
projections, zero states, one scan per direction and layer, flips, transposes and concatenations. That
run becomes one RNN, LSTM or GRU block:

  - the layer's weights are named as torch names an nn.RNN's (`lstm1.weight_ih_l0`, `..._reverse`,
    `weight_hr_l0`), which give its sizes, layers, directions and bias;
  - the kind follows from the gates (4 rows of weight_ih per hidden unit: LSTM, 3: GRU, 1: RNN, with relu
    when the step function calls relu);
  - the run reads one tensor from outside (its input) and gives one (the output sequence); a run that
    hands on its final state, or reads an initial one, is refused.

Nothing else about the step function is read, so the import is then checked on outputs: the graph and
the program run at several step counts and batch sizes, and any difference refuses the import. A scan
that is not such a layer is refused in words.

A program whose steps are free has a symbolic size after the batch; Layerloom's own export names the
length its graph was drawn for (its layerloom.json), and that length becomes the Input block's.
"""
from __future__ import annotations

import re

import torch
from torch import nn

from .layers import NoBlock, layer_block
from .report import ImportFailure

FLAT = re.compile(r"(weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)_l(\d+)(_reverse)?")
SCAN_ADVICE = ("Layerloom imports a torch scan only where it computes an RNN, LSTM or GRU, as Layerloom's own .pt2 "
               "exports write them; export the model with a fixed number of steps, or import its .onnx or model.py")


def is_scan(node) -> bool:
    return node.op == "call_function" and node.target is getattr(torch.ops.higher_order, "scan", None)


def fix_steps(info: dict, program, steps: int) -> dict:
    """`info` with the program's free step count (the size after the batch of its input) set to `steps`
    wherever it appears alone; sizes that mix it with the batch stay symbolic."""
    inputs = set(program.graph_signature.user_inputs)
    placeholder = next(n for n in program.graph.nodes if n.op == "placeholder" and n.name in inputs)
    size = tuple(placeholder.meta["val"].shape)[1]
    if not isinstance(size, torch.SymInt):
        return info
    symbol = size.node.expr

    def fixed(v):
        if isinstance(v, torch.SymInt):
            expr = v.node.expr
            if symbol in getattr(expr, "free_symbols", ()):
                value = expr.subs(symbol, steps)
                if value.is_Integer:
                    return int(value)
        return v

    def entry(e):
        if e[0] == "tensor":
            return ("tensor", tuple(fixed(s) for s in e[1]), e[2])
        if e[0] == "tuple":
            return ("tuple", [entry(x) for x in e[1]])
        return ("value", fixed(e[1]))
    return {node: entry(e) for node, e in info.items()}


class ScanLayer:
    """One recurrent layer computed by scans: its module path, the calls it made, its input and its output."""

    def __init__(self, path: str, nodes: list):
        self.path, self.nodes = path, nodes
        self.input = self.output = None


def scan_layers(builder, graph) -> dict:
    """{node: ScanLayer} for every call of a module that runs a scan; raises ImportFailure for a scan that
    is not one recurrent layer."""
    from .fx_import import _innermost
    paths = []
    for node in graph.nodes:
        if is_scan(node):
            path = _innermost(node)
            if not path:
                raise ImportFailure(f"{node.name} is a torch scan outside any module; {SCAN_ADVICE}")
            if path not in paths:
                paths.append(path)
    members: dict = {}
    for path in paths:
        nodes = [n for n in graph.nodes if n.op in ("call_function", "get_attr")
                 and _within(_module_paths(n), path)]
        layer = ScanLayer(path, nodes)
        inside = set(nodes)
        outside_in = {a for n in nodes for a in n.all_input_nodes
                      if a not in inside and builder.info.get(a, ("",))[0] == "tensor"
                      and not (a.op == "placeholder" and a.name not in builder.user_inputs)}
        handed_on = [n for n in nodes if any(u not in inside for u in n.users)]
        if len(outside_in) != 1:
            raise ImportFailure(f"module {path} runs a torch scan on {len(outside_in)} tensors of the network; a "
                                "recurrent block reads one (its input sequence, without an initial state): "
                                f"{SCAN_ADVICE}")
        if len(handed_on) != 1 or builder.info.get(handed_on[0], ("",))[0] != "tensor":
            raise ImportFailure(f"module {path} runs a torch scan whose final state is used; a recurrent block hands "
                                "on its output sequence only, so use the output (its last step for the final state); "
                                f"{SCAN_ADVICE}")
        layer.input, layer.output = outside_in.pop(), handed_on[0]
        for n in nodes:
            members[n] = layer
    return members


def _module_paths(node) -> list[str]:
    stack = node.meta.get("nn_module_stack") or {}
    return [v[0] if isinstance(v, tuple) else k for k, v in stack.items()]


def _within(paths: list[str], path: str) -> bool:
    return any(p == path or p.startswith(path + ".") for p in paths)


def scan_block(builder, node, layer: ScanLayer) -> None:
    """Add the RNN, LSTM or GRU block that `layer` computes, at its output `node`."""
    from .fx_import import _parent
    weights = {}
    for n in layer.nodes:
        for arg in n.all_input_nodes:
            fqn = builder.fqn.get(arg.name) if arg.op == "placeholder" else None
            if fqn is not None and fqn not in weights.values():
                _, tensor = builder.owned_weight(n, arg, "weight")
                weights[fqn] = tensor
    prefix = layer.path + "."
    local = {fqn[len(prefix):] if fqn.startswith(prefix) else fqn: t for fqn, t in weights.items()}
    odd = [name for name in local if not FLAT.fullmatch(name)]
    if odd or "weight_ih_l0" not in local or "weight_hh_l0" not in local:
        raise ImportFailure(f"module {layer.path} runs a torch scan with weights not named as a recurrent layer's "
                            f"({', '.join(sorted(local)[:4]) or 'none'}); {SCAN_ADVICE}")
    module = _rebuild(layer, local, builder.info[layer.input][1][-1], _calls(builder, layer))
    try:
        kind, params = layer_block(module)
    except NoBlock as exc:
        raise ImportFailure(f"{layer.path}: {exc}") from None
    owner = layer.path
    bid = builder.add(node, kind, params, [layer.input], owner, _parent(owner), module)
    builder.out_of[node] = bid
    names = {n.name for n in layer.nodes}
    for entry in builder.report_nodes:          # the layer's other calls were folded into this block
        if entry["node"] in names and entry["block"] is None:
            entry["block"] = bid


def _calls(builder, layer: ScanLayer) -> set[str]:
    """The ATen names of the calls in the layer's step functions."""
    names = set()
    for n in layer.nodes:
        if n.op == "get_attr":
            sub = getattr(builder.graph_module, str(n.target), None)
            if isinstance(sub, torch.fx.GraphModule):
                names |= {builder.name_of(m) for m in sub.graph.nodes if m.op == "call_function"}
    return names


def _rebuild(layer: ScanLayer, local: dict, input_size, calls: set[str]) -> nn.RNNBase:
    w_ih, w_hh, w_hr = local["weight_ih_l0"], local["weight_hh_l0"], local.get("weight_hr_l0")
    hidden = int(w_hr.shape[1]) if w_hr is not None else int(w_hh.shape[1])
    gates = int(w_ih.shape[0]) // max(hidden, 1)
    cls = {4: nn.LSTM, 3: nn.GRU, 1: nn.RNN}.get(gates)
    if cls is None or w_ih.dim() != 2 or not isinstance(input_size, int):
        raise ImportFailure(f"module {layer.path} runs a torch scan whose weights fit no RNN, LSTM or GRU; "
                            f"{SCAN_ADVICE}")
    layers = 1 + max(int(FLAT.fullmatch(name).group(2)) for name in local)
    extra = {"nonlinearity": "relu" if "relu" in calls else "tanh"} if cls is nn.RNN else {}
    if w_hr is not None:
        extra["proj_size"] = int(w_hr.shape[0])
    try:
        module = cls(input_size, hidden, num_layers=layers, bias="bias_ih_l0" in local, batch_first=True,
                     bidirectional=any(name.endswith("_reverse") for name in local), **extra)
        module.load_state_dict(local, strict=True)
    except (RuntimeError, ValueError) as exc:
        raise ImportFailure(f"module {layer.path} runs a torch scan whose weights do not fit a {cls.__name__} "
                            f"({str(exc).splitlines()[0][:160]}); {SCAN_ADVICE}") from None
    return module.eval()


def check_steps(doc, state: dict, program_module, shape, dtype: str, report) -> None:
    """Run the imported graph and the program at other step counts and batch sizes; raise ImportFailure where
    they differ, else note what was checked (a program whose steps are free, imported for `shape[0]` steps)."""
    from ..compiler import CompileError, compile_graph
    from .fx_import import _max_difference
    from .batch_check import check_affordable
    steps = int(shape[0])
    check_affordable(doc, 6)     # each check below holds at most 6 samples of `steps` steps (2 of 2·steps + 1)
    try:
        graph = compile_graph(doc, weights=False).eval()
    except CompileError:
        return                       # the fidelity check names what does not compile
    graph.load_state_dict(state, strict=False)
    high = min((int(b.params["num_embeddings"]) for b in doc.blocks.values() if b.kind == "Embedding"), default=2)
    worst, checked = 0.0, []
    for batch, length in ((3, 1), (2, 2 * steps + 1), (5, steps)):
        g = torch.Generator().manual_seed(length)
        size = (batch, length, *shape[1:])
        x = torch.randn(size, generator=g) if getattr(torch, dtype).is_floating_point \
            else torch.randint(0, max(high, 1), size, generator=g)
        with torch.no_grad():
            try:
                expected = program_module(x.clone())
            except Exception:
                continue             # the program's own range of lengths
            got = graph(x.clone())
        diff = _max_difference(expected, got)
        scale = max((float(t.abs().max()) for t in ([expected] if torch.is_tensor(expected) else expected)
                     if torch.is_tensor(t) and t.numel()), default=0.0)
        if diff is None or diff > 1e-4 * max(1.0, scale):
            what = f"results that differ by up to {diff:.3g}" if diff is not None else "results of another shape"
            raise ImportFailure(f"the program takes any number of steps, and on {length} step(s) (a batch of {batch}) "
                                f"the imported graph gives {what}: Layerloom cannot rebuild this program as blocks; "
                                f"export it with a fixed number of steps, or import its .onnx or .loom.json")
        worst = max(worst, diff)
        checked.append(f"{length} step{'s' if length != 1 else ''} (a batch of {batch})")
    report.fidelity["max_abs_diff_other_steps"] = worst
    report.notes.append(f"the program takes any number of steps; the graph's Input takes {steps} (the length its "
                        f"graph was drawn for) and its blocks run on other lengths too: checked against the program "
                        f"on {', '.join(checked) or 'no other length'}")
