"""Prune channels… in the window: the block menu opens the dialog, its table shows the analysis' figures,
Prune is one undoable edit whose network equals `layerloom prune`'s, and a fine-tune is offered."""
from __future__ import annotations

import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from layerloom.app import edits
from layerloom.graph import compile_graph, load_graph
from layerloom.graph.fileformat import graph_to_dict
from layerloom.presets import preset_path
from layerloom.runtime.checkpoints import load_checkpoint
from layerloom.runtime.cli import run
from layerloom.runtime.runs import read_json

from .helpers import block_point

Button = QMessageBox.StandardButton


def right_click_prune(win, monkeypatch, block: str) -> list[str]:
    """Right-click the block on the canvas and choose "Prune channels…"; returns the menu's entries."""
    seen = []

    def pick(menu, *_args):
        seen.extend(a.text() for a in menu.actions())
        next(a for a in menu.actions() if a.text() == "Prune channels…").trigger()
    monkeypatch.setattr(win.view, "run_menu", pick)
    pos = block_point(win, block)
    QApplication.sendEvent(win.view.viewport(), QContextMenuEvent(QContextMenuEvent.Reason.Mouse, pos,
                                                                  win.view.viewport().mapToGlobal(pos)))
    return seen


def outputs(doc, weights=None, seed=0):
    model = compile_graph(doc)
    if weights is not None:
        model.load_state_dict(weights)
    model.eval()
    with torch.no_grad():
        return model(torch.randn(8, 1, 28, 28, generator=torch.Generator().manual_seed(seed)))


def cell(dialog, row: int, col: int) -> str:
    return dialog.table.item(row, col).text()


