"""Whether a traced model's shapes follow the batch size, as a graph's blocks do.

torch.fx traces on a batch of 2, so a size written into the model that happens to be 2 looks like
the batch: `x.reshape(x.size(1), x.size(0), -1)` on 2×3 samples reads as a Reshape to (2, 3) there,
while on a batch of 4 the model mixes samples and the block would not. Running the traced graph
again on a batch of 3 shows each tensor's shape there; every one a block gives must be the same
shape with 3 in front, or the import is refused at the first call that differs.

An import through torch.export (a .pt2 file, or a model torch.fx cannot trace) is checked on outputs:
the imported graph and the source (the program, or the model) run on a batch of 3, and differing
results refuse the import. A program exported for one batch size B does not run on another: the graph
runs on 2B samples (3 for B = 1) and the program on them B at a time, and the results must agree.
"""
from __future__ import annotations


import torch

from ..quoting import shown
from .report import ImportFailure

OTHER_BATCH = 3
CHECK_BYTES = 2 * 2**30     # the largest tensor of a batch an import is traced or checked on


def check_batch_follows(gm, builder, input_shape, dtype, recorder_class) -> None:
    """Raise ImportFailure where a block's result would not follow the batch size (see above)."""
    from .fx_import import _innermost, _op_text
    from .shape_run import record_shapes
    example = (torch.randn(OTHER_BATCH, *input_shape) if dtype.is_floating_point
               else torch.zeros(OTHER_BATCH, *input_shape, dtype=dtype))
    recorder = record_shapes(gm, example, recorder_class)
    if recorder is None:
        recorder = recorder_class(gm)
        try:
            with torch.no_grad():
                recorder.run(example)
        except Exception as exc:
            raise _not_on_other_batch(exc, 2, OTHER_BATCH) from None
    for node in gm.graph.nodes:
        if node not in builder.out_of or node.op in ("placeholder", "output"):
            continue
        seen, there = builder.info.get(node), recorder.info.get(node)
        if not seen or seen[0] != "tensor":
            continue
        want = (OTHER_BATCH, *seen[1][1:])
        if there is None or there[0] != "tensor" or tuple(there[1]) != want:
            got = list(there[1]) if there and there[0] == "tensor" else "no tensor"
            where = _innermost(node)
            raise ImportFailure(
                f"{shown(_op_text(node), 80)}{' in ' + shown(where, 80) if where else ''} gives {list(seen[1])} "
                f"on a batch of 2 but {got} on a batch of {OTHER_BATCH}, not {list(want)}: it reads a size "
                "that is not the batch as the batch (a fixed 2, or x.size(1)), so as a block it would compute "
                "something else; write the batch dimension as x.size(0) or -1")


def _not_on_other_batch(exc: Exception, batch: int, other: int) -> ImportFailure:
    first = next((line for line in str(exc).splitlines() if line.strip()), "")
    return ImportFailure(f"the model runs on a batch of {batch} but not on a batch of {other} ({type(exc).__name__}: "
                         f"{shown(first, 200)}); a graph runs on any batch size, so write the batch size as x.size(0) "
                         f"or -1 where the model fixes it (view({batch}, -1))")


def other_batch(batch: int) -> int:
    """The batch an import is checked on besides the one the source was traced or exported with."""
    return OTHER_BATCH if batch != OTHER_BATCH else OTHER_BATCH + 2


