"""check_compatibility: plain-words mismatches between a data set and a graph."""

from layerloom.runtime.data import check_compatibility, dataset_info


def test_matching_graph_has_no_problems():
    assert check_compatibility(dataset_info("mnist-sample"), (1, 28, 28), 10) == []
    assert check_compatibility(dataset_info("cifar100"), (3, 32, 32), 100) == []
    assert check_compatibility(dataset_info("cifar10"), None, None) == []


def test_spatial_mismatch_suggests_input_shape_or_resize():
    problems = check_compatibility(dataset_info("cifar10"), (3, 224, 224), 10)
    assert problems == [
        "Input expects 3×224×224 but cifar10 gives 3×32×32: set the Input shape to "
        "[3, 32, 32] or add a Resize to 224×224 in the data settings"
    ]


def test_resize_in_the_data_settings_resolves_the_mismatch():
    info = dataset_info("cifar10")
    assert check_compatibility(info, (3, 224, 224), 10, resize=(224, 224)) == []
    assert check_compatibility(info, (3, 224, 224), 10, resize=224) == []


def test_class_count_mismatch_names_the_last_linear():
    problems = check_compatibility(dataset_info("mnist-sample"), (1, 28, 28), 84)
    assert problems == [
        "The graph ends in 84 outputs but mnist-sample has 10 classes: "
        "set the last Linear's out_features to 10"
    ]


def test_both_problems_are_reported():
    problems = check_compatibility(dataset_info("fashion-mnist"), (3, 32, 32), 1000)
    assert len(problems) == 2
    assert problems[0].startswith("Input expects 3×32×32 but fashion-mnist gives 1×28×28")
    assert "set the Input shape to [1, 28, 28]" in problems[0]
    assert "1 channel" in problems[0]
    assert "1000 outputs" in problems[1] and "out_features to 10" in problems[1]


def test_flat_input_suggests_a_flatten():
    problems = check_compatibility(dataset_info("mnist"), (784,), 10)
    assert problems == [
        "Input expects 784 but mnist gives 1×28×28: set the Input shape to [1, 28, 28] "
        "and put a Flatten right after the Input"
    ]


def test_generated_sets_follow_the_input_and_fit():
    info = dataset_info("shapes", input_shape=(3, 224, 224))
    assert check_compatibility(info, (3, 224, 224), 10) == []
    assert check_compatibility(info, (3, 224, 224), 1000) == [
        "The graph ends in 1000 outputs but shapes has 10 classes: "
        "set the last Linear's out_features to 10"
    ]


def test_image_folder_without_a_folder_skips_the_class_check():
    info = dataset_info("image-folder", input_shape=(3, 64, 64))
    assert info.num_classes == 0
    assert check_compatibility(info, (3, 64, 64), 5) == []


def test_image_presets_train_on_shapes_without_a_word():
    from layerloom.graph import analyze, load_graph
    from layerloom.presets import preset_path
    from layerloom.runtime.preflight import check_training

    for name in ("alexnet", "vgg11", "resnet18"):
        doc = load_graph(preset_path(name))
        assert doc.training["dataset"] == "shapes"
        info = dataset_info("shapes", input_shape=(3, 224, 224), **doc.training["dataset_options"])
        assert check_training(doc, analyze(doc, info.data_context()), info) == [], name
