"""Diagnostics: attached to the right block, in plain words, with fixes where obvious."""
from layerloom.graph import GraphDocument, analyze, load_graph
from layerloom.presets import preset_path

from .helpers import chain


def codes(result):
    return {(d.block, d.code) for d in result.diagnostics}


def test_too_small_input_names_the_exact_pooling_block():
    doc = load_graph(preset_path("alexnet"))
    doc.set_param("input", "shape", [3, 48, 48])
    result = analyze(doc)
    errors = result.errors
    assert len(errors) == 1
    d = errors[0]
    assert d.block == "pool3" and d.code == "too_small"
    assert d.text == ("pool3: MaxPool2d(kernel_size=3, stride=2) needs an input of at least 3×3, but receives "
                      "256×2×2. Remove a pooling block upstream or use a larger input.")
    # Everything after it is "not computed", not more errors.
    assert result.blocks["gap1"].status == "blocked"
    assert result.blocks["fc1"].status == "blocked"
    assert result.blocks["conv5"].ok


def test_conv_kernel_larger_than_input():
    doc = chain(("Conv2d", {"out_channels": 4, "kernel_size": 7}), shape=(3, 5, 5))
    d = analyze(doc).errors[0]
    assert d.block == "conv1"
    assert "needs an input of at least 7×7, but receives 3×5×5" in d.message
    assert "smaller kernel_size" in d.message


def test_linear_after_image_offers_flatten():
    doc = chain(("Conv2d", {"out_channels": 16, "kernel_size": 3}), ("Linear", {"in_features": 16 * 26 * 26,
                                                                             "out_features": 10}))
    d = analyze(doc).errors[0]
    assert d.block == "fc1" and d.code == "needs_flatten"
    assert "Insert a Flatten" in d.message
    assert d.fix["action"] == "insert_before" and d.fix["kind"] == "Flatten" and d.fix["block"] == "fc1"


def test_linear_with_auto_on_image_warns_and_offers_flatten():
    doc = chain(("Conv2d", {"out_channels": 16, "kernel_size": 3}), ("Linear", {"out_features": 10}))
    result = analyze(doc)
    assert result.ok   # torch accepts it: Linear acts on the last dimension
    w = [d for d in result.warnings if d.code == "needs_flatten"][0]
    assert w.block == "fc1" and "16×26×26" in w.message and "10816" in w.message


def test_wrong_in_features_offers_auto():
    doc = chain(("Flatten", {}), ("Linear", {"in_features": 256, "out_features": 10}))
    d = analyze(doc).errors[0]
    assert d.text == 'fc1: Linear(in_features=256) receives 784 features (input 784). Set in_features to 784 or to "auto".'
    assert d.fix == {"action": "set_param", "param": "in_features", "value": "auto",
                     "label": 'Set in_features to "auto"', "block": "fc1"}


def test_conv_channel_mismatch():
    doc = chain(("Conv2d", {"in_channels": 3, "out_channels": 4}))
    d = analyze(doc).errors[0]
    assert d.block == "conv1" and "expects 3 input channels but receives 1" in d.message


def test_rank_errors_are_caught_before_torch_guesses_unbatched_input():
    doc = chain(("Conv2d", {"out_channels": 4}), shape=(28, 28))
    d = analyze(doc).errors[0]
    assert d.block == "conv1" and d.code == "rank"
    assert "needs a C×H×W input" in d.message and "28×28 (2-D)" in d.message
    doc = chain(("LSTM", {"hidden_size": 4}), shape=(28,))
    assert analyze(doc).errors[0].code == "rank"


def test_embedding_needs_integer_input():
    doc = chain(("Embedding", {"num_embeddings": 10, "embedding_dim": 4}), shape=(5,))
    d = analyze(doc).errors[0]
    assert d.block == "emb1" and "int64" in d.message


def test_merge_shape_mismatch():
    doc = GraphDocument()
    doc.add_block("Input", {"shape": [4, 8, 8]})
    doc.add_block("Conv2d", {"out_channels": 6, "kernel_size": 1})
    doc.add_block("Add")
    doc.add_block("Output")
    doc.connect("input", "conv1")
    doc.connect("conv1", "add1")
    doc.connect("input", "add1", dst_port=1)
    doc.connect("add1", "output")
    d = analyze(doc).errors[0]
    assert d.block == "add1" and "6×8×8 and 4×8×8" in d.message


