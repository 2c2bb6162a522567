"""Opening, saving, presets, asking before losing changes, recent files, crash recovery, screenshots."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox

from layerloom.app import edits, recovery, window
from layerloom.app.canvas.view import LEGIBLE_ZOOM
from layerloom.app.launch import launch
from layerloom.app.window import MainWindow
from layerloom.graph import analyze
from layerloom.graph.diagnostics import shape_text
from layerloom.graph.fileformat import graph_to_dict, load_graph
from layerloom.presets import preset_path, preset_paths

SB = QMessageBox.StandardButton


@pytest.mark.parametrize("path", preset_paths(), ids=lambda p: p.name.removesuffix(".loom.json"))
def test_every_preset_opens_and_the_scene_matches_the_document(win, path):
    title = json.loads(path.read_text())["name"]
    act = next(a for a in win.menus["presets"].actions() if a.text() == title)
    act.trigger()
    doc = win.document
    assert graph_to_dict(doc)["blocks"] == json.loads(path.read_text())["blocks"]
    result = analyze(doc)
    assert set(win.scene.blocks) == set(doc.blocks)
    assert set(win.scene.wires) == set(doc.edges)
    for bid, item in win.scene.blocks.items():
        block = doc.blocks[bid]
        assert item.look.kind == block.kind
        assert item.pos().toTuple() == tuple(block.pos)
        r = result.blocks[bid]
        if r.ok:
            assert item.look.shape == "→ " + shape_text(r.output_shape)
        assert len(item.in_ports) == doc.input_count(bid)
    for e, w in win.scene.wires.items():
        assert w.label == shape_text(result.blocks[e.src].output_shape)
    assert win.summary.model.rowCount() == len(doc.blocks)
    assert win.session.path is None            # a preset opens as a new graph
    assert win.windowTitle().startswith(doc.name) and not win.isWindowModified()
    shown = win.view.mapToScene(win.view.viewport().rect()).boundingRect()
    graph = win.scene.graph_rect()                  # opened and fitted, or where that is too small to read, its
    assert shown.contains(graph) or (win.view.zoom == LEGIBLE_ZOOM and shown.contains(graph.topLeft()))  # start


def test_opening_a_broken_file_shows_the_loader_message_and_keeps_the_document(win, dialogs, tmp_path):
    win.files.open_preset(preset_path("lenet5"))
    edits.set_param(win.session, "conv1", "out_channels", 8)
    before = graph_to_dict(win.document)
    bad = tmp_path / "bad.loom.json"
    data = json.loads(preset_path("lenet5").read_text())
    data["blocks"][1]["params"]["kernel_size"] = "huge"
    bad.write_text(json.dumps(data))
    dialogs.answers = [SB.Discard]
    assert not win.files.open(bad)
    (text,) = dialogs.texts("warning")
    assert "$.blocks[1].params.kernel_size" in text and "bad.loom.json" in text
    assert graph_to_dict(win.document) == before
    assert win.undo_stack.canUndo()


def test_opening_something_that_is_not_a_graph(win, dialogs, tmp_path):
    for name, content in (("notes.txt", "hello"), ("image.png", b"\x89PNG\r\n\x1a\n\x00\x00")):
        path = tmp_path / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        dialogs.open_path = str(path)
        win.actions_by_name["open"].trigger()
        assert not win.document.blocks
    assert len(dialogs.texts("warning")) == 2
    assert all("could not be opened" in t for t in dialogs.texts("warning"))


def test_save_as_then_save_writes_the_file_and_clears_the_mark(win, dialogs, tmp_path):
    win.files.open_preset(preset_path("lenet5"))
    edits.set_param(win.session, "fc1", "out_features", 100)
    assert win.isWindowModified()
    dialogs.save_path = str(tmp_path / "mine")
    win.actions_by_name["save"].trigger()       # untitled: Save asks where
    saved = tmp_path / "mine.loom.json"
    assert load_graph(saved).blocks["fc1"].params["out_features"] == 100
    assert not win.isWindowModified()
    assert "mine.loom.json" in win.windowTitle()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    edits.set_param(win.session, "fc1", "out_features", 90)
    win.actions_by_name["save"].trigger()
    assert load_graph(saved).blocks["fc1"].params["out_features"] == 90
    assert win.files.recent_files()[0] == str(saved.resolve())


def test_unsaved_changes_are_asked_about(win, dialogs, tmp_path):
    win.files.open_preset(preset_path("lenet5"))
    edits.set_param(win.session, "fc1", "out_features", 100)
    dialogs.answers = [SB.Cancel]
    assert not win.files.new()
    assert "fc1" in win.document.blocks
    dialogs.answers = [SB.Cancel]
    assert not win.close()
    assert win.isVisible()
    dialogs.answers = [SB.Save]
    dialogs.save_path = str(tmp_path / "kept.loom.json")
    assert win.files.new()
    assert (tmp_path / "kept.loom.json").exists() and not win.document.blocks
    assert len(dialogs.texts("question")) == 3


def test_recent_files_menu(win, tmp_path):
    for name in ("a", "b"):
        path = tmp_path / f"{name}.loom.json"
        path.write_text(preset_path("mlp").read_text())
        win.files.open(path)
    win.menus["recent"].aboutToShow.emit()
    names = [a.text() for a in win.menus["recent"].actions() if a.text()]
    assert names[:2] == ["b.loom.json", "a.loom.json"]
    next(a for a in win.menus["recent"].actions() if a.text() == "a.loom.json").trigger()
    assert win.session.path.name == "a.loom.json"
    assert QSettings().value("recent_files")[0].endswith("a.loom.json")


def test_autosave_and_restore_after_a_crash(win, dialogs, qtbot):
    win.files.open_preset(preset_path("lenet5"))
    edits.set_param(win.session, "conv1", "out_channels", 12)
    win.files.autosave()
    own = recovery.own_file()
    assert own.exists() and str(own).startswith(os.environ["HOME"])
    assert win.autosave_timer.interval() <= 30_000 and win.autosave_timer.isActive()
    crashed = own.with_name("session-999999.json")      # a process that is gone
    own.rename(crashed)
    other = MainWindow(restore_settings=False)
    qtbot.addWidget(other)
    dialogs.answers = [SB.Yes]
    assert other.files.offer_recovery()
    assert other.document.blocks["conv1"].params["out_channels"] == 12
    assert other.isWindowModified() and not crashed.exists()
    other.session.undo_stack.setClean()
    assert not recovery.own_file().exists()          # saved or clean: nothing to recover


def test_recovery_is_removed_when_the_user_declines(win, dialogs):
    target = recovery.recovery_dir() / "session-999998.json"
    recovery.write(load_graph(preset_path("mlp")), None, target)
    dialogs.answers = [SB.No]
    assert not win.files.offer_recovery()
    assert not target.exists() and not win.document.blocks


def test_a_recovery_file_nested_too_deep_to_read_is_passed_over(win, dialogs):
    """JSON nested deeper than Python's parser goes raised RecursionError at start, out of the offer."""
    deep = recovery.recovery_dir() / "session-999997.json"
    deep.parent.mkdir(parents=True, exist_ok=True)
    deep.write_text("[" * 100_000 + "]" * 100_000)
    good = _crashed(999996, "mlp", 1000.0)
    dialogs.answers = [SB.Yes]
    assert win.files.offer_recovery()
    assert win.document.blocks and not good.exists() and deep.exists()
    win.session.undo_stack.setClean()


