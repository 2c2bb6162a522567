"""An ONNX import checked against the file: the imported graph and onnxruntime run the same random batch
(3 samples, or the batch the file is fixed to), and every result must agree in shape, keep the batch
first, and (the figure in the report) in value.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .batch_check import check_affordable, samples_apart_note
from .onnx_file import first_line as _first_line
from ..quoting import shown
from .report import ImportFailure

FIDELITY_BYTES = 2 * 2**30   # the input and output of the batch an import is checked on


def onnx_fidelity(doc, state, path, report=None, seed: int = 0) -> float:
    """Max |difference| between the imported graph and onnxruntime on the same random input."""
    import onnxruntime as ort
    from ..compiler import CompileError, compile_graph
    try:
        gm = compile_graph(doc, weights=False).eval()
    except CompileError as exc:
        raise ImportFailure(f"the imported graph does not compile: {'; '.join(d.text for d in exc.diagnostics)}"
                            ) from None
    try:
        gm.load_state_dict(state, strict=True)
    except RuntimeError as exc:        # a mapping that gave a block tensors of other shapes: say which, no traceback
        raise ImportFailure(_misfit(exc, state, report)) from None
    name, shape, dtype = gm.meta["layerloom"]["inputs"][0]
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        fixed = session.get_inputs()[0].shape[0]
    except Exception as exc:
        raise ImportFailure(f"onnxruntime cannot load {path} to check the import ({_first_line(exc)})") from None
    batch = fixed if isinstance(fixed, int) and fixed > 0 else 3     # a file exported for batch 1 runs batch 1
    need = batch * math.prod(shape) * 4 * 2
    if need > FIDELITY_BYTES:
        raise ImportFailure(f"the graph's input is {'×'.join(map(str, shape))}: checking the import on a batch of "
                            f"{batch} would take {need / 2**30:,.1f} GB; Layerloom imports inputs of at most "
                            f"{FIDELITY_BYTES // 2**30} GB a batch")
    check_affordable(doc, batch)       # onnxruntime and the graph hold every tensor of that batch
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand((batch, *shape), generator=g) if dtype == "float32"
         else torch.randint(0, 2, (batch, *shape), generator=g))
    if dtype != "float32":
        emb = [m for m in gm.modules() if isinstance(m, torch.nn.Embedding)]
        high = min(m.num_embeddings for m in emb) if emb else 2
        x = torch.randint(0, high, (batch, *shape), generator=g)
    try:
        expected = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    except Exception as exc:
        raise ImportFailure(f"onnxruntime cannot run {path} to check the import ({_first_line(exc)})") from None
    try:
        with torch.no_grad():
            got = gm(x)
    except Exception as exc:           # shapes that analysis accepts on meta tensors, values torch refuses
        raise ImportFailure(f"the imported graph does not run on a batch of {batch} ({_first_line(exc)}); Layerloom "
                            "cannot import this file as it is") from None
    got = [t.numpy() for t in (got if isinstance(got, (tuple, list)) else [got])]     # one per Output block
    if len(got) != len(expected):
        raise ImportFailure(f"the imported graph gives {len(got)} results where the file gives {len(expected)}; "
                            "Layerloom cannot import this file as it is")
    diff = 0.0
    for want, have in zip(expected, got):
        if not want.shape or want.shape[0] != batch:
            raise ImportFailure(f"the file's result has the shape {list(want.shape)} for a batch of {batch}: an "
                                "operator drops or changes the batch dimension, which no block does; keep the batch "
                                "first in the model's result and export it again")
        if have.shape != want.shape:          # a mapping gap: say so, never a traceback
            raise ImportFailure(f"the imported graph gives results of shape {list(have.shape[1:])} where the file "
                                f"gives {list(want.shape[1:])}; Layerloom cannot import this file as it is")
        diff = max(diff, float(np.abs(want - have).max()) if want.size else 0.0)
    note = samples_apart_note(gm, doc, shape, dtype)
    if note and report is not None:
        report.notes.append(note)
    if report is not None:
        report.fidelity.update({"max_abs_diff": diff, "strict_load": True, "reference": "onnxruntime"})
    return diff


def _misfit(exc, state, report) -> str:
    """The sentence for weights that do not fit the imported blocks: the first block and the ONNX operator
    it came from, as the report names them."""
    text = str(exc)
    bid = next((k.split(".", 1)[0] for k in state if f"for {k}:" in text or f'"{k}"' in text), None)
    node = next((n for n in (report.nodes if report is not None else []) if bid and n.get("block") == bid), None)
    where = (f"the block {bid} (from the ONNX {node['op']} {shown(node['node'] or '', 80)})" if node else
             f"the block {bid}" if bid else "a block")
    detail = next((line.strip() for line in reversed(text.splitlines()) if line.strip()), type(exc).__name__)
    return (f"the file's weights do not fit {where} ({shown(detail, 200)}): Layerloom cannot import this part of "
            "the file as it is; import the model's model.py or .pt2 instead")
