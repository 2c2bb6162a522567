"""A 2-D activation is drawn with the axes it has: time along x for a recurrent block's hidden state,
a Conv1d's channels as rows along the sequence."""
import numpy as np
import torch

from layerloom.app.panels.feature_maps import FeatureMapsPanel
from layerloom.graph import GraphDocument, compile_graph
from layerloom.runtime.taps import FeatureTaps


def captured(kind, params, shape, block):
    doc = GraphDocument("signals")
    last = doc.add_block("Input", {"shape": list(shape)})
    for k, p in [(kind, params), ("Flatten", {}), ("Linear", {"out_features": 3}), ("Output", {})]:
        made = doc.add_block(k, p)
        doc.connect(last, made)
        last = made
    model = compile_graph(doc, seed=0)
    x = torch.rand(1, *shape, generator=torch.Generator().manual_seed(0))
    [event] = [e for e in FeatureTaps([block]).capture(model, x, 0) if e["type"] == "feature_maps"]
    with torch.no_grad():
        value = model.get_submodule(block)(x)
    value = value[0] if isinstance(value, tuple) else value
    return dict(event, step=1), value[0].numpy()


def test_a_conv1d_output_shows_channels_as_rows_and_positions_along_x(qtbot):
    event, torch_value = captured("Conv1d", {"out_channels": 4, "kernel_size": 3}, (2, 12), "conv1")
    assert torch_value.shape == (4, 10)                                 # torch: channels × positions
    panel = FeatureMapsPanel()
    qtbot.addWidget(panel)
    panel.resize(500, 400)
    panel.show()
    panel.show_block("conv1", "Conv1d", event)
    shown = panel.image.image
    assert shown.shape == (4, 10)
    assert np.array_equal(np.argmax(shown, axis=1), np.argmax(torch_value, axis=1))   # each row is a channel
    assert "x: position, y: channel" in panel.title.text() and "hidden state" not in panel.title.text()
    assert panel.plot.getAxis("bottom").labelText == "position"


def test_a_recurrent_hidden_state_runs_along_x(qtbot):
    event, _ = captured("GRU", {"hidden_size": 5, "output": "sequence"}, (7, 3), "gru1")
    panel = FeatureMapsPanel()
    qtbot.addWidget(panel)
    panel.show_block("gru1", "GRU", event)
    assert panel.image.image.shape == (5, 7)                             # units × time steps
    assert "hidden state over time" in panel.title.text()


def test_with_no_block_the_title_says_so_instead_of_repeating_the_docks(qtbot):
    """Its dock is titled "Feature maps": the panel's own bold title said "Feature maps" again under it."""
    panel = FeatureMapsPanel()
    qtbot.addWidget(panel)
    panel.show_block(None, None, None)
    assert panel.title.text() == "<b>No block selected</b>" and panel.hint.isVisibleTo(panel)
    assert "Click a block on the canvas" in panel.hint.text()
