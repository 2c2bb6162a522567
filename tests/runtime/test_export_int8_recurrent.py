"""int8 ONNX exports of recurrent graphs: dynamic quantization fuses an LSTM into one operator (checked on the
real sequential digits) and quantizes a plain RNN as its unrolled steps."""
import onnx

from layerloom.graph import load_graph, save_graph
from layerloom.presets import preset_path
from layerloom.runtime.data import load_dataset
from layerloom.runtime.export import export_model
from layerloom.runtime.trainer import Trainer


def test_lstm_dynamic_quantization_fuses_the_lstm(tmp_path):
    doc = load_graph(preset_path("seq_mnist_lstm"))
    bundle = load_dataset("seq-mnist")
    from layerloom.runtime.data import DataBundle, InMemorySplit
    data = DataBundle(bundle.info, InMemorySplit(bundle.train.images[:1024], bundle.train.labels[:1024]), bundle.val)
    t = Trainer(doc, {"epochs": 1, "batch_size": 64}, None, runs_base=tmp_path, data=data)
    assert t.run() is not None
    src, results = export_model(t.run_dir, ["onnx", "onnx-int8-dynamic"], tmp_path / "out")
    by = {r.format: r for r in results}
    r = by["onnx-int8-dynamic"]
    assert r.verified, r.line()
    ops = {n.op_type for n in onnx.load(str(r.path)).graph.node}
    assert "DynamicQuantizeLSTM" in ops and "LSTM" not in ops
    assert r.size <= 0.35 * by["onnx"].size
    assert abs(r.report["accuracy_drop_points"]) <= 0.5 and r.report["samples"] == len(bundle.val)


def test_a_plain_rnn_is_one_operator_in_fp32_and_quantized_as_its_unrolled_steps_in_int8(tmp_path):
    doc = load_graph(preset_path("rnn_classifier"))
    doc.training["dataset"] = "no-such-set"                 # random inputs: this checks the graph, not accuracy
    path = tmp_path / "rnn.loom.json"
    save_graph(doc, path)
    src, results = export_model(path, ["onnx", "onnx-int8-dynamic"], tmp_path / "out")
    fp32, int8 = results
    assert fp32.verified and int8.verified, (fp32.line(), int8.line())
    fp32_ops = [n.op_type for n in onnx.load(str(fp32.path)).graph.node]
    model = onnx.load(str(int8.path))
    int8_ops = [n.op_type for n in model.graph.node]
    assert fp32_ops.count("RNN") == 1 and "MatMul" not in fp32_ops
    assert "RNN" not in int8_ops and int8_ops.count("MatMulInteger") >= 28     # input and state weights of 28 steps
    int8_shapes = {tuple(i.dims) for i in model.graph.initializer if i.data_type == onnx.TensorProto.INT8}
    assert {(28, 128), (128, 128)} <= int8_shapes or {(128, 28), (128, 128)} <= int8_shapes, int8_shapes
    assert int8.size < fp32.size
