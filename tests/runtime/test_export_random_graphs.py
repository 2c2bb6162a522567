"""Graphs analysis accepts export to ONNX and torch.export programs that compute what the compiled module
computes (checked by onnxruntime and torch.export.load); a graph a format cannot hold is refused with a
one-line reason that names the block, and leaves no file behind. LAYERLOOM_LONG=1 runs many more graphs."""
import os

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layerloom.graph import GraphDocument, analyze, compile_graph, save_graph
from layerloom.runtime.export import FormatFailure, export_model

from ..graph.helpers import chain

EXAMPLES = 60 if os.environ.get("LAYERLOOM_LONG") else 4
SETTINGS = settings(derandomize=True, max_examples=EXAMPLES, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


def _export(tmp_path, doc, formats):
    path = tmp_path / "g.loom.json"
    save_graph(doc, path)
    src, results = export_model(path, formats, tmp_path / "out")
    return src, {r.format: r for r in results}


def _escape_free_line(text):
    return "\n" not in text and not any(ord(ch) < 32 or ord(ch) == 127 for ch in text)


def test_lstm_with_projection_is_refused_by_onnx_and_leaves_no_file(tmp_path):
    # ONNX's LSTM operator has no projection: torch's exporter writes a model onnxruntime cannot run.
    doc = chain(("LSTM", {"hidden_size": 6, "proj_size": 3, "output": "last"}), shape=[5, 4], name="proj")
    src, results = _export(tmp_path, doc, ["onnx", "onnx-int8-dynamic", "pt2"])
    for fmt in ("onnx", "onnx-int8-dynamic"):
        failure = results[fmt]
        assert isinstance(failure, FormatFailure), failure.line()
        assert "lstm1" in failure.message and "proj_size" in failure.message and "pt2" in failure.message
        assert _escape_free_line(failure.line())
    assert results["pt2"].verified                     # torch.export holds it
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["model.json", "proj.pt2"]


def test_an_operator_onnx_lacks_is_named_with_its_block_in_one_plain_line(tmp_path):
    # An output size that does not divide the input: torch's ONNX exporter has no translation for it
    doc = chain(("AdaptiveMaxPool2d", {"output_size": [5, 5]}), shape=[3, 3, 7], name="pool")
    torch.nn.AdaptiveMaxPool2d((5, 5))(torch.rand(2, 3, 3, 7))     # torch itself runs it
    src, results = _export(tmp_path, doc, ["onnx", "pt2"])
    failure = results["onnx"]
    assert isinstance(failure, FormatFailure)
    assert _escape_free_line(failure.line()), repr(failure.line())
    assert "adaptive_max_pool2d" in failure.message and "adaptivemaxpool2d1" in failure.message
    assert results["pt2"].verified
    assert not list((tmp_path / "out").glob("*.onnx"))


# -- random graphs over layers that both formats hold ---------------------------------------------------------
LAYERS = {
    1: [("Linear", {"out_features": 3}), ("ReLU", {}), ("LayerNorm", {}), ("Softmax", {}), ("GELU", {})],
    2: [("Conv1d", {"out_channels": 3, "kernel_size": 2, "padding": "same", "dilation": 2}),
        ("MaxPool1d", {"kernel_size": 2, "ceil_mode": True}), ("BatchNorm1d", {}),
        ("GRU", {"hidden_size": 3, "bidirectional": True, "num_layers": 2}),
        ("RNN", {"hidden_size": 3, "nonlinearity": "relu", "output": "last"}),
        ("LSTM", {"hidden_size": 4, "bidirectional": True, "output": "last"}),
        ("MultiheadAttention", {"num_heads": 1}), ("Permute", {"dims": [2, 1]})],
    3: [("Conv2d", {"out_channels": 2, "kernel_size": [1, 3], "stride": [2, 1], "groups": 1}),
        ("ConvTranspose2d", {"out_channels": 2, "kernel_size": 2, "stride": 3, "output_padding": 1}),
        ("AvgPool2d", {"kernel_size": 2, "ceil_mode": True, "count_include_pad": False}),
        ("AdaptiveAvgPool2d", {"output_size": [2, 4]}), ("Upsample", {"scale_factor": 1.5}),
        ("GroupNorm", {"num_groups": 1}), ("Flatten", {"start_dim": 2})],
}


@st.composite
def accepted_graphs(draw):
    rank = draw(st.sampled_from(sorted(LAYERS)))
    shape = [draw(st.integers(2, 5)) for _ in range(rank)]
    doc = GraphDocument("random export")
    last = doc.add_block("Input", {"shape": shape})
    for _ in range(draw(st.integers(1, 3))):
        result = analyze(doc)
        fitting = [spec for spec in LAYERS.get(len(result.blocks[last].output_shape), [])]
        if not fitting:
            break
        kind, params = draw(st.sampled_from(fitting))
        block = doc.add_block(kind, params)
        doc.connect(last, block)
        if analyze(doc).errors:
            doc.remove_block(block)
            break
        last = block
    doc.connect(last, doc.add_block("Output"))
    return doc


@SETTINGS
@given(accepted_graphs())
def test_random_accepted_graphs_export_to_what_the_compiled_module_computes(tmp_path_factory, doc):
    import onnxruntime as ort
    assert not analyze(doc).errors
    tmp_path = tmp_path_factory.mktemp("export")
    src, results = _export(tmp_path, doc, ["onnx", "pt2"])
    model = compile_graph(doc, seed=0).eval()          # what the exports came from: the same seed, its own build
    x = torch.rand(3, *src.input_shape, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        expected = model(x)
    for r in results.values():
        assert not isinstance(r, FormatFailure), r.line()
        assert r.verified, r.line()
    session = ort.InferenceSession(str(results["onnx"].path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    torch.testing.assert_close(torch.from_numpy(got), expected, rtol=1e-4, atol=1e-4)
    program = torch.export.load(str(results["pt2"].path)).module()
    with torch.no_grad():
        torch.testing.assert_close(program(x), expected, rtol=1e-5, atol=1e-5)


# -- the standalone project's model.py is the model the other formats hold ------------------------------------
def _project_model(project):
    import ast
    text = (project / "model.py").read_text(encoding="utf-8")
    namespace = {}
    exec(compile(text, str(project / "model.py"), "exec"), namespace)    # Layerloom's own generated text
    (cls,) = [n.name for n in ast.parse(text).body if isinstance(n, ast.ClassDef)]
    model = namespace[cls]()
    model.load_state_dict(torch.load(project / "model_state.pt", weights_only=True))
    return model.eval()


def _classes_from_the_data(doc):
    # 12 figures: "auto" out_features follows them, not the fallback of 10
    doc.training.update({"dataset": "figures", "epochs": 1, "max_steps": 1, "batch_size": 4})
    return doc


def test_a_project_from_a_run_holds_the_class_count_its_weights_were_trained_for(tmp_path):
    from layerloom.runtime.trainer import Trainer
    doc = _classes_from_the_data(chain(("Flatten", {}), ("Linear", {"out_features": "auto"}), shape=[3, 32, 32],
                                       name="auto classes"))
    trainer = Trainer(doc, dict(doc.training), runs_base=tmp_path / "runs")
    assert trainer.run()["status"] == "finished"
    src, results = export_model(trainer.run_dir, ["project"], tmp_path / "out")
    (project,) = results
    assert project.verified and project.max_abs_diff is not None and project.max_abs_diff <= 1e-5, project.line()
    x = torch.rand(2, 3, 32, 32)
    mine = _project_model(project.path)
    with torch.no_grad():
        torch.testing.assert_close(mine(x), src.model(x))
    assert mine(x).shape == (2, 12) and len(src.metadata["class_names"]) == 12


def test_an_untrained_graph_exports_with_the_class_count_of_the_data_it_names(tmp_path):
    doc = _classes_from_the_data(chain(("Flatten", {}), ("Linear", {"out_features": "auto"}), shape=[3, 32, 32],
                                       name="auto classes"))
    src, results = _export(tmp_path, doc, ["onnx", "project"])
    assert all(r.verified for r in results.values()), [r.line() for r in results.values()]
    assert src.model(src.probe(1)).shape == (1, 12) and len(src.metadata["class_names"]) == 12
    assert _project_model(results["project"].path)(src.probe(1)).shape == (1, 12)


def test_a_graph_of_two_inputs_is_refused_by_the_formats_that_run_it_in_one_line(tmp_path):
    doc = GraphDocument("two inputs")
    a, b = doc.add_block("Input", {"shape": [4]}), doc.add_block("Input", {"shape": [4]})
    add = doc.add_block("Add")
    doc.connect(a, add, dst_port=0), doc.connect(b, add, dst_port=1), doc.connect(add, doc.add_block("Output"))
    src, results = _export(tmp_path, doc, ["onnx", "pt2", "torchscript", "project", "safetensors"])
    for fmt in ("onnx", "pt2", "torchscript", "project"):
        failure = results[fmt]
        assert isinstance(failure, FormatFailure), failure.line()
        assert "2 Input blocks" in failure.message and "safetensors" in failure.message, failure.message
        assert _escape_free_line(failure.line())
    assert results["safetensors"].verified
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["model.json", "two-inputs.safetensors"]


def test_every_output_of_a_graph_is_verified(tmp_path, monkeypatch):
    from layerloom.runtime.export.formats import max_difference
    a, b = torch.zeros(2, 3), torch.ones(2, 3)
    assert max_difference((a, b), (a, a)) == 1.0 and max_difference([a, b], (a, b)) == 0.0
    doc = GraphDocument("two outputs")
    x = doc.add_block("Input", {"shape": [4]})
    fc, relu = doc.add_block("Linear", {"out_features": 3}), doc.add_block("Tanh")
    doc.connect(x, fc), doc.connect(x, relu)
    doc.connect(fc, doc.add_block("Output")), doc.connect(relu, doc.add_block("Output"))
    src, results = _export(tmp_path, doc, ["onnx", "pt2"])
    import onnxruntime as ort
    session = ort.InferenceSession(str(results["onnx"].path), providers=["CPUExecutionProvider"])
    probe = src.probe(3)
    got = session.run(None, {session.get_inputs()[0].name: probe.numpy()})
    with torch.no_grad():
        want = src.model(probe)
    assert len(got) == 2 and all(torch.allclose(torch.from_numpy(g), w, atol=1e-5) for g, w in zip(got, want))
    assert results["onnx"].verified and results["pt2"].verified


def test_the_exporters_own_cause_is_the_line_shown():
    from layerloom.runtime.export.onnx_limits import explain_export_failure

    class TwoArguments(torch.nn.Module):
        def forward(self, a, b):
            return a + b
    try:
        torch.onnx.export(TwoArguments(), (torch.zeros(1),), dynamo=True)
    except Exception as exc:
        line = explain_export_failure(exc, lambda: None)
    assert _escape_free_line(line) and "Next steps" not in line and "missing a required argument" in line, line


def test_the_project_readme_example_runs_for_a_model_of_token_ids(tmp_path, project_runner):
    import re
    doc = chain(("Embedding", {"num_embeddings": 30, "embedding_dim": 4}), ("Flatten", {}),
                ("Linear", {"out_features": 3}), shape=[5], dtype="int64", name="tokens")
    _, results = _export(tmp_path, doc, ["project"])
    project = results["project"].path
    (example,) = re.findall(r"```python\n(.*?)```", (project / "README.md").read_text(encoding="utf-8"), re.S)
    proc = project_runner.run(project, code=example, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_a_project_says_it_needs_layerloom_exactly_when_model_py_imports_it(tmp_path):
    """A graph with an Opaque block: model.py builds it through Layerloom, and the README and the result
    line say so, naming the block; without one, neither mentions it and model.py imports no Layerloom."""
    plain = chain(("Flatten", {}), ("Linear", {"out_features": 4}), shape=[2, 3], name="plain")
    opaque = chain(("Opaque", {"target": "torch.nn:Tanh"}), ("Flatten", {}), ("Linear", {"out_features": 4}),
                   shape=[2, 3], name="with opaque")
    for doc, needs in ((plain, False), (opaque, True)):
        (tmp_path / doc.name).mkdir()
        _src, results = _export(tmp_path / doc.name, doc, ["project"])
        (project,) = results.values()
        assert project.verified, project.line()
        model_py = (project.path / "model.py").read_text(encoding="utf-8")
        readme = (project.path / "README.md").read_text(encoding="utf-8")
        assert ("from layerloom" in model_py) == needs
        assert ("Nothing here needs Layerloom" in readme) == (not needs)
        assert ("without Layerloom" in project.line()) == (not needs)
        if needs:
            [block] = [b for b, v in doc.blocks.items() if v.kind == "Opaque"]
            assert f"for its Opaque block `{block}`, Layerloom itself" in readme
