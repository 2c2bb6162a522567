"""File ▸ Import Model…: the dialog imports off the GUI thread, reports what became Opaque and why, and the
window opens the imported graph with its weights, computing what the source module computes."""
from __future__ import annotations

import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from layerloom.app import importing
from layerloom.graph.compiler import compile_graph
from layerloom.graph.importers import load_source_module

from ..graph.test_import import MODEL

LEFT = Qt.MouseButton.LeftButton


def open_import_dialog(win, qtbot, monkeypatch):
    """Trigger File ▸ Import Model… and hand back the dialog it shows (exec is replaced by show)."""
    shown = []
    monkeypatch.setattr(importing, "run_modal", lambda dialog: shown.append(dialog) or dialog.show())
    win.actions_by_name["import_model"].trigger()
    assert len(shown) == 1
    qtbot.addWidget(shown[0])
    return shown[0]


def fill(qtbot, widget, text):
    widget.clear()
    qtbot.keyClicks(widget, text)


def test_importing_a_model_file_opens_it_with_its_weights_and_reports_the_opaque_block(win, qtbot, monkeypatch,
                                                                                       tmp_path):
    model_py = tmp_path / "model.py"
    model_py.write_text(MODEL)
    monkeypatch.chdir(tmp_path)
    dialog = open_import_dialog(win, qtbot, monkeypatch)
    dialog.kind.setCurrentIndex(dialog.kind.findData("python"))
    assert dialog.class_edit.isVisible() and dialog.trust_note.isVisible() and not dialog.model_name.isVisible()
    fill(qtbot, dialog.file_edit, str(model_py))
    fill(qtbot, dialog.class_edit, "Net")
    fill(qtbot, dialog.shape_edit, "3,8,8")
    # an untitled graph open: the import goes to the documents' Layerloom folder, not the working folder
    out = tmp_path / "home" / "Documents" / "Layerloom" / "imports" / "model.loom.json"
    assert dialog.out_edit.text() == str(out)
    qtbot.mouseClick(dialog.import_button, LEFT)
    assert not dialog.import_button.isEnabled()            # the import runs in its own thread
    qtbot.waitUntil(lambda: dialog.job is None, timeout=60_000)
    assert dialog.status.text().startswith("Imported into model.loom.json"), dialog.status.text()
    report = dialog.report.toPlainText()
    assert "1 Opaque" in report and "gate:" in report and "torch.fx cannot trace it" in report
    assert "What each source node became" in report
    # the window opened the file, with its weights attached
    assert win.session.path == out
    assert win.document.weights == "model.safetensors" and "gate" in win.document.blocks
    gm = compile_graph(win.document).eval()
    source, _ = load_source_module(f"{model_py}:Net")
    source.load_state_dict(dict(gm.state_dict()), strict=True)
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert (gm(x) - source.eval()(x)).abs().max().item() <= 1e-6
    assert dialog.out_edit.text().endswith("model-2.loom.json")     # a second import keeps the first
    qtbot.mouseClick(dialog.close_button, LEFT)
    assert not dialog.isVisible()


