"""The compiler: a graph document becomes a real `torch.fx.GraphModule`.

Each block becomes one `call_module` node whose attribute name is the block id (the module is the
real torch.nn layer), merge and shape blocks become `call_function`/method nodes, Inputs become
placeholders and Outputs the graph's output. The blocks' `forward` functions are the same ones
analysis runs on meta tensors; here they are called with fx proxies, so they record nodes.
"""
from __future__ import annotations

import ast
import functools
import inspect
import keyword
import os
import re

try:
    import resource
except ImportError:        # Windows has no address-space limits
    resource = None

import torch
from torch import fx, nn
from torch._guards import detect_fake_mode
from torch.fx.experimental import _config as fx_experimental_config
from torch.fx.proxy import GraphAppendingTracer

from . import rng
from .analysis import AnalysisResult, analyze
from .blocks import forward_of, get_kind
from .diagnostics import Diagnostic
from .quoting import docstring_literal
from .weights import apply_graph_weights


class CompileError(ValueError):
    """The graph has errors; the message lists every one of them."""

    def __init__(self, diagnostics):
        self.diagnostics = list(diagnostics)
        lines = "\n".join(f"  {d.text}" for d in self.diagnostics)
        super().__init__(f"the graph cannot be compiled until these {len(self.diagnostics)} problem(s) are fixed:\n{lines}")


def class_name_for(name: str) -> str:
    """The network's class name in generated code, from the graph's name ("lenet 5" -> "Lenet5"): never a
    keyword, nor a class the generated module itself imports or defines (a graph named "class token"
    with a ClassToken block would otherwise replace the layer's class by the network's)."""
    words = re.findall(r"[A-Za-z0-9]+", name or "")
    text = "".join(w[:1].upper() + w[1:] for w in words) or "Network"
    text = text if text[0].isalpha() else "Net" + text
    return text + "Net" if keyword.iskeyword(text) or text in _code_globals() else text


@functools.cache
def _code_globals() -> frozenset[str]:
    """Names generated code binds at module level besides the network's class: what the block kinds'
    code imports or carries inline (ClassToken, StochasticDepth...)."""
    from .blocks import REGISTRY
    names = set()
    for kind in REGISTRY.values():
        if kind.code is None:
            continue
        try:
            line = kind.code(kind.defaults())[0]
        except Exception:      # a kind whose code needs real values: its import line is the same for all
            continue
        names.update(re.findall(r"import (\w+)$", line or ""))
    return frozenset(names)


STEP_NAMES = {2: ("outputs", "sequence")}   # recurrent blocks: (output, h_n) tuple, then the sequence


def _name_nodes(new_nodes, bid: str) -> bool:
    """The value a block computes carries the block's id in the code; steps on the way get
    `<id>_outputs`, `<id>_sequence` (recurrent blocks) or `<id>_<n>`. False when the id was taken
    by another block's step (fx would rename it, and feature-map taps would not find it)."""
    if not new_nodes or not hasattr(new_nodes[-1], "_rename"):
        return True
    *steps, last = new_nodes
    labels = STEP_NAMES.get(len(steps), tuple(str(i) for i in range(1, len(steps) + 1)))
    for node, label in zip(steps, labels):
        node._rename(f"{bid}_{label}")
    if last.name != bid:
        last._rename(bid)
    return last.name == bid


def memory_bytes(device: str | None = None) -> int | None:
    """The memory weights built on `device` can use at most: the machine's (within the process's address-space
    limit) for the CPU, the GPU's own for CUDA; None where it cannot be told."""
    kind = str(device or "cpu").split(":")[0]
    if kind == "cpu":
        try:
            have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            return None
        limit = resource.getrlimit(resource.RLIMIT_AS)[0] if resource is not None else -1
        return min(have, limit) if limit > 0 else have
    if kind == "cuda" and torch.cuda.is_available():
        return torch.cuda.get_device_properties(torch.device(device)).total_memory
    return None


def _refuse_weights_beyond_memory(analysis: AnalysisResult, device: str | None) -> None:
    """A graph whose float32 weights alone outgrow the memory they would be built in is refused before any is
    allocated: a small file can name Embedding(10000000, 65536), 2.6 TB. Shape-only builds (the meta device,
    the fake tensors of memory estimates) need no memory for weights."""
    if device == "meta" or detect_fake_mode() is not None:
        return
    need, have = 4 * analysis.total_params, memory_bytes(device)
    if have is None or need <= have:
        return
    biggest = max(analysis.order, key=lambda b: analysis.blocks[b].param_count)
    own = analysis.blocks[biggest].param_count
    where = "the GPU" if str(device or "cpu").startswith("cuda") else "this machine"
    raise CompileError([Diagnostic(
        biggest, f"the network holds {analysis.total_params:,} parameters, {need / 1e9:,.1f} GB of float32 weights, "
                 f"more than the {have / 1e9:,.1f} GB of memory {where} has ({biggest} alone holds {own:,}): make "
                 "its largest blocks smaller.", "too_large")])


