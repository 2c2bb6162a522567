"""The runs list after a run ends: only that run's folder is read again, and the list then shows what a
full re-read of the runs folder would, with the run selected."""
import json
from pathlib import Path

from PySide6.QtCore import Qt

from layerloom.app.panels import runs as runs_module
from layerloom.app.panels.runs import RunsPanel


def write_run(base: Path, name: str, graph: str = "g", status: str | None = "finished", acc: float = 0.5) -> Path:
    path = base / name
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps({"dataset": "mnist-sample", "epochs": 1}))
    (path / "graph.loom.json").write_text(json.dumps({"name": graph}))
    if status:
        (path / "summary.json").write_text(json.dumps({"status": status, "epochs": 1, "val_accuracy": acc,
                                                       "val_loss": 1.0}))
    return path


def rows(panel: RunsPanel) -> list[list[str]]:
    tree = panel.tree
    return [[tree.topLevelItem(i).text(c) for c in range(tree.columnCount())]
            + [tree.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole), tree.topLevelItem(i).isSelected()]
            for i in range(tree.topLevelItemCount())]


def test_a_finished_run_is_read_alone_and_listed_as_a_full_reread_would(qtbot, tmp_path, monkeypatch):
    base = tmp_path / "runs"
    for name in ("2026-11-30_10-00-00_a", "2026-11-30_11-00-00_b", "2026-11-30_09-00-00_c"):
        write_run(base, name)
    trial = write_run(tmp_path / "sweep", "trial-0", graph="t")        # a sweep trial listed beside them
    panel = RunsPanel(base)
    qtbot.addWidget(panel)
    panel.compare([trial])
    reads = []
    real_read = runs_module.read_run
    monkeypatch.setattr(runs_module, "read_run", lambda p, *cache: reads.append(Path(p).name) or real_read(p, *cache))

    # a new run, newer than all: read alone, first in the list (before the sweep trial), selected
    new = write_run(base, "2026-11-30_12-00-00_new", status="finished", acc=0.75)
    panel.show_run(str(new))
    assert reads == [new.name]
    shown = rows(panel)
    panel.refresh(select=str(new))                       # what reading every folder again shows
    assert shown == rows(panel)
    assert [r[-2] for r in shown] == [str(new), str(base / "2026-11-30_11-00-00_b"),
                                      str(base / "2026-11-30_10-00-00_a"), str(base / "2026-11-30_09-00-00_c"),
                                      str(trial)]
    assert [r[-1] for r in shown] == [True, False, False, False, False] and shown[0][4] == "75.00%"

    # a run between older ones, then a stopped run resumed to the end in its own folder: its row changes in place
    middle = write_run(base, "2026-11-30_10-30-00_mid", status="stopped")
    reads.clear()
    panel.show_run(middle)
    write_run(base, middle.name, status="finished", acc=0.9)
    panel.show_run(middle)
    assert reads == [middle.name, middle.name]
    shown = rows(panel)
    panel.refresh(select=str(middle))
    assert shown == rows(panel)
    row = next(r for r in shown if r[-2] == str(middle))
    assert row[-1] and row[4] == "90.00%" and row[7] == "finished" and len(shown) == 6


def test_a_run_outside_the_runs_folder_reads_the_whole_list(qtbot, tmp_path):
    base = tmp_path / "runs"
    write_run(base, "2026-11-30_10-00-00_a")
    panel = RunsPanel(base)
    qtbot.addWidget(panel)
    elsewhere = write_run(tmp_path / "other", "2026-11-30_12-00-00_x")
    write_run(base, "2026-11-30_11-00-00_b")              # written meanwhile: a full re-read finds it
    panel.show_run(elsewhere)
    assert [r[0] for r in rows(panel)] == ["2026-11-30_11-00-00_b", "2026-11-30_10-00-00_a"]



def test_showing_the_runs_tab_again_reads_only_the_runs_that_changed(qtbot, tmp_path, monkeypatch):
    import layerloom.runtime.runs as runtime_runs
    for name in ("20250101-000001-g", "20250101-000002-g", "20250101-000003-g"):
        write_run(tmp_path, name)
    panel = RunsPanel(tmp_path)
    qtbot.addWidget(panel)
    read = []
    real = runtime_runs.read_json
    monkeypatch.setattr(runtime_runs, "read_json", lambda path: read.append(Path(path)) or real(path))
    panel.refresh()                                        # the Runs tab shown again, nothing changed on disk
    assert read == [] and panel.tree.topLevelItemCount() == 3
    changed = tmp_path / "20250101-000002-g"
    runtime_runs.write_json(changed / "summary.json", {"status": "stopped", "epochs": 1})   # `layerloom train` ended
    (tmp_path / "0-not-a-run").mkdir()
    panel.refresh()
    assert {p.parent for p in read} == {changed}           # that run only (the new folder holds no run)
    assert [r[runs_module.STATUS] for r in rows(panel)] == ["finished", "stopped", "finished"]
    fresh = runtime_runs.list_runs(tmp_path)               # without the panel's memory: every run read
    assert [(r.name, r.config, r.summary) for r in panel.runs] == [(r.name, r.config, r.summary) for r in fresh]


def test_the_runs_folder_cannot_change_while_a_run_trains_into_it(qtbot, tmp_path):
    """Choosing another folder during a run hid the run that trains (it was listed in neither folder)."""
    base = tmp_path / "runs"
    running = write_run(base, "2026-11-30_10-00-00_a", status=None)
    panel = RunsPanel(base)
    qtbot.addWidget(panel)
    assert panel.change.isEnabled()
    panel.set_training(True, running)
    assert not panel.change.isEnabled()
    assert panel.change.toolTip() == runs_module.FOLDER_WAITS
    assert rows(panel)[0][-2] == str(running)
    panel.set_training(False)
    assert panel.change.isEnabled() and panel.change.toolTip() == runs_module.FOLDER_TIP


def test_a_damaged_run_folder_is_left_out_and_said_beside_the_folder(qtbot, tmp_path):
    base = tmp_path / "runs"
    good = write_run(base, "2026-11-30_10-00-00_a")
    bad = write_run(base, "2026-11-30_11-00-00_b")
    (bad / "config.json").write_text("[" * 100_000)             # nested beyond what the JSON reader takes
    panel = RunsPanel(base)
    qtbot.addWidget(panel)
    assert [r[-2] for r in rows(panel)] == [str(good)]
    assert "1 damaged run folder left out (hover for which)" in panel.folder.text()
    assert panel.folder.toolTip() == ("2026-11-30_11-00-00_b/config.json is damaged (its JSON is nested too deeply "
                                      "to read), so the run is left out of the list: put back a good copy of the "
                                      "file, or delete the run's folder if the run is not needed")
    (bad / "config.json").write_text("{}")
    panel.refresh()
    assert len(rows(panel)) == 2 and "damaged run" not in panel.folder.text() and panel.folder.toolTip() == ""
