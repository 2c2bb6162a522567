"""An Opaque block runs its ONNX operator as a one-operator model in onnxruntime: blocks (and compiles) with the
same operator, attributes and input types share one session, and at most 256 such sessions are kept, the least
recently used going first, while every block still computes what onnxruntime or torch computes."""
from __future__ import annotations

import os
from collections import OrderedDict

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper
from torch.nn import functional as F

from layerloom.graph.compiler import compile_graph
from layerloom.graph.importers import import_source, onnx_opaque
from layerloom.graph.importers.onnx_opaque import OnnxOperator

CAP = 256        # sessions kept, as the module documents it


@pytest.fixture
def made(monkeypatch):
    """An empty session cache for this test, and the list of one-operator models onnxruntime made sessions of."""
    monkeypatch.setattr(onnx_opaque, "_sessions", OrderedDict())
    models, real = [], ort.InferenceSession

    def counting(model, *args, **kwargs):
        models.append(model)
        return real(model, *args, **kwargs)

    monkeypatch.setattr(ort, "InferenceSession", counting)
    return models


def _two_erfs_and_a_celu(path):
    nodes = [helper.make_node("Erf", ["x"], ["a"], name="erf1"), helper.make_node("Relu", ["a"], ["b"], name="relu"),
             helper.make_node("Erf", ["b"], ["c"], name="erf2"),
             helper.make_node("Celu", ["c"], ["y"], name="celu", alpha=0.5)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_opaque_blocks_of_the_same_operator_share_one_session_across_compiles(tmp_path, made):
    path = _two_erfs_and_a_celu(tmp_path / "ops.onnx")
    result = import_source(str(path))
    assert [o["target"] for o in result.report.opaque] == ["ONNX Erf", "ONNX Erf", "ONNX Celu"]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    expected = session.run(None, {"x": x})[0]
    onnx_opaque._sessions.clear()            # the import's own check ran the graph: start again from none
    made.clear()
    graphs = [compile_graph(result.doc, weights=False).eval() for _ in range(2)]
    for graph in graphs:
        graph.load_state_dict(result.state, strict=True)
        with torch.no_grad():
            np.testing.assert_allclose(graph(torch.from_numpy(x)).numpy(), expected, rtol=0, atol=1e-6)
    assert len(made) == 2 and len(set(made)) == 2         # one session for both Erfs of both graphs, one for Celu
    erfs = [next(iter(getattr(g, b)._sessions.values())) for g in graphs for b in result.doc.blocks
            if result.doc.blocks[b].kind == "Opaque" and result.doc.blocks[b].params["kwargs"]["op_type"] == "Erf"]
    assert len(erfs) == 4 and all(s is erfs[0] for s in erfs)


def test_at_most_256_sessions_are_kept_and_each_operator_still_computes_its_own_result(made):
    """Each Elu differs in alpha, so each is its own model: the cache keeps the 256 used last."""
    x = torch.linspace(-3, 3, 12).reshape(3, 4)
    alphas = [0.5 + i / 128 for i in range(CAP + 2)]

    def run(alpha):                          # a new block each time: only the shared cache can hold its session
        got = OnnxOperator("Elu", {"alpha": alpha}, ["x"])(x)
        torch.testing.assert_close(got, F.elu(x, alpha), rtol=0, atol=1e-6)

    for alpha in alphas:
        run(alpha)
    assert len(made) == CAP + 2 and len(onnx_opaque._sessions) == CAP
    run(alphas[2])                           # the oldest kept: used again, it becomes the newest
    assert len(made) == CAP + 2
    run(alphas[0])                           # gone: made again (and still right); alphas[3], now the oldest, goes
    assert len(made) == CAP + 3 and len(onnx_opaque._sessions) == CAP
    run(alphas[2])                           # kept: the least recently used goes, not the first made
    assert len(made) == CAP + 3
    run(alphas[3])
    assert len(made) == CAP + 4


@pytest.mark.skipif(not os.path.isdir("/proc/self/task") or (os.cpu_count() or 1) < 2,
                    reason="counts the process's threads (Linux); one core has no thread pool to leave idle")
def test_kept_sessions_keep_no_idle_threads(made):
    """A session's own thread pool (a thread for each further core) would stay, idle, as long as the session is
    kept: on a 16-core machine 256 kept sessions would hold 3,840 threads. One operator runs in the caller's."""
    x = torch.linspace(-3, 3, 12).reshape(3, 4)
    OnnxOperator("Elu", {"alpha": 0.25}, ["x"])(x)           # onnxruntime's own start, whatever threads it makes once
    before = len(os.listdir("/proc/self/task"))
    for i in range(8):
        got = OnnxOperator("Elu", {"alpha": 0.3 + i / 8}, ["x"])(x)
        torch.testing.assert_close(got, F.elu(x, 0.3 + i / 8), rtol=0, atol=1e-6)
    assert len(made) == 9 and len(os.listdir("/proc/self/task")) == before
