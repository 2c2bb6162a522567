"""The Experiment panel's Name note describes a running sweep's own folder, wherever the graph open now would put
a new one (File ▸ New changes that folder), and once another graph is open the panel names the graph the
sweep ran on."""
from __future__ import annotations

import threading

from PySide6.QtCore import Qt

from layerloom.graph.fileformat import load_graph
from layerloom.graph.quoting import shown
from layerloom.presets import preset_path

LEFT = Qt.MouseButton.LeftButton


def test_the_name_note_follows_the_running_sweep_after_file_new(win, qtbot, tmp_path, dialogs, monkeypatch):
    from layerloom.runtime.sweeps import coordinator
    release = threading.Event()

    def run(self):             # no trial processes: the panel's part is what it says while the sweep runs
        self._emit({"type": "sweep_started"})
        release.wait(60)
        self._emit({"type": "sweep_finished", "stopped": False, "results": []})
        return []
    monkeypatch.setattr(coordinator.SweepRunner, "run", run)
    doc = load_graph(preset_path("lenet5"))
    doc.training.update({"epochs": 1, "batch_size": 100, "dataset_options": {"train_count": 300}})
    win.session.set_document(doc)
    dialogs.save_path = str(tmp_path / "work" / "lenet.loom.json")
    (tmp_path / "work").mkdir()
    assert win.files.save_as()                        # its sweeps go beside it now, in work/sweeps
    folder = tmp_path / "work" / "sweeps" / "LeNet-5-sweep"
    where = shown(str(folder), 90)                    # (a long path is cut in the note; the tooltip has it whole)
    win.actions_by_name["new_sweep"].trigger()
    panel = win.experiments
    panel.params.setPlainText("training.lr=choice:0.003,0.01")
    try:
        qtbot.mouseClick(panel.start_button, LEFT)
        qtbot.waitUntil(lambda: not panel._checking, timeout=30_000)
        assert panel.running and panel.folder == folder
        assert panel.name_note.text() == f"running; its trials go in {where}"
        win.actions_by_name["new"].trigger()            # saved: nothing asked
        assert win.document.name == "Untitled" and panel.running and panel.name.text() == "LeNet-5-sweep"
        assert panel.name_note.text() == f"running on “LeNet-5” (not the graph open now); its trials go in {where}"
        assert panel.name_note.toolTip() == str(folder)
    finally:
        release.set()
    qtbot.waitUntil(lambda: not panel.running and panel.message.text().startswith("Sweep finished"), timeout=30_000)
    assert panel.message.text() == "Sweep finished on “LeNet-5” (not the graph open now): no trial completed."
    documents = tmp_path / "home" / "Documents" / "Layerloom" / "sweeps"    # Untitled's next sweep: its own place
    assert panel.name.text() == "Untitled-sweep"
    assert panel.name_note.text() == f"a new sweep in {shown(str(documents / 'Untitled-sweep'), 90)}"
    assert panel.name_note.toolTip() == str(documents / "Untitled-sweep")
