"""The Export dialog and the embedding view, driven as a person would."""
import random
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt

from layerloom.app import exporting
from layerloom.app.export_dialog import ExportDialog
from layerloom.app.panels.embeddings import EmbeddingView
from layerloom.graph import compile_graph, load_graph
from layerloom.presets import preset_path
from layerloom.runtime.checkpoints import load_checkpoint
from layerloom.runtime.trainer import Trainer


def mlp_run(base, steps=5):
    t = Trainer(load_graph(preset_path("mlp")), {"epochs": 1, "max_steps": steps}, None, runs_base=base)
    assert t.run() is not None
    return Path(t.run_dir)


@pytest.fixture
def exports(win, tmp_path, monkeypatch):
    """The window with its runs in tmp_path/runs; Export dialogs are recorded instead of shown modally."""
    win.training.set_runs_folder(tmp_path / "runs")
    shown = []
    monkeypatch.setattr(exporting, "run_modal", lambda dialog: shown.append(dialog) or 0)
    return shown


def export_with_a_click(qtbot, dialog, formats, out):
    dialog.folder.setText(str(out))
    for fmt, check in dialog.checks.items():
        check.setChecked(fmt in formats)
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.job is None, timeout=120_000)
    return [dialog.results.item(i).text() for i in range(dialog.results.count())]


def test_export_offers_the_open_graphs_runs_newest_first_and_the_runs_tab_exports_the_selected_one(
        win, exports, qtbot, tmp_path):
    import onnxruntime
    older, newer = mlp_run(tmp_path / "runs"), None
    while newer is None or newer == older:          # run folders are named by the second they start
        newer = mlp_run(tmp_path / "runs", steps=40)
    win.files.open_preset(preset_path("lenet5"))   # another graph: none of these runs are its own
    win.actions_by_name["export"].trigger()
    [only] = exports[-1].choices
    assert only.run is None and "untrained" in only.label and exports[-1].export_button.isEnabled()
    win.files.open_preset(preset_path("mlp"))
    win.actions_by_name["export"].trigger()
    dialog = exports[-1]
    assert [c.run for c in dialog.choices] == [newer, older, None]
    assert "val acc" in dialog.choices[0].label and dialog.choice.currentIndex() == 0

    runs = win.training.runs
    runs.refresh()
    item = next(runs.tree.topLevelItem(i) for i in range(runs.tree.topLevelItemCount())
                if runs.tree.topLevelItem(i).text(0) == older.name)
    runs.tree.setCurrentItem(item)
    qtbot.mouseClick(runs.export_button, Qt.MouseButton.LeftButton)
    dialog = exports[-1]
    qtbot.addWidget(dialog)
    assert dialog.source == older and dialog.choice.currentText() == dialog.choices[1].label
    lines = export_with_a_click(qtbot, dialog, ("onnx",), tmp_path / "out")
    assert len(lines) == 1 and lines[0].startswith("✓"), lines
    # the exported file computes what the older run's checkpoint computes in torch, and not the newer run
    ckpt = load_checkpoint(older)
    model = compile_graph(load_graph(older / "graph.loom.json"), weights=False).eval()
    model.load_state_dict(ckpt.weights)
    x = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    session = onnxruntime.InferenceSession(str(tmp_path / "out" / "mlp-784-128-10.onnx"))
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    with torch.no_grad():
        want = model(x).numpy()
    assert np.allclose(got, want, atol=1e-4)
    newer_model = compile_graph(load_graph(newer / "graph.loom.json"), weights=False).eval()
    newer_model.load_state_dict(load_checkpoint(newer).weights)
    with torch.no_grad():
        assert not np.allclose(got, newer_model(x).numpy(), atol=1e-4)


