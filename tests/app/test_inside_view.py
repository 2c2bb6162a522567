"""The inside view renders each kind of look inside a computation with the numbers that add up."""
import pytest
import torch

from layerloom.graph import compile_graph, load_graph
from layerloom.presets import preset_path
from layerloom.runtime.data import load_dataset
from layerloom.runtime.inside import (activation_curve, conv_pixel, linear_terms, pool_window,
                                      recurrent_gates, trace)

from layerloom.app.panels.inside import InsideView, MatrixView


@pytest.fixture(scope="module")
def lenet():
    data = load_dataset("mnist-sample")
    x, _ = data.val.batch(torch.tensor([7]))
    return trace(compile_graph(load_graph(preset_path("lenet5")), seed=0), x.float())


def _view(qtbot):
    view = InsideView()
    qtbot.addWidget(view)
    view.resize(560, 640)
    view.show()
    return view


def test_conv_pixel_view_shows_the_sum_and_the_field(qtbot, lenet, tmp_path):
    view = _view(qtbot)
    r = conv_pixel(lenet, "conv2", 3, 4, 6)
    view.show_result(r)
    matrices = view.findChildren(MatrixView)
    assert len(matrices) == 3 * 4                    # patch, kernel, products for 4 of 6 channels
    assert f"= {r['computed']:.6g}" in view.lines[-3]
    assert view.lines[-2].startswith("On the input image this pixel sees rows")
    assert view.lines[-1] == f"the network computed {r['actual']:.6g}"
    qtbot.wait(20)
    view.grab().save(str(tmp_path / "conv.png"))


def test_every_other_kind_renders(qtbot, lenet, tmp_path):
    view = _view(qtbot)
    for i, r in enumerate([pool_window(lenet, "pool2", 1, 2, 3), linear_terms(lenet, "fc2", 5),
                           activation_curve(lenet, "relu1", (0, 10, 10))]):
        view.show_result(r)
        qtbot.wait(10)
        view.grab().save(str(tmp_path / f"kind{i}.png"))
    assert view.lines[-1].startswith("the network computed")
    doc = load_graph(preset_path("seq_mnist_lstm"))
    t = trace(compile_graph(doc, seed=0), torch.rand(1, 28, 28))
    block = next(b for b, blk in doc.blocks.items() if blk.kind == "LSTM")
    view.show_result(recurrent_gates(t, block, 2))
    assert view.lines[-1].startswith("largest difference from the network's own values")
    qtbot.wait(10)
    view.grab().save(str(tmp_path / "gates.png"))


def _jobs():
    """The part of the window's Learning that runs the work off the GUI thread."""
    from PySide6.QtCore import QObject

    from layerloom.app.learning import Learning

    class Jobs(QObject):
        jobs, _closed, run_job = [], False, Learning.run_job
    return Jobs()


def test_a_run_on_an_image_folder_can_be_looked_inside(qtbot, tmp_path):
    from PySide6.QtCore import Qt

    from layerloom.app.panels.inside_controls import InsideControls
    from layerloom.runtime.export.source import load_source
    from layerloom.runtime.runs import list_runs
    from layerloom.runtime.trainer import Trainer
    from tests.runtime.test_image_folder_project import write_digits

    folder = write_digits(tmp_path / "digits", {"": 6})
    doc = load_graph(preset_path("lenet5"))
    Trainer(doc, {"epochs": 1, "max_steps": 2, "dataset": "image-folder", "dataset_options": {"path": str(folder)}},
            None, runs_base=tmp_path / "runs").run()
    view = _view(qtbot)
    controls = InsideControls(view, _jobs())
    qtbot.addWidget(controls)
    controls.refresh(doc, list_runs(tmp_path / "runs"))
    controls.follow("conv1")
    controls.set_position("conv1", 2, 13, 11)
    qtbot.mouseClick(controls.show_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: controls.show_button.isEnabled(), timeout=60_000)
    assert controls.status.text() == f"Worked out with run {list_runs(tmp_path / 'runs')[0].name}, on validation " \
                                     "sample 0." and view.result is not None
    r = view.result
    conv1 = load_source(list_runs(tmp_path / "runs")[0].path).model.conv1
    image = torch.from_numpy(r["input_image"])[None]
    with torch.no_grad():
        expected = float(torch.nn.functional.conv2d(image, conv1.weight, conv1.bias, padding=2)[0, 2, 13, 11])
    assert r["actual"] == pytest.approx(expected, abs=1e-5) and r["computed"] == pytest.approx(expected, abs=1e-5)


