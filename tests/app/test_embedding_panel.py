"""The Explore Embeddings panel draws every trained Embedding's map."""
from layerloom.app.panels.embeddings import EmbeddingView
from layerloom.graph import load_graph
from layerloom.presets import preset_path
from layerloom.runtime.lessons import LESSONS_DIR
from layerloom.runtime.runs import list_runs
from layerloom.runtime.trainer import Trainer


def test_an_embedding_of_one_number_per_word_is_mapped(qtbot, tmp_path):
    doc = load_graph(preset_path("word2vec_skipgram"))
    doc.set_param("emb1", "embedding_dim", 1)
    text = {"window": 2, "path": str(LESSONS_DIR / "animals.txt")}
    Trainer(doc, {"epochs": 1, "max_steps": 2, "dataset_options": text}, None, runs_base=tmp_path).run()
    view = EmbeddingView()
    qtbot.addWidget(view)
    view.load_run(list_runs(tmp_path)[0].path)
    assert view.wait_loaded()
    words = len(view.scatter.data)
    assert view.message.text() == "" and words > 3 and len(view.labels) == min(60, words)
    assert {label.pos().y() for label in view.labels} == {0.0}      # one coordinate: the words lie on a line


def test_the_map_follows_the_theme(qtbot, tmp_path):
    from layerloom.app import theme
    doc = load_graph(preset_path("word2vec_skipgram"))
    text = {"window": 2, "path": str(LESSONS_DIR / "animals.txt")}
    Trainer(doc, {"epochs": 1, "max_steps": 2, "dataset_options": text}, None, runs_base=tmp_path).run()
    view = EmbeddingView()
    qtbot.addWidget(view)
    view.resize(900, 420)
    view.show()
    view.load_run(list_runs(tmp_path)[0].path)
    assert view.wait_loaded()
    try:
        for mode, light in (("light", True), ("dark", False)):     # it had pyqtgraph's black background in both
            theme.apply(mode)
            qtbot.wait(50)
            corner = view.plot.grab().toImage().pixelColor(3, 3)
            assert (corner.lightness() > 200) if light else (corner.lightness() < 80), (mode, corner.name())
            label = view.labels[0].color
            assert abs(label.lightness() - corner.lightness()) > 60, (mode, label.name())   # words readable on it
            view.grab().save(str(tmp_path / f"embeddings-{mode}.png"))
    finally:
        theme.apply("system")


def test_a_run_without_an_embedding_is_a_wrapped_line_in_the_view(qtbot, trained_lenet):
    view = EmbeddingView()
    qtbot.addWidget(view)
    view.resize(600, 300)
    view.show()
    view.load_run(trained_lenet)
    assert not view.wait_loaded()
    assert view.message.text().startswith("this run's graph has no Embedding block, so it has no word vectors")
    assert view.minimumSizeHint().width() < 600                    # the sentence wraps in a narrow dock