def build_modules(doc, analysis: AnalysisResult, device: str | None = None) -> dict[str, nn.Module]:
    """Real torch.nn modules (on CPU, or on `device`) for every block that has one, keyed by block id."""
    modules: dict[str, nn.Module] = {}
    with torch.device(device or "cpu"):
        for bid in analysis.order:
            kind = get_kind(doc.blocks[bid].kind)
            if kind.module is not None:
                modules[bid] = kind.module(**kind.module_kwargs(analysis.blocks[bid].params))
    return modules


def _nodes_after(graph: fx.Graph, mark) -> list:
    """The nodes added after `mark` (None: all), walking back from the end: linear in what was added."""
    new = []
    for node in reversed(graph.nodes):
        if node is mark:
            break
        new.append(node)
    return new[::-1]


class _StepTracer(GraphAppendingTracer):
    """Names each node a block's forward makes `_<op>` until _name_nodes renames it after the block: fx keeps
    every name it ever gave reserved, and one beginning with "_" is never a block id, so a block called
    `reshape` still gets its name after another block's reshape step."""

    def create_node(self, kind, target, args, kwargs, name=None, type_expr=None):
        name = name if name is not None else "_" + self.graph._target_to_str(target)
        return super().create_node(kind, target, args, kwargs, name, type_expr)


def trace_graph(doc, analysis: AnalysisResult) -> fx.Graph:
    """The network as a `torch.fx.Graph`: one node per block (more for blocks that compute in steps), named
    by the block ids. Needs no modules: a layer is a `call_module` node naming its block id."""
    graph = fx.Graph()
    tracer = _StepTracer(graph)
    values: dict[str, fx.Proxy] = {}
    outputs = []
    clashes = []
    into: dict[str, list] = {}
    for e in doc.edges:
        into.setdefault(e.dst, []).append(e)
    for bid in analysis.order:
        block = doc.blocks[bid]
        kind = get_kind(block.kind)
        params = analysis.blocks[bid].params
        if kind.name == "Input":
            node = graph.placeholder(bid if bid != "input" else "x")
            values[bid] = fx.Proxy(node, tracer)
            continue
        wires = sorted(into.get(bid, ()), key=lambda e: e.dst_port)
        inputs = [values[e.src] for e in wires]
        call = None
        if kind.module is not None:
            # A module whose result is post-processed (recurrent blocks) leaves its id for the final value.
            node_name = f"{bid}_outputs" if kind.forward is not None else bid
            call = (lambda target, name: lambda *args, **kwargs: tracer.create_proxy(
                "call_module", target, args, kwargs, name=name))(bid, node_name)
        mark = next(iter(reversed(graph.nodes)), None)
        values[bid] = forward_of(kind)(call, inputs, params)
        if kind.name != "Output" and not _name_nodes(_nodes_after(graph, mark), bid):
            clashes.append(Diagnostic(bid, "its id is already the name of another block's intermediate value "
                                           "in the generated code: rename the block.", "id_clash"))
        if kind.name == "Output":
            outputs.append(values[bid])
    if clashes:
        raise CompileError(clashes)
    result = outputs[0].node if len(outputs) == 1 else tuple(o.node for o in outputs)
    graph.output(result)
    graph.lint()
    return graph


def compile_graph(doc, analysis: AnalysisResult | None = None, seed: int | None = None,
                  data: dict | None = None, weights: bool = True, device: str | None = None) -> fx.GraphModule:
    """Compile a GraphDocument into a `torch.fx.GraphModule`; raises CompileError listing problems.
    `data` ({"num_classes", "vocab_size"}) fills parameters that are "auto" from the data set.
    With `weights`, the graph's own weights file (see weights.py) is loaded into the blocks it fits;
    `model.meta["layerloom"]["weights"]` then reports what was loaded (WeightsError if unreadable).
    `device="meta"` builds the modules without memory for their weights (enough for the code)."""
    analysis = analysis or analyze(doc, data)
    if analysis.errors:
        raise CompileError(analysis.errors)
    _refuse_weights_beyond_memory(analysis, device)
    with rng.LOCK:                        # a run in another thread takes no step meanwhile (see rng.py)
        if seed is not None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                modules = build_modules(doc, analysis, device)
        else:
            modules = build_modules(doc, analysis, device)
    root = nn.Module()
    for bid, module in modules.items():
        root.add_module(bid, module)
    graph = trace_graph(doc, analysis)
    gm = fx.GraphModule(root, graph, class_name=class_name_for(doc.name))
    gm.meta["layerloom"] = {
        "name": doc.name,
        "inputs": [(b, list(analysis.blocks[b].output_shape), analysis.blocks[b].output_dtype)
                   for b in analysis.order if doc.blocks[b].kind == "Input"],
    }
    report = apply_graph_weights(doc, gm) if weights else None
    if report is not None:
        gm.meta["layerloom"]["weights"] = report.to_dict()
    return gm