def test_a_block_renamed_after_the_run_says_to_train_again(qtbot, tmp_path):
    import json

    from PySide6.QtCore import Qt

    from layerloom.app.panels.inside_controls import InsideControls
    from layerloom.runtime.runs import list_runs
    from layerloom.runtime.trainer import Trainer

    doc = load_graph(preset_path("lenet5"))
    Trainer(doc, {"epochs": 1, "max_steps": 2}, None, runs_base=tmp_path / "runs").run()
    [run] = list_runs(tmp_path / "runs")
    trained = {b["id"] for b in json.loads((run.path / "graph.loom.json").read_text())["blocks"]}
    doc.rename_block("conv2", "features2")
    assert "features2" not in trained
    controls = InsideControls(_view(qtbot), _jobs())
    qtbot.addWidget(controls)
    controls.refresh(doc, [run])
    controls.follow("features2")
    qtbot.mouseClick(controls.show_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: controls.show_button.isEnabled(), timeout=60_000)
    assert controls.status.text() == ("Cannot take this value apart: features2 is not in this run's network (it was "
                                      "added or renamed after the run): train the graph again, or pick another "
                                      "block.")


def test_nan_weights_read_as_nan_not_as_padding(qtbot, tmp_path):
    model = compile_graph(load_graph(preset_path("lenet5")), seed=0)
    with torch.no_grad():
        model.conv1.weight[0, 0, 1, 1] = float("nan")         # one weight of a run that diverged
    x, _ = load_dataset("mnist-sample").val.batch(torch.tensor([7]))
    t = trace(model, x.float())
    view = _view(qtbot)
    view.show_result(conv_pixel(t, "conv1", 0, 5, 5))
    patch, kernel, products = view.findChildren(MatrixView)[:3]
    assert kernel.text_at(1, 1) == "NaN" and products.text_at(1, 1) == "NaN"      # not "pad"
    assert kernel.text_at(0, 0) != "NaN"
    assert view.lines[-1].startswith("A value here is not a number (NaN or infinite), so neither is the result")
    view.grab().save(str(tmp_path / "conv-nan.png"))
    inf = float("inf")
    window = MatrixView([[-inf, 0.5], [float("nan"), inf]], padding=[[True, False], [False, False]])
    assert [window.text_at(0, c) for c in (0, 1)] + [window.text_at(1, c) for c in (0, 1)] == \
        ["pad", "0.50", "NaN", "inf"]                          # a max-pool window's padding still reads "pad"


def test_an_embedding_row_names_its_word(qtbot, tmp_path):
    from PySide6.QtCore import Qt

    from layerloom.app.panels.inside_controls import InsideControls
    from layerloom.runtime.explain_subject import load_subject
    from layerloom.runtime.runs import list_runs
    from layerloom.runtime.trainer import Trainer
    from tests.app.test_explain_panel_text import text_graph
    graph, texts = text_graph(tmp_path)
    doc = load_graph(graph)
    Trainer(doc, {"epochs": 1, "max_steps": 2}, None, runs_base=tmp_path / "runs").run()
    run = list_runs(tmp_path / "runs")[0].path
    view = _view(qtbot)
    controls = InsideControls(view, _jobs())
    qtbot.addWidget(controls)
    controls.refresh(doc, list_runs(tmp_path / "runs"))
    controls.sample.setValue(2)
    controls.set_position("emb1", 1, 0, 0)
    qtbot.mouseClick(controls.show_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: controls.show_button.isEnabled(), timeout=60_000)
    subject = load_subject(run)
    word = subject.words(subject.sample(2)[1])[1]               # the run's own vocabulary, not ours
    assert any(word in t.split() for t in texts)
    assert view.lines[0] == f"emb1: position 1 holds token id {view.result['token']} (“{word}”)"
    view.grab().save(str(tmp_path / "embedding-word.png"))


def test_a_field_mixed_by_a_group_norm_says_so_instead_of_outlining_a_pixel(qtbot):
    from ..graph.helpers import chain
    doc = chain(("Conv2d", {"out_channels": 4, "kernel_size": 1}), ("GroupNorm", {"num_groups": 2}),
                ("Conv2d", {"out_channels": 3, "kernel_size": 3, "padding": 1}), shape=(2, 9, 9))
    x = torch.rand(1, 2, 9, 9)
    t = trace(compile_graph(doc, seed=0), x)
    norm = next(b for b, blk in doc.blocks.items() if blk.kind == "GroupNorm")
    last = [b for b, blk in doc.blocks.items() if blk.kind == "Conv2d"][-1]
    r = conv_pixel(t, last, 0, 4, 4)
    r["input_image"] = x[0].numpy()
    view = _view(qtbot)
    view.show_result(r)
    assert view.lines[-2].startswith(f"On the input image this pixel may depend on any position: {norm} mixes")
    from layerloom.app.panels.inside import FieldView
    assert not view.findChildren(FieldView)
