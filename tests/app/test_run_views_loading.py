"""A finished run opens in the Explain and Embeddings views without stopping the window: its network is built
and its weights read in a background job while the view says it is loading; a newer run asked for meanwhile
wins, a run deleted while it loads is a sentence, Explain pressed meanwhile explains once it is in, and the
window closes while one loads."""
import shutil
import threading

from PySide6.QtCore import Qt, QTimer

from layerloom.app.panels.embeddings import EmbeddingView
from layerloom.app.panels.explain import ExplainPanel
from layerloom.runtime import explain_subject


def held_loading(monkeypatch, module, name):
    """`module.name` (what loads a run) made to wait for `release` (5 s at most) in whatever thread calls it;
    the threads it ran in are in `threads`."""
    release, threads = threading.Event(), []
    real = getattr(module, name)

    def held(*args, **kwargs):
        threads.append(threading.current_thread())
        release.wait(5)
        return real(*args, **kwargs)
    monkeypatch.setattr(module, name, held)
    return release, threads


def answering(qtbot) -> None:
    """The GUI thread handles timer events: no click or key would wait."""
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(10)
    qtbot.waitUntil(lambda: len(ticks) >= 5, timeout=3000)
    timer.stop()


def test_a_run_loads_off_the_gui_thread_while_the_explain_panel_says_so(qtbot, trained_lenet, monkeypatch, tmp_path):
    release, threads = held_loading(monkeypatch, explain_subject, "load_subject")
    panel = ExplainPanel()
    qtbot.addWidget(panel)
    panel.resize(1100, 480)
    panel.show()
    shown = []
    panel.loaded.connect(shown.append)
    panel.load_run(trained_lenet)                          # returns at once: the network is built in a job
    answering(qtbot)
    assert threads and threading.main_thread() not in threads
    assert panel.title.text().startswith("Loading ") and panel.subject is None and not shown
    assert "loading the trained model" in panel.wrong_title.text()
    panel.grab().save(str(tmp_path / "explain-loading-run.png"))
    release.set()
    assert panel.wait_loaded() and shown == [True]
    assert panel.block.currentText() == "pool2" and not panel.filters.pixmap().isNull()
    assert panel.lists.wait() and panel.block_view.jobs.wait() and panel.wrong.count() > 0


def test_a_newer_run_asked_for_while_one_loads_is_the_one_shown(qtbot, trained_lenet, monkeypatch):
    from layerloom.presets import preset_path
    release, threads = held_loading(monkeypatch, explain_subject, "load_subject")
    panel = ExplainPanel()
    qtbot.addWidget(panel)
    panel.load_run(preset_path("mlp"))                    # held
    qtbot.waitUntil(lambda: len(threads) == 1)
    panel.load_run(trained_lenet)                         # asked for next: wins, though the first ends later
    release.set()
    assert panel.wait_loaded()
    assert str(trained_lenet) in panel.title.text() and panel.subject.doc.name == "LeNet-5"
    assert panel.block.currentText() == "pool2"           # not the MLP's (which has no image block)
    assert panel.lists.wait() and panel.block_view.jobs.wait()


def test_a_run_deleted_while_it_loads_is_a_sentence_not_a_traceback(qtbot, trained_lenet, monkeypatch, tmp_path):
    run = tmp_path / "copy"
    shutil.copytree(trained_lenet, run)
    release, threads = held_loading(monkeypatch, explain_subject, "load_subject")
    panel = ExplainPanel()
    qtbot.addWidget(panel)
    shown = []
    panel.loaded.connect(shown.append)
    panel.load_run(run)
    qtbot.waitUntil(lambda: len(threads) == 1)
    shutil.rmtree(run)
    release.set()
    assert not panel.wait_loaded() and shown == [False] and panel.subject is None
    said = panel.message.text()
    assert said.startswith(f"{run} does not exist") and "Traceback" not in said
    assert panel.title.text().startswith("Cannot explain")
    assert panel.lists.running is None and panel.wrong.count() == 0


def test_explain_pressed_while_the_run_loads_explains_once_it_is_in(qtbot, trained_lenet, monkeypatch):
    release, threads = held_loading(monkeypatch, explain_subject, "load_subject")
    panel = ExplainPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.load_run(trained_lenet)
    qtbot.mouseClick(panel.explain_button, Qt.MouseButton.LeftButton)
    assert "as soon as the run has loaded" in panel.message.text()
    with qtbot.waitSignal(panel.explained, timeout=60_000) as got:
        release.set()
    assert got.args[0].method == "gradcam" and panel.subject is not None
    assert panel.lists.wait() and panel.block_view.jobs.wait()


