"""A card's settings line shows every window setting that changes the output shape: a pool's padding and
dilation, a convolution's dilation and groups, and a pool's stride of 1 (its default is the kernel size)."""
import pytest

from layerloom.graph.blocks import REGISTRY


@pytest.mark.parametrize("kind, params, label", [
    ("MaxPool2d", {"kernel_size": 3, "stride": 2, "padding": 1}, "k3 s2 p1"),
    ("MaxPool2d", {"kernel_size": 3, "padding": 1, "dilation": 2}, "k3 p1 d2"),
    ("MaxPool2d", {"kernel_size": 2, "stride": 1}, "k2 s1"),
    ("MaxPool2d", {"kernel_size": [3, 3], "stride": 3}, "k3"),
    ("AvgPool2d", {"kernel_size": 3, "stride": 2, "padding": 1}, "k3 s2 p1"),
    ("Conv2d", {"in_channels": 8, "kernel_size": 3, "dilation": 2, "groups": 4}, "8→16 k3 d2 g4"),
    ("Conv2d", {"in_channels": 8, "kernel_size": 5, "stride": 2, "padding": "same"}, "8→16 k5 s2 same"),
    ("Conv1d", {"in_channels": 1, "out_channels": 10, "kernel_size": 5, "padding": 2}, "1→10 k5 p2"),
])
def test_settings_that_change_the_shape_are_on_the_card(kind, params, label):
    k = REGISTRY[kind]
    assert k.label(k.full_params(params)) == label
