"""The Export dialog while an export runs and after: what it shows is what it exported."""
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QPushButton
from safetensors.torch import load_file

from layerloom.app import export_dialog
from layerloom.app.export_dialog import ExportDialog
from layerloom.app.exporting import ExportChoice
from layerloom.graph import load_graph
from layerloom.presets import preset_path


def test_choices_hold_still_while_exporting_and_open_folder_opens_the_export(qtbot, tmp_path, monkeypatch):
    opened = []
    monkeypatch.setattr(export_dialog.QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()))
    dialog = ExportDialog(load_graph(preset_path("mlp")), [ExportChoice("untrained", None)], 0, str(tmp_path / "a"))
    qtbot.addWidget(dialog)
    for fmt, check in dialog.checks.items():
        check.setChecked(fmt == "safetensors")
    QTest.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    running = dialog.job is not None
    browse = next(b for b in dialog.findChildren(QPushButton) if b.text() == "Browse…")
    editable = [w.text() for w in (dialog.folder, browse, *dialog.checks.values()) if w.isEnabled()]
    qtbot.waitUntil(lambda: dialog.job is None, timeout=60_000)
    assert running and editable == []
    assert dialog.folder.isEnabled() and dialog.checks["onnx"].isEnabled()
    dialog.folder.clear()
    QTest.keyClicks(dialog.folder, str(tmp_path / "b"))        # the next export's folder, not yet written
    QTest.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    assert opened == [str(tmp_path / "a")]
    weights = load_file(str(next((tmp_path / "a").glob("*.safetensors"))))     # the folder holds the export
    assert weights and not (tmp_path / "b").exists()


def test_onnx_and_pt2_say_they_take_any_number_of_steps(qtbot):
    from PySide6.QtWidgets import QLabel
    dialog = ExportDialog(load_graph(preset_path("rnn_classifier")), [ExportChoice("untrained", None)], 0, "out")
    qtbot.addWidget(dialog)
    hints = [label.text() for label in dialog.findChildren(QLabel)]
    assert "one file, dynamic batch and steps; checked with onnxruntime" in hints
    assert "dynamic batch and steps; loads with torch.export.load" in hints


def test_a_graph_with_a_weights_file_is_offered_with_those_weights_not_as_freshly_initialised(qtbot, tmp_path):
    """An imported model's graph names its weights file, and its export carries them: the dialog called it
    "untrained (freshly initialised weights)"."""
    from layerloom.app.exporting import choices_for
    from layerloom.graph.importers import import_source, save_import
    (tmp_path / "m.py").write_text("from torch import nn\n\n\ndef build():\n    return nn.Sequential(nn.Linear(6, 3))\n")
    save_import(import_source(f"{tmp_path / 'm.py'}:build", (6,)), tmp_path / "tiny.loom.json")
    doc = load_graph(tmp_path / "tiny.loom.json")
    dialog = ExportDialog(doc, choices_for(doc, tmp_path / "runs"), 0, str(tmp_path / "out"))
    qtbot.addWidget(dialog)
    assert dialog.choice.currentText() == "build, as it is (the weights of tiny.safetensors)"
    assert "carries the weights of tiny.safetensors" in dialog.about.text()
    assert "freshly initialised" not in dialog.about.text()


def test_after_an_export_the_dialog_says_it_exported_not_that_it_cannot(qtbot, tmp_path):
    """Right after a good export the line above the formats turned red: "Cannot export: … exists", as if the
    export had failed; it now says where it exported and that another export needs another folder."""
    dialog = ExportDialog(load_graph(preset_path("mlp")), [ExportChoice("untrained", None)], 0, str(tmp_path / "a"))
    qtbot.addWidget(dialog)
    for fmt, check in dialog.checks.items():
        check.setChecked(fmt == "project")                      # a folder that must be empty to export into
    QTest.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.job is None, timeout=60_000)
    assert dialog.progress.text() == "1 of 1 formats exported and verified"
    assert dialog.about.text().startswith(f"Exported into {tmp_path / 'a'}. To export again, choose another folder")
    assert "Cannot" not in dialog.about.text() and not dialog.export_button.isEnabled()
    dialog.folder.clear()
    QTest.keyClicks(dialog.folder, str(tmp_path / "b"))
    assert dialog.export_button.isEnabled() and not dialog.about.text().startswith("Exported")
    dialog.folder.clear()
    QTest.keyClicks(dialog.folder, str(tmp_path / "a"))          # back to the folder exported: taken, said plainly
    assert dialog.about.text().startswith("Exported into") and not dialog.export_button.isEnabled()


def test_a_run_that_ends_during_an_export_is_relabelled_once_the_export_is_done(qtbot, tmp_path, monkeypatch):
    import threading
    release = threading.Event()
    real = export_dialog.export_model

    def held(*args, **kwargs):
        release.wait(10)
        return real(*args, **kwargs)
    monkeypatch.setattr(export_dialog, "export_model", held)
    now = [ExportChoice("Run A · training now", None, training=True)]
    dialog = ExportDialog(load_graph(preset_path("mlp")), now, 0, str(tmp_path / "a"), training=True,
                          choices_now=lambda: [ExportChoice("Run A · finished", None)])
    qtbot.addWidget(dialog)
    for fmt, check in dialog.checks.items():
        check.setChecked(fmt == "safetensors")
    QTest.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    dialog.training_ended()                         # while exporting: what is exporting stays what it shows
    assert dialog.choice.currentText() == "Run A · training now"
    release.set()
    qtbot.waitUntil(lambda: dialog.job is None, timeout=60_000)
    assert dialog.choice.currentText() == "Run A · finished" and not dialog.training


def test_a_folder_typed_with_a_tilde_goes_home_and_a_relative_one_is_refused(qtbot, tmp_path, monkeypatch):
    home = tmp_path / ("home-" + "x" * 120)           # a long home folder is proposed whole, not cut
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    dialog = ExportDialog(load_graph(preset_path("mlp")), [ExportChoice("untrained", None)], 0, str(tmp_path / "a"))
    qtbot.addWidget(dialog)
    for fmt, check in dialog.checks.items():
        check.setChecked(fmt == "safetensors")
    dialog.folder.clear()
    QTest.keyClicks(dialog.folder, "relative-exp")
    assert not dialog.export_button.isEnabled()
    assert dialog.about.text() == (f"Cannot export into relative-exp: give the whole path of a folder (such as "
                                   f"{home / 'relative-exp'}), or choose one with Browse…")
    dialog.folder.clear()
    QTest.keyClicks(dialog.folder, "~nosuchuser-layerloom/x")
    assert not dialog.export_button.isEnabled()
    assert dialog.about.text() == ("Cannot export into ~nosuchuser-layerloom/x: this machine has no user "
                                   "nosuchuser-layerloom; give the whole path of a folder, or choose one with Browse…")
    dialog.folder.clear()
    QTest.keyClicks(dialog.folder, "~/exp-tilde")
    assert dialog.export_button.isEnabled(), dialog.about.text()
    exported = []
    dialog.exported.connect(exported.append)
    QTest.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.job is None, timeout=60_000)
    assert load_file(str(next((home / "exp-tilde").glob("*.safetensors"))))
    assert not (tmp_path / "~").exists() and not (tmp_path / "relative-exp").exists()
    assert [str(f) for f in exported] == [str(home / "exp-tilde")]
