"""Edit ▸ Initialise Weights From…: check a weights file against the open graph, then use it for training."""
from __future__ import annotations

import torch
from PySide6.QtCore import Qt
from safetensors.torch import save_file

from layerloom.app import importing
from layerloom.app.init_from_dialog import InitFromDialog
from layerloom.graph.compiler import compile_graph

from .test_inspector import open_lenet

LEFT = Qt.MouseButton.LeftButton


def test_a_weights_file_is_checked_then_used_and_undo_forgets_it(win, qtbot, monkeypatch, tmp_path):
    open_lenet(win)
    state = compile_graph(win.document).state_dict()
    source = {("module." if k.startswith("conv") else "") + k: torch.randn_like(v) for k, v in state.items()}
    source["fc3.weight"] = torch.randn(6, 84)                # a head for 6 classes: does not fit
    path = tmp_path / "pretrained.safetensors"
    save_file(source, str(path))
    shown = []
    monkeypatch.setattr(importing, "run_modal", lambda dialog: shown.append(dialog) or dialog.show())
    win.actions_by_name["init_from"].trigger()
    dialog = shown[0]
    qtbot.addWidget(dialog)
    dialog.kind.setCurrentIndex(dialog.kind.findData("file"))
    assert dialog.file_row.isVisible() and not dialog.runs.isVisible()
    qtbot.keyClicks(dialog.file_edit, str(path))
    assert not dialog.use_button.isEnabled()
    qtbot.mouseClick(dialog.check_button, LEFT)
    qtbot.waitUntil(lambda: dialog.job is None, timeout=30_000)
    report = dialog.report.toPlainText()
    assert report.startswith(f"{len(state) - 2} tensors loaded, 2 skipped, 2 left new"), report   # fc3 whole
    assert "fc3.weight: shape [6, 84] does not fit fc3.weight [10, 84]" in report
    assert dialog.use_button.isEnabled()
    starts = win.training.panel.settings.start_from
    assert starts.text() == "fresh weights"
    qtbot.mouseClick(dialog.use_button, LEFT)
    assert win.document.training["init_from"] == str(path) and not dialog.isVisible()
    # the Training panel says where runs start from
    assert starts.text() == "pretrained.safetensors" and str(path) in starts.toolTip()
    win.undo_stack.undo()
    assert "init_from" not in win.document.training
    assert starts.text() == "fresh weights"


def test_a_file_that_holds_no_weights_is_one_line(win, qtbot, monkeypatch, tmp_path):
    open_lenet(win)
    bad = tmp_path / "notes.pt"
    bad.write_text("not a tensor file")
    dialog = InitFromDialog(win.session, tmp_path / "runs", win)
    qtbot.addWidget(dialog)
    dialog.kind.setCurrentIndex(dialog.kind.findData("file"))
    dialog.file_edit.setText(str(bad))
    qtbot.mouseClick(dialog.check_button, LEFT)
    qtbot.waitUntil(lambda: dialog.job is None, timeout=30_000)
    assert dialog.status.text().startswith(f"{bad} is not a file torch.save wrote: give a .pt or .pth file")
    assert "\n" not in dialog.status.text() and not dialog.use_button.isEnabled()
    dialog.kind.setCurrentIndex(dialog.kind.findData("run"))
    qtbot.mouseClick(dialog.check_button, LEFT)
    assert dialog.status.text() == "there is no trained run to start from: train first, or choose a weights file"


def test_the_check_counts_what_a_run_on_the_chosen_data_set_loads(win, qtbot, tmp_path):
    """A head whose class count follows the data set ("auto"): the check matches it as a run on that data
    set does (figures: 12 classes), not as the fallback of 10."""
    from layerloom.graph import GraphDocument, analyze
    from layerloom.runtime.data import dataset_info
    from layerloom.runtime.trainer import Trainer

    doc = GraphDocument("auto head")
    last = doc.add_block("Input", {"shape": [3, 32, 32]})
    for kind, params in (("Flatten", {}), ("Linear", {"out_features": 16}), ("ReLU", {}),
                         ("Linear", {"out_features": "auto"}), ("Output", {})):
        block = doc.add_block(kind, params)
        doc.connect(last, block)
        last = block
    context = dataset_info("figures", input_shape=(3, 32, 32)).data_context()
    path = tmp_path / "figures.safetensors"
    save_file(compile_graph(doc, analyze(doc, context), seed=1).state_dict(), str(path))
    loaded = []
    config = {"dataset": "figures", "epochs": 1, "max_steps": 1, "batch_size": 8, "threads": 1, "init_from": str(path)}
    trainer = Trainer(doc, config, lambda e: loaded.append(e) if e.get("what") == "init_from" else None,
                      runs_base=tmp_path / "runs")
    assert trainer.run()["status"] == "finished"
    (event,) = loaded
    assert len(event["loaded"]) == 4 and not event["new"]                # the run loads the 12-class head too
    win.session.set_document(doc)
    win.session.set_data(context)                                      # the data set chosen for training
    dialog = InitFromDialog(win.session, tmp_path / "runs", win)
    qtbot.addWidget(dialog)
    dialog.kind.setCurrentIndex(dialog.kind.findData("file"))
    dialog.file_edit.setText(str(path))
    qtbot.mouseClick(dialog.check_button, LEFT)
    qtbot.waitUntil(lambda: dialog.job is None, timeout=30_000)
    report = dialog.report.toPlainText()
    assert report.startswith(f"{len(event['loaded'])} tensors loaded, 0 skipped, 0 left new"), report


def test_the_initialise_from_dialog_previews_the_match_a_run_makes(tmp_path):
    """The dialog's preview (app/init_from_dialog.match_report) used to list the long-path layers as skipped,
    while the run itself loaded them."""
    import torch
    from safetensors.torch import save_file

    from layerloom.app.init_from_dialog import match_report
    from layerloom.graph.importers.fx_import import import_module

    from ..runtime.test_init_long_ids import LongNet
    torch.manual_seed(0)
    source = LongNet()
    doc, _, _ = import_module(source, (4,))
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(tmp_path / "source.safetensors"))
    text, fits = match_report(doc, str(tmp_path / "source.safetensors"))
    assert fits and "Skipped:" not in text and "Left as freshly initialised" not in text, text
