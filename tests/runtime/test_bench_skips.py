"""`layerloom bench` keeps what it measured when a format cannot be made, and says each skip's real reason."""
import pytest

from layerloom.graph import GraphDocument, load_graph, save_graph
from layerloom.presets import preset_path
from layerloom.runtime.cli import run
from layerloom.runtime.export import ExportError, load_source
from layerloom.runtime.export.formats import export_onnx
from layerloom.runtime.export.quantized import load_data, quantize_onnx
from layerloom.runtime.latency import benchmark, report_table

QUICK = {"batches": (1,), "threads": 1, "repeats": 2, "budget_s": 0.05}


def adaptive_max_pool_graph(path):
    """Conv2d -> AdaptiveMaxPool2d(5) on 26x26 -> Flatten -> Linear: torch's ONNX exporter cannot translate it."""
    d = GraphDocument("amp-net", training={"dataset": "mnist-sample"})
    d.add_block("Input", {"shape": [1, 28, 28]})
    prev = "input"
    for bid, kind, p in [("c", "Conv2d", {"out_channels": 4, "kernel_size": 3}),
                         ("amp", "AdaptiveMaxPool2d", {"output_size": 5}), ("f", "Flatten", {}),
                         ("fc", "Linear", {"out_features": 10}), ("output", "Output", {})]:
        d.add_block(kind, p, block_id=bid)
        d.connect(prev, bid)
        prev = bid
    save_graph(d, path)
    return path


def test_a_failed_onnx_export_keeps_the_torch_rows_and_skips_every_onnx_format_saying_why(tmp_path, capsys):
    path = adaptive_max_pool_graph(tmp_path / "amp.loom.json")
    with pytest.raises(ExportError) as failed:         # the reason, as the exporter itself gives it
        export_onnx(load_source(path), tmp_path / "model.onnx")
    why = str(failed.value)
    report = benchmark(path, **QUICK)
    assert [row["key"] for row in report["backends"]] == ["torch", "pt2"]
    skipped = {s["backend"]: s["why"] for s in report["skipped"]}
    assert list(skipped) == ["onnxruntime fp32", "onnxruntime int8 dynamic", "onnxruntime int8 static"]
    assert skipped["onnxruntime fp32"] == why
    assert all(s.endswith(why) and "fp32 ONNX model" in s for b, s in skipped.items() if "int8" in b)
    # the command prints the table with both torch rows, and succeeds; --format chooses as the Benchmark tab does
    assert run(["bench", str(path), "--repeats", "2", "--threads", "1", "--batch", "1"]) == 0
    out = capsys.readouterr().out
    assert "torch eager" in out and "torch.export program (.pt2)" in out and f"onnxruntime fp32: skipped ({why})" in out
    assert run(["bench", str(path), "--repeats", "2", "--threads", "1", "--batch", "1", "-f", "torch"]) == 0
    out = capsys.readouterr().out
    assert "torch eager" in out and ".pt2" not in out and "onnxruntime" not in out, out


def test_the_bench_panels_format_names_are_the_commands(tmp_path):
    """The CLI's --format choices are the Benchmark tab's keys (app/panels/bench_panel.py FORMATS)."""
    import ast
    from pathlib import Path

    import layerloom
    from layerloom.runtime.latency import KEYS
    tree = ast.parse((Path(layerloom.__file__).parent / "app/panels/bench_panel.py").read_text())
    (formats,) = [node.value for node in ast.walk(tree) if isinstance(node, ast.Assign)
                  and any(getattr(t, "id", None) == "FORMATS" for t in node.targets)]
    assert tuple(pair[0] for pair in ast.literal_eval(formats)) == KEYS


def test_int8_static_without_its_data_set_is_skipped_with_the_data_sets_reason(tmp_path, capsys):
    doc = load_graph(preset_path("lenet5"))
    doc.training = {**doc.training, "dataset": "image-folder", "dataset_options": {"path": str(tmp_path / "gone")}}
    path = tmp_path / "lenet.loom.json"
    save_graph(doc, path)
    with pytest.raises(ExportError) as failed:     # what `layerloom export -f onnx-int8-static` says
        load_data(load_source(path), "static")
    assert run(["export", str(path), "-f", "onnx-int8-static", "--out", str(tmp_path / "exported")]) == 1
    assert str(failed.value) in capsys.readouterr().out
    report = benchmark(path, formats={"onnx-int8-static"}, **QUICK)
    assert report["skipped"] == [{"backend": "onnxruntime int8 static", "why": str(failed.value)}]
    assert "NoneType" not in report_table(report) and "gone does not exist" in report_table(report)


def test_quantizing_labels_onnxruntimes_failures_but_not_a_mistake_of_ours(tmp_path, monkeypatch):
    import onnx

    from layerloom.runtime.export import quantized
    src = load_source(preset_path("lenet5"))
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not an onnx file")
    with pytest.raises(Exception):                 # onnx itself refuses the file
        onnx.load(str(garbage))
    with pytest.raises(ExportError, match=r"^onnxruntime could not quantize this model \("):
        quantize_onnx(src, garbage, tmp_path / "q.onnx", "dynamic", None)

    def mistaken(*_args):
        return None.calibration                    # a programming error in Layerloom's own code
    fp32 = tmp_path / "model.onnx"
    export_onnx(src, fp32)
    monkeypatch.setattr(quantized, "_quantize", mistaken)
    with pytest.raises(AttributeError):
        quantize_onnx(src, fp32, tmp_path / "q.onnx", "dynamic", None)
    assert not (tmp_path / "q.onnx").exists()
