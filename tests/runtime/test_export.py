"""Export to every format, reload each, and compare with torch; the standalone project runs alone."""
import json
import sys
import textwrap

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from safetensors import safe_open

from layerloom.graph import save_graph
from layerloom.runtime.export import FORMATS, FormatFailure, export_model
from layerloom.runtime.export.project import shapes_module_source
from layerloom.runtime.export_cli import cmd_export  # noqa: F401  (imported for the CLI wiring)
from layerloom.runtime.data import shapes
from layerloom.runtime.trainer import Trainer

from .trainer_helpers import lenet, mnist_small



@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    t = Trainer(lenet(), {"epochs": 1, "batch_size": 32}, None, runs_base=base, data=mnist_small(1024))
    assert t.run() is not None
    return t.run_dir


@pytest.fixture(scope="module")
def exported(trained_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    src, results = export_model(trained_run, list(FORMATS), out)
    return src, {r.format: r for r in results}, out


def test_every_format_verifies_within_tolerance(exported):
    src, results, out = exported
    assert set(results) == set(FORMATS)
    for fmt, r in results.items():
        assert not isinstance(r, FormatFailure), r.line()
        assert r.verified, r.line()
        if r.max_abs_diff is not None:
            assert r.max_abs_diff <= 1e-4
    assert src.trained and src.metadata["class_names"] == [str(d) for d in range(10)]


def test_reloaded_formats_match_torch(exported):
    src, results, out = exported
    x = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        expected = src.model(x)
    session = ort.InferenceSession(str(results["onnx"].path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    np.testing.assert_allclose(got, expected.numpy(), atol=1e-4)
    program = torch.export.load(str(results["pt2"].path)).module()
    torch.testing.assert_close(program(x), expected)
    scripted = torch.jit.load(str(results["torchscript"].path))
    torch.testing.assert_close(scripted(x), expected)
    state = torch.load(results["state-dict"].path, weights_only=True)
    assert set(state) == set(src.model.state_dict())


def test_metadata_travels_with_the_model(exported):
    src, results, out = exported
    with safe_open(str(results["safetensors"].path), "pt") as f:
        meta = json.loads(f.metadata()["layerloom"])
    assert meta["graph_name"] == "LeNet-5" and meta["input_shape"] == [1, 28, 28]
    assert meta["normalization"] == {"mean": [0.1307], "std": [0.3081]} and meta["trained"] is True
    props = {p.key: p.value for p in onnx.load(str(results["onnx"].path)).metadata_props}
    assert json.loads(props["class_names"]) == [str(d) for d in range(10)]
    session = ort.InferenceSession(str(results["onnx"].path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape[0] == "batch"        # dynamic batch dimension
    model_json = json.loads((out / "model.json").read_text())
    assert model_json["files"]["onnx"] == "lenet-5.onnx"
    assert "/checkpoints/epoch-0001-step-" in model_json["source"] and model_json["epochs"] == 1
    assert not list(out.glob("*.data")) and not list(out.glob(".*tmp*"))


def test_project_model_loads_without_layerloom(exported, tmp_path, project_runner):
    src, results, out = exported
    project = results["project"].path
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        torch.save({"x": x, "y": src.model(x)}, tmp_path / "probe.pt")
    code = textwrap.dedent(f"""
        import sys, torch
        try:
            import layerloom
        except ImportError:
            pass
        else:
            raise SystemExit("layerloom should not be importable here")
        sys.path.insert(0, {str(project)!r})
        from model import LeNet5
        m = LeNet5()
        m.load_state_dict(torch.load({str(project / 'model_state.pt')!r}, weights_only=True))
        m.eval()
        probe = torch.load({str(tmp_path / 'probe.pt')!r}, weights_only=True)
        torch.testing.assert_close(m(probe["x"]), probe["y"])
        print("MODEL OK")
    """)
    proc = project_runner.run(tmp_path, code=code, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "MODEL OK" in proc.stdout


def test_a_format_that_cannot_export_says_why(tmp_path, monkeypatch):
    doc = lenet()
    doc.training["dataset"] = "my-private-set"
    path = tmp_path / "g.loom.json"
    save_graph(doc, path)

    def broken(*args, **kwargs):
        raise RuntimeError("Unsupported operator aten::mystery")
    monkeypatch.setattr(torch.onnx, "export", broken)
    src, results = export_model(path, ["onnx", "project", "safetensors"], tmp_path / "out")
    by = {r.format: r for r in results}
    assert isinstance(by["onnx"], FormatFailure) and "aten::mystery" in by["onnx"].message
    assert isinstance(by["project"], FormatFailure) and "my-private-set" in by["project"].message
    assert by["safetensors"].verified
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["lenet-5.safetensors", "model.json"]


def test_shapes_travel_as_code_and_give_the_same_images(tmp_path):
    (tmp_path / "shapes_data.py").write_text(shapes_module_source())
    sys.path.insert(0, str(tmp_path))
    try:
        import shapes_data
        x1, y1 = shapes_data.generate(20, channels=3, size=(24, 24), seed=shapes_data._stream_seed(3, "train"))
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("shapes_data", None)
    x2, y2 = shapes.generate(20, channels=3, size=(24, 24), seed=shapes._stream_seed(3, "train"))
    assert torch.equal(x1, x2) and torch.equal(y1, y2)


def test_export_cli(trained_run, tmp_path, capsys):
    from layerloom.app.main import main
    assert main(["export", str(trained_run), "--format", "safetensors", "-f", "pt2", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "safetensors:" in out and "pt2:" in out and "verified" in out
    assert main(["export", str(tmp_path / "nothing"), "-f", "onnx", "--out", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err