def test_mistakes_are_one_line_in_the_dialog(win, qtbot, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    dialog = open_import_dialog(win, qtbot, monkeypatch)
    fill(qtbot, dialog.model_name.lineEdit(), "resnet_nonexistent")
    qtbot.mouseClick(dialog.import_button, LEFT)
    qtbot.waitUntil(lambda: dialog.job is None, timeout=30_000)
    assert dialog.status.text() == ('Cannot import: torchvision has no model called "resnet_nonexistent" '
                                    "(see torchvision.models.list_models())")
    fill(qtbot, dialog.model_name.lineEdit(), "resnet18")
    fill(qtbot, dialog.shape_edit, "3,two,2")
    qtbot.mouseClick(dialog.import_button, LEFT)
    assert dialog.status.text().startswith("Cannot import: the input shape must be whole numbers")
    broken = tmp_path / "broken.py"
    broken.write_text("import torch\nclass Net(torch.nn.Module):\n    def __init__(self):\n"
                      "        raise ValueError('no')\n")
    dialog.kind.setCurrentIndex(dialog.kind.findData("python"))
    fill(qtbot, dialog.file_edit, str(broken))
    fill(qtbot, dialog.class_edit, "Net")
    fill(qtbot, dialog.shape_edit, "4")
    qtbot.mouseClick(dialog.import_button, LEFT)
    qtbot.waitUntil(lambda: dialog.job is None, timeout=30_000)
    text = dialog.status.text()
    assert text.startswith("Cannot import: Net() failed (ValueError: no): the error is in the file's own code") \
        and "\n" not in text
    assert "Traceback" not in text and win.document.name == "Untitled"
    dialog.args_edit.setText("[" * 5000 + "]" * 4999)        # pasted: JSON nested too deeply for Python
    qtbot.keyClicks(dialog.args_edit, "]")
    qtbot.mouseClick(dialog.import_button, LEFT)
    assert dialog.status.text().startswith("Cannot import: the Arguments field is not valid JSON (nested too deeply)")
    dialog.args_edit.clear()
    dialog.kind.setCurrentIndex(dialog.kind.findData("onnx"))
    fill(qtbot, dialog.file_edit, str(tmp_path / "missing.onnx"))
    qtbot.mouseClick(dialog.import_button, LEFT)
    assert dialog.status.text() == f"Cannot import: {tmp_path / 'missing.onnx'} does not exist"


def test_import_asks_to_stop_a_run_first(win, monkeypatch):
    asked = []
    monkeypatch.setattr(win.training, "asks_to_stop", lambda doing: asked.append(doing) or False)   # Cancel
    opened = []
    monkeypatch.setattr(importing, "run_modal", lambda dialog: opened.append(dialog))
    win.actions_by_name["import_model"].trigger()
    assert asked == ["import a model"] and not opened
    QApplication.processEvents()


def test_the_report_wraps_its_notes_escapes_names_from_the_file_and_shows_only_figures_it_has(tmp_path):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from layerloom.app.import_dialog import report_text
    from layerloom.graph.importers import import_source
    evil = "fc\x1b[2J\nrm -rf ~" + "x" * 80
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])
    axis = numpy_helper.from_array(np.array(0, np.int64), "axis")
    graph = helper.make_graph([helper.make_node("CumSum", ["x", "axis"], ["y"], name=evil)], "g", [x], [y],
                              initializer=[axis])                    # sums over the batch: a note says so
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "m.onnx")
    text = report_text(import_source(str(tmp_path / "m.onnx")))
    lines = text.splitlines()
    assert "Notes:" in lines and "depends on the other samples of its batch" in text
    notes = lines[lines.index("Notes:") + 1:lines.index("What each source node became:")]
    assert all(line.isprintable() for line in lines) and all(len(line) <= 90 for line in notes), text
    assert "fc\\x1b[2J\\nrm -rf ~" in text and "None" not in text     # onnxruntime's check compares no tensors


def test_an_import_that_does_not_compute_what_its_source_does_says_so_in_the_status_line(win, qtbot, monkeypatch,
                                                                                        tmp_path):
    from layerloom.app import theme

    from ..graph.test_import_differs import NOISY
    (tmp_path / "noisy.py").write_text(NOISY)
    monkeypatch.chdir(tmp_path)
    dialog = open_import_dialog(win, qtbot, monkeypatch)
    dialog.kind.setCurrentIndex(dialog.kind.findData("python"))
    fill(qtbot, dialog.file_edit, str(tmp_path / "noisy.py"))
    fill(qtbot, dialog.class_edit, "Net")
    fill(qtbot, dialog.shape_edit, "4")
    qtbot.mouseClick(dialog.import_button, LEFT)
    qtbot.waitUntil(lambda: dialog.job is None, timeout=60_000)
    assert dialog.status.text().endswith("But see the warning below: it may not compute what the source does.")
    assert theme.current().warning.name() in dialog.status.styleSheet()
    assert "Warning: the imported graph's outputs differ from the source's" in dialog.report.toPlainText()
    dialog.kind.setCurrentIndex(dialog.kind.findData("python"))
    fill(qtbot, dialog.class_edit, "Calm")
    qtbot.mouseClick(dialog.import_button, LEFT)
    qtbot.waitUntil(lambda: dialog.job is None, timeout=60_000)
    assert dialog.status.text().endswith("It is open in the editor.") and dialog.status.styleSheet() == ""
