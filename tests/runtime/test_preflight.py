"""The graph-and-data check shared by the trainer and the app: each mismatch with its fix."""
from layerloom.graph import analyze, load_graph
from layerloom.graph.document import GraphDocument
from layerloom.presets import preset_path
from layerloom.runtime.data import dataset_info
from layerloom.runtime.preflight import check_training, preflight

from ..graph.helpers import chain


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


def image_classifier(shape, classes=10):
    return chain(("Conv2d", {"out_channels": 4}), ("AdaptiveAvgPool2d", {}), ("Flatten", {}),
                 ("Linear", {"out_features": classes}), shape=shape)


def apply(doc, fix):
    doc.set_param(fix["block"], fix["param"], fix["value"])


def test_a_set_of_one_image_size_says_to_set_the_input_and_the_fix_works():
    doc = image_classifier((3, 224, 224))
    [d] = check(doc, "cifar10")
    assert d.code == "train_input_shape" and d.block == "input"
    assert d.message == ("Input expects 3×224×224 but cifar10 gives 3×32×32: set the Input shape to [3, 32, 32] "
                         "(cifar10's images come at 32×32; only an image folder's can be resized, with its data "
                         "option size)")
    assert "Resize" not in d.message and "alternatives" not in d.fix
    apply(doc, d.fix)
    assert check(doc, "cifar10") == []


def test_a_resizable_set_offers_its_size_option_as_data_and_either_fix_works():
    doc = image_classifier((3, 32, 32))
    options = {"size": [48, 48]}
    [d] = check(doc, "shapes", **options)
    assert d.message == ("Input expects 3×32×32 but shapes gives 3×48×48: set the Input shape to [3, 48, 48], or "
                         "set the data option size to 32×32")
    [resize] = d.fix["alternatives"]
    assert resize == {"action": "set_data_option", "option": "size", "value": [32, 32],
                      "label": "Resize the images to 32×32"}
    assert check(doc, "shapes", **{**options, resize["option"]: resize["value"]}) == []
    apply(doc, d.fix)
    assert check(doc, "shapes", **options) == []


def test_smaller_images_are_never_enlarged_silently():
    doc = image_classifier((3, 64, 64))
    [d] = check(doc, "shapes", size=[16, 16])
    assert d.code == "train_small_images" and d.fix["value"] == [3, 16, 16]
    assert d.fix["alternatives"][0]["value"] == [64, 64]


def test_other_channels_and_flat_inputs_say_what_to_do():
    [d] = check(image_classifier((3, 28, 28)), "fashion-mnist")
    assert d.message == ("Input expects 3×28×28 but fashion-mnist gives 1×28×28 (grayscale images have 1 channel): "
                         "set the Input shape to [1, 28, 28]") and d.fix["value"] == [1, 28, 28]
    [d] = check(chain(("Linear", {"out_features": 10}), shape=(784,)), "mnist")
    assert d.message == ("Input expects 784 but mnist gives 1×28×28: set the Input shape to [1, 28, 28] and put "
                         "a Flatten right after the Input") and d.fix is None


def test_generated_sets_follow_the_input_and_image_presets_fit_shapes():
    for name in ("alexnet", "vgg11", "resnet18"):
        doc = load_graph(preset_path(name))
        assert doc.training["dataset"] == "shapes"
        found = preflight(doc, "shapes", doc.training["dataset_options"])
        assert found.diagnostics == [], name
        assert found.info.sample_shape == tuple(doc.blocks["input"].full_params()["shape"])


def test_preflight_reports_graph_errors_data_errors_and_input_count_without_loading():
    doc = load_graph(preset_path("lenet5"))
    doc.set_param("conv1", "kernel_size", 40)
    errors = preflight(doc, "mnist-sample").errors
    assert [d.block for d in errors] == ["conv1"] and errors[0].code == "too_small"
    two = load_graph(preset_path("lenet5"))
    two.add_block("Input")
    assert [d.code for d in preflight(two, "mnist-sample").errors] == ["train_inputs"]
    [d] = preflight(load_graph(preset_path("lenet5")), "no-such-set").errors
    assert d.code == "train_data" and "no-such-set" in d.message and "\n" not in d.message
    [d] = preflight(load_graph(preset_path("lenet5")), "mnist-sample", {"colour": 1}).errors
    assert d.code == "train_data" and "colour" in d.message


def test_a_graph_with_every_weighted_block_frozen_cannot_start(tmp_path):
    """The check said "Ready" and the run failed at once."""
    from layerloom.runtime.preflight import ALL_FROZEN
    from layerloom.runtime.trainer import Trainer
    doc = load_graph(preset_path("lenet5"))
    weighted = ["conv1", "conv2", "fc1", "fc2", "fc3"]
    for bid in weighted[:-1]:
        doc.blocks[bid].trainable = False
    assert check(doc) == []                                   # the head still trains
    doc.blocks["fc3"].trainable = False
    assert [d.message for d in check(doc)] == [ALL_FROZEN]
    events = []
    assert Trainer(doc, {"epochs": 1, "max_steps": 1}, events.append, runs_base=tmp_path).run() is None
    assert [e["message"] for e in events if e["type"] == "failed"] == [ALL_FROZEN + "."]
