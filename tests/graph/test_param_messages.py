"""Every parameter of every block kind, given a value of the wrong kind: one sentence that names the
parameter and what it takes (as the Inspector's tooltip says it), or the value accepted as it is."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from layerloom.graph.blocks import REGISTRY
from layerloom.graph.params import ParamError

PARAMS = [(kind, p) for kind, k in sorted(REGISTRY.items()) for p in k.params]
wrong = st.one_of(st.text(max_size=12), st.lists(st.text(max_size=3), max_size=3), st.dictionaries(
    st.text(max_size=3), st.integers(), max_size=2), st.floats(allow_nan=True, allow_infinity=True), st.booleans())


@given(st.sampled_from(PARAMS), wrong)
@settings(derandomize=True, max_examples=400, deadline=None, database=None)
def test_a_wrong_value_is_refused_in_one_sentence_that_names_the_parameter(kind_param, value):
    _kind, param = kind_param
    try:
        param.check(value)
    except ParamError as exc:
        text = str(exc)
        assert text.startswith(param.name) and "\n" not in text, text
        assert "must be expects" not in text and "be expects" not in text, text


def test_a_size_given_as_text_says_what_it_takes():
    param = REGISTRY["Conv2d"].param("kernel_size")
    with pytest.raises(ParamError) as caught:
        param.check("5")
    assert str(caught.value) == ('kernel_size expects a whole number from 1 to 1024 or a list of 2 whole numbers; '
                                 'got "5"')