def test_reshape_and_permute_errors():
    d = analyze(chain(("Reshape", {"shape": [10, 10]}), shape=(16, 5, 5))).errors[0]
    assert "cannot turn 16×5×5 (400 values) into [10, 10]" in d.message
    d = analyze(chain(("Permute", {"dims": [0, 2]}), shape=(3, 4))).errors[0]
    assert d.block == "permute1" and "exactly once" in d.message
    d = analyze(chain(("Softmax", {"dim": 4}), shape=(10,))).errors[0]
    assert d.block == "softmax1" and "out of range" in d.message


def test_wiring_problems():
    doc = GraphDocument()
    doc.add_block("Input", {"shape": [4]})
    doc.add_block("ReLU")
    doc.add_block("Tanh")
    doc.add_block("Linear")
    doc.connect("input", "relu1")
    doc.connect("relu1", "tanh1")
    doc.connect("tanh1", "relu1")        # cycle
    doc.connect("input", "fc1")
    doc.add_block("Sigmoid")             # unconnected input
    doc.connect("input", "sigmoid1")
    doc.connect("fc1", "sigmoid1")       # two wires into one input
    result = analyze(doc)
    c = codes(result)
    assert ("relu1", "cycle") in c and ("tanh1", "cycle") in c
    assert ("sigmoid1", "multiple_inputs") in c
    assert (None, "no_output") in c
    cyc = [d for d in result.diagnostics if d.code == "cycle"][0]
    assert "relu1 → tanh1 → relu1" in cyc.message
    doc2 = GraphDocument()
    doc2.add_block("ReLU")
    c2 = codes(analyze(doc2))
    assert ("relu1", "unconnected") in c2 and (None, "no_input") in c2


def test_bad_param_value_set_through_the_api():
    doc = chain(("Conv2d", {"out_channels": 4}))
    doc.set_param("conv1", "out_channels", -3)
    d = analyze(doc).errors[0]
    assert d.block == "conv1" and d.code == "bad_param" and "out_channels must be at least 1" in d.message


def test_torch_warnings_become_warning_diagnostics():
    doc = chain(("LSTM", {"hidden_size": 4, "dropout": 0.5}), shape=(5, 3))
    result = analyze(doc)
    assert result.ok
    assert any(d.block == "lstm1" and d.code == "torch_warning" and "num_layers" in d.message
               for d in result.warnings)
    assert any(d.block == "lstm1" and d.code == "torch_warning" for d in analyze(doc).warnings)  # cached too


def test_fixing_the_problem_clears_it():
    doc = chain(("Flatten", {}), ("Linear", {"in_features": 256, "out_features": 10}))
    assert not analyze(doc).ok
    doc.set_param("fc1", "in_features", "auto")
    assert analyze(doc).ok


def test_a_rule_torch_states_with_parameter_names_says_which_to_change():
    import pytest
    import torch
    cases = [(("GroupNorm", {"num_groups": 32}), (9, 4, 4), lambda: torch.nn.GroupNorm(32, 9),
              "GroupNorm(num_groups=32)", "Change num_groups or num_channels so that this holds"),
             (("LSTM", {"hidden_size": 4, "proj_size": 4}), (5, 3), lambda: torch.nn.LSTM(3, 4, proj_size=4),
              "LSTM(hidden_size=4, proj_size=4)", "Change hidden_size or proj_size so that this holds")]
    for spec, shape, build, sig, change in cases:
        with pytest.raises(ValueError) as torch_says:
            build()
        d = analyze(chain(spec, shape=shape)).errors[0]
        rule = str(torch_says.value).rstrip(".")
        assert d.message.startswith(f"{sig} cannot take an input of shape {'×'.join(map(str, shape))}: {rule}. ")
        assert change in d.message and d.message.endswith(".")


def test_batchnorm_without_running_statistics_says_a_batch_of_one_fails_only_where_torch_fails():
    import torch
    for kind, module, shape in [("BatchNorm2d", torch.nn.BatchNorm2d, (3, 4, 4)),
                                ("BatchNorm2d", torch.nn.BatchNorm2d, (3, 1, 1)),
                                ("BatchNorm1d", torch.nn.BatchNorm1d, (3,)),
                                ("BatchNorm1d", torch.nn.BatchNorm1d, (3, 5))]:
        [d] = analyze(chain((kind, {"track_running_stats": False}), shape=shape)).errors
        try:
            module(3, track_running_stats=False).eval()(torch.randn(1, *shape))
            torch_fails = False
        except ValueError:
            torch_fails = True
        assert ("a batch of one fails" in d.message) == torch_fails, (kind, shape)
        assert "depends on the other samples of its batch" in d.message and d.fix["param"] == "track_running_stats"
