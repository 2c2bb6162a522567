"""Step mode's Follow weight lists name exactly the weights of the model Step trains, whatever happened to
the graph since they were filled; a followed weight the graph no longer has is dropped, and the panel says so."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from torch import nn

from layerloom.graph import compile_graph
from layerloom.presets import preset_path

from .helpers import block_point, wire

LEFT = Qt.MouseButton.LeftButton
NO_MOD = Qt.KeyboardModifier.NoModifier


def listed(panel) -> list[str]:
    """Every weight the Follow lists offer, as `block.parameter`, chosen through the lists themselves."""
    out = []
    for i in range(panel.weight_block.count()):
        panel.weight_block.setCurrentIndex(i)
        out += [f"{panel.weight_block.itemData(i)}.{panel.weight_param.itemText(j)}"
                for j in range(panel.weight_param.count())]
    return out


def model_weights(win) -> list[str]:
    """The reference: the parameters of the graph on the canvas, compiled to a torch module."""
    return [name for name, _ in compile_graph(win.document.copy()).named_parameters()]


def follow(panel, block: str, param: str, index: int = 0) -> None:
    panel.weight_block.setCurrentIndex(panel.weight_block.findText(block))
    panel.weight_param.setCurrentIndex(panel.weight_param.findText(param))
    panel.weight_index.setValue(index)


def step(panel, qtbot) -> None:
    qtbot.mouseClick(panel.step_button, LEFT)
    qtbot.waitUntil(lambda: panel.view is not None and panel.step_button.isEnabled(), timeout=60_000)


def click_block(win, bid: str) -> None:
    win.view.fit()
    QTest.mouseClick(win.view.viewport(), LEFT, NO_MOD, block_point(win, bid))
    assert win.inspector.block_id == bid


def test_the_follow_lists_are_the_weights_of_the_graph_as_it_is(win, qtbot):
    win.files.open_preset(preset_path("mlp"))
    win.learning.show_step()
    qtbot.waitUntil(lambda: win.memory.state == "done", timeout=60_000)
    panel = win.learning.step
    assert not panel.weight_block.isEnabled() and panel.weight_block.count() == 0     # nothing to follow yet
    step(panel, qtbot)
    assert sorted(listed(panel)) == sorted(model_weights(win)) == ["fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight"]
    follow(panel, "fc1", "weight", 5)
    step(panel, qtbot)
    assert panel.rule.text().startswith("fc1.weight[0, 5]: ")

    click_block(win, "fc1")                  # fc1 deleted on the canvas, flatten1 wired to relu1 instead
    QTest.keyClick(win.view, Qt.Key.Key_Delete)
    wire(win, "flatten1", "relu1")
    assert "fc1" not in win.document.blocks and panel.view is None
    assert panel.weight_block.count() == 0 and not panel.weight_block.isEnabled()      # none of the old lists left
    assert panel.weight_param.count() == 0 and not panel.weight_param.isEnabled()
    assert panel.rule.text() == ("No longer following fc1.weight: fc1 is no longer in the graph. Choose another "
                                 "weight to follow.")
    step(panel, qtbot)
    assert sorted(listed(panel)) == sorted(model_weights(win)) == ["fc2.bias", "fc2.weight"]
    assert panel.rule.text().startswith("Choose a weight to follow")

    follow(panel, "fc2", "weight", 3)        # Start over on the same graph: the lists and the choice stay,
    qtbot.mouseClick(panel.reset_button, LEFT)                 # and the first step reports the weight at once
    assert listed(panel) == ["fc2.weight", "fc2.bias"] and panel.weight_block.isEnabled()
    follow(panel, "fc2", "weight", 3)
    step(panel, qtbot)
    assert panel.view.steps_taken == 1 and panel.rule.text().startswith("fc2.weight[0, 3]: ")

    follow(panel, "fc2", "bias")             # fc2 renamed in the Inspector: fc2.bias is no weight any more
    click_block(win, "fc2")
    field = win.inspector.id_edit
    field.setFocus()
    field.selectAll()
    QTest.keyClicks(field, "head")
    QTest.keyClick(field, Qt.Key.Key_Return)
    assert "head" in win.document.blocks and panel.weight_block.count() == 0
    assert panel.rule.text().startswith("No longer following fc2.bias: fc2 is no longer in the graph.")
    step(panel, qtbot)
    assert sorted(listed(panel)) == sorted(model_weights(win)) == ["head.bias", "head.weight"]

    follow(panel, "head", "bias")            # its bias switched off: the block stays, the weight goes
    win.session.edit("Set head's bias", lambda r: r.set_param("head", "bias", False))
    assert panel.weight_block.count() == 0 and "head" in win.document.blocks
    step(panel, qtbot)
    assert listed(panel) == model_weights(win) == ["head.weight"]
    assert panel.rule.text() == ("No longer following head.bias: the model has no such weight any more. Choose "
                                 "another weight to follow.")
    assert panel.weight_param.currentText() == "weight"       # what the lists show is a weight that exists


def test_nested_weights_are_listed_under_their_block():
    """A block whose module holds modules of its own (attention's out_proj): all its weights, by their names."""
    from layerloom.app.panels.step_panel import weights_by_block
    root = nn.Module()
    root.add_module("attn1", nn.MultiheadAttention(8, 2))
    root.add_module("fc1", nn.Linear(8, 2))
    found = weights_by_block(root, ["fc1", "attn1"])
    assert list(found) == ["fc1", "attn1"]
    assert [f"{b}.{p}" for b, params in found.items() for p, _ in params] == \
        [n for n, _ in root.fc1.named_parameters(prefix="fc1")] + [n for n, _ in root.attn1.named_parameters(prefix="attn1")]
    assert dict(found["attn1"])["out_proj.weight"] == 64
