"""Exported sequence models take any number of steps where the graph does; otherwise the length stays fixed
and the export says why. Checked with onnxruntime and torch.export.load against the PyTorch model."""
import onnxruntime as ort
import pytest
import torch

from layerloom.graph import GraphDocument, save_graph
from layerloom.graph.compiler import compile_graph
from layerloom.graph.importers.export_import import import_pt2
from layerloom.runtime.export import export_model, load_source
from layerloom.runtime.export.recurrent_scan import ScannedRecurrence


def _chain(tmp_path, shape, blocks, dtype=None):
    doc = GraphDocument("sequence net")
    last = doc.add_block("Input", {"shape": shape, **({"dtype": dtype} if dtype else {})})
    for kind, params in blocks:
        block = doc.add_block(kind, params)
        doc.connect(last, block)
        last = block
    save_graph(doc, tmp_path / "seq.loom.json")
    return tmp_path / "seq.loom.json"


def test_a_token_model_with_a_recurrent_layer_takes_other_lengths(tmp_path):
    path = _chain(tmp_path, [6], [("Embedding", {"num_embeddings": 20, "embedding_dim": 4}),
                                  ("GRU", {"hidden_size": 5}),
                                  ("Linear", {"out_features": 3}), ("Output", {})], dtype="int64")
    src, results = export_model(path, ["onnx", "pt2"], tmp_path / "out")
    assert all(r.verified for r in results), [r.line() for r in results]
    assert all("any sequence length" in r.line() for r in results), [r.line() for r in results]
    onnx_file, pt2_file = (r.path for r in results)
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    program = torch.export.load(str(pt2_file)).module()
    for steps in (2, 11):
        x = torch.randint(0, 20, (3, steps), generator=torch.Generator().manual_seed(steps))
        with torch.no_grad():
            want = src.model(x)
            got_pt2 = program(x)
        got_onnx = torch.from_numpy(session.run(None, {"input": x.numpy()})[0])
        assert want.shape == (3, steps, 3)
        torch.testing.assert_close(got_onnx, want, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(got_pt2, want, rtol=1e-4, atol=1e-5)
    # its scans import back as the GRU block, giving the program's outputs at other lengths too
    doc, state, report = import_pt2(pt2_file)
    assert [b.kind for b in doc.blocks.values()] == ["Input", "Embedding", "GRU", "Linear", "Output"]
    graph = compile_graph(doc, weights=False).eval()
    graph.load_state_dict(state, strict=True)
    for steps in (1, 9):
        x = torch.randint(0, 20, (2, steps), generator=torch.Generator().manual_seed(steps))
        with torch.no_grad():
            torch.testing.assert_close(graph(x), program(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("first, second", [
    (("LSTM", {"hidden_size": 3, "num_layers": 2, "bidirectional": True}), ("LSTM", {"hidden_size": 2})),
    (("GRU", {"hidden_size": 3, "bidirectional": True}), ("RNN", {"hidden_size": 2, "output": "last"})),
], ids=["lstm-2-layers-bidirectional-into-lstm", "gru-bidirectional-into-rnn"])
def test_a_recurrent_layer_feeding_another_exports_to_onnx_for_any_length_from_one_trace(tmp_path, monkeypatch,
                                                                                          first, second):
    # the exporter's optimizer would write the traced length into the Reshape between the two layers
    from layerloom.runtime.export import formats
    traced = []
    real = formats._onnx_export
    monkeypatch.setattr(formats, "_onnx_export", lambda *args: traced.append(tuple(args[2].shape)) or real(*args))
    path = _chain(tmp_path, [6, 3], [first, second, ("Linear", {"out_features": 2}), ("Output", {})])
    src, (result,) = export_model(path, ["onnx"], tmp_path / "out")
    assert result.verified and "any sequence length (checked at 3, 6 and 13 steps)" in result.line(), result.line()
    assert traced == [(2, formats.SHORT_TRACE, 3)]
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    for steps in (2, 9):
        x = torch.rand(3, steps, 3, generator=torch.Generator().manual_seed(steps))
        with torch.no_grad():
            want = src.model(x)
        torch.testing.assert_close(torch.from_numpy(session.run(None, {"input": x.numpy()})[0]), want,
                                   rtol=1e-4, atol=1e-5)


def test_an_onnx_graph_that_holds_its_traced_length_is_refused_naming_its_node_and_block(tmp_path):
    # torch's exporter, optimizing a 4-step trace, writes 4 steps into the Reshape after lstm1
    import re

    import onnx

    from layerloom.runtime.export import formats
    from layerloom.runtime.export.steps import free_onnx_steps
    path = _chain(tmp_path, [6, 3], [("LSTM", {"hidden_size": 3, "bidirectional": True}), ("LSTM", {"hidden_size": 2}),
                                     ("Output", {})])
    src = load_source(path)
    formats._onnx_export(src, tmp_path / "traced.onnx", src.probe(2, steps=4), {0: formats._batch_dim()}, True)
    free, why = free_onnx_steps(onnx.load(str(tmp_path / "traced.onnx")), src, 6)
    assert free is None
    assert re.fullmatch(r"the ONNX graph does not run on other lengths: onnxruntime's Reshape node \S+ \(block lstm1\) "
                        r"fails: The input tensor cannot be reshaped to the requested shape\. "
                        r"Input shape:\{3,3,2,3\}, requested shape:\{4,-1,6\}", why), why


def test_a_recurrent_graphs_pt2_is_exported_without_autograd_and_computes_torchs_outputs_and_gradients(
        tmp_path, monkeypatch):
    # tracing its scans with autograd on takes about twice as long for the same program (bench/pt2_scan_grad_mode.py)
    grad_modes = []
    real = torch.export.export
    monkeypatch.setattr(torch.export, "export",
                        lambda *args, **kwargs: grad_modes.append(torch.is_grad_enabled()) or real(*args, **kwargs))
    path = _chain(tmp_path, [5, 3], [("LSTM", {"hidden_size": 3, "num_layers": 2, "bidirectional": True}),
                                     ("Linear", {"out_features": 2}), ("Output", {})])
    src, (result,) = export_model(path, ["pt2"], tmp_path / "out")
    assert result.verified and "any sequence length" in result.line(), result.line()
    assert grad_modes == [False]
    program = torch.export.load(str(result.path)).module()
    for steps in (2, 8):
        x = torch.rand(3, steps, 3, generator=torch.Generator().manual_seed(steps))
        want, got = src.model(x), program(x)          # autograd on: the file can be fine-tuned
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
        names, params = zip(*src.model.named_parameters())
        assert [name for name, _ in program.named_parameters()] == list(names)
        want_grads = torch.autograd.grad(want.square().sum(), params)
        got_grads = torch.autograd.grad(got.square().sum(), list(program.parameters()))
        for name, a, b in zip(names, got_grads, want_grads):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6, msg=name)


def test_a_sequence_flattened_into_a_linear_keeps_its_length_and_says_why(tmp_path):
    path = _chain(tmp_path, [4, 3], [("LSTM", {"hidden_size": 5}), ("Flatten", {}),
                                     ("Linear", {"out_features": 2}), ("Output", {})])
    with pytest.raises(RuntimeError):              # PyTorch itself: the Linear needs 4 steps of 5 features
        load_source(path).model(torch.rand(1, 5, 3))
    _, (result,) = export_model(path, ["pt2"], tmp_path / "out")
    assert result.verified
    assert "sequence length fixed at 4 steps: the graph does not run on 2 steps" in result.line()
    # the block that forces it, and what to change there
    assert ("fc1 (Linear) takes the features of all the Input's 4 steps as its own (through the Flatten flatten1)"
            in result.line())
    assert 'set lstm1\'s output to "last"' in result.line(), result.line()
    program = torch.export.load(str(result.path)).module()
    assert program(torch.rand(3, 4, 3)).shape == (3, 2)
    doc, _, report = import_pt2(result.path)           # a fixed length imports, checked on a batch of 3
    assert [b.kind for b in doc.blocks.values()].count("LSTM") == 1 and report.fidelity["max_abs_diff"] < 1e-5


@pytest.mark.parametrize("kind, params", [
    ("RNN", {"nonlinearity": "relu", "num_layers": 2, "bidirectional": True, "bias": False}),
    ("LSTM", {"num_layers": 2, "bidirectional": True}), ("LSTM", {"proj_size": 3}),
    ("GRU", {"num_layers": 2, "bidirectional": True}), ("GRU", {"bias": False}),
])
def test_scanned_recurrent_layers_compute_what_torchs_layers_compute(kind, params):
    torch.manual_seed(0)
    layer = getattr(torch.nn, kind)(4, 6, batch_first=True, **params).eval()
    scanned = ScannedRecurrence(layer)
    assert scanned.state_dict().keys() == layer.state_dict().keys()
    for steps in (1, 7):
        x = torch.rand(3, steps, 4)
        with torch.no_grad():
            want, got = layer(x), scanned(x)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)      # outputs and final states alike


def test_a_single_token_flattened_into_a_linear_keeps_its_one_step(tmp_path):
    path = _chain(tmp_path, [1], [("Embedding", {"num_embeddings": 9, "embedding_dim": 3}), ("Flatten", {}),
                                  ("Linear", {"out_features": 2}), ("Output", {})], dtype="int64")
    _, (result,) = export_model(path, ["pt2"], tmp_path / "out")
    assert result.verified
    assert "sequence length fixed at 1 step: the graph does not run on 2 steps" in result.line()
    assert "fc1 (Linear)" in result.line() and "flatten1" in result.line(), result.line()


@pytest.mark.parametrize("blocks, words", [
    ([("Reshape", {"shape": [12]}), ("Linear", {"out_features": 2})],
     "reshape1 (Reshape) has the shape [12], which holds the Input's 4 steps: write -1 for that axis"),
    ([("LayerNorm", {"normalized_shape": [4, 3]})],
     "ln1 (LayerNorm) normalises over [4, 3], which holds the Input's 4 steps: normalise over the last "
     "axis only ([3])"),
    ([("Permute", {"dims": [1, 0]}), ("Linear", {"out_features": 2})],
     "fc1 (Linear) acts on an axis that holds the Input's 4 steps: to take any number of steps, keep the steps "
     "off its input's last axis"),
    ([("PositionEmbedding", {})], "pos1 (PositionEmbedding) learns one vector for each of 4 steps, so the length "
                                  "stays fixed: a model that takes any length needs no learnt positions"),
])
def test_the_block_that_keeps_the_length_fixed_is_named_with_what_to_change(tmp_path, blocks, words):
    from layerloom.runtime.export.steps import fixed_reason
    path = _chain(tmp_path, [4, 3], [("LSTM", {"hidden_size": 3}), *blocks, ("Output", {})])
    src = load_source(path)
    with pytest.raises(RuntimeError):                                # PyTorch itself refuses 2 steps
        src.model(src.probe(2, steps=2))
    reason = fixed_reason(src, 4)
    assert words in reason, reason


def test_an_image_read_as_patches_keeps_its_size_and_says_nothing_of_steps(tmp_path):
    path = _chain(tmp_path, [3, 8, 8], [("Conv2d", {"out_channels": 4, "kernel_size": 4, "stride": 4}),
                                        ("Flatten", {"start_dim": 2}), ("Permute", {"dims": [1, 0]}),
                                        ("MultiheadAttention", {"num_heads": 2}), ("Select", {"dim": 1, "index": 0}),
                                        ("Linear", {"out_features": 3}), ("Output", {})])
    _, (result,) = export_model(path, ["pt2"], tmp_path / "out")
    assert result.verified and result.notes == ["dynamic batch dimension"], result.line()


def test_a_short_trace_that_cannot_be_freed_is_traced_again_at_the_inputs_length(tmp_path, monkeypatch):
    from layerloom.runtime.export import formats
    monkeypatch.setattr(formats, "free_onnx_steps", lambda model, src, steps: (None, "it cannot, here"))
    path = _chain(tmp_path, [7, 3], [("LSTM", {"hidden_size": 4, "output": "last"}),
                                     ("Linear", {"out_features": 2}), ("Output", {})])
    src, (result,) = export_model(path, ["onnx"], tmp_path / "out")
    assert result.verified and "sequence length fixed at 7 steps: it cannot, here" in result.line()
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape[1:] == [7, 3]
    x = torch.rand(3, 7, 3)
    torch.testing.assert_close(torch.from_numpy(session.run(None, {"input": x.numpy()})[0]),
                               src.model(x).detach(), rtol=1e-4, atol=1e-5)
