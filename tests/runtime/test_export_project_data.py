"""An exported image-folder project of an untrained graph trains on its images; given a folder of other
classes with --data, it says what is wrong and what to do."""
import pytest

from PIL import Image

from layerloom.graph import GraphDocument, load_graph, save_graph
from layerloom.presets import preset_path
from layerloom.runtime.export import FormatFailure, export_model


def _folder(root, classes):
    for c in classes:
        (root / c).mkdir(parents=True)
        for n in range(3):
            Image.new("L", (28, 28), color=40 * n).save(root / c / f"{n}.png")
    return root


def test_an_untrained_image_folder_project_trains_and_refuses_other_classes_in_words(project_runner, tmp_path):
    doc = load_graph(preset_path("mlp"))
    doc.training.update({"dataset": "image-folder",
                         "dataset_options": {"path": str(_folder(tmp_path / "cats", ["cat", "dog"]))}})
    save_graph(doc, tmp_path / "g.loom.json")
    _, (project,) = export_model(tmp_path / "g.loom.json", ["project"], tmp_path / "out")
    assert project.verified, project.line()
    own = project_runner.run(project.path, "--max-steps", "1", "--device", "cpu")     # its copied images
    assert own.returncode == 0, own.stderr[-2000:]
    assert "training on 4 samples" in own.stdout
    other = _folder(tmp_path / "birds", ["crow", "owl"])
    proc = project_runner.run(project.path, "--data", other, "--max-steps", "1", "--device", "cpu")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "has the class folders ['crow', 'owl'], but the model's classes are ['cat', 'dog'" in last
    assert last.endswith("give --data a folder with one subfolder for each of the model's classes")


@pytest.mark.parametrize("options, words", [({"train_count": "lots"}, "train_count='lots' does not fit"),
                                            ({"dataset": "image-folder", "val_fraction": "half"},
                                             "val_fraction='half' does not fit: give a fraction between 0 and 1"),
                                            ({"val_count": 0}, "val_count=0 does not fit")])
def test_a_data_setting_layerloom_would_refuse_stops_the_project_in_words(tmp_path, options, words):
    doc = GraphDocument("counts")
    last = doc.add_block("Input", {"shape": [3, 16, 16]})
    for kind, params in (("Flatten", {}), ("Linear", {"out_features": 4}), ("Output", {})):
        block = doc.add_block(kind, params)
        doc.connect(last, block)
        last = block
    options = dict(options)
    doc.training.update({"dataset": options.pop("dataset", "shapes"),
                         "dataset_options": {**options, "path": str(tmp_path / "images")}})
    save_graph(doc, tmp_path / "c.loom.json")
    _, (failure,) = export_model(tmp_path / "c.loom.json", ["project"], tmp_path / "export")
    assert isinstance(failure, FormatFailure) and words in failure.message, failure.line()
    assert not (tmp_path / "export" / "project").exists()


@pytest.mark.parametrize("shape, words", [([3 * 16 * 16], "Input expects 768 but shapes gives 3×16×16"),
                                          ([48, 16], "Input expects 48×16 but shapes gives 3×16×16")])
def test_a_graph_layerloom_could_not_train_on_its_set_is_refused_with_training_s_words(tmp_path, shape, words):
    doc = GraphDocument("flat")
    last = doc.add_block("Input", {"shape": shape})
    for kind, params in (("Flatten", {}), ("Linear", {"out_features": 10}), ("Output", {})):
        block = doc.add_block(kind, params)
        doc.connect(last, block)
        last = block
    doc.training.update({"dataset": "shapes", "dataset_options": {"size": 16}})
    save_graph(doc, tmp_path / "f.loom.json")
    _, (failure,) = export_model(tmp_path / "f.loom.json", ["project"], tmp_path / "export")
    assert isinstance(failure, FormatFailure), failure
    assert failure.message.startswith("Layerloom could not train this graph on shapes, so neither could train.py: ")
    assert words in failure.message and "Error" not in failure.message
    assert not (tmp_path / "export" / "project").exists()
