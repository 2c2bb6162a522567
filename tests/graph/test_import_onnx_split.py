"""A Slice of one dimension after the batch, with a step of 1 and constant bounds, and a Split, become Narrow
blocks (they were Opaque blocks run by onnxruntime, through which no gradient flows, and a Split was refused):
bounds clamped as ONNX clamps them, results equal to onnxruntime's on the same file. Any other Slice stays an
Opaque block and still computes what onnxruntime computes."""
from __future__ import annotations

import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from hypothesis import assume, given, settings, strategies as st
from onnx import TensorProto, helper, numpy_helper

from layerloom.graph.compiler import compile_graph
from layerloom.graph.importers import import_source

EXAMPLES = 300 if os.environ.get("LAYERLOOM_LONG") else 25
BIG = 2**63 - 1


def _file(path, node, opset: int = 17, **constants):
    inits = [numpy_helper.from_array(np.array(v, np.int64), k) for k, v in constants.items()]
    nodes = [node, helper.make_node("Relu", [node.output[-1]], ["y"], name="relu")]
    nodes += [helper.make_node("Sigmoid", [o], [f"{o}_y"], name=f"sig_{o}") for o in node.output[:-1]]
    outputs = ["y", *(f"{o}_y" for o in node.output[:-1])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, 7])],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), str(path))
    return str(path)


def _kinds_running_as_onnxruntime(path) -> list[str]:
    result = import_source(path)
    graph = compile_graph(result.doc, weights=False).eval()
    graph.load_state_dict(result.state, strict=True)
    x = np.random.default_rng(0).standard_normal((3, 4, 7)).astype(np.float32)
    expected = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"x": x})
    with torch.no_grad():
        got = graph(torch.from_numpy(x))
    for g, e in zip(got if isinstance(got, (tuple, list)) else [got], expected):
        np.testing.assert_allclose(g.numpy(), e, rtol=0, atol=1e-6)
    return [b.kind for b in result.doc.blocks.values()]


@settings(derandomize=True, max_examples=EXAMPLES, deadline=None, database=None)
@given(start=st.sampled_from([-BIG, BIG]) | st.integers(-9, 9), end=st.sampled_from([-BIG, BIG]) | st.integers(-9, 9),
       axis=st.sampled_from([1, 2, -1, -2]), with_step=st.booleans())
def test_a_slice_of_one_dimension_is_a_narrow_block_with_onnxs_bounds(tmp_path_factory, start, end, axis,
                                                                        with_step):
    size = 4 if axis % 3 == 1 else 7
    first, stop = (min(max(v + size if v < 0 else v, 0), size) for v in (start, end))
    assume(stop > first)         # an empty result is no Narrow (and has no block)
    names = ["x", "starts", "ends", "axes"] + (["steps"] if with_step else [])
    node = helper.make_node("Slice", names, ["s"], name="slice")
    path = _file(tmp_path_factory.mktemp("slice") / "slice.onnx", node, starts=[start], ends=[end], axes=[axis],
                 **({"steps": [1]} if with_step else {}))
    assert _kinds_running_as_onnxruntime(path) == ["Input", "Narrow", "ReLU", "Output"]


@pytest.mark.parametrize("case", ["step 2", "two axes"])
def test_any_other_slice_after_the_batch_stays_opaque_and_computes_as_onnxruntime(tmp_path, case):
    constants = {"step 2": dict(starts=[0], ends=[7], axes=[2], steps=[2]),
                 "two axes": dict(starts=[1, 2], ends=[3, 6], axes=[1, 2])}[case]
    node = helper.make_node("Slice", ["x", *constants], ["s"], name="slice")
    assert _kinds_running_as_onnxruntime(_file(tmp_path / "slice.onnx", node, **constants)) == \
        ["Input", "Opaque", "ReLU", "Output"]


@pytest.mark.parametrize("axes", [[0], None], ids=["axis 0", "no axes"])
def test_a_slice_of_the_batch_is_no_narrow_and_is_refused_as_before(tmp_path, axes):
    """(Without axes a Slice cuts dimensions from the first on: the batch.)"""
    from layerloom.graph.importers import ImportFailure
    constants = dict(starts=[1], ends=[3], **({"axes": axes} if axes else {}))
    node = helper.make_node("Slice", ["x", *constants], ["s"], name="slice")
    with pytest.raises(ImportFailure, match="an operator drops or changes the batch dimension"):
        import_source(_file(tmp_path / "slice.onnx", node, **constants))


@pytest.mark.parametrize("opset, how, lengths", [(18, {"num_outputs": 3}, [3, 3, 1]), (18, {"num_outputs": 2}, [4, 3]),
                                                 (13, {"split": [2, 5]}, [2, 5]), (11, {"split": [6, 1]}, [6, 1]),
                                                 (13, {}, None)])
def test_a_split_gives_a_narrow_block_for_each_result(tmp_path, opset, how, lengths):
    """Split into n equal parts (opset 18: ⌈7/n⌉ each, the last smaller), by sizes given as an input (13) or an
    attribute (before), or in parts that must be equal (7 does not split in two: refused as before)."""
    inputs, constants, attrs = ["x"], {}, {"axis": 2}
    if "split" in how and opset >= 13:
        inputs.append("sizes")
        constants["sizes"] = how["split"]
    else:
        attrs.update(how)
    node = helper.make_node("Split", inputs, ["a", "b", "c"][:len(lengths or [1, 1])], name="split", **attrs)
    path = _file(tmp_path / "split.onnx", node, opset, **constants)
    if lengths is None:
        from layerloom.graph.importers import ImportFailure
        with pytest.raises(ImportFailure, match="gives 2 results where an Opaque block gives one"):
            import_source(path)
        return
    kinds = _kinds_running_as_onnxruntime(path)
    assert kinds.count("Narrow") == len(lengths) and "Opaque" not in kinds
    result = import_source(path, fidelity=False)
    narrows = [b.params for b in result.doc.blocks.values() if b.kind == "Narrow"]
    assert [(p["dim"], p["length"]) for p in narrows] == [(2, n) for n in lengths]


class _Chunks(torch.nn.Module):
    """A ShuffleNet V2 unit in small: half the channels pass, half go through a convolution."""

    def __init__(self):
        super().__init__()
        self.stem, self.branch = torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        a, b = self.stem(x).chunk(2, dim=1)
        return torch.cat([a, self.branch(b).relu()], dim=1).flatten(1)


def test_the_dynamo_exporters_chunk_a_split_imports_as_narrow_blocks_that_train(tmp_path):
    """It was refused: "Split ... gives 2 results where an Opaque block gives one"."""
    import logging
    import warnings
    torch.manual_seed(0)
    model, path = _Chunks().eval(), tmp_path / "chunks.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            torch.onnx.export(model, (torch.randn(2, 3, 6, 6),), str(path), dynamo=True, opset_version=18,
                              input_names=["x"], external_data=False, verbose=False,
                              dynamic_shapes=({0: torch.export.Dim("N")},))
        finally:
            logging.disable(logging.NOTSET)
    assert "Split" in {n.op_type for n in onnx.load(str(path)).graph.node}
    result = import_source(str(path))
    assert [b.kind for b in result.doc.blocks.values()].count("Narrow") == 2 and result.report.opaque == []
    graph = compile_graph(result.doc, weights=False).eval()
    graph.load_state_dict(result.state, strict=True)
    x = torch.randn(3, 3, 6, 6, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(graph(x), model(x), rtol=1e-5, atol=1e-5)
    graph(x).square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in graph.parameters())