def test_settings_remember_geometry(win, qtbot):
    win.resize(770, 500)     # above the minimum size; the offscreen screen is small: restoring clamps to it
    win.docks["summary"].hide()
    win.session.undo_stack.setClean()
    win.close()
    again = MainWindow(restore_settings=True)
    qtbot.addWidget(again)
    assert again.size().toTuple() == (770, 500)
    assert again.docks["summary"].isHidden() and not again.docks["inspector"].isHidden()


def test_screenshot_renders_a_png(tmp_path, capsys):
    out = tmp_path / "shot.png"
    assert launch(["--screenshot", str(out), "--size", "800x500", str(preset_path("lenet5"))]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PySide6.QtGui import QImage
    image = QImage(str(out))
    assert image.width() >= 800 and image.height() >= 500


def test_view_code_dialog(win, qtbot, monkeypatch):
    from PySide6.QtGui import QGuiApplication
    from layerloom.app.panels.code_view import CodeDialog
    win.files.open_preset(preset_path("lenet5"))
    dialog = CodeDialog(win.document, win)
    qtbot.addWidget(dialog)
    assert "class" in dialog.text.toPlainText() and "self.conv1" in dialog.text.toPlainText()
    assert dialog.text.isReadOnly()
    dialog.copy_button.click()
    assert "self.conv1" in QGuiApplication.clipboard().text()
    edits.set_param(win.session, "fc1", "in_features", 3)
    broken = CodeDialog(win.document, win)
    qtbot.addWidget(broken)
    assert "fc1" in broken.text.toPlainText() and not broken.copy_button.isEnabled()


def test_view_code_builds_auto_parameters_for_the_chosen_data_set(win, qtbot, monkeypatch):
    """fc3's out_features "auto", figures chosen in the Training panel: View Code has the 12 classes the
    Summary shows, not the fallback 10."""
    from layerloom.app.panels.code_view import CodeDialog
    win.files.open_preset(preset_path("lenet5"))
    edits.set_param(win.session, "fc3", "out_features", "auto")
    combo = win.training.panel.dataset
    combo.setCurrentIndex(combo.findData("figures"))
    qtbot.waitUntil(lambda: (win.session.data or {}).get("num_classes") == 12, timeout=30_000)
    assert win.session.flush().blocks["fc3"].output_shape == (12,)
    shown = []
    monkeypatch.setattr(window, "run_modal", lambda dialog: shown.append(dialog) or 0)
    win.actions_by_name["view_code"].trigger()
    [dialog] = shown
    qtbot.addWidget(dialog)
    assert "self.fc3 = nn.Linear(in_features=84, out_features=12)" in dialog.text.toPlainText()


def test_dropping_a_graph_file_on_the_canvas_opens_it(win, tmp_path):
    from .helpers import drop_file
    path = tmp_path / "dropped.loom.json"
    path.write_text(preset_path("mlp").read_text())
    drop_file(win, path)
    assert win.session.path == path and win.document.blocks


def _crashed(pid, preset, saved):
    target = recovery.recovery_dir() / f"session-{pid}.json"
    recovery.write(load_graph(preset_path(preset)), None, target)
    data = json.loads(target.read_text())
    data["saved"] = saved
    target.write_text(json.dumps(data))
    return target


def test_every_crashed_window_is_offered_and_only_what_was_chosen_is_deleted(win, dialogs):
    older, newer = _crashed(999990, "mlp", 1000.0), _crashed(999991, "lenet5", 2000.0)
    dialogs.answers = [SB.Yes]                       # restore the newest: the other is kept
    assert win.files.offer_recovery()
    assert "conv1" in win.document.blocks and not newer.exists() and older.exists()
    win.session.undo_stack.setClean()
    dialogs.answers = [SB.Yes]                       # next start: the other one is offered
    assert win.files.offer_recovery()
    assert "conv1" not in win.document.blocks and not older.exists()


def test_discarding_the_newest_offers_the_next(win, dialogs):
    older, newer = _crashed(999992, "mlp", 1000.0), _crashed(999993, "lenet5", 2000.0)
    dialogs.answers = [SB.No, SB.Yes]
    assert win.files.offer_recovery()
    assert not newer.exists() and not older.exists() and "conv1" not in win.document.blocks
    assert len(dialogs.shown) == 2 and "(1 of 2)" in dialogs.shown[0][2]


def test_keeping_for_later_deletes_nothing(win, dialogs):
    files = [_crashed(999994, "mlp", 1000.0), _crashed(999995, "lenet5", 2000.0)]
    dialogs.answers = [SB.Cancel]
    assert not win.files.offer_recovery()
    assert all(f.exists() for f in files) and not win.document.blocks


def test_screenshot_of_a_big_preset_exits_cleanly_with_its_data_set_still_loading(tmp_path):
    """The process used to abort ("QThread: Destroyed while thread 'layerloom-data' is still running")."""
    import os
    import subprocess
    import sys
    out = tmp_path / "alexnet.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "layerloom.app.main", "--screenshot", str(out),
                           str(preset_path("alexnet"))], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Destroyed while thread" not in proc.stderr and out.read_bytes()[:4] == b"\x89PNG"