def test_prune_from_the_block_menu_is_one_undoable_edit_equal_to_the_cli(win, trained, qtbot, monkeypatch,
                                                                         dialogs, tmp_path):
    original = graph_to_dict(win.document)
    weights = load_checkpoint(trained).weights
    before = outputs(win.document, weights)
    assert "Prune channels…" in right_click_prune(win, monkeypatch, "conv2")
    dialog = win.pruning.dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.source.currentData() == str(trained) and dialog.scope.currentData() == "conv2"
    # a person types 25 into the ratio box: the table follows
    dialog.ratio.lineEdit().selectAll()
    qtbot.keyClicks(dialog.ratio.lineEdit(), "25")
    qtbot.waitUntil(lambda: dialog.table.rowCount() and "75 %" in cell(dialog, 1, 2), timeout=10_000)
    blocks = [cell(dialog, r, 0) for r in range(dialog.table.rowCount())]
    assert blocks == ["total", "conv2", "fc1"]            # conv2 loses channels, fc1 the features they fed
    assert cell(dialog, 1, 1) == "2,416" and cell(dialog, 1, 2).startswith("1,812 ")   # 16·6·25+16 → 12·6·25+12
    assert cell(dialog, 0, 1) == "61,706"

    dialogs.save_path = str(tmp_path / "lenet.loom.json")     # Prune asks to save (the weights go beside it)
    dialogs.answers = [Button.Save, Button.No]                # ... then offers a fine-tune: not now
    qtbot.mouseClick(dialog.prune_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    doc = win.document
    assert doc.blocks["conv2"].params["out_channels"] == 12
    assert win.session.flush().blocks["fc1"].params["in_features"] == 300      # "auto": follows the 12 channels
    assert doc.weights == "lenet.pruned-1.safetensors" and (tmp_path / doc.weights).is_file()
    assert any("Fine-tune" in title for _k, title, _t in dialogs.shown)

    # the same pruning through the command line gives the same network and the same outputs
    assert run(["prune", str(trained), "--ratio", "0.25", "--block", "conv2", "--finetune-epochs", "0",
                "--out", str(tmp_path / "cli")]) == 0
    cli_doc = load_graph(next((tmp_path / "cli").glob("*.loom.json")))
    assert graph_to_dict(cli_doc)["blocks"] == graph_to_dict(doc)["blocks"]
    pruned = outputs(doc)
    assert torch.equal(pruned, outputs(cli_doc))
    assert compile_graph(doc).meta["layerloom"]["weights"]["new"] == []

    # one step on the undo stack; Undo restores the exact graph and its (absent) weights
    assert win.undo_stack.undoText().startswith("Prune 25% of the channels of conv2")
    win.actions_by_name["undo"].trigger()
    assert graph_to_dict(win.document) == original and win.document.weights is None
    assert torch.equal(outputs(win.document, weights), before)
    win.actions_by_name["redo"].trigger()
    assert torch.equal(outputs(win.document), pruned)


def test_pruning_is_refused_with_a_reason_while_training_or_with_errors(win, dialogs):
    win.files.open_preset(preset_path("lenet5"))
    win.session.set_locked(win.document, "the graph is training")
    assert win.pruning.open_dialog("conv1") is None
    assert "Stop the run first" in dialogs.texts("information")[-1]
    win.session.set_locked(win.document, None)
    edits.set_param(win.session, "fc1", "in_features", 7)
    assert win.pruning.open_dialog() is None
    assert "fix them first" in dialogs.texts("information")[-1] and "fc1" in dialogs.texts("information")[-1]
    win.session.undo()
    assert win.pruning.open_dialog("fc3") is None           # the classifier's outputs are the network's
    assert "fc3 cannot be pruned: its outputs are the network's outputs" in dialogs.texts("information")[-1]
    dialog = win.pruning.open_dialog()                      # the whole graph, from fresh weights
    assert dialog is not None and dialog.source.currentData() == "fresh" and dialog.scope.currentData() is None
    dialog.reject()


def test_yes_to_the_fine_tune_offer_trains_one_epoch_from_the_kept_weights(win, trained, qtbot, dialogs, tmp_path):
    dialogs.save_path = str(tmp_path / "lenet.loom.json")
    dialogs.answers = [Button.Save, Button.Yes]
    lr = win.training.panel.settings.lr.value()
    epochs = win.training.panel.settings.epochs.value()
    before = dict(win.document.training)
    assert epochs != 1
    dialog = win.pruning.open_dialog()
    dialog.accept()
    try:
        qtbot.waitUntil(lambda: win.training.run.active, timeout=30_000)
        qtbot.waitUntil(lambda: not win.training.run.active, timeout=120_000)
    finally:
        win.training.shutdown(5000)
    runs = sorted(p for p in (tmp_path / "runs").iterdir() if p != trained)
    config = read_json(runs[-1] / "config.json")
    assert config["epochs"] == 1 and config["lr"] == pytest.approx(lr / 3, rel=1e-3)
    graph = read_json(runs[-1] / "graph.loom.json")
    assert graph["weights"] == "lenet.pruned-1.safetensors"
    # the fine-tuning settings were the run's only: the graph and the panel keep the person's own (they
    # were written into the graph, and each prune cut the learning rate by a third again)
    assert win.document.training == before
    assert win.training.panel.settings.lr.value() == pytest.approx(lr)
    assert win.training.panel.settings.epochs.value() == epochs


def test_a_folder_that_cannot_be_written_refuses_the_prune_and_changes_nothing(win, dialogs, tmp_path):
    import shutil
    folder = tmp_path / "gone"
    folder.mkdir()
    dialogs.save_path = str(folder / "lenet.loom.json")
    win.files.open_preset(preset_path("lenet5"))
    assert win.files.save_as()
    before = graph_to_dict(win.document)
    shutil.rmtree(folder)
    folder.write_text("a file where the graph's folder was")     # the weights file cannot be written there
    dialog = win.pruning.open_dialog("conv1")
    dialog.accept()
    assert "could not be written" in dialogs.texts("warning")[-1]
    assert graph_to_dict(win.document) == before and win.undo_stack.count() == 0


def test_the_preview_judges_a_run_before_and_after_pruning_as_layerloom_prune_does(win, trained, qtbot, tmp_path):
    """The dialog's validation accuracy (before → after, no fine-tune) equals the CLI's `--finetune-epochs 0`
    figures for the same run and ratio, which come from runtime.evaluation on the run's validation split."""
    from layerloom.runtime.pruning import prune_run
    dialog = win.pruning.open_dialog()
    dialog.ratio.setValue(40)
    # The table shown must be the preview of 40 % (the spin box's change reaches the preview after a short
    # timer, so the first preview's table can still be on show when the spin box already reads 40).
    qtbot.waitUntil(lambda: win.pruning.job is None and not dialog._timer.isActive() and dialog.rows
                    and win.pruning.preview is not None and win.pruning.preview[:3] == dialog.chosen()
                    and dialog.chosen()[2] == 0.4 and "no fine-tune" in dialog.accuracy_note.text(),
                    timeout=30_000)
    before, after, judged, split = dialog.rows[-1]["accuracy"]
    report = prune_run(trained, 0.4, tmp_path / "cli", finetune_epochs=0)
    assert (before, after) == (report.rows["original"]["val_accuracy"], report.rows["pruned"]["val_accuracy"])
    assert judged == split == 1000 and before != after        # digits: its whole validation split, and a change
    assert cell(dialog, 0, 7) == f"{before * 100:.1f} %"
    assert cell(dialog, 0, 8) == f"{after * 100:.1f} % (no fine-tune yet)"
    assert "all 1,000 samples" in dialog.accuracy_note.text()
    assert cell(dialog, 1, 7) == ""                            # block rows: accuracy belongs to the whole network
    dialog.source.setCurrentIndex(dialog.source.findData("fresh"))
    qtbot.waitUntil(lambda: win.pruning.job is None and "freshly initialised" in dialog.accuracy_note.text(),
                    timeout=30_000)
    assert cell(dialog, 0, 7) == "–"
    dialog.reject()


def test_a_damaged_checkpoint_is_said_in_the_dialog_as_a_sentence(win, trained, qtbot, tmp_path):
    for weights in trained.glob("checkpoints/*/*.safetensors"):
        weights.write_bytes(weights.read_bytes()[:100])       # cut short, as by a full disk
    dialog = win.pruning.open_dialog()
    qtbot.waitUntil(lambda: win.pruning.job is None and bool(dialog.summary.text()), timeout=30_000)
    said = dialog.summary.text()
    assert "Error:" not in said and said[:1].isupper() and not dialog.prune_button.isEnabled(), said
    assert said.startswith("The checkpoint ") and "is corrupt or truncated" in said, said
    assert said.endswith(". Choose other weights above: another run, or freshly initialised ones.") and \
        "Resume or export" not in said, said          # the commands' advice, which this dialog does not offer
    label = dialog.summary                           # every line of it in sight, not squeezed under the table
    assert label.height() >= label.heightForWidth(label.width()), (label.height(), label.heightForWidth(label.width()))
    dialog.grab().save(str(tmp_path / "prune-damaged.png"))
    dialog.reject()


def test_a_ratio_that_would_leave_no_channel_says_the_layer_keeps_one(win, qtbot, monkeypatch):
    win.files.open_preset(preset_path("lenet5"))
    right_click_prune(win, monkeypatch, "conv1")                        # 6 channels
    dialog = win.pruning.dialog
    dialog.ratio.lineEdit().selectAll()
    qtbot.keyClicks(dialog.ratio.lineEdit(), "95")
    qtbot.waitUntil(lambda: "keeps 1 of its 6 channels" in dialog.summary.text(), timeout=10_000)
    assert dialog.summary.text().endswith("conv1 keeps 1 of its 6 channels, the fewest a layer can have: removing "
                                          "95% would leave none.")
    if __import__("os").environ.get("LAYERLOOM_SHOT"):
        dialog.grab().save(__import__("os").environ["LAYERLOOM_SHOT"])
    dialog.reject()


def test_pruning_a_graph_that_starts_from_other_weights_drops_init_from_in_the_same_edit(win, trained, dialogs,
                                                                                          tmp_path):
    """The pruned graph carries its kept weights: runs of it (the offered fine-tune first) must start from them,
    not from the source `init_from` named, which would overwrite every layer pruning left whole."""
    section = {**win.document.training, "init_from": str(trained)}
    assert edits.set_meta(win.session, "training", section)
    before = graph_to_dict(win.document)
    dialogs.save_path = str(tmp_path / "lenet.loom.json")
    dialogs.answers = [Button.Save, Button.No]
    dialog = win.pruning.open_dialog("conv2")
    dialog.accept()
    assert win.document.weights == "lenet.pruned-1.safetensors"
    assert "init_from" not in win.document.training
    assert win.document.training == {k: v for k, v in section.items() if k != "init_from"}
    win.actions_by_name["undo"].trigger()                   # one step: the parameters, weights and init_from
    assert graph_to_dict(win.document) == before and win.document.training["init_from"] == str(trained)
