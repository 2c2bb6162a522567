"""A graph whose runs start from weights that are gone or damaged (its own weights file, or the training
section's `init_from`), opened as a person would: the Training panel's readiness check refuses it before
Train, naming the file and what to do, and Train starts nothing until the weights can be read again."""
from __future__ import annotations

import json

from PySide6.QtCore import Qt
from safetensors.torch import save_file

from layerloom.app.training.controller import RunState
from layerloom.graph import compile_graph, load_graph
from layerloom.graph.fileformat import save_graph
from layerloom.presets import preset_path

LEFT = Qt.MouseButton.LeftButton


def _opened(win, ui, qtbot, doc, path):
    save_graph(doc, path)
    assert win.files.open(path, ask=False)
    qtbot.waitUntil(lambda: bool(ui.panel.check_texts("error") or ui.panel.check_texts("ok")), timeout=20_000)


def _refused(win, ui, tmp_path) -> None:
    assert not ui.panel.check_texts("ok") and not ui.panel.start.isEnabled() and not ui.ready
    win.toolbar.widgetForAction(win.actions_by_name["train_start"]).click()
    assert ui.run.state == RunState.IDLE and not ui.run.active and ui.run.last_run_dir is None


def test_init_from_cut_short_is_refused_before_train_and_ready_once_whole(win, ui, qtbot, tmp_path):
    start = tmp_path / "pretrained.safetensors"
    save_file({k: v.contiguous() for k, v in compile_graph(load_graph(preset_path("lenet5"))).state_dict().items()},
              str(start))
    whole = start.read_bytes()
    start.write_bytes(whole[:len(whole) // 2])            # a copy that stopped half-way
    doc = load_graph(preset_path("lenet5"))
    doc.training["init_from"] = str(start)
    _opened(win, ui, qtbot, doc, tmp_path / "net.loom.json")
    [error] = ui.panel.check_texts("error")
    assert error.startswith(f"The weights to start from cannot be read: the file {start} is not a readable "
                            "safetensors file (")
    assert error.endswith("). Choose others with Edit ▸ Initialise Weights From…, or Start Fresh there.")
    _refused(win, ui, tmp_path)

    start.write_bytes(whole)                              # the copy finishes: any change of settings checks again
    ui.recheck()
    qtbot.waitUntil(lambda: ui.ready, timeout=20_000)
    assert not ui.panel.check_texts("error") and ui.panel.check_texts("ok")[0].startswith("✓ Ready: ")


def test_the_graphs_own_weights_file_gone_is_refused_before_train(win, ui, qtbot, tmp_path):
    path = tmp_path / "net.loom.json"
    save_graph(load_graph(preset_path("lenet5")), path)
    saved = json.loads(path.read_text())
    saved["weights"] = "lenet5.safetensors"               # next to the graph on the machine it came from
    path.write_text(json.dumps(saved))
    assert win.files.open(path, ask=False)
    qtbot.waitUntil(lambda: bool(ui.panel.check_texts("error") or ui.panel.check_texts("ok")), timeout=20_000)
    [error] = ui.panel.check_texts("error")
    assert error == (f"The graph's weights file {tmp_path / 'lenet5.safetensors'} does not exist: put it back next "
                     "to the graph file, or import the network again.")
    _refused(win, ui, tmp_path)

    weights = compile_graph(load_graph(preset_path("lenet5"))).state_dict()
    own = tmp_path / "lenet5.safetensors"
    save_file({k: v.contiguous() for k, v in weights.items()}, str(own))
    whole = own.read_bytes()
    own.write_bytes(whole[:-100])                          # put back, but cut short
    ui.recheck()
    [error] = ui.panel.check_texts("error")
    assert error.startswith(f"The graph's weights file {own} is not a readable safetensors file (")
    assert error.endswith("): replace it with a whole copy, or import the network again.")
    own.write_bytes(whole)                                 # the whole file
    ui.recheck()
    qtbot.waitUntil(lambda: ui.ready, timeout=20_000)
    assert not ui.panel.check_texts("error")
