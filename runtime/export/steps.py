"""The sequence (time) axis of an export: any length where the graph takes any length, else fixed, saying why.

A graph reads a sequence when it holds a recurrent, embedding or attention block and its Input's sample is
T token ids or T×F; the steps are then the sample's first axis. The exported model takes any number of
steps when the PyTorch model itself runs on other lengths (a Flatten then a Linear after the sequence
does not) and the exported file gives the PyTorch model's outputs at two other lengths, one shorter and
one longer; otherwise it keeps the Input's length and its note says why: the block that fails on another
length (its id and kind) and what to change in it.
"""
from __future__ import annotations

import re

import torch
from torch import fx

from .onnx_limits import first_line, run_failure

SEQUENCE_KINDS = frozenset({"RNN", "LSTM", "GRU", "Embedding", "MultiheadAttention"})
MAX_STEPS = 65536


def sequence_steps(src) -> int | None:
    """The Input's number of steps when the graph reads a sequence (its Input is T token ids or T×F), else
    None: an image (C×H×W) that becomes a sequence of patches inside the graph keeps its size."""
    if not 1 <= len(src.input_shape) <= 2 or not any(b.kind in SEQUENCE_KINDS for b in src.doc.blocks.values()):
        return None
    return int(src.input_shape[0])


def other_lengths(steps: int) -> tuple[int, int]:
    """A shorter and a longer length to check an export at (two longer ones for a single step)."""
    return (steps // 2, 2 * steps + 1) if steps > 1 else (2, 3)


def export_steps(steps: int) -> int:
    """The length of the example an exporter traces: torch treats a size of 1 as fixed."""
    return max(steps, 2)


def steps_dim():
    return torch.export.Dim("steps", min=1, max=MAX_STEPS)


def fixed_reason(src, steps: int) -> str | None:
    """Why the PyTorch model takes only `steps` steps (it fails on another length), or None. The reason names
    the block that fails, with what to change there for any length to run."""
    for n in (*other_lengths(steps), export_steps(steps)):
        if n == steps:
            continue
        where = _Where(src.model)
        try:
            with torch.no_grad():
                where.run(src.probe(2, steps=n))
        except Exception as exc:
            block = where.block(src.doc)
            advice = f": {_advice(src, block, steps)}" if block is not None else ""
            return f"the graph does not run on {_steps(n)} ({first_line(exc)}){advice}"
    return None


class _Where(fx.Interpreter):
    """Runs the model and remembers the node it is at: where it fails."""
    node = None

    def run_node(self, n):
        self.node = n
        return super().run_node(n)

    def block(self, doc) -> str | None:
        """The block the node computes for (node names are block ids, or `<id>_outputs`, `<id>_1`...)."""
        if self.node is None:
            return None
        name = str(self.node.target) if self.node.op == "call_module" else self.node.name
        match = _STEP_NAME.fullmatch(name)
        name = match.group(1) if name not in doc.blocks and match else name
        return name if name in doc.blocks else None


_STEP_NAME = re.compile(r"(.+)_(outputs|sequence|\d+)")


def _upstream(doc, bid: str, kinds) -> str | None:
    """The nearest block of one of `kinds` that feeds `bid`, directly or through others."""
    into: dict[str, list[str]] = {}
    for e in doc.edges:
        into.setdefault(e.dst, []).append(e.src)
    seen, todo = set(), list(into.get(bid, ()))
    while todo:
        b = todo.pop(0)
        if b in seen:
            continue
        seen.add(b)
        if doc.blocks[b].kind in kinds:
            return b
        todo += into.get(b, ())
    return None


def _advice(src, bid: str, steps: int) -> str:
    """The block `bid` (id and kind) and what to change in it so that the graph runs on any length."""
    kind = src.doc.blocks[bid].kind
    named = f"block {bid} ({kind})"
    module = src.model.get_submodule(bid) if bid in dict(src.model.named_children()) else None
    held = f"which holds the Input's {_steps(steps)}"
    if kind == "Linear":
        flatten = _upstream(src.doc, bid, {"Flatten", "Reshape"})
        if flatten is None:          # e.g. a Permute that puts the steps on the axis a Linear acts on
            return (f"{named} acts on an axis that holds the Input's {_steps(steps)}: to take any number of "
                    "steps, keep the steps off its input's last axis")
        recurrent = _upstream(src.doc, bid, {"RNN", "LSTM", "GRU"})
        one = (f"set {recurrent}'s output to \"last\" (or pool over the steps)" if recurrent else
               "bring the steps down to one before it (a Select of one step, or pooling over the steps)")
        return (f"{named} takes the features of all the Input's {_steps(steps)} as its own (through the "
                f"{src.doc.blocks[flatten].kind} {flatten}): to take any number of steps, {one} instead of "
                "flattening them")
    if kind == "PositionEmbedding":
        return (f"{named} learns one vector for each of {_steps(steps)}, so the length stays fixed: a model that "
                "takes any length needs no learnt positions")
    if kind == "Reshape":
        return f"{named} has the shape {list(src.doc.blocks[bid].params.get('shape'))}, {held}: write -1 for that axis"
    if kind == "LayerNorm" and module is not None and len(module.normalized_shape) > 1:
        shape = list(module.normalized_shape)
        return (f"{named} normalises over {shape}, {held}: normalise over the last axis only ({shape[-1:]})")
    return (f"{named} runs only on the Input's {_steps(steps)}: change the parameters of it (or of the blocks "
            "before it) that hold the number of steps, or keep the length fixed")


def _steps(n: int) -> str:
    return f"{n} step" if n == 1 else f"{n} steps"


def fixed_note(steps: int, reason: str) -> str:
    return f"sequence length fixed at {_steps(steps)}: {reason}"


def dynamic_note(steps: int) -> str:
    short, long = other_lengths(steps)
    return f"any sequence length (checked at {short}, {steps} and {_steps(long)})"


def length_difference(run, src, steps: int, lengths=None) -> float:
    """The largest difference between `run(x)` and the PyTorch model at `lengths` (the two other lengths)."""
    from .formats import max_difference     # (formats imports this module)

    worst = 0.0
    for n in lengths or other_lengths(steps):
        x = src.probe(3, seed=1, steps=n)
        with torch.no_grad():
            worst = max(worst, max_difference(run(x), src.model(x)))
    return worst


def optimize_with_free_steps(program) -> None:
    """Optimize the exporter's unoptimized `program` (an ONNXProgram traced at a few steps) with its steps
    axis already free.

    torch's exporter optimizes a graph with the traced length known: where one recurrent layer feeds another,
    its optimizer writes the Reshape between them with that length as a constant ([4, -1, 6]) and the file runs
    on the traced length only. Named "steps" on the input, with the shapes the trace recorded dropped and
    inferred again (following the shape arithmetic, so the other sizes stay known), the optimizer keeps every
    size that follows the steps symbolic. Where the shapes cannot be inferred, the traced ones stay and
    free_onnx_steps says whether the file still runs on other lengths."""
    import onnx
    from onnxscript import ir

    proto = program.model_proto
    proto.graph.input[0].type.tensor_type.shape.dim[1].dim_param = "steps"
    del proto.graph.value_info[:]
    for out in proto.graph.output:
        out.type.tensor_type.ClearField("shape")
    try:
        program.model = ir.from_proto(onnx.shape_inference.infer_shapes(proto, data_prop=True))
    except Exception:       # (the traced shapes stay: the result is checked at other lengths all the same)
        pass
    program.optimize()


def free_onnx_steps(model, src, steps: int):
    """(the ONNX model with its steps axis named "steps", None) when onnxruntime runs it on other lengths
    with the PyTorch model's outputs, else (None, why not).

    The exporter traces one length; recurrent layers become ONNX RNN, LSTM and GRU operators, which take
    any length, but the tensors' recorded shapes (and any constant the graph folded) hold the traced one.
    The input's axis and every output axis that follows it get a name, the recorded intermediate shapes
    are inferred again, and onnxruntime checks the result."""
    import onnx
    import onnxruntime as ort

    free = onnx.ModelProto()
    free.CopyFrom(model)
    free.graph.input[0].type.tensor_type.shape.dim[1].dim_param = "steps"
    short, long = other_lengths(steps)
    with torch.no_grad():
        a, b = (_as_list(src.model(src.probe(1, steps=n))) for n in (short, long))
    for i, (out, ya, yb) in enumerate(zip(free.graph.output, a, b)):
        for axis, dim in enumerate(out.type.tensor_type.shape.dim):
            if axis > 0 and ya.shape[axis] != yb.shape[axis]:
                dim.dim_param = "steps" if (ya.shape[axis], yb.shape[axis]) == (short, long) else f"output{i}_{axis}"
    del free.graph.value_info[:]
    try:
        free = onnx.shape_inference.infer_shapes(free, strict_mode=True)
        session = ort.InferenceSession(free.SerializeToString(), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        diff = length_difference(lambda x: session.run(None, {name: x.numpy()}), src, steps,
                                 (short, steps, long))     # the traced length may be none of them
    except Exception as exc:
        return None, f"the ONNX graph does not run on other lengths: {run_failure(exc, free)}"
    from .formats import TOLERANCE
    if not diff <= TOLERANCE:
        return None, f"the ONNX graph gives other outputs on other lengths (max |Δ| {diff:.2e})"
    return free, None


def _as_list(y) -> list:
    return list(y) if isinstance(y, (tuple, list)) else [y]
