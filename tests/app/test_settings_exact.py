"""The Training panel keeps every value the training settings accept, exactly: a graph file's section reaches the
run unchanged and Start leaves it as it is; a resumed run shows the settings it trains with, and what the panel
held before Resume comes back when it ends."""
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from PySide6.QtCore import Qt

from layerloom.app.panels.train_settings import AUGMENT_LIMITS, ExactSpin, TrainSettings
from layerloom.app.training.controller import RunState
from layerloom.graph import load_graph
from layerloom.graph.fileformat import save_graph
from layerloom.presets import preset_path
from layerloom.runtime.config import NUMBERS, ConfigError, TrainConfig
from layerloom.runtime.data import DataError
from layerloom.runtime.data.transforms import parse_augment
from layerloom.runtime.runs import read_json

from .helpers import settings, wait_run_end

LEFT = Qt.MouseButton.LeftButton
PANEL = [k for k in NUMBERS if k != "threads"]          # every number the panel offers
TINY = 1e-300           # Qt keeps 323 decimals: values below this (e.g. a weight decay of 1e-310) are not drawn


def number(name):
    low, high, whole = NUMBERS[name]
    if whole:
        return st.integers(low, min(high, 2**31 - 1))
    return st.floats(low, high, allow_nan=False, allow_subnormal=False).filter(lambda v: v == 0 or v >= TINY)


def augment():
    return st.fixed_dictionaries({}, optional={
        "random_crop": st.integers(1, AUGMENT_LIMITS["random_crop"]),
        "hflip": st.just(True),
        "rotation": st.floats(TINY, AUGMENT_LIMITS["rotation"]),
        "color_jitter": st.floats(TINY, AUGMENT_LIMITS["color_jitter"])})


SECTIONS = st.fixed_dictionaries({name: number(name) for name in PANEL}, optional={
    "optimizer": st.sampled_from(["sgd", "adam", "adamw"]), "schedule": st.sampled_from(["none", "step"]),
    "augment": augment()})
FEW = hsettings(derandomize=True, max_examples=60, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def test_the_augment_limits_are_the_data_layers():
    """The editors' highest values are what the data layer accepts, and not one more."""
    parse_augment(dict(AUGMENT_LIMITS))
    for key, high in AUGMENT_LIMITS.items():
        with pytest.raises(DataError):
            parse_augment({key: high + 1})


@FEW
@given(section=SECTIONS)
def test_every_value_the_config_accepts_round_trips_through_the_panel(qtbot, section):
    cfg = TrainConfig.from_sources(section)              # the reference: the config's own validation accepts it
    panel = TrainSettings()
    qtbot.addWidget(panel)
    panel.load(cfg)
    values = panel.values()
    for name in PANEL:
        assert values[name] == getattr(cfg, name), (name, values[name], getattr(cfg, name))
    assert values["augment"] == {k: v for k, v in cfg.augment.items() if v}
    for name in PANEL:                                   # shown as it is: the text reads back as the value
        w = getattr(panel, name)
        if isinstance(w, ExactSpin) and not (w.specialValueText() and w.value() == w.minimum()):
            assert float(w.text().removesuffix(w.suffix())) == getattr(cfg, name), (name, w.text())
    assert TrainConfig.from_dict(values).to_dict() == {**cfg.to_dict(), "augment": values["augment"]}


@FEW
@given(section=SECTIONS)
def test_start_keeps_the_graphs_section_as_it_is(win, ui, section):
    """What Start writes into the graph is the graph's own section again (no undoable rewrite)."""
    section = {"dataset": "mnist-sample", **section}
    try:
        TrainConfig.from_sources(section)
    except ConfigError:
        pytest.fail("drawn outside the config's ranges")
    win.document.training = section
    ui.load_from_document()
    assert ui._training_section(ui.config()) == section


def test_a_graph_files_settings_reach_the_run_exactly(win, qtbot, tmp_path):
    doc = load_graph(preset_path("lenet5"))
    doc.training = {"dataset": "mnist-sample", "optimizer": "sgd", "momentum": 0.9375, "schedule": "step",
                    "gamma": 0.00015, "lr": 0.0012345, "batch_size": 32, "epochs": 1, "max_steps": 3,
                    "augment": {"rotation": 7.5, "random_crop": 100, "color_jitter": 0.125},
                    "temperature": 0.075, "alpha": 0.125}
    path = tmp_path / "g.loom.json"
    save_graph(doc, path)
    t = win.training
    t.set_runs_folder(tmp_path / "runs")
    assert win.files.open(str(path), ask=False)
    t.dock.show()
    t.dock.raise_()                       # in sight: its data set loads
    qtbot.waitUntil(lambda: t.ready, timeout=30_000)
    assert t.panel.settings.lr.text() == "0.0012345" and t.panel.settings.gamma.text() == "0.00015"
    undo_before = win.session.undo_stack.count()
    qtbot.mouseClick(t.panel.start, LEFT)
    wait_run_end(t, qtbot)
    run_config = read_json(Path(t.training.last_run_dir) / "config.json")
    assert {k: run_config[k] for k in doc.training} == doc.training
    assert dict(win.document.training) == doc.training and win.session.undo_stack.count() == undo_before


def test_a_resumed_run_shows_its_lr_and_then_what_was_typed_before(win, ui, qtbot):
    """An lr changed while paused is what the resumed run trains with, and the panel says so; settings typed
    after the run stopped (not used yet) are on the panel again when the resumed run ends."""
    settings(ui, epochs=50, batch_size=16, optimizer="sgd", lr=0.01)
    qtbot.mouseClick(ui.panel.start, LEFT)
    qtbot.waitUntil(lambda: ui.live.step >= 3, timeout=30_000)
    qtbot.mouseClick(ui.panel.pause, LEFT)
    qtbot.waitUntil(lambda: ui.run.state == RunState.PAUSED, timeout=10_000)
    ui.panel.settings.lr.setValue(0.05)
    qtbot.mouseClick(ui.panel.pause, LEFT)
    qtbot.waitUntil(lambda: ui.live.lr == 0.05, timeout=30_000)
    qtbot.mouseClick(ui.panel.stop, LEFT)
    wait_run_end(ui, qtbot)
    settings(ui, epochs=7, lr=0.005, batch_size=48)      # typed, not used yet
    typed = ui.config()
    qtbot.mouseClick(ui.runs.resume_button, LEFT)
    qtbot.waitUntil(lambda: ui.live.started is not None and ui.live.steps.n >= 1, timeout=30_000)
    assert ui.panel.settings.lr.value() == ui.live.lr == 0.05         # the lr the run reports, on the panel
    assert ui.panel.settings.batch_size.value() == 16
    qtbot.mouseClick(ui.panel.stop, LEFT)
    wait_run_end(ui, qtbot)
    assert ui.config() == typed
