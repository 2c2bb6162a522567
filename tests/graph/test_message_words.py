"""Messages count in the right number ("1 input channel", "3 input channels"), speak of one sample's
shape as Layerloom writes it (never torch's batch-counted "got 4D input"), and end by saying what to do."""
import re

import pytest

from layerloom.graph.analysis import compute_block


def _message(kind, params, shape, dtype="float32"):
    c = compute_block(kind, params, [(tuple(shape), dtype)])
    assert c.problem is not None, (kind, params, shape)
    return c.problem.message


@pytest.mark.parametrize("kind, params, shape, words", [
    ("Conv2d", {"in_channels": 1}, [3, 8, 8], "expects 1 input channel but receives 3"),
    ("Conv1d", {"in_channels": 1}, [2, 8], "expects 1 input channel but receives 2"),
    ("ConvTranspose2d", {"in_channels": 1}, [3, 8, 8], "expects 1 input channel but receives 3"),
    ("BatchNorm2d", {"num_features": 1}, [3, 8, 8], "expects 1 feature but receives 3"),
    ("Linear", {"in_features": 3}, [1], "receives 1 feature (input 1)"),
    ("LSTM", {"input_size": 2}, [3, 1], "receives 1 feature per step"),
    ("Permute", {"dims": [1, 0]}, [5], "the input's 1 dimension exactly once"),
])
def test_a_count_of_one_takes_the_singular(kind, params, shape, words):
    message = _message(kind, params, shape)
    assert words in message, message
    assert not re.search(r"\b1 (input channels|features|dimensions)\b", message), message


def test_a_permute_says_what_to_set_its_dims_to():
    message = _message("Permute", {"dims": [1, 0]}, [3, 8, 8])
    assert message.endswith("set dims to an order of 0, 1, 2."), message


TORCH_RANK_WORDS = re.compile(r"\b\d+D input|Input Error|Got \d+D|expected \d+D")


@pytest.mark.parametrize("kind, params, shape, words", [
    ("BatchNorm1d", {}, [3, 8, 8], "BatchNorm1d needs a C or C×L input (1-D or 2-D per sample) but receives "
                                   "3×8×8 (3-D). Use BatchNorm2d for a C×H×W image, or insert a Flatten before it."),
    ("Upsample", {}, [5], "Upsample needs a C×L, C×H×W or C×D×H×W input (2-D to 4-D per sample) but receives 5 "
                          "(1-D). Insert a Reshape before it to give each sample one of those shapes."),
    ("Upsample", {"mode": "bilinear"}, [3, 8], 'Upsample(mode="bilinear") needs a C×H×W input (3-D per sample) '
                                               'but receives 3×8 (2-D). Set mode to "nearest" or "linear".'),
    ("Upsample", {"mode": "trilinear"}, [3, 8, 8], 'Set mode to "nearest", "bilinear" or "bicubic".'),
    ("Upsample", {"mode": "linear"}, [2, 3, 8, 8], 'Set mode to "nearest" or "trilinear".'),
])
def test_a_wrong_rank_is_said_in_sample_shapes_not_torchs_batch_counted_words(kind, params, shape, words):
    message = _message(kind, params, shape)
    assert words in message, message
    assert not TORCH_RANK_WORDS.search(message), message


@pytest.mark.parametrize("kind, mode, shape", [("Upsample", "bilinear", [3, 8, 8]), ("Upsample", "linear", [3, 8]),
                                               ("Upsample", "trilinear", [2, 3, 4, 4]), ("BatchNorm1d", None, [3]),
                                               ("BatchNorm1d", None, [3, 8])])
def test_the_ranks_those_words_name_are_accepted(kind, mode, shape):
    c = compute_block(kind, {"mode": mode} if mode else {}, [(tuple(shape), "float32")])
    assert c.problem is None, c.problem


@pytest.mark.parametrize("kind, params, shape, words", [
    ("Select", {"dim": 1, "index": 4}, [4, 5], "Select's index 4 is outside dim 1 of a sample of shape 4×5, which "
                                              "has 4 positions: set index to a value between 0 and 3 (or between "
                                              "−1 and −4 from the end)."),
    ("Select", {"dim": 1, "index": 1}, [1, 5], "which has 1 position: set index to 0 (or −1)."),
    ("Softmax", {"dim": 3}, [4], "a sample of shape 4 has 1 dimension: set dim to 1 or −1."),
    ("LogSoftmax", {"dim": 2}, [4], "a sample of shape 4 has 1 dimension: set dim to 1 or −1."),
    ("Flatten", {"start_dim": 5}, [4, 5, 6], "a sample of shape 4×5×6 has 3 dimensions: set start_dim between 1 "
                                             "and 3, or between −1 and −3."),
    ("PositionEmbedding", {"length": 3, "embed_dim": 4}, [5, 6], 'set length and embed_dim to "auto" (or to 5 '
                                                                 'and 6).'),
])
def test_an_index_or_dim_out_of_range_says_which_values_to_use(kind, params, shape, words):
    message = _message(kind, params, shape)
    assert message.endswith(words), message
    assert "a 4 sample" not in message


