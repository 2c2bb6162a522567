"""ONNX files as PyTorch's exporters write them (fixed or dynamic batch, the older TorchScript exporter)
import as graphs that compute what onnxruntime computes from the same file."""
from __future__ import annotations

import warnings

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from layerloom.graph.compiler import compile_graph
from layerloom.graph.importers import ImportFailure, import_source


class Flattening(nn.Module):
    """The classic classifier head: `x.view(x.size(0), -1)` between the convolutions and the Linear."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4 * 6 * 6, 5)

    def forward(self, x):
        return F.softmax(self.fc(F.relu(self.conv(x)).view(x.size(0), -1)), dim=1)


class Twice(nn.Module):
    """The same operator twice at one level: the TorchScript exporter names them /Transpose and /Transpose_1."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return F.relu(self.fc(x).transpose(1, 2)).transpose(1, 2) + F.relu(x)


def _export(model, x, path, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (x,), str(path), **options)
    return path


def _compare(path, batch: int):
    """The imported graph and onnxruntime on one input of `batch` samples."""
    result = import_source(str(path))
    graph = compile_graph(result.doc, weights=False).eval()
    graph.load_state_dict(result.state, strict=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = torch.randn(batch, *session.get_inputs()[0].shape[1:], generator=torch.Generator().manual_seed(0))
    expected = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    with torch.no_grad():
        got = graph(x).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    return result, graph


@pytest.mark.parametrize("options", [{}, {"dynamo": False}, {"dynamo": False, "opset_version": 11}],
                         ids=["dynamo", "torchscript", "torchscript-opset11"])
def test_a_flatten_for_a_fixed_batch_imports_for_any_batch(options, tmp_path):
    model = Flattening().eval()
    path = _export(model, torch.randn(2, 3, 8, 8), tmp_path / "flat.onnx", **options)   # Reshape to [2, -1]
    result, graph = _compare(path, 2)
    assert [b.kind for b in result.doc.blocks.values() if b.kind == "Reshape"] == ["Reshape"]
    x = torch.randn(5, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(graph(x), model(x))        # the graph takes any batch, as the model does


def test_a_flatten_of_a_dynamic_batch_imports(tmp_path):
    path = _export(Flattening(), torch.randn(2, 3, 8, 8), tmp_path / "dyn.onnx", dynamo=False,
                   input_names=["x"], dynamic_axes={"x": {0: "batch"}})   # Reshape to Concat(Shape(x)[0], -1)
    result, _ = _compare(path, 3)
    assert not result.report.opaque


@pytest.mark.parametrize("dynamo", [True, False])
def test_an_operator_used_twice_at_one_level_imports(dynamo, tmp_path):
    path = _export(Twice(), torch.randn(2, 4, 4), tmp_path / "twice.onnx", dynamo=dynamo)
    result, _ = _compare(path, 2)
    assert sum(b.kind == "Permute" for b in result.doc.blocks.values()) == 2


class Reader(nn.Module):
    def __init__(self, layer: type, **options):
        super().__init__()
        self.rnn = layer(4, 6, batch_first=True, **options)
        self.fc = nn.Linear(12 if options.get("bidirectional") else 6, 3)

    def forward(self, x):
        return self.fc(self.rnn(x)[0][:, -1])


@pytest.mark.parametrize("layer,options", [(nn.LSTM, {}), (nn.GRU, {"bidirectional": True}),
                                           (nn.RNN, {"num_layers": 2})], ids=["lstm", "gru-both-ways", "rnn-stacked"])
def test_a_batch_first_recurrent_layer_from_the_torchscript_exporter_imports(layer, options, tmp_path):
    """That exporter reads the time-major input's shape to make the zero initial states."""
    path = _export(Reader(layer, **options), torch.randn(2, 5, 4), tmp_path / "rnn.onnx", dynamo=False)
    result, _ = _compare(path, 2)
    assert not result.report.opaque
    assert sum(b.kind == layer.__name__ for b in result.doc.blocks.values()) == options.get("num_layers", 1)


def _activations():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU6(), nn.Conv2d(4, 4, 1), nn.Hardswish(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 4), nn.Hardsigmoid())


@pytest.mark.parametrize("options", [{}, {"dynamo": False}, {"dynamo": False, "opset_version": 10}],
                         ids=["dynamo", "torchscript", "torchscript-opset10"])
def test_relu6_and_the_hard_activations_import_as_blocks_that_pass_gradients(options, tmp_path):
    """MobileNets export them as Clip(0, 6), HardSwish and HardSigmoid; run by onnxruntime inside an Opaque
    block they would stop every gradient, and training would reach the last layers only."""
    model = _activations().eval()
    path = _export(model, torch.randn(2, 3, 8, 8), tmp_path / "act.onnx", **options)
    result, graph = _compare(path, 2)
    assert not result.report.opaque
    kinds = [b.kind for b in result.doc.blocks.values()]
    assert kinds.count("ReLU6") == 1 and kinds.count("Hardsigmoid") == (2 if options.get("opset_version") else 1)
    assert kinds.count("Hardswish") == (0 if options.get("opset_version") else 1)   # before opset 14: x·HardSigmoid
    grads = []
    for net in (model, graph):
        x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1), requires_grad=True)
        (net(x) * torch.arange(4.0)).sum().backward()
        grads.append(x.grad)
    torch.testing.assert_close(grads[1], grads[0])