def test_unsaved_work_from_a_newer_layerloom_is_kept_not_called_damaged(win, dialogs):
    target = _crashed(999996, "mlp", 1000.0)
    data = json.loads(target.read_text())
    data["graph"]["version"] = 99
    target.write_text(json.dumps(data))
    dialogs.answers = [SB.Yes]
    assert not win.files.offer_recovery()
    assert target.exists() and not win.document.blocks               # kept for the newer Layerloom
    text = dialogs.texts("warning")[-1]
    assert "newer Layerloom" in text and "damaged" not in text and "start the newer Layerloom" in text


@pytest.mark.parametrize("saved", [1e300, -5.0, "1e999"])
def test_a_recovery_file_with_an_impossible_time_is_still_offered(win, dialogs, saved):
    target = _crashed(999997, "mlp", 0.0)
    target.write_text(target.read_text().replace('"saved": 0.0', f'"saved": {json.dumps(saved)}'))
    dialogs.answers = [SB.Yes]
    assert win.files.offer_recovery()                                   # offered, dated by the file
    assert win.document.blocks and not target.exists()
    win.session.undo_stack.setClean()


def _opened_and_edited(win, tmp_path):
    path = tmp_path / "mine.loom.json"
    path.write_text(preset_path("mlp").read_text())
    assert win.files.open(str(path))
    bid = next(b for b, blk in win.document.blocks.items() if blk.kind == "Linear")
    edits.set_param(win.session, bid, "out_features", 77)
    return path, bid


