"""Random graphs built block by block from the families that fit the shape before them (tests/graph/families.py):
what analysis accepts runs as analysed at batch sizes 1, 2 and 5, in evaluation and training, with each
block's shape, parameter count and MACs equal to PyTorch's; what it refuses gets plain sentences on the block
that causes it. LAYERLOOM_LONG=1 runs many more (tools/soak_random_graphs.py). Each case the random graphs
found is kept below as a plain regression test."""
import os

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings

from layerloom.graph import analyze
from layerloom.graph.fileformat import dumps_graph

from .families import JARGON, check_refusal, check_runs_as_analysed, family_graphs
from .helpers import chain

LONG = bool(os.environ.get("LAYERLOOM_LONG"))
EXAMPLES = 4000 if LONG else 40
SETTINGS = settings(derandomize=not LONG, max_examples=EXAMPLES, deadline=None,
                    database=None, suppress_health_check=list(HealthCheck))


@SETTINGS
@given(family_graphs(long_sequences=LONG))
def test_graphs_of_fitting_families_run_as_analysed_or_are_refused_in_words(doc):
    try:
        if check_runs_as_analysed(doc):
            event("accepted")
        else:
            event("refused")
            check_refusal(doc, analyze(doc))
    except Exception as exc:
        raise AssertionError(f"{type(exc).__name__}: {exc}\nfor the graph\n{dumps_graph(doc)}") from exc


@pytest.mark.parametrize("kind, params, shape, side", [
    ("Conv2d", {"kernel_size": 3, "stride": 2, "padding": 2, "padding_mode": "reflect"}, [5, 1, 4], 1),
    ("Conv2d", {"kernel_size": 3, "padding": [0, 4], "padding_mode": "reflect"}, [2, 5, 4], 4),
    ("Conv1d", {"kernel_size": 5, "padding": "same", "padding_mode": "reflect"}, [3, 2], 2),
    ("Conv1d", {"kernel_size": 3, "padding": 3, "padding_mode": "circular"}, [3, 2], 2),
])
def test_padding_that_mirrors_or_wraps_past_the_input_is_refused_in_words(kind, params, shape, side):
    (err,) = analyze(chain((kind, params), shape=shape)).errors
    assert not JARGON.search(err.message) and "Argument" not in err.message, err.message
    assert params["padding_mode"] in err.message and f"has {side}" in err.message, err.message
    module = getattr(torch.nn, kind)(shape[0], 2, **params)
    with pytest.raises(Exception):         # torch itself refuses it on a real batch
        module(torch.rand(2, *shape))
