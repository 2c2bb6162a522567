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
