"""Apply best to graph with another graph open than the one the sweep ran on."""
from __future__ import annotations

from layerloom.graph.fileformat import load_graph
from layerloom.presets import preset_path

from .test_experiments import ROWS, _spec


def test_apply_best_of_a_sweep_on_another_graph_with_the_same_paths_changes_nothing_and_says_why(win):
    """An MLP's sweep over fc1.out_features, then LeNet-5 opened: LeNet-5 has an fc1 too, and took the value."""
    mlp = load_graph(preset_path("mlp"))
    panel = win.experiments
    panel.show_results(ROWS, _spec(mlp))
    panel.swept = mlp.copy()                     # as Start, or an earlier sweep read from its folder, sets it
    win.files.open_preset(preset_path("lenet5"))
    before = win.document.blocks["fc1"].params["out_features"], win.document.training.get("lr")
    panel.apply_button.click()
    assert (win.document.blocks["fc1"].params["out_features"], win.document.training.get("lr")) == before
    assert not win.undo_stack.canUndo()
    assert panel.message.text() == ("Not applied: the sweep ran on “MLP 784-128-10”, and the graph open now has other blocks or "
                                    "wires: open the graph the sweep ran on to apply trial 1, or set its values by hand")
    win.files.open_preset(preset_path("mlp"))    # the graph it ran on, opened again: applied
    panel.apply_button.click()
    assert win.document.blocks["fc1"].params["out_features"] == 128 and win.document.training["lr"] == 0.01