def test_an_untrained_graph_exports_without_leaving_temporary_files_and_one_with_errors_cannot(
        win, exports, qtbot, tmp_path, monkeypatch, dialogs):
    """Also: the folder proposed. It was ./exports/NAME, "/exports/…" for an app started from a desktop
    launcher; now it is beside the graph's file, else where the person last chose, else in their documents."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.chdir("/")                                     # as a desktop launcher starts the app
    win.actions_by_name["export"].trigger()                    # the empty Untitled graph
    dialog = exports[-1]
    assert "cannot be exported" in dialog.about.text() and not dialog.export_button.isEnabled()
    win.files.open_preset(preset_path("mlp"))
    win.actions_by_name["export"].trigger()
    dialog = exports[-1]
    qtbot.addWidget(dialog)
    assert Path(dialog.folder.text()) == tmp_path / "home" / "Documents" / "Layerloom" / "exports" / "mlp-784-128-10"
    assert dialog.chosen.run is None and "untrained" in dialog.about.text()
    lines = export_with_a_click(qtbot, dialog, ("safetensors",), tmp_path / "out")
    assert lines[-1].startswith("✓") and (tmp_path / "out" / "mlp-784-128-10.safetensors").exists()
    assert list((tmp_path / "tmp").iterdir()) == []
    win.actions_by_name["export"].trigger()                    # beside the folder chosen, in a free folder
    assert Path(exports[-1].folder.text()) == tmp_path / "mlp-784-128-10"
    (tmp_path / "mlp-784-128-10").mkdir()
    (tmp_path / "mlp-784-128-10" / "notes.txt").write_text("mine")
    win.actions_by_name["export"].trigger()
    assert Path(exports[-1].folder.text()) == tmp_path / "mlp-784-128-10-2"
    dialogs.save_path = str(tmp_path / "project" / "net.loom.json")
    (tmp_path / "project").mkdir()
    win.actions_by_name["save"].trigger()                      # a graph with a file: beside it
    win.actions_by_name["export"].trigger()
    assert Path(exports[-1].folder.text()) == tmp_path / "project" / "exports" / "mlp-784-128-10"


def test_the_default_formats_export_in_order_with_their_progress_and_each_is_verified(win, exports, qtbot, tmp_path,
                                                                                      monkeypatch):
    """Safetensors, ONNX, pt2 and the project, as the dialog offers them first: each step of the progress
    names its format, in the order they are made, and every format ends verified."""
    win.files.open_preset(preset_path("mlp"))
    win.actions_by_name["export"].trigger()
    dialog = exports[-1]
    qtbot.addWidget(dialog)
    steps = []
    shown = dialog._on_progress
    monkeypatch.setattr(dialog, "_on_progress", lambda fmt, i, n: (steps.append((fmt, i, n, dialog.job is not None)),
                                                                   shown(fmt, i, n)))
    formats = ("safetensors", "onnx", "pt2", "project")
    assert tuple(f for f, c in dialog.checks.items() if c.isChecked()) == formats      # what it offers first
    lines = export_with_a_click(qtbot, dialog, formats, tmp_path / "out")
    assert [(f, i, n) for f, i, n, _ in steps] == [(f, i, 4) for i, f in enumerate(formats)]
    assert all(busy for *_, busy in steps)                      # each step arrived while the export ran
    assert lines[0].startswith("⚠ this graph has not been trained")      # the untrained graph says so first
    assert [line.split(":")[0] for line in lines[1:]] == [f"✓ {f}" for f in formats], lines
    assert dialog.progress.format() == "4 of 4 formats exported and verified"
    assert dialog.close_button.isEnabled() and dialog.open_button.isEnabled()


def test_export_dialog_reports_a_bad_source(qtbot, tmp_path):
    from layerloom.app.exporting import ExportChoice
    dialog = ExportDialog(load_graph(preset_path("mlp")), [ExportChoice("gone", tmp_path / "missing")], 0,
                          str(tmp_path / "out"))
    qtbot.addWidget(dialog)
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.job is None, timeout=60_000)
    assert dialog.results.item(0).text().startswith("✗") and "does not exist" in dialog.results.item(0).text()


def test_export_dialog_refuses_a_folder_a_file_stands_in_and_names_a_path_the_system_refuses(qtbot, tmp_path):
    from layerloom.app.exporting import ExportChoice
    dialog = ExportDialog(load_graph(preset_path("mlp")), [ExportChoice("untrained", None)], 0, str(tmp_path / "out"))
    qtbot.addWidget(dialog)
    (tmp_path / "notes.txt").write_text("a file")
    dialog.folder.selectAll()
    qtbot.keyClicks(dialog.folder, str(tmp_path / "notes.txt" / "exports"))      # typed, as a person would
    assert not dialog.export_button.isEnabled()
    assert dialog.about.text() == (f"Cannot export into {tmp_path / 'notes.txt' / 'exports'}: {tmp_path / 'notes.txt'} "
                                   "is a file, so no folder can be made inside it. Choose another folder.")
    with pytest.raises(OSError):                     # what the file system says of that folder
        (tmp_path / "notes.txt" / "exports").mkdir(parents=True)
    dialog.folder.selectAll()
    qtbot.keyClicks(dialog.folder, str(tmp_path / "later"))
    assert dialog.export_button.isEnabled() and "untrained" in dialog.about.text()
    (tmp_path / "later" / "mlp-784-128-10.safetensors").mkdir(parents=True)     # where the weights file goes
    dialog.show()
    qtbot.waitExposed(dialog)
    for fmt, check in dialog.checks.items():
        if check.isChecked() != (fmt == "safetensors"):
            qtbot.mouseClick(check, Qt.MouseButton.LeftButton)
    assert not dialog.export_button.isEnabled()                          # said before anything is written
    assert dialog.about.text() == (f"Cannot export: {tmp_path / 'later' / 'mlp-784-128-10.safetensors'} is a "
                                   "folder, in the way of the safetensors file: move it or choose another folder.")
    qtbot.mouseClick(dialog.checks["safetensors"], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(dialog.checks["state-dict"], Qt.MouseButton.LeftButton)     # another format: nothing in its way
    assert dialog.export_button.isEnabled() and "untrained" in dialog.about.text()
    (tmp_path / "later" / "model.json").mkdir()                 # a folder that appears while the dialog is open
    qtbot.mouseClick(dialog.checks["pt2"], Qt.MouseButton.LeftButton)
    assert not dialog.export_button.isEnabled()
    assert "later/model.json is a folder, in the way of the file model.json: move it" in dialog.about.text()
    assert sorted(p.name for p in (tmp_path / "later").iterdir()) == ["mlp-784-128-10.safetensors", "model.json"]


def test_embedding_view_shows_neighbours_and_map(qtbot, tmp_path):
    rng = random.Random(0)
    groups = [[f"c{c}w{i}" for i in range(6)] for c in range(4)]
    text = "\n".join(" ".join(rng.choice(g) for _ in range(8)) for g in (rng.choice(groups) for _ in range(2000)))
    (tmp_path / "corpus.txt").write_text(text, encoding="utf-8")
    cfg = {"epochs": 3, "batch_size": 256, "lr": 0.01,
           "dataset_options": {"path": str(tmp_path / "corpus.txt"), "subsample": 0, "min_count": 1}}
    t = Trainer(load_graph(preset_path("word2vec_skipgram")), cfg, None, runs_base=tmp_path / "runs")
    assert t.run() is not None
    view = EmbeddingView()
    qtbot.addWidget(view)
    view.load_run(t.run_dir)
    assert view.wait_loaded()
    assert "emb1" in view.title.text()
    qtbot.keyClicks(view.word, groups[1][0])
    qtbot.keyClick(view.word, Qt.Key.Key_Return)
    assert view.neighbours.rowCount() == 15
    top = [view.neighbours.item(r, 0).text() for r in range(5)]
    assert sum(w in groups[1] for w in top) >= 3       # by chance about 1 of 5 would be
    assert len(view.scatter.data) == 24
    view.word.setText("nonsense")
    view.lookup()
    assert "not in the vocabulary" in view.message.text()


def test_window_offers_export_and_embeddings(win, exports):
    export_action = win.actions_by_name["export"]
    assert export_action in win.menus["file"].actions() and export_action.shortcut().toString() == "Ctrl+E"
    win.actions_by_name["embeddings"].trigger()
    assert not win.docks["embeddings"].isHidden() and "No trained run" in win.extras.embeddings.message.text()
