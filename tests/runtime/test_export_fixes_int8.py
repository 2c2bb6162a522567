"""int8 ONNX exports of token models trained on text of any length, of recurrent graphs whose length stays fixed,
and of a grouped ConvTranspose2d: checked with onnxruntime against the fp32 ONNX file and against torch."""
import json
import random

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from layerloom.graph import GraphDocument, load_graph, save_graph
from layerloom.presets import preset_path
from layerloom.runtime.data import load_dataset
from layerloom.runtime.export import FormatFailure, export_model
from layerloom.runtime.export import quantized
from layerloom.runtime.trainer import Trainer

from .trainer_helpers import mnist_small

INT8 = ["onnx", "onnx-int8-dynamic", "onnx-int8-static"]


def short_texts_csv(path, n=160, seed=0):
    """Two classes told apart by their words; texts of 3 to 12 words, far shorter than an Input of 200."""
    rng = random.Random(seed)
    lines = ["text,label"]
    for i in range(n):
        half = (i % 2) * 15
        lines.append(" ".join(f"w{rng.randrange(half, half + 15)}" for _ in range(rng.randrange(3, 13)))
                     + f",{'ab'[i % 2]}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _val(csv):
    """The validation texts as the trainer batches them: left-padded with id 0 to the batch's longest."""
    val = load_dataset("text-csv", path=csv).val
    return val.batch(torch.arange(len(val)))


def _trained(tmp_path, doc, csv, steps=12):
    doc.training["dataset_options"] = {"path": csv, "tokenize": "word"}
    t = Trainer(doc, {"epochs": 1, "max_steps": steps, "batch_size": 16}, None, runs_base=tmp_path / "runs")
    assert t.run() is not None
    return t.run_dir


def test_the_text_gru_preset_trained_on_short_texts_exports_both_int8_formats(tmp_path):
    csv = short_texts_csv(tmp_path / "t.csv")
    run = _trained(tmp_path, load_graph(preset_path("text_gru")), csv)
    src, results = export_model(run, INT8, tmp_path / "out")
    by = {r.format: r for r in results}
    for r in results:
        assert not isinstance(r, FormatFailure), r.line()
        assert r.verified and "\n" not in r.line(), r.line()
    x, y = _val(csv)
    assert x.shape[1] < 200                           # shorter than the Input: the case that failed
    with torch.no_grad():
        torch_pred = src.model(x).argmax(1).numpy()
    fp32 = _session(by["onnx"].path).run(None, {"input": x.numpy()})[0].argmax(1)
    assert (fp32 == torch_pred).all()
    meta = json.loads((tmp_path / "out" / "model.json").read_text())
    for fmt in INT8[1:]:
        session = _session(by[fmt].path)
        assert session.get_inputs()[0].shape[1] == "steps"          # takes any length, as the fp32 file does
        int8 = session.run(None, {"input": x.numpy()})[0].argmax(1)
        agreement = float((int8 == fp32).mean())
        assert agreement >= 0.9, (fmt, agreement)
        report = meta["verification"][fmt]
        assert report["top1_agreement"] == pytest.approx(agreement, abs=1e-9)
        assert report["samples"] == len(y) and report["fixed_steps"] is None
        assert report["sequence_length"].startswith("any sequence length")
        one = np.concatenate([session.run(None, {"input": x[i:i + 1].numpy()})[0].argmax(1) for i in range(len(x))])
        assert float((one == fp32).mean()) >= 0.9          # one text at a time, at its own batch's length
    kept = {n.op_type for n in onnx.load(str(by["onnx-int8-dynamic"].path)).graph.node} & {"GRU", "LSTM", "RNN"}
    assert kept == {"GRU"}                                   # onnxruntime's dynamic flow has no int8 GRU: it says so
    assert any("no int8 GRU: that layer stays fp32" in n for n in by["onnx-int8-dynamic"].notes)


def test_a_plain_rnn_text_model_says_its_int8_length_is_fixed_and_is_checked_on_padded_texts(tmp_path):
    csv = short_texts_csv(tmp_path / "t.csv", seed=1)
    doc = GraphDocument("text rnn")
    ids = [doc.add_block("Input", {"shape": [16], "dtype": "int64"}),
           doc.add_block("Embedding", {"num_embeddings": "auto", "embedding_dim": 8, "padding_idx": 0}),
           doc.add_block("RNN", {"hidden_size": 8, "output": "last"}),
           doc.add_block("Linear", {"out_features": "auto"}),
           doc.add_block("Output")]
    for a, b in zip(ids, ids[1:]):
        doc.connect(a, b)
    doc.training.update({"dataset": "text-csv"})
    run = _trained(tmp_path, doc, csv)
    src, results = export_model(run, INT8, tmp_path / "out")
    by = {r.format: r for r in results}
    meta = json.loads((tmp_path / "out" / "model.json").read_text())
    x, _ = _val(csv)
    padded = torch.cat([torch.zeros(len(x), 16 - x.shape[1], dtype=x.dtype), x], dim=1)   # as training pads
    fp32 = _session(by["onnx"].path).run(None, {"input": padded.numpy()})[0].argmax(1)
    with torch.no_grad():
        assert (fp32 == src.model(padded).argmax(1).numpy()).all()
    for fmt in INT8[1:]:
        r = by[fmt]
        assert not isinstance(r, FormatFailure) and r.verified, r.line()
        assert "sequence length fixed at 16 steps" in r.line() and "padded on the left with token id 0" in r.line()
        report = meta["verification"][fmt]
        assert report["fixed_steps"] == 16 and report["sequence_length"].startswith("sequence length fixed at 16 steps")
        session = _session(r.path)
        assert session.get_inputs()[0].shape[1] == 16
        int8 = session.run(None, {"input": padded.numpy()})[0].argmax(1)
        assert report["top1_agreement"] == pytest.approx(float((int8 == fp32).mean()), abs=1e-9)
        assert report["top1_agreement"] >= 0.9


def test_a_float_lstm_int8_file_takes_any_length_like_its_fp32_file(tmp_path):
    doc = load_graph(preset_path("seq_mnist_lstm"))
    doc.training["dataset"] = "no-such-set"                 # random inputs: this checks the file, not accuracy
    save_graph(doc, tmp_path / "lstm.loom.json")
    _, (fp32, int8) = export_model(tmp_path / "lstm.loom.json", ["onnx", "onnx-int8-dynamic"], tmp_path / "out")
    assert int8.verified and "any sequence length" in int8.line(), int8.line()
    a, b = _session(fp32.path), _session(int8.path)
    assert "DynamicQuantizeLSTM" in {n.op_type for n in onnx.load(str(int8.path)).graph.node}
    for steps in (14, 28, 57):
        x = torch.rand(4, steps, 28, generator=torch.Generator().manual_seed(steps)).numpy()
        ya, yb = a.run(None, {"input": x})[0], b.run(None, {"input": x})[0]
        assert ya.shape == yb.shape and np.abs(ya - yb).max() < 0.05 * np.abs(ya).max() + 1e-3


def test_an_onnxruntime_refusal_while_checking_is_one_line(tmp_path, monkeypatch):
    csv = short_texts_csv(tmp_path / "t.csv")
    doc = GraphDocument("text rnn")
    ids = [doc.add_block("Input", {"shape": [16], "dtype": "int64"}),
           doc.add_block("Embedding", {"num_embeddings": "auto", "embedding_dim": 4}),
           doc.add_block("RNN", {"hidden_size": 4, "output": "last"}),
           doc.add_block("Linear", {"out_features": "auto"}),
           doc.add_block("Output")]
    for a, b in zip(ids, ids[1:]):
        doc.connect(a, b)
    doc.training.update({"dataset": "text-csv", "dataset_options": {"path": csv}})
    save_graph(doc, tmp_path / "g.loom.json")
    monkeypatch.setattr(quantized.Lengths, "__call__", lambda self, x: x)     # texts left at their own length
    _, (failure,) = export_model(tmp_path / "g.loom.json", ["onnx-int8-dynamic"], tmp_path / "out")
    assert isinstance(failure, FormatFailure)
    assert failure.message.startswith("onnxruntime could not check the int8 model") and "\n" not in failure.message


def test_a_grouped_conv_transpose_is_quantized_per_tensor_by_the_static_format(tmp_path):
    doc = GraphDocument("grouped up")
    last = doc.add_block("Input", {"shape": [1, 28, 28]})
    for kind, params in (("Conv2d", {"out_channels": 4, "kernel_size": 3, "stride": 2}), ("ReLU", {}),
                         ("ConvTranspose2d", {"out_channels": 4, "kernel_size": 3, "stride": 2, "groups": 2}),
                         ("ReLU", {}), ("AdaptiveAvgPool2d", {"output_size": 2}), ("Flatten", {}),
                         ("Linear", {"out_features": 10}), ("Output", {})):
        block = doc.add_block(kind, params)
        doc.connect(last, block)
        last = block
    deconv = next(b for b, block in doc.blocks.items() if block.kind == "ConvTranspose2d")
    t = Trainer(doc, {"epochs": 2, "max_steps": 60, "batch_size": 64, "lr": 0.01}, None, runs_base=tmp_path / "runs",
                data=mnist_small(2560))
    assert t.run() is not None
    src, results = export_model(t.run_dir, ["onnx", "onnx-int8-static"], tmp_path / "out")
    fp32, int8 = results
    assert not isinstance(int8, FormatFailure), int8.line()
    line = int8.line()
    assert int8.verified and "per tensor, not per channel" in line and f"ConvTranspose {deconv}" in line, line
    assert int8.report["per_channel"] is False
    model = onnx.load(str(int8.path))
    assert "DequantizeLinear" in {n.op_type for n in model.graph.node}
    val = load_dataset("mnist-sample").val
    x, _ = val.batch(torch.randperm(len(val), generator=torch.Generator().manual_seed(0))[:512])
    norm = src.metadata["normalization"]
    x = ((x - norm["mean"][0]) / norm["std"][0]).numpy()
    ref = _session(fp32.path).run(None, {"input": x})[0]
    with torch.no_grad():
        np.testing.assert_allclose(ref, src.model(torch.from_numpy(x)).numpy(), atol=1e-4)
    got = _session(int8.path).run(None, {"input": x})[0]
    assert len(set(ref.argmax(1).tolist())) > 3             # a trained model: the agreement says something
    assert float((got.argmax(1) == ref.argmax(1)).mean()) >= 0.9
    assert np.abs(got - ref).max() < 0.1 * np.abs(ref).max()


def test_an_int8_file_that_fails_with_free_steps_falls_back_to_the_input_s_length_and_says_so(tmp_path, monkeypatch):
    real = quantized.quantize_onnx

    def refuses_free_steps(src, fp32, path, mode, data):
        if quantized.fixed_steps(onnx.load(str(fp32))) is None:
            raise quantized.ExportError("onnxruntime could not quantize this model (a test's refusal)")
        return real(src, fp32, path, mode, data)
    monkeypatch.setattr(quantized, "quantize_onnx", refuses_free_steps)
    doc = load_graph(preset_path("seq_mnist_lstm"))
    doc.training["dataset"] = "no-such-set"
    save_graph(doc, tmp_path / "lstm.loom.json")
    _, (int8,) = export_model(tmp_path / "lstm.loom.json", ["onnx-int8-dynamic"], tmp_path / "out")
    assert not isinstance(int8, FormatFailure) and int8.verified, int8.line()
    assert "sequence length fixed at 28 steps: the int8 file failed with the steps free" in int8.line()
    assert int8.report["fixed_steps"] == 28 and _session(int8.path).get_inputs()[0].shape[1:] == [28, 28]