def check_outputs_follow(doc, state: dict, run_source, input_shape, dtype: str, batch: int,
                         fixed_batch_ok: bool = True) -> float | None:
    """Run the imported graph and the source (`run_source(x)`) on one input of another batch size and
    raise ImportFailure where they differ. Returns the largest difference, or None when the source itself
    does not run on that batch and `fixed_batch_ok` (a program exported for one batch size fixes it)."""
    from ..compiler import CompileError, compile_graph
    from .fx_import import _max_difference
    other = other_batch(batch)
    x = _example(other, input_shape, dtype, seed=OTHER_BATCH)
    try:
        with torch.no_grad():
            expected = run_source(x.clone())
    except Exception as exc:
        if fixed_batch_ok:
            return None
        raise _not_on_other_batch(exc, batch, other) from None
    try:
        graph = compile_graph(doc, weights=False).eval()
    except CompileError:
        return None                  # the fidelity check names what does not compile
    graph.load_state_dict(state, strict=False)
    with torch.no_grad():
        got = graph(x.clone())
    diff = _max_difference(expected, got)
    scale = max((float(t.abs().max()) for t in _tensors(expected) if t.numel()), default=0.0)
    if diff is not None and diff <= 1e-4 * max(1.0, scale):
        return diff
    what = (f"results that differ from the source's by up to {diff:.3g}" if diff is not None else
            f"results of shape {_shapes(got)} where the source gives {_shapes(expected)}")
    raise ImportFailure(
        f"on a batch of {other} (the import saw a batch of {batch}) the imported graph gives {what}: the source treats "
        f"its batch size of {batch} as a fixed size (such as view({batch}, -1, 4) or unsqueeze(0)) or mixes samples"
        ", which a graph's blocks never do; write the batch dimension as x.size(0) or -1 (and export with a "
        "dynamic batch, torch.export.Dim) and import again")


def check_in_batches(doc, state: dict, run_source, input_shape, dtype: str, batch: int) -> tuple[int, float | None]:
    """For a source that runs on a batch of `batch` only (a program exported for one batch size): run the graph
    on twice as many samples (3 for a batch of 1) and the source on them `batch` at a time, and raise
    ImportFailure where the results differ. Returns (that batch, the largest difference), or (it, None) when
    the source's results cannot be joined sample by sample or that batch would take too much memory."""
    from ..compiler import CompileError, compile_graph
    from .fx_import import _max_difference
    other = 3 if batch == 1 else 2 * batch
    try:
        check_affordable(doc, other)
        graph = compile_graph(doc, weights=False).eval()
    except (ImportFailure, CompileError):
        return other, None
    graph.load_state_dict(state, strict=False)
    x = _example(other, input_shape, dtype, seed=other)
    with torch.no_grad():
        try:
            parts = [_tensors(run_source(x[i:i + batch].clone())) for i in range(0, other, batch)]
            expected = [torch.cat([p[k] for p in parts]) for k in range(len(parts[0]))]
        except Exception:
            return other, None
        got = graph(x.clone())
    diff = _max_difference(expected, got if torch.is_tensor(got) else list(got))
    scale = max((float(t.abs().max()) for t in expected if t.numel()), default=0.0)
    if diff is not None and diff <= 1e-4 * max(1.0, scale):
        return other, diff
    what = (f"results that differ by up to {diff:.3g} from" if diff is not None else
            f"results of shape {_shapes(got)} where joining")
    raise ImportFailure(
        f"the program runs on a batch of {batch} only; on {other} samples the imported graph gives {what} the "
        f"program's results for them, {batch} at a time: the program mixes the samples of its batch or reads its "
        f"batch size of {batch} as a fixed size (such as view({batch}, -1)), which a graph's blocks never do; write "
        "the batch dimension as x.size(0) or -1, export with a dynamic batch (torch.export.Dim) and import again")


def _example(batch: int, input_shape, dtype: str, seed: int) -> torch.Tensor:
    """A random input of `batch` samples (zeros for token ids: every vocabulary has id 0)."""
    torch_dtype = getattr(torch, dtype)
    if not torch_dtype.is_floating_point:
        return torch.zeros((batch, *input_shape), dtype=torch_dtype)
    return torch.randn((batch, *input_shape), generator=torch.Generator().manual_seed(seed))


def _shapes(value) -> str:
    return ", ".join(str(list(t.shape)) for t in _tensors(value)) or "no tensor"


def _tensors(value) -> list:
    return [value] if torch.is_tensor(value) else [v for v in value if torch.is_tensor(v)] \
        if isinstance(value, (tuple, list)) else []


