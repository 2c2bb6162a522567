"""The graph-and-data check shared by the trainer and the app: each mismatch with its fix."""
from layerloom.graph import analyze, load_graph
from layerloom.graph.document import GraphDocument
from layerloom.presets import preset_path
from layerloom.runtime.data import dataset_info
from layerloom.runtime.preflight import check_training


def check(doc, name="mnist-sample", **options):
    info = dataset_info(name, **options)
    return check_training(doc, analyze(doc, info.data_context()), info)


def test_lenet_fits_mnist_sample():
    assert check(load_graph(preset_path("lenet5"))) == []


def test_too_few_outputs_is_an_error_with_a_fix_on_the_last_linear():
    doc = load_graph(preset_path("lenet5"))
    doc.set_param("fc3", "out_features", 5)
    [d] = check(doc)
    assert d.severity == "error" and d.block == "fc3"
    assert "ends in 5 outputs but mnist-sample has 10 classes" in d.message
    assert d.fix == {"action": "set_param", "block": "fc3", "param": "out_features", "value": 10,
                     "label": "Set fc3.out_features to 10"}


def test_extra_outputs_are_a_warning_only():
    doc = load_graph(preset_path("lenet5"))
    doc.set_param("fc3", "out_features", 12)
    [d] = check(doc)
    assert d.severity == "warning" and "never a target" in d.message and d.fix["value"] == 10


def test_input_shape_mismatch_offers_the_data_sets_shape():
    doc = load_graph(preset_path("lenet5"))
    [d, *_] = check(doc, "cifar10")
    assert d.block == "input" and "Input expects 1×28×28 but cifar10 gives 3×32×32" in d.message
    assert d.fix["param"] == "shape" and d.fix["value"] == [3, 32, 32]


def test_token_sets_need_an_int64_input_and_one_input_block():
    doc = load_graph(preset_path("lenet5"))
    doc.set_param("input", "dtype", "int64")
    dtype = [d for d in check(doc) if d.code == "train_input_dtype"]
    assert dtype and dtype[0].fix["value"] == "float32"
    assert [d.code for d in check(GraphDocument("empty"))] == ["train_inputs"]