def test_saving_over_a_file_changed_on_disk_asks_first(win, dialogs, tmp_path):
    path, bid = _opened_and_edited(win, tmp_path)
    theirs = path.read_text().replace('"name": "', '"name": "Theirs ', 1)
    path.write_text(theirs)                                   # another program saves the same file
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 5_000_000_000))
    dialogs.answers = [SB.Cancel]
    assert not win.files.save()
    assert path.read_text() == theirs and win.isWindowModified()
    assert "changed on disk" in dialogs.texts("question")[-1] and "Save As" in dialogs.texts("question")[-1]
    dialogs.answers = [SB.Save]
    assert win.files.save()
    assert load_graph(path).blocks[bid].params["out_features"] == 77
    edits.set_param(win.session, bid, "out_features", 78)     # our own saves do not ask again
    asked = len(dialogs.texts("question"))
    assert win.files.save() and len(dialogs.texts("question")) == asked


def test_a_read_only_file_is_not_replaced_and_the_message_says_what_to_do(win, dialogs, tmp_path):
    path, bid = _opened_and_edited(win, tmp_path)
    before = path.read_text()
    path.chmod(0o444)
    assert not win.files.save()
    assert path.read_text() == before and win.isWindowModified()
    text = dialogs.texts("warning")[-1]
    assert "read-only" in text and "Save As" in text


def test_saving_into_a_folder_that_is_not_there_says_so(win, dialogs, tmp_path):
    edits.add_block(win.session, "ReLU", (0, 0))
    dialogs.save_path = str(tmp_path / "gone" / "mine.loom.json")
    assert not win.files.save_as()
    text = dialogs.texts("warning")[-1]
    assert "does not exist" in text and "Save As" in text and win.isWindowModified()


def test_a_recent_file_named_with_an_ampersand_shows_it(win, tmp_path):
    """"R&D.loom.json" showed as "RD.loom.json" with the D underlined (a keyboard shortcut)."""
    path = tmp_path / "R&D.loom.json"
    path.write_text(preset_path("mlp").read_text())
    assert win.files.open(path)
    win.menus["recent"].aboutToShow.emit()
    action = win.menus["recent"].actions()[0]
    assert action.text() == "R&&D.loom.json" and action.iconText() == "R&D.loom.json"


def test_recent_files_of_one_name_show_their_folders(win, tmp_path):
    """Two "net.loom.json" read alike in Open Recent: each adds its folder, or its whole folder path when
    the folders' names are alike too."""
    paths = [tmp_path / "a" / "models" / "net.loom.json", tmp_path / "b" / "models" / "net.loom.json",
             tmp_path / "c" / "net.loom.json", tmp_path / "solo.loom.json"]
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(preset_path("mlp").read_text())
        assert win.files.open(path)
    win.menus["recent"].aboutToShow.emit()
    shown = {a.iconText(): a.toolTip() for a in win.menus["recent"].actions() if a.statusTip()}
    assert shown == {"solo.loom.json": str(paths[3]), "net.loom.json — c": str(paths[2]),
                     f"net.loom.json — {paths[1].parent}": str(paths[1]),
                     f"net.loom.json — {paths[0].parent}": str(paths[0])}