def samples_apart_note(graph, doc, input_shape, dtype: str) -> str | None:
    """A note when the compiled `graph` gives a sample a result that depends on the rest of its batch, else
    None. Mapped blocks never do; an Opaque block (a submodule kept whole, an ONNX operator run by
    onnxruntime) runs the source as it is and may work across the batch (`x - x.mean(0)`, CumSum over
    axis 0): the graph then does what the source does, which the person should know before training it."""
    opaque = [b for b in doc.blocks.values() if b.kind == "Opaque"]
    if not opaque:
        return None
    x = _example(OTHER_BATCH, input_shape, dtype, seed=OTHER_BATCH + 1)
    try:
        with torch.no_grad():
            whole, again = _tensors(graph(x.clone())), _tensors(graph(x.clone()))
            alone = [_tensors(graph(x[i:i + 1].clone())) for i in range(OTHER_BATCH)]
    except Exception:
        return None          # a graph that does not run on these batches: the other checks say why
    names = ", ".join(shown(_opaque_name(b), 60) for b in opaque[:4]) + (", …" if len(opaque) > 4 else "")
    if len(again) != len(whole) or not all(_same(a, b) for a, b in zip(whole, again)):
        return (f"the graph gives another result each time it runs on the same input, as the source does: an Opaque "
                f"block ({names}) draws random numbers also in evaluation, so its outputs cannot match the source's "
                "run for run; make that part random only while training (if self.training) if that is not meant")
    for k, result in enumerate(whole):
        parts = [a[k] for a in alone]
        if result.dim() and all(p.shape[1:] == result.shape[1:] for p in parts):
            joined = torch.cat(parts)
            if joined.shape == result.shape and torch.allclose(joined, result, rtol=1e-4, atol=1e-5):
                continue
        return (f"a sample's result depends on the other samples of its batch, as in the source: an Opaque block "
                f"({names}) works across the batch, where blocks handle each sample on its own; predictions then "
                "change with the batch they are made in: change that part of the model to work within each sample "
                "(dims after the batch) if that is not meant")
    return None


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal, NaN for NaN."""
    return a.shape == b.shape and (torch.equal(a, b) or a.is_floating_point() and
                                   torch.allclose(a, b, rtol=0, atol=0, equal_nan=True))


def _opaque_name(block) -> str:
    kwargs = block.params.get("kwargs") or {}
    op = kwargs.get("op_type") if isinstance(kwargs, dict) else None
    target = str(block.params.get("target", ""))
    return f"{block.id}: ONNX {op}" if op else f"{block.id}: {target.rpartition(':')[2].rpartition('.')[2]}"


def byte_text(n: int) -> str:
    return f"{n / 2**30:,.1f} GiB" if n >= 2**30 else f"{n / 2**20:,.1f} MiB"


def check_affordable(doc_or_shape, batch: int, dtype: str = "float32") -> None:
    """Refuse, before anything is allocated, an import whose input (a shape) or whose graph's largest tensor (a
    document) on a batch of `batch` would take more than CHECK_BYTES: a 3×20000×20000 input gives ResNet a
    first activation of 100 GB, which the check on real tensors would try to hold."""
    import math
    if isinstance(doc_or_shape, (tuple, list)):
        what, size = "the input", math.prod(doc_or_shape) * torch.empty((), dtype=getattr(torch, dtype)).element_size()
        shape = doc_or_shape
    else:
        from ..analysis import analyze
        shapes = [(math.prod(b.output_shape), bid, b.output_shape) for bid, b in analyze(doc_or_shape).blocks.items()
                  if b.output_shape is not None and b.kind != "Output"]
        elements, bid, shape = max(shapes, key=lambda s: s[0], default=(0, "", ()))    # the first of the largest
        what, size = f"the result of {bid}", elements * 4
    need = size * batch
    if need > CHECK_BYTES:
        raise ImportFailure(f"checking the import runs the model on a batch of {batch}, where {what} "
                            f"({'×'.join(map(str, shape))} a sample) would take {byte_text(need)}, more than "
                            f"the {byte_text(CHECK_BYTES)} Layerloom allows; import with a smaller input shape (a "
                            "convolutional model's weights do not depend on it) and set the Input block's shape "
                            "afterwards")
