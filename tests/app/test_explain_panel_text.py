"""The Explain panel beyond image classifiers: a text sample shows its words; a graph with two Inputs is a message."""
import json

import pytest
from PySide6.QtCore import Qt

from layerloom.app.panels import explain as explain_panel
from layerloom.presets import preset_path

TEXTS = ["good great fine", "lovely nice film", "bad awful poor", "sad horrible ugly", "superb happy day",
         "terrible dull plot"]


def text_graph(tmp_path):
    rows = [f"{TEXTS[i % len(TEXTS)]},{int(i % len(TEXTS) in (0, 1, 4))}" for i in range(36)]
    data = tmp_path / "reviews.csv"
    data.write_text("text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    doc = json.loads(preset_path("text_gru").read_text(encoding="utf-8"))
    doc["training"]["dataset_options"]["path"] = str(data)
    path = tmp_path / "text.loom.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path, set(TEXTS)


def test_a_token_explanation_shows_the_sample_s_words(qtbot, tmp_path, monkeypatch):
    graph, texts = text_graph(tmp_path)
    drawn = []
    real = explain_panel.explanation_image

    def recording(*args, **kwargs):
        drawn.append(kwargs)
        return real(*args, **kwargs)
    monkeypatch.setattr(explain_panel, "explanation_image", recording)
    panel = explain_panel.ExplainPanel()
    qtbot.addWidget(panel)
    panel.resize(1100, 520)
    panel.show()
    panel.load_run(graph)
    assert panel.wait_loaded()
    panel.method.setCurrentText("integrated-gradients")
    with qtbot.waitSignal(panel.explained, timeout=60_000) as got:
        qtbot.mouseClick(panel.explain_button, Qt.MouseButton.LeftButton)
    e = got.args[0]
    assert e.kind == "sequence" and e.block == "emb1"
    words = drawn[-1]["tokens"]
    assert words is not None and len(words) == len(e.attribution)
    assert " ".join(words) in texts                    # the validation sample's own words, in order
    assert drawn[-1]["title"] == f"validation sample {panel.current_index}: integrated-gradients"
    panel.grab().save(str(tmp_path / "explain-text.png"))


def test_a_graph_with_two_inputs_loads_as_a_message(qtbot, tmp_path):
    from tests.runtime.test_explain_graphs import two_input_graph
    graph = tmp_path / "two.loom.json"
    two_input_graph(graph)
    panel = explain_panel.ExplainPanel()
    qtbot.addWidget(panel)
    panel.load_run(graph)
    assert not panel.wait_loaded()
    assert panel.subject is None and "one Input block, and this one has 2" in panel.message.text()


def test_a_sequence_model_starts_on_a_method_that_explains_it(qtbot):
    from layerloom.presets import preset_path
    panel = explain_panel.ExplainPanel()
    qtbot.addWidget(panel)
    panel.show()
    assert panel.method.currentText() == "gradcam"                 # the panel's choice for images
    panel.load_run(preset_path("rnn_classifier"))          # rows of a digit, 28 steps of 28 pixels
    assert panel.wait_loaded()
    assert panel.method.currentText() == "saliency" and panel.block.count() == 0
    with qtbot.waitSignal(panel.explained, timeout=60_000) as got:
        qtbot.mouseClick(panel.explain_button, Qt.MouseButton.LeftButton)
    assert got.args[0].kind == "sequence" and len(got.args[0].attribution) == 28


def test_a_graph_that_is_not_a_classifier_loads_as_a_message(qtbot, tmp_path):
    import torch

    from layerloom.graph import compile_graph, load_graph
    from layerloom.graph.fileformat import save_graph
    from layerloom.presets import preset_path
    doc = load_graph(preset_path("seq_mnist_lstm"))
    doc.set_param("lstm1", "output", "sequence")                  # a score per class at every time step
    graph = tmp_path / "per-step.loom.json"
    save_graph(doc, graph)
    with torch.no_grad():
        assert compile_graph(doc)(torch.rand(2, 28, 28)).shape == (2, 28, 10)
    panel = explain_panel.ExplainPanel()
    qtbot.addWidget(panel)
    panel.load_run(graph)
    assert not panel.wait_loaded() and panel.subject is None
    assert panel.message.text() == ("explanations need a classifier: the graph's Output must give one score per "
                                    "class (this one gives 28×10 per sample); end the graph with a Linear of one "
                                    "output per class")


def test_the_block_tab_lists_the_graph_s_blocks_not_the_steps_inside_them(qtbot):
    import json

    from layerloom.presets import preset_path
    saved = json.loads(preset_path("rnn_classifier").read_text(encoding="utf-8"))
    layers = [b["id"] for b in saved["blocks"] if b["kind"] not in ("Input", "Output")]
    panel = explain_panel.ExplainPanel()
    qtbot.addWidget(panel)
    panel.load_run(preset_path("rnn_classifier"))
    assert panel.wait_loaded()
    listed = [panel.block_view.block.itemText(i) for i in range(panel.block_view.block.count())]
    assert listed == layers                                       # no rnn1_outputs, rnn1_sequence
    for i in range(len(listed)):
        panel.block_view.block.setCurrentIndex(i)
        assert panel.block_view.jobs.wait()
        assert panel.block_view.message.text() == ""
    view = panel.block_view
    recurrent = next(b["id"] for b in saved["blocks"] if b["kind"] in ("RNN", "LSTM", "GRU"))
    view.block.setCurrentText(recurrent)
    assert view.jobs.wait() and view.titles[view.weights] == f"Weights of {recurrent} (weight_ih_l0)"
    assert len(view.weights.getPlotItem().items) == 1                  # its weights, not "has no weights"


def test_a_run_whose_data_set_was_deleted_says_so_and_still_shows_its_weights(qtbot, tmp_path):
    graph, _ = text_graph(tmp_path)
    (tmp_path / "reviews.csv").unlink()                         # the data set moved away since
    panel = explain_panel.ExplainPanel()
    qtbot.addWidget(panel)
    panel.resize(900, 480)
    panel.show()
    panel.load_run(graph)
    assert panel.wait_loaded()
    assert panel.lists.wait() and panel.block_view.jobs.wait()
    said = panel.wrong_title.text()
    assert "validation samples of this run cannot be loaded" in said and "reviews.csv" in said
    assert "put its data set back where the run read it" in said and panel.wrong.count() == 0
    view = panel.block_view
    assert view.titles[view.weights] == f"Weights of {view.block.currentText()}"      # drawn from the weights
    assert "cannot be loaded" in view.message.text()
    assert panel.minimumSizeHint().width() < 800            # the reason wraps: the dock does not have to widen


def test_an_image_model_without_feature_maps_starts_on_saliency_not_grad_cam(qtbot):
    from layerloom.runtime.explain import ExplainError, explain
    panel = explain_panel.ExplainPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.load_run(preset_path("mlp"))                       # Flatten, Linear, ReLU: no C×H×W block
    assert panel.wait_loaded()
    assert panel.method.currentText() == "saliency" and panel.block.count() == 0
    with qtbot.waitSignal(panel.explained, timeout=60_000) as got:
        qtbot.mouseClick(panel.explain_button, Qt.MouseButton.LeftButton)
    assert got.args[0].method == "saliency" and got.args[0].kind == "image"
    assert panel.lists.wait() and panel.block_view.jobs.wait()
    _, x, _ = panel.subject.sample(0)
    with pytest.raises(ExplainError, match="this graph has none: use saliency, integrated-gradients or occlusion"):
        explain(panel.subject.model, x, "gradcam")


def test_the_block_tab_shows_the_words_of_a_text_model_s_top_samples(qtbot, tmp_path):
    graph, texts = text_graph(tmp_path)
    panel = explain_panel.ExplainPanel()
    qtbot.addWidget(panel)
    panel.resize(1100, 480)
    panel.show()
    panel.load_run(graph)
    assert panel.wait_loaded()
    view = panel.block_view
    view.block.setCurrentText("gru1")
    assert view.jobs.wait() and panel.lists.wait()
    lines = view.top.text().splitlines()
    assert len(lines) == len(view.top9) > 0
    for line, t in zip(lines, view.top9):
        head, words = line.split("  ", 1)
        assert head == f"sample {t['index']}: {t['activation']:.3f}"
        own = panel.subject.words(panel.subject.sample(t["index"])[1])
        assert words == " ".join(w for w in own if w != "<pad>")                  # its own words
        assert words in texts or "<unk>" in words
    panel.grab().save(str(tmp_path / "block-text.png"))