@pytest.mark.parametrize("kind", ["Linear", "LayerNorm", "GroupNorm", "Softmax", "Flatten"])
def test_a_scalar_sample_from_a_select_is_said_plainly(kind):
    from layerloom.graph import analyze

    from .helpers import chain
    doc = chain(("Select", {"dim": 1, "index": 0}), (kind, {}), shape=[5])
    (err,) = analyze(doc).errors
    assert err.message == (f"{kind} needs at least one dimension per sample but receives a scalar: insert a Reshape "
                           "to [1] before it, or, if a Select upstream took away the last dimension, remove that "
                           "Select."), err.message


def _merged(kind, params, shapes):
    c = compute_block(kind, params, [(tuple(s), "float32") for s in shapes])
    return c.problem.message


def test_concat_of_shapes_that_differ_elsewhere_says_what_to_change():
    assert _merged("Concat", {"dim": 1}, [[3, 8], [3, 9]]).endswith(
        "change the blocks feeding it so that only the dimension it joins along differs, or set dim to 2 (where "
        "they differ).")
    assert _merged("Concat", {"dim": 1}, [[3, 8], [4, 9]]).endswith(
        "change the blocks feeding it so that only the dimension it joins along differs.")


def test_a_reshape_that_cannot_hold_the_values_says_what_to_set():
    assert _merged("Reshape", {"shape": [-1, 5]}, [[3, 7]]) == (
        "Reshape cannot turn 3×7 (21 values) into [-1, 5] (a multiple of 5 values): set the other sizes to ones "
        "whose product divides 21.")


@pytest.mark.parametrize("kind, params, inputs, words", [
    ("ClassToken", {"embed_dim": 1}, [(1, 2)], 'ClassToken holds a vector of length 1 but the input\'s steps have 2 '
                                               'features (input 1×2): set embed_dim to 2 or to "auto".'),
    ("Mul", {}, [(1, 2, 1), (1, 3, 1)], "Mul needs inputs whose dimensions match or are 1 (C×1×1 against C×H×W), "
                                        "but receives 1×2×1 and 1×3×1: change the blocks feeding it so that each "
                                        "dimension matches or is 1."),
    ("GroupNorm", {"num_groups": 1}, [(1,)], "GroupNorm(num_groups=1) would normalise groups of one value each "
                                             "(input 1), and one value has no spread to normalise: remove the "
                                             "GroupNorm, or give it a larger input."),
    ("GroupNorm", {"num_groups": 4}, [(4, 1, 1)], "lower num_groups, or give it a larger input."),
    ("PositionEmbedding", {"length": 1}, [(2, 1)], 'PositionEmbedding holds 1 position of 1 value each '
                                                   '(length×embed_dim 1×1) but receives 2×1: set length and embed_dim '
                                                   'to "auto" (or to 2 and 1).'),
    ("GroupNorm", {"num_groups": 1, "num_channels": 1}, [(2,)], 'GroupNorm expects 1 channel but receives 2 (input 2). '
                                                                'Set num_channels to 2 or to "auto".'),
    ("GroupNorm", {"num_groups": 4, "num_channels": 4}, [(6, 5, 5)], 'Set num_channels to 6 or to "auto", and '
                                                                     'num_groups to a number that divides 6 (it is 4).'),
    ("Reshape", {"shape": [2]}, [(1,)], "Reshape cannot turn 1 (1 value) into [2] (2 values): set shape to sizes "
                                        "whose product is 1, or put -1 in place of one size to have it computed."),
])
def test_torch_words_found_by_the_every_message_test_are_layerlooms_now(kind, params, inputs, words):
    c = compute_block(kind, params, [(tuple(s), "float32") for s in inputs])
    assert c.problem is not None and c.problem.message.endswith(words), c.problem


def test_groupnorm_of_other_channels_is_fixed_as_its_message_says():
    """The channels GroupNorm is told and the ones it gets differ: with num_channels "auto" (its one-click fix) and
    a num_groups that divides them, torch's own GroupNorm takes the input."""
    import torch
    c = compute_block("GroupNorm", {"num_groups": 4, "num_channels": 4}, [((6, 5, 5), "float32")])
    assert c.problem.fix["param"] == "num_channels" and c.problem.fix["value"] == "auto"
    fixed = compute_block("GroupNorm", {"num_groups": 3, "num_channels": 6}, [((6, 5, 5), "float32")])
    assert fixed.problem is None
    norm = torch.nn.GroupNorm(3, 6)
    assert tuple(fixed.output_shape) == tuple(norm(torch.zeros(2, 6, 5, 5)).shape[1:])
    assert fixed.param_count == sum(p.numel() for p in norm.parameters())


@pytest.mark.parametrize("kind, shape, words", [
    ("MaxPool2d", [3, 8], "Use MaxPool1d for a C×L input, or insert a Reshape before it."),
    ("Conv2d", [3, 8], "Use Conv1d for a C×L input, or insert a Reshape before it."),
    ("Conv1d", [3, 8, 8], "Use Conv2d for a C×H×W input, or insert a Reshape before it."),
    ("BatchNorm2d", [8], "Use BatchNorm1d for a C input, or insert a Reshape before it."),
    ("AvgPool2d", [3, 8], "Insert a Reshape before it to give each sample that shape."),   # no AvgPool1d block
])
def test_a_wrong_rank_names_the_sibling_block_made_for_it(kind, shape, words):
    assert _message(kind, {}, shape).endswith(words)
