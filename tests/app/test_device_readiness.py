"""A graph saved on a machine with a GPU (its training section says `"device": "cuda"`) opened on one without:
the Training panel's readiness check refuses it before Train, in words that name the device and what to do,
and Train starts nothing until another device is chosen in the Device list."""
from __future__ import annotations

import torch
from PySide6.QtCore import Qt

from layerloom.app.training.controller import RunState
from layerloom.graph import load_graph
from layerloom.graph.fileformat import save_graph
from layerloom.presets import preset_path

from .helpers import settings

LEFT = Qt.MouseButton.LeftButton


def test_a_device_this_machine_lacks_is_refused_by_the_check_before_train(win, ui, qtbot, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)      # this machine has no CUDA GPU
    doc = load_graph(preset_path("lenet5"))
    doc.training["device"] = "cuda"
    path = tmp_path / "from-a-gpu-machine.loom.json"
    save_graph(doc, path)
    assert win.files.open(path, ask=False)
    device = ui.panel.settings.device
    assert device.currentData() == "cuda"                 # the saved device is what the list shows selected

    qtbot.waitUntil(lambda: bool(ui.panel.check_texts("error") or ui.panel.check_texts("ok")), timeout=20_000)
    [error] = ui.panel.check_texts("error")
    assert error == ("The training device is cuda, but no CUDA GPU is available here. Choose auto or cpu in "
                     "the Device list.")
    assert not ui.panel.check_texts("ok") and not ui.panel.start.isEnabled() and not ui.ready

    qtbot.mouseClick(win.toolbar.widgetForAction(win.actions_by_name["train_start"]), LEFT)   # ▶ Train anyway
    assert ui.run.state == RunState.IDLE and not ui.run.active and ui.run.last_run_dir is None
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())         # no run folder

    settings(ui, device="cpu")                             # the person picks cpu in the Device list
    qtbot.waitUntil(lambda: ui.ready, timeout=20_000)
    assert not ui.panel.check_texts("error")
    [ok] = ui.panel.check_texts("ok")
    assert ok.startswith("✓ Ready: ") and ui.panel.start.isEnabled()
