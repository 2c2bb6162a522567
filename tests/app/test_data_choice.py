"""The Training panel's examples follow the chosen data set at once: a placeholder while a set loads,
a set loaded before shows immediately, and a load that ends after the choice moved on is ignored."""
from __future__ import annotations

from PySide6.QtCore import Qt

import layerloom.app.training.data_loader as data_loader
from layerloom.app.training.data_choice import LOADING_EXAMPLES

from .helpers import Gate


def same_images(a, b) -> bool:
    return len(a) == len(b) > 0 and all(x == y for x, y in zip(a, b))


def test_a_quick_a_b_a_choice_ends_showing_a(win, ui, qtbot, monkeypatch):
    examples = ui.panel.examples
    a_images = list(examples.images)                 # mnist-sample's examples, loaded by the fixture
    a_bundle = ui.bundle
    gate = Gate(data_loader.load_dataset)            # every load waits until the test lets it go
    monkeypatch.setattr(data_loader, "load_dataset", gate)
    combo = ui.panel.dataset
    try:
        combo.setCurrentIndex(combo.findData("shapes"))
        assert examples.count() == 0 and examples.empty_text == LOADING_EXAMPLES     # at once, not later
        assert ui.bundle is None and not ui.panel.start.isEnabled()
        qtbot.waitUntil(gate.entered.is_set, timeout=10_000)        # shapes is loading
        combo.setCurrentIndex(combo.findData("mnist-sample"))
        assert same_images(examples.images, a_images) and ui.bundle is a_bundle   # at once, from the cache
        assert ui.ready
    finally:
        gate.opened.set()
    qtbot.waitUntil(lambda: not ui.loader.busy, timeout=30_000)    # shapes has loaded since: too late
    assert same_images(examples.images, a_images) and ui.bundle is a_bundle
    assert ui.dataset_name == "mnist-sample" and ui.ready and "train" in ui.panel.data_info.text()


def test_a_generated_set_says_it_is_drawn_at_the_input_s_size_and_offers_its_classes(win, ui, qtbot):
    """figures, like shapes, is drawn at the Input's 1×28×28 (not "resized"); its 12 classes meet LeNet-5's
    10 outputs, and the check's fix sets the last Linear to 12."""
    from layerloom.runtime.data.figures import NAMES
    combo = ui.panel.dataset
    combo.setFocus()
    while combo.currentData() != "figures" and combo.currentIndex() < combo.count() - 1:
        qtbot.keyClick(combo, Qt.Key.Key_Down)                      # down the list, as a person would
    assert combo.currentData() == "figures" and combo.currentText() == "Figures (12 classes, generated)"
    qtbot.waitUntil(lambda: ui.bundle is not None and ui.panel.examples.count() == 12, timeout=30_000)
    text = ui.panel.data_info.text()
    assert "1×28×28</b> per sample (drawn at the Input's size)" in text and "resized" not in text
    assert "<b>12</b> classes" in text
    assert list(ui.bundle.info.class_names) == list(NAMES)
    problems = ui.problems()
    assert any("ends in 10 outputs but figures has 12 classes" in p[1] for p in problems), problems
    fix = next(p[2] for p in problems if p[2])
    assert fix["label"] == "Set fc3.out_features to 12"
