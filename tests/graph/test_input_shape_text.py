"""An import's input shape typed as text ("3,224,224" or "3x224x224"): sizes come back exactly as typed,
and anything else (an empty part, a word, a size under 1) is refused in one line, never read as a
shorter shape."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from layerloom.graph.importers import ImportFailure, parse_input_shape

sizes = st.lists(st.integers(1, 4096), min_size=1, max_size=5)


@given(sizes, st.sampled_from([",", "x", ", "]))
@settings(derandomize=True, max_examples=100, deadline=None, database=None)
def test_typed_sizes_come_back_exactly(shape, sep):
    assert parse_input_shape(sep.join(map(str, shape))) == tuple(shape)


@given(sizes, st.integers(0, 4), st.sampled_from(["", " ", "a", "-1", "0", "1.5"]))
@settings(derandomize=True, max_examples=100, deadline=None, database=None)
def test_a_bad_part_anywhere_is_refused_not_dropped(shape, at, part):
    parts = [str(v) for v in shape]
    parts.insert(min(at, len(parts)), part)
    with pytest.raises(ImportFailure) as caught:
        parse_input_shape(",".join(parts), "--input-shape")
    assert str(caught.value).startswith(("--input-shape must be whole numbers", "each size in --input-shape"))
    assert "\n" not in str(caught.value)