def constructor_source(kind, params: dict) -> str:
    """`nn.Conv2d(in_channels=1, out_channels=6, kernel_size=5, padding=2)`: torch's defaults left out."""
    if kind.code is not None:
        return kind.code(params)[1]
    kwargs = kind.module_kwargs(params)
    sig = inspect.signature(kind.module)
    parts = []
    for name, value in kwargs.items():
        p = sig.parameters.get(name)
        if p is not None and p.default is not inspect.Parameter.empty and _same(p.default, value):
            continue
        parts.append(f"{name}={value!r}")
    return f"nn.{kind.module.__name__}({', '.join(parts)})"


def _same(a, b) -> bool:
    if isinstance(a, (tuple, list)) or isinstance(b, (tuple, list)):
        return list(a) == list(b) if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)) else False
    return type(a) is type(b) and a == b


class _SliceSyntax(ast.NodeTransformer):
    """`x[(slice(None, None, None), -1)]` (how fx prints an index) -> `x[:, -1]`."""

    @staticmethod
    def _as_slice(node):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "slice"
                and not node.keywords and len(node.args) == 3):
            lower, upper, step = (None if isinstance(a, ast.Constant) and a.value is None else a for a in node.args)
            return ast.Slice(lower, upper, step)
        return node

    def visit_Subscript(self, node):
        self.generic_visit(node)
        index = node.slice
        if isinstance(index, ast.Tuple):
            index.elts = [self._as_slice(e) for e in index.elts]
        else:
            node.slice = self._as_slice(index)
        return node


def _index_syntax(line: str) -> str:
    """One line of fx's code with its indexing written as a person would write it."""
    if "slice(" not in line:
        return line
    indent = line[:len(line) - len(line.lstrip())]
    try:
        tree = ast.parse(line.strip())
    except SyntaxError:
        return line
    return indent + ast.unparse(_SliceSyntax().visit(tree))


_OWN_IMPORT = re.compile(r"from (layerloom(?:\.\w+)+) import (\w+)")


def _own_module_source(import_line: str) -> str | None:
    """The source of an nn.Module class Layerloom itself defines (e.g. ClassToken), for an import line that
    names one: generated code carries such classes inline, so the exported project needs only torch.
    The text is Layerloom's own source, never anything from the graph file. None for other lines."""
    match = _OWN_IMPORT.fullmatch(import_line or "")
    if match is None:
        return None
    module = __import__(match.group(1), fromlist=[match.group(2)])
    obj = getattr(module, match.group(2))
    if not (isinstance(obj, type) and issubclass(obj, nn.Module)):
        return None            # a helper such as opaque_module: the project keeps importing it
    return inspect.getsource(obj).rstrip("\n")


def generated_code(doc, data: dict | None = None) -> str:
    """Readable PyTorch code for the graph: the module's layers and its forward."""
    analysis = analyze(doc, data)
    if analysis.errors:
        raise CompileError(analysis.errors)
    # Code only: the graph is traced without building a module, and its source is not compiled (fx's
    # GraphModule would exec it: minutes for a forward of 10,000 lines). Same text as `model.code`.
    graph = trace_graph(doc, analysis)
    code = graph.python_code(root_module="self", record_func=fx_experimental_config.enrich_profiler_metadata).src
    children = dict.fromkeys(n.target for n in graph.nodes if n.op == "call_module")   # fx's attribute order
    imports = ["import torch", "from torch import nn"]
    definitions: list[str] = []
    for bid in analysis.order:
        kind = get_kind(doc.blocks[bid].kind)
        if kind.code is not None and kind.module is not None:
            line = kind.code(analysis.blocks[bid].params)[0]
            own = _own_module_source(line)
            if own is not None:
                if own not in definitions:
                    definitions.append(own)
            elif line and line not in imports:
                imports.append(line)
    # The graph's name is data: it enters the source only as a string literal (the module docstring).
    lines = [docstring_literal(f"{doc.name}: generated by Layerloom"), *imports, "",
             *(part for d in definitions for part in ("", d, "")), *([""] if definitions else []),
             f"class {class_name_for(doc.name)}(nn.Module):", "    def __init__(self):", "        super().__init__()"]
    for name in children:
        kind = get_kind(doc.blocks[name].kind)
        lines.append(f"        self.{name} = {constructor_source(kind, analysis.blocks[name].params)}")
    body = [_index_syntax(re.sub(r";\s+[\w\s=]+= None\s*$", "", line)) for line in code.strip("\n").splitlines()]
    lines.append("")
    lines.extend("    " + line if line.strip() else "" for line in body)
    return "\n".join(lines) + "\n"