def test_a_recent_file_that_is_gone_says_so_and_leaves_the_list(win, dialogs, tmp_path):
    paths = [tmp_path / f"{name}.loom.json" for name in ("a", "b", "c")]
    for path in paths:
        path.write_text(preset_path("mlp").read_text())
        assert win.files.open(path)
    paths[1].unlink()                                       # b is moved away
    edits.add_block(win.session, "ReLU", (0, 0))             # a change: nothing asks to save it for a file that is gone
    for answer, kept in ((SB.No, ["c", "b", "a"]), (SB.Yes, ["c", "a"])):
        dialogs.answers = [answer]
        win.menus["recent"].aboutToShow.emit()
        next(a for a in win.menus["recent"].actions() if a.text() == "b.loom.json").trigger()
        assert win.session.path.name == "c.loom.json" and win.isWindowModified()
        (kind, title, text) = dialogs.shown[-1]
        assert kind == "question" and title == "File not found"
        assert "b.loom.json could not be opened" in text and f"not in {tmp_path}" in text   # what happened
        assert "open it from its new place with File ▸ Open" in text                       # what to do
        assert "Remove it from File ▸ Open Recent?" in text
        assert [Path(p).name.removesuffix(".loom.json") for p in win.files.recent_files()][:len(kept)] == kept
    assert len(dialogs.shown) == 2                           # no "save your changes?" before it


def test_save_as_offers_a_file_name_and_keeps_an_upper_case_json(win, dialogs, tmp_path, monkeypatch):
    """The offer was the graph's name as it is ("resnet/18:_v2.loom.json" named a folder), and
    "Net.JSON" was saved as "Net.JSON.loom.json"."""
    from PySide6.QtWidgets import QFileDialog
    offered = []

    def save_dialog(parent, caption, start, *args, **kwargs):
        offered.append(start)
        return str(tmp_path / "saved" / "Net.JSON"), ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(save_dialog))
    (tmp_path / "saved").mkdir()
    win.files.open_preset(preset_path("lenet5"))
    win.session.edit("Rename the graph", lambda r: r.set_meta("name", "ResNet/18: v2"))
    assert win.files.save_as()
    assert offered == [str(tmp_path / "home" / "resnet_18_v2.loom.json")]    # at home: not in the working folder
    assert load_graph(tmp_path / "saved" / "Net.JSON").name == "ResNet/18: v2"
    assert sorted(p.name for p in (tmp_path / "saved").iterdir()) == ["Net.JSON"]


def test_unsaved_work_of_a_crashed_process_with_this_process_s_id_is_offered_and_never_overwritten(win, dialogs):
    """In a container every start may get the same process id: the file a crashed window left under that id
    looked like this process's own, so it was never offered, and this window's autosave wrote over it."""
    left = _crashed(os.getpid(), "lenet5", 1000.0)               # by an earlier process with this id
    dialogs.answers = [SB.Cancel]                               # keep it for the next start
    assert not win.files.offer_recovery() and [k for k, *_ in dialogs.shown] == ["question"]
    win.files.open_preset(preset_path("mlp"))
    edits.set_param(win.session, "fc1", "out_features", 33)
    win.files.autosave()                                        # this window's own unsaved work
    assert recovery.own_file().exists() and recovery.own_file() != left
    assert json.loads(left.read_text())["graph"]["name"] == "LeNet-5"        # still the crashed window's
    assert [r.file for r in recovery.orphans()] == [left]       # its own file is not a crashed one
    win.session.undo_stack.setClean()
    recovery.discard()
    recovery.discard(left)


def test_a_crashed_window_s_id_taken_by_a_later_process_is_still_offered(win, dialogs):
    import subprocess
    import sys
    import time
    later = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        started = recovery.process_started(later.pid)
        if started is None:
            pytest.skip("this system does not say when a process started")
        left = _crashed(later.pid, "lenet5", time.time() - 3600)        # written an hour before it started
        assert [r.file for r in recovery.orphans()] == [left]
        dialogs.answers = [SB.Yes]
        assert win.files.offer_recovery() and "conv1" in win.document.blocks and not left.exists()
        win.session.undo_stack.setClean()
    finally:
        later.kill()
        later.wait()