@pytest.mark.parametrize("target", [[-1], [-1, 6]])
def test_a_reshape_that_folds_the_batch_into_the_first_dimension_is_refused_for_that(target, tmp_path):
    """`x.reshape(-1)` or `x.reshape(-1, 6)` of a 3×4 sample: the first dimension is no longer the batch."""
    import onnx
    from onnx import TensorProto, helper
    shape = helper.make_tensor("shape", TensorProto.INT64, [len(target)], target)
    graph = helper.make_graph([helper.make_node("Reshape", ["x", "shape"], ["y"], name="flat")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [shape])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "flat.onnx")
    session = ort.InferenceSession(str(tmp_path / "flat.onnx"), providers=["CPUExecutionProvider"])
    assert session.run(None, {"x": np.zeros((2, 3, 4), np.float32)})[0].shape[0] != 2    # what onnxruntime does
    with pytest.raises(ImportFailure, match=r"flat: a Reshape to \[-1.* moves the batch dimension, which no block"):
        import_source(str(tmp_path / "flat.onnx"))


@pytest.mark.parametrize("opset,axis", [(11, 1), (11, None), (11, 2), (13, 1)])
def test_a_softmax_before_opset_13_normalises_over_every_dimension_from_its_axis(opset, axis, tmp_path):
    """Opset 11's Softmax(axis=1) of a 3×4 sample normalises all 12 values together; opset 13's, each column."""
    import onnx
    from onnx import TensorProto, helper
    node = helper.make_node("Softmax", ["x"], ["y"], name="soft", **({} if axis is None else {"axis": axis}))
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3, 4])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), tmp_path / "soft.onnx")
    result, _ = _compare(tmp_path / "soft.onnx", 2)
    softmax_blocks = [b for b in result.doc.blocks.values() if b.kind == "Softmax"]
    assert len(softmax_blocks) == (1 if opset >= 13 or axis == 2 else 0)     # else onnxruntime computes it


@pytest.mark.parametrize("op,attributes", [("MaxPool", {"auto_pad": "SAME_UPPER", "strides": [2, 2]}),
                                           ("AveragePool", {"auto_pad": "SAME_LOWER"}),
                                           ("AveragePool", {"dilations": [2, 2], "pads": [1, 1, 1, 1]}),
                                           ("MaxPool", {"auto_pad": "VALID", "strides": [2, 2]})],
                         ids=["max-same-upper", "average-same-lower", "average-dilated", "max-valid"])
def test_a_pool_padded_by_auto_pad_or_dilated_imports_with_what_it_computes(op, attributes, tmp_path):
    """Files converted from other frameworks pad with auto_pad rather than pads."""
    import onnx
    from onnx import TensorProto, helper
    node = helper.make_node(op, ["x"], ["y"], name="pool", kernel_shape=[3, 3], **attributes)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 7, 7])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)]), tmp_path / "pool.onnx")
    _compare(tmp_path / "pool.onnx", 2)


def test_a_graph_whose_results_have_another_shape_than_the_files_is_refused(tmp_path, monkeypatch):
    """Should a mapping go wrong in shape (here: the pads are dropped), the check says so, not a traceback."""
    import onnx
    from onnx import TensorProto, helper

    import layerloom.graph.importers.onnx_pooling as onnx_pooling      # where pools are mapped
    node = helper.make_node("MaxPool", ["x"], ["y"], name="pool", kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 7, 7])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "pool.onnx")
    monkeypatch.setattr(onnx_pooling, "symmetric_pads", lambda pads, n: [0] * n)
    with pytest.raises(ImportFailure, match=r"gives results of shape \[3, 5, 5\] where the file gives \[3, 7, 7\]"):
        import_source(str(tmp_path / "pool.onnx"))
