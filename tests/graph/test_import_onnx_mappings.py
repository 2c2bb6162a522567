"""ONNX files as torch.onnx.export writes them, for layers the first mapper got wrong: a constant added after
a bias-free projection (a position table), one Linear called twice, 1-d pooling, BatchNorm of a volume,
Dropout, and a Gemm whose bias is a 1×N row. Each import computes what onnxruntime computes from the same
file and what the source module computes, at another batch size than the exported one, and holds as many
parameters as the source; what has no block is refused in one sentence, never a traceback."""
from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from layerloom.graph.compiler import compile_graph
from layerloom.graph.importers import ImportFailure, import_source

EXPORTERS = [{"dynamo": False}, {}]
EXPORTER_IDS = ["torchscript", "dynamo"]


def _export(model, x, path, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (x,), str(path), input_names=["x"],
                          **({"dynamic_axes": {"x": {0: "N"}}} if options.get("dynamo") is False else {}), **options)
    return str(path)


def _graph(result):
    graph = compile_graph(result.doc, weights=False).eval()
    graph.load_state_dict(result.state, strict=True)
    return graph


def _same_as_onnxruntime_and_torch(path, model, batch: int, seed: int = 0):
    """Import `path`; its graph, onnxruntime and `model` agree on a random batch of `batch` (negative values
    too), and the graph holds as many parameters as `model`. Returns (result, graph)."""
    result = import_source(path)
    graph = _graph(result)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    shape = session.get_inputs()[0].shape
    x = torch.randn(batch, *shape[1:], generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        got, want = graph(x).numpy(), model.eval()(x).numpy()
    if isinstance(shape[0], str) or shape[0] == batch:      # a file fixed to another batch runs only that one
        np.testing.assert_allclose(got, session.run(None, {"x": x.numpy()})[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert sum(p.numel() for p in graph.parameters()) == sum(p.numel() for p in model.parameters())
    return result, graph


def _cli_import(path, out):
    """`layerloom import` of `path` in a fresh process: (exit status, stderr)."""
    run = subprocess.run([sys.executable, "-m", "layerloom.app.main", "import", str(path), "--out", str(out)],
                         capture_output=True, text=True, timeout=300)
    return run.returncode, run.stderr


# finding 4: a constant added after a MatMul is its bias only where it is one

class PositionAfterProjection(nn.Module):
    """A ViT-style bias-free patch projection plus a learned position table."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(4, 3, bias=False)
        self.pos = nn.Parameter(torch.randn(5, 3))

    def forward(self, x):
        return self.proj(x) + self.pos


class BiasAfterProjection(nn.Module):
    def __init__(self, shape):
        super().__init__()
        self.proj = nn.Linear(4, 3, bias=False)
        self.shift = nn.Parameter(torch.randn(*shape))

    def forward(self, x):
        return torch.relu(self.proj(x) + self.shift)


@pytest.mark.parametrize("options", EXPORTERS, ids=EXPORTER_IDS)
def test_a_position_table_after_a_bias_free_projection_is_a_position_embedding(options, tmp_path):
    torch.manual_seed(0)
    model = PositionAfterProjection()
    path = _export(model, torch.randn(2, 5, 4), tmp_path / "pos.onnx", **options)
    result, _ = _same_as_onnxruntime_and_torch(path, model, 7)
    kinds = {b.kind: b for b in result.doc.blocks.values()}
    assert not kinds["Linear"].params["bias"]
    assert kinds["PositionEmbedding"].params["length"] == 5 and kinds["PositionEmbedding"].params["embed_dim"] == 3
    assert not result.report.opaque


@pytest.mark.parametrize("shape", [(3,), (1, 3), (1, 1, 3)], ids=["N", "1xN", "1x1xN"])
def test_a_constant_that_adds_one_row_after_a_matmul_is_the_linears_bias(shape, tmp_path):
    torch.manual_seed(0)
    model = BiasAfterProjection(shape)
    path = _export(model, torch.randn(2, 5, 4), tmp_path / "bias.onnx", dynamo=False)
    result, _ = _same_as_onnxruntime_and_torch(path, model, 6)
    linear = next(b for b in result.doc.blocks.values() if b.kind == "Linear")
    assert linear.params["bias"] and [b.kind for b in result.doc.blocks.values()] == ["Input", "Linear", "ReLU",
                                                                                       "Output"]


def test_a_constant_of_another_shape_after_a_matmul_stays_a_separate_add(tmp_path):
    """A 5×1 constant (one number per position) is no bias and no position table: an Add of a constant,
    run by onnxruntime, after a Linear without a bias."""
    torch.manual_seed(0)
    model = BiasAfterProjection((5, 1))
    path = _export(model, torch.randn(2, 5, 4), tmp_path / "col.onnx", dynamo=False)
    result = import_source(path)
    graph = _graph(result)
    assert [b.kind for b in result.doc.blocks.values()] == ["Input", "Linear", "Opaque", "ReLU", "Output"]
    assert not next(b for b in result.doc.blocks.values() if b.kind == "Linear").params["bias"]
    x = torch.randn(6, 5, 4, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        np.testing.assert_allclose(graph(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-6)


def test_the_cli_imports_a_position_table_after_a_projection(tmp_path):
    model = PositionAfterProjection()
    path = _export(model, torch.randn(2, 5, 4), tmp_path / "pos.onnx", dynamo=False)
    status, err = _cli_import(path, tmp_path / "pos.loom.json")
    assert status == 0 and "Traceback" not in err, err


def test_weights_that_do_not_fit_their_block_are_refused_in_a_sentence(tmp_path, monkeypatch):
    """Should a mapping hand a block tensors of the wrong shape, the check says which block and operator."""
    import layerloom.graph.importers.onnx_linear as onnx_linear
    monkeypatch.setattr(onnx_linear, "_bias_input", lambda builder, node, add: next(
        i for i in add.input if i != node.output[0]))        # every constant after a MatMul taken as its bias
    path = _export(PositionAfterProjection(), torch.randn(2, 5, 4), tmp_path / "pos.onnx", dynamo=False)
    with pytest.raises(ImportFailure, match=r"^the file's weights do not fit the block \S+ \(from the ONNX MatMul "
                                            r"/proj/MatMul\) \(size mismatch for \S+\.bias.*\): Layerloom cannot "
                                            r"import this part of the file as it is; import the model's model.py "
                                            r"or \.pt2 instead$"):
        import_source(path)


# finding 5: one tensor, two blocks

class CalledTwice(nn.Module):
    def __init__(self):
        super().__init__()
        self.l = nn.Linear(4, 4)
        self.o = nn.Linear(4, 2)

    def forward(self, x):
        return self.o(self.l(torch.relu(self.l(x))))


class TiedHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.e = nn.Embedding(10, 4)
        self.h = nn.Linear(4, 10, bias=False)
        self.h.weight = self.e.weight

    def forward(self, x):
        return self.h(torch.tanh(self.e(x)))


@pytest.mark.parametrize("options", EXPORTERS, ids=EXPORTER_IDS)
def test_a_linear_called_twice_is_refused_as_the_model_py_route_refuses_it(options, tmp_path):
    path = _export(CalledTwice(), torch.randn(2, 4), tmp_path / "twice.onnx", **options)
    with pytest.raises(ImportFailure, match=r"use the same weights \(l\.weight\): a layer called twice, tied weights, "
                                            r"or two equal tensors the exporter merged into one\. Layerloom blocks "
                                            r"own their weights, so they would have to become two blocks with "
                                            r"separate copies that train apart; import the model's model\.py or "
                                            r"\.pt2 instead"):
        import_source(path)


def test_an_embedding_tied_to_its_head_is_refused_even_through_a_transposed_copy(tmp_path):
    """The TorchScript exporter folds the head's transposed weight into a tensor of its own name."""
    path = _export(TiedHead(), torch.randint(0, 10, (2, 6)), tmp_path / "tied.onnx", dynamo=False)
    with pytest.raises(ImportFailure, match=r"^the Gather \S+ and the MatMul \S+ use the same weights"):
        import_source(path)


def test_the_cli_refuses_shared_weights_in_a_sentence(tmp_path):
    path = _export(CalledTwice(), torch.randn(2, 4), tmp_path / "twice.onnx", dynamo=False)
    status, err = _cli_import(path, tmp_path / "twice.loom.json")
    assert status == 1, err                   # the import command's "refused" (2 is an option written wrong)
    assert "Traceback" not in err and err.startswith("layerloom import: the Gemm /l/Gemm and the Gemm /l_1/Gemm use "
                                                     "the same weights (l.weight)")
    assert not (tmp_path / "twice.loom.json").exists()


@pytest.mark.parametrize("options", EXPORTERS, ids=EXPORTER_IDS)
def test_a_fresh_model_whose_equal_ones_and_zeros_the_exporter_merged_imports(options, tmp_path):
    """Both exporters merge equal tensors: two fresh LayerNorms (and BatchNorms) read one `ones` tensor.
    A tensor of one repeated value is copied to each block, which starts the same as the source."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4), nn.ReLU(), nn.Linear(4, 4), nn.LayerNorm(4),
                          nn.BatchNorm1d(4), nn.BatchNorm1d(4))
    path = _export(model, torch.randn(2, 4), tmp_path / "fresh.onnx", **options)
    _same_as_onnxruntime_and_torch(path, model, 5)


# finding 6: pooling and BatchNorm by the input's rank

class Audio(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv1d(2, 4, 3)
        self.p = nn.AvgPool1d(3, stride=2, padding=1, count_include_pad=False)
        self.g = nn.AdaptiveAvgPool1d(1)
        self.l = nn.Linear(4, 2)

    def forward(self, x):
        return self.l(self.g(self.p(torch.relu(self.c(x)))).flatten(1))


class Volume(nn.Module):
    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm3d(2)
        self.l = nn.Linear(2 * 3 * 4 * 5, 3)
        with torch.no_grad():
            self.bn.running_mean.copy_(torch.randn(2))
            self.bn.running_var.copy_(torch.rand(2) + 0.5)
            self.bn.weight.copy_(torch.randn(2))
            self.bn.bias.copy_(torch.randn(2))

    def forward(self, x):
        return self.l(self.bn(x).flatten(1))


@pytest.mark.parametrize("options", EXPORTERS, ids=EXPORTER_IDS)
def test_1d_average_pooling_imports_as_blocks_that_compute_it(options, tmp_path):
    torch.manual_seed(0)
    model = Audio()
    path = _export(model, torch.randn(2, 2, 16), tmp_path / "audio.onnx", **options)
    result, _ = _same_as_onnxruntime_and_torch(path, model, 5)
    assert "AvgPool2d" in [b.kind for b in result.doc.blocks.values()]
    if options.get("dynamo") is False:      # dynamo writes the 1-d pool as Unsqueeze → 2-d pool → Squeeze
        assert not result.report.opaque


def test_batch_norm_of_a_volume_trains_as_the_source_does(tmp_path):
    torch.manual_seed(0)
    model = Volume()
    path = _export(model, torch.randn(2, 2, 3, 4, 5), tmp_path / "volume.onnx", dynamo=False)
    result, graph = _same_as_onnxruntime_and_torch(path, model, 4)
    assert "BatchNorm1d" in [b.kind for b in result.doc.blocks.values()] and not result.report.opaque
    x = torch.randn(6, 2, 3, 4, 5, generator=torch.Generator().manual_seed(2))
    graph.train(), model.train()           # batch statistics per channel over D×H×W, as BatchNorm3d's
    torch.testing.assert_close(graph(x), model(x))
    bn = next(m for m in graph.modules() if isinstance(m, nn.BatchNorm1d))
    torch.testing.assert_close(bn.running_mean, model.bn.running_mean)
    torch.testing.assert_close(bn.running_var, model.bn.running_var)


def _one_operator_file(path, op, shape, opset=17, **attrs):
    node = helper.make_node(op, ["x"], ["y"], name="op", **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *shape])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), str(path))
    return str(path)


def _same_as_onnxruntime(path, result, batch=5):
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal([batch, *session.get_inputs()[0].shape[1:]]).astype(np.float32)
    with torch.no_grad():
        got = _graph(result)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, session.run(None, {"x": x})[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op,shape,kind", [("GlobalAveragePool", [3, 9], "AdaptiveAvgPool2d"),
                                           ("GlobalMaxPool", [3, 9], "AdaptiveMaxPool2d"),
                                           ("GlobalMaxPool", [3, 4, 5], "AdaptiveMaxPool2d"),
                                           ("GlobalAveragePool", [3, 2, 4, 5], "AdaptiveAvgPool2d")])
def test_a_global_pool_of_any_rank_is_a_pool_block(op, shape, kind, tmp_path):
    path = _one_operator_file(tmp_path / "pool.onnx", op, shape)
    result = import_source(path)
    assert kind in [b.kind for b in result.doc.blocks.values()] and not result.report.opaque
    _same_as_onnxruntime(path, result)


def test_a_3d_pool_runs_through_onnxruntime_saying_why(tmp_path):
    path = _one_operator_file(tmp_path / "pool3.onnx", "MaxPool", [2, 4, 4, 4], kernel_shape=[2, 2, 2])
    result = import_source(path)
    assert result.report.opaque[0]["reason"].startswith("no block computes a MaxPool over 3 dimensions")
    assert "Reshape" not in result.report.opaque[0]["reason"]
    _same_as_onnxruntime(path, result)


# finding 12: Dropout keeps its ratio

def test_a_dropout_exported_for_training_is_a_dropout_block_with_its_ratio(tmp_path):
    """torch writes a Dropout only when exporting for training (an evaluation export drops it)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.3), nn.Linear(4, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(2, 4),), str(tmp_path / "drop.onnx"), dynamo=False,
                          training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False, input_names=["x"],
                          dynamic_axes={"x": {0: "N"}})
    result = import_source(str(tmp_path / "drop.onnx"), fidelity=False)   # onnxruntime drops at random there
    drop = next(b for b in result.doc.blocks.values() if b.kind == "Dropout")
    assert drop.params["p"] == pytest.approx(0.3)
    graph = _graph(result)
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(graph(x), model.eval()(x))
    assert sum(p.numel() for p in graph.parameters()) == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("opset", [11, 13])
def test_a_dropout_of_an_evaluation_file_keeps_its_ratio_and_computes_as_onnxruntime(opset, tmp_path):
    """Before opset 12 the ratio is an attribute, from 12 on an input."""
    ratio = numpy_helper.from_array(np.array(0.25, np.float32), "ratio")
    node = (helper.make_node("Dropout", ["x"], ["y"], name="drop", ratio=0.25) if opset < 12 else
            helper.make_node("Dropout", ["x", "ratio"], ["y"], name="drop"))
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [ratio] if opset >= 12 else [])
    path = str(tmp_path / "drop.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)
    result = import_source(path)
    assert [(b.kind, b.params.get("p")) for b in result.doc.blocks.values()][1] == ("Dropout", 0.25)
    _same_as_onnxruntime(path, result)


# finding 10: a Gemm's bias given as a 1×N row (torch writes N; other tools write 1×N)

@pytest.mark.parametrize("c_shape", [(1, 3), (3,), (1,), (1, 1)])
def test_a_gemm_bias_that_adds_one_row_is_the_linears_bias(c_shape, tmp_path):
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((3, 4)).astype(np.float32), "fc.weight"),
             numpy_helper.from_array(rng.standard_normal(c_shape).astype(np.float32), "fc.bias")]
    node = helper.make_node("Gemm", ["x", "fc.weight", "fc.bias"], ["y"], transB=1, name="fc")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])], inits)
    path = str(tmp_path / "gemm.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    result = import_source(path)
    linear = result.doc.blocks["fc"]
    assert linear.kind == "Linear" and linear.params["bias"] and tuple(result.state["fc.bias"].shape) == (3,)
    _same_as_onnxruntime(path, result, batch=7)
