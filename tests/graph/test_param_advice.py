"""A parameter set to a value it cannot take is refused in one printable line that counts in the right
number and says what to set it to (the values it takes), for every parameter of every block kind."""
import os
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from layerloom.graph.analysis import compute_block
from layerloom.graph.blocks import REGISTRY

EXAMPLES = 600 if os.environ.get("LAYERLOOM_LONG") else 40
PARAMS = [(k.name, p) for k in REGISTRY.values() for p in k.params]
BAD = st.sampled_from(["x", -10**9, 10**9, 1.5, [], [0] * 10, True, {"a": 1}])
UNGRAMMATICAL = re.compile(r"\b1 (numbers|whole numbers|dimensions|entries)\b|\ba list of \d+(;|\.|,| or)")


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.sampled_from(PARAMS), BAD)
def test_a_bad_value_names_the_values_to_use(kind_param, value):
    kind, p = kind_param
    c = compute_block(kind, {p.name: value}, [((4, 8, 8), "float32")])
    if c.problem is None or c.problem.code != "bad_param" or c.problem.fix.get("param") != p.name:
        return                              # the value was fine for this parameter, or a later rule spoke
    message = c.problem.message
    assert message.isprintable() and "\n" not in message
    assert message.startswith(f"{kind}: {p.name} ") and message.endswith(".")
    assert not UNGRAMMATICAL.search(message), message
    if p.type in ("int", "float", "size", "shape"):
        assert p.takes() in message, message


def test_a_number_out_of_range_says_what_to_set():
    c = compute_block("Conv2d", {"out_channels": 0}, [((3, 8, 8), "float32")])
    assert c.problem.message == ("Conv2d: out_channels must be at least 1; got 0. Set out_channels to a whole "
                                 "number from 1 to 65536.")


def test_a_one_item_size_is_singular():
    c = compute_block("Conv1d", {"kernel_size": [1, 2]}, [((3, 16), "float32")])
    assert c.problem.message == ("Conv1d: kernel_size must be one number or a list of 1 number; got 2 numbers. "
                                 "Set kernel_size to a whole number from 1 to 1024 or a list of 1 whole number.")
