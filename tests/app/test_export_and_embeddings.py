"""The Export dialog and the embedding view, driven as a person would."""
import random

from PySide6.QtCore import Qt

from layerloom.app.export_dialog import ExportDialog
from layerloom.app.panels.embeddings import EmbeddingView
from layerloom.graph import load_graph
from layerloom.presets import preset_path
from layerloom.runtime.trainer import Trainer


def test_export_dialog_exports_and_reports_each_format(qtbot, tmp_path):
    t = Trainer(load_graph(preset_path("mlp")), {"epochs": 1, "max_steps": 5}, None, runs_base=tmp_path / "runs")
    assert t.run() is not None
    dialog = ExportDialog(t.run_dir, "MLP run", str(tmp_path / "out"))
    qtbot.addWidget(dialog)
    for fmt, check in dialog.checks.items():
        check.setChecked(fmt in ("safetensors", "onnx"))
    assert dialog.selected_formats() == ["safetensors", "onnx"]
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.thread is None, timeout=120_000)
    lines = [dialog.results.item(i).text() for i in range(dialog.results.count())]
    assert len(lines) == 2 and all(line.startswith("✓") for line in lines), lines
    assert "max |Δ|" in lines[1] and (tmp_path / "out" / "mlp-784-128-10.onnx").exists()
    assert dialog.progress.format() == "2 of 2 formats exported and verified"


def test_export_dialog_reports_a_bad_source(qtbot, tmp_path):
    dialog = ExportDialog(tmp_path / "missing", "nothing", str(tmp_path / "out"))
    qtbot.addWidget(dialog)
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.thread is None, timeout=60_000)
    assert dialog.results.item(0).text().startswith("✗") and "does not exist" in dialog.results.item(0).text()


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
    assert view.load_run(t.run_dir)
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


def test_window_offers_export_and_embeddings(qtbot, tmp_path, monkeypatch):
    from layerloom.app import extras_ui
    from layerloom.app.window import MainWindow
    win = MainWindow(restore_settings=False)
    qtbot.addWidget(win)
    export_action = win.actions_by_name["export"]
    assert export_action in win.menus["file"].actions()
    assert export_action.shortcut().toString() == "Ctrl+E"
    shown = []
    monkeypatch.setattr(ExportDialog, "exec", lambda self: shown.append(self) or 0)
    monkeypatch.setattr(extras_ui, "latest_run", lambda w: None)
    export_action.trigger()
    assert shown and shown[0].source.name == "graph.loom.json"      # untrained: the current graph
    win.actions_by_name["embeddings"].trigger()
    assert not win.docks["embeddings"].isHidden() and "No trained run" in win.extras.embeddings.message.text()
