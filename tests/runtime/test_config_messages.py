"""Training settings out of range: the message names the setting, its bounds and the value given, with
whole numbers written in full (2,147,483,647, never 2.14748e+09)."""
from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from layerloom.runtime.config import ConfigError, TrainConfig

WHOLE = ("epochs", "batch_size", "seed", "max_steps", "step_size", "workers", "threads")


def test_the_seed_bound_is_written_in_full():
    with pytest.raises(ConfigError) as caught:
        TrainConfig.from_dict({"seed": 1e20})
    assert str(caught.value) == "seed must be between 0 and 2,147,483,647; got 1e+20"


@given(st.sampled_from(WHOLE), st.one_of(st.integers(-10**12, 10**12), st.floats(-1e30, 1e30)))
@settings(derandomize=True, max_examples=200, deadline=None, database=None)
def test_an_out_of_range_setting_names_its_bounds_as_whole_numbers(name, value):
    if name not in {f.name for f in TrainConfig.__dataclass_fields__.values()}:
        return
    try:
        TrainConfig.from_dict({name: value})
    except ConfigError as exc:
        text = str(exc)
        assert text.startswith(name) and "\n" not in text
        bounds = re.match(rf"{name} must be between (\S+) and (\S+);", text)
        if bounds:
            assert all(re.fullmatch(r"-?[\d,]+", b) for b in bounds.groups()), text
