"""View Code on a graph with problems: each problem once, in words that fit the window."""
from layerloom.app.panels.code_view import CodeDialog
from layerloom.graph import analyze, load_graph
from layerloom.presets import preset_path


def test_a_graph_with_problems_lists_each_once_and_wraps_them(qtbot):
    doc = load_graph(preset_path("lenet5"))
    doc.set_param("fc1", "in_features", 7)
    doc.add_block("ReLU", {})                                       # its input not connected
    errors = analyze(doc).errors
    assert len(errors) == 2
    dialog = CodeDialog(doc)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    text = dialog.text.toPlainText()
    assert text.startswith(f"The graph has {len(errors)} problems to fix before it can become code:")
    assert "problem(s)" not in text and "cannot be compiled" not in text
    for d in errors:
        assert text.count(d.text) == 1
    assert dialog.text.horizontalScrollBar().maximum() == 0        # the words wrap: no sideways scrolling
    assert not dialog.copy_button.isEnabled()