def test_the_window_closes_while_a_run_loads_in_the_explain_dock(win, qtbot, trained_lenet, monkeypatch):
    release, threads = held_loading(monkeypatch, explain_subject, "load_subject")
    assert win.explaining.open(trained_lenet)
    qtbot.waitUntil(lambda: len(threads) == 1)
    threading.Timer(0.2, release.set).start()            # from another thread: the GUI thread waits in close()
    win.close()                                          # waits for the load, never destroys its thread
    assert not win.isVisible() and not win.explaining.panel.loading


def test_a_run_s_embedding_loads_off_the_gui_thread(qtbot, monkeypatch, tmp_path):
    from layerloom.graph import load_graph
    from layerloom.presets import preset_path
    from layerloom.runtime import embeddings
    from layerloom.runtime.lessons import LESSONS_DIR
    from layerloom.runtime.runs import list_runs
    from layerloom.runtime.trainer import Trainer
    text = {"window": 2, "path": str(LESSONS_DIR / "animals.txt")}
    Trainer(load_graph(preset_path("word2vec_skipgram")), {"epochs": 1, "max_steps": 2, "dataset_options": text},
            None, runs_base=tmp_path).run()
    release, threads = held_loading(monkeypatch, embeddings.EmbeddingTable, "from_run")
    view = EmbeddingView()
    qtbot.addWidget(view)
    view.load_run(list_runs(tmp_path)[0].path)
    answering(qtbot)
    assert threads and threading.main_thread() not in threads
    assert view.title.text().startswith("Loading the Embedding of") and view.table is None
    release.set()
    assert view.wait_loaded() and len(view.scatter.data) > 3 and view.message.text() == ""


def test_nothing_of_the_run_before_stays_while_the_next_one_loads(qtbot, trained_lenet, monkeypatch):
    from layerloom.presets import preset_path
    panel = ExplainPanel()
    qtbot.addWidget(panel)
    panel.load_run(trained_lenet)
    assert panel.wait_loaded() and panel.lists.wait() and panel.block_view.jobs.wait()
    with qtbot.waitSignal(panel.explained, timeout=60_000):
        panel.explain_sample(0)
    assert not panel.picture.pixmap().isNull() and not panel.filters.pixmap().isNull()
    release, threads = held_loading(monkeypatch, explain_subject, "load_subject")
    panel.load_run(preset_path("mlp"))
    assert panel.picture.pixmap().isNull() and panel.filters.pixmap().isNull() and panel.health.pixmap().isNull()
    assert panel.wrong.count() == 0 and panel.block.count() == 0 and panel.block_view.block.count() == 0
    release.set()
    assert panel.wait_loaded() and panel.lists.wait() and panel.block_view.jobs.wait()


def test_a_run_gone_from_its_folder_says_so_in_the_embeddings_view(qtbot, tmp_path):
    view = EmbeddingView()
    qtbot.addWidget(view)
    view.load_run(tmp_path / "gone")
    assert not view.wait_loaded() and view.table is None
    assert view.message.text().startswith(f"{tmp_path / 'gone'} does not exist any more")
    assert view.title.text().startswith("No Embedding to explore in")


def test_the_block_tab_counts_a_block_s_weights_off_the_gui_thread(qtbot, trained_lenet, monkeypatch):
    """The weight histogram of a block was counted in the GUI thread: 3 s for AlexNet's fc1."""
    from layerloom.app.panels import block_learnt
    threads = []
    real = block_learnt.weight_histograms
    monkeypatch.setattr(block_learnt, "weight_histograms",
                        lambda model, block: threads.append(threading.current_thread()) or real(model, block))
    panel = ExplainPanel()
    qtbot.addWidget(panel)
    panel.load_run(trained_lenet)
    assert panel.wait_loaded()
    view = panel.block_view
    panel.tabs.setCurrentWidget(view)
    view.block.setCurrentText("fc1")
    assert view.jobs.wait() and panel.lists.wait()
    assert threads and threading.main_thread() not in threads
    assert view.titles[view.weights] == "Weights of fc1" and len(view.weights.getPlotItem().items) == 1
    assert view.top_title.text().endswith("of fc1") and view.message.text() == ""
