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


@pytest.mark.parametrize("params, shape, need", [
    ({"kernel_size": [4, 1], "stride": [1, 2], "padding": 1, "dilation": 3}, [2, 4, 6], "8×1"),
    ({"kernel_size": [1, 40], "stride": 3, "padding": 1, "dilation": 3}, [4, 4, 6], "1×116"),
])
def test_a_kernel_too_large_names_the_input_it_needs_without_negative_sizes(params, shape, need):
    (err,) = analyze(chain(("Conv2d", params), shape=shape)).errors
    assert f"at least {need}," in err.message and "-" not in err.message.split("needs")[1], err.message
    with pytest.raises(RuntimeError):       # torch itself refuses it
        torch.nn.Conv2d(shape[0], 2, **params)(torch.rand(2, *shape))


@pytest.mark.parametrize("params, shape, out", [
    ({"kernel_size": 1, "stride": 3, "padding": 2, "output_padding": 2}, [3, 1, 3], "−1×5"),
    ({"kernel_size": 1, "padding": 1}, [3, 2, 2], "0×0"),
    ({"kernel_size": [3, 1], "padding": [1, 3]}, [3, 4, 5], "4×−1"),
])
def test_transposed_convolution_padding_past_its_result_is_refused_in_words(params, shape, out):
    (err,) = analyze(chain(("ConvTranspose2d", params), shape=shape)).errors
    assert not JARGON.search(err.message) and "negative dimension" not in err.message, err.message
    assert f"an empty result ({out}) " in err.message and "Set padding to at most" in err.message, err.message
    module = torch.nn.ConvTranspose2d(shape[0], 2, **params)
    try:
        y = module(torch.rand(2, *shape))
    except RuntimeError:
        return                               # torch itself refuses it...
    assert 0 in y.shape                      # ...or gives an empty result


@pytest.mark.parametrize("start, end, shape", [(-1, -2, [20, 3]), (2, 1, [20, 12, 5]), (3, -3, [1, 4, 3])])
def test_flatten_that_starts_after_it_ends_is_refused_in_words(start, end, shape):
    (err,) = analyze(chain(("Flatten", {"start_dim": start, "end_dim": end}), shape=shape)).errors
    assert "flatten()" not in err.message and "invalid args" not in err.message, err.message
    assert f"start_dim={start}" in err.message and f"end_dim={end}" in err.message and "after" in err.message
    assert (err.fix["action"], err.fix["param"]) == ("reset_param", "end_dim")
    with pytest.raises(RuntimeError):        # torch itself refuses it
        torch.nn.Flatten(start, end)(torch.rand(2, *shape))


@pytest.mark.parametrize("kind, params, shape", [
    ("Upsample", {"scale_factor": 0.3}, [2, 3, 1]),
    ("Upsample", {"scale_factor": 0.3, "mode": "linear"}, [2, 3]),
])
def test_an_empty_result_names_the_block_and_its_input(kind, params, shape):
    (err,) = analyze(chain((kind, params), shape=shape)).errors
    assert err.message.startswith(f"{kind}(") and "empty result" in err.message, err.message
    assert f"input {'×'.join(map(str, shape))}" in err.message, err.message
    with pytest.raises(RuntimeError, match="greater than 0"):       # torch itself refuses it on a real batch
        getattr(torch.nn, kind)(**params)(torch.rand(2, *shape))


def test_a_padding_idx_outside_the_table_is_refused_in_words():
    doc = chain(("Embedding", {"num_embeddings": 3, "embedding_dim": 2, "padding_idx": 3}), shape=[7], dtype="int64")
    (err,) = analyze(doc).errors
    assert "Padding_idx" not in err.message and "so that this holds" not in err.message, err.message
    assert "padding_idx=3" in err.message and "0 to 2" in err.message, err.message
    assert (err.fix["action"], err.fix["param"]) == ("reset_param", "padding_idx")
    with pytest.raises(AssertionError):        # torch itself refuses it
        torch.nn.Embedding(3, 2, padding_idx=3)


def test_a_mirrored_padding_of_one_value_says_one_value():
    (err,) = analyze(chain(("Conv1d", {"kernel_size": 2, "padding": 1, "padding_mode": "reflect"}),
                           shape=[2, 1])).errors
    assert "pads 1 value on each side" in err.message, err.message


@pytest.mark.parametrize("kernel, dilation", [(4, 1), (3, 2), (2, 3), (4, 2)])
def test_a_same_padding_split_unevenly_is_said_as_torch_pads_it(kernel, dilation):
    """padding="same" with an odd total pads one value fewer before than after (torch's own split)."""
    params = {"out_channels": 2, "kernel_size": kernel, "dilation": dilation, "padding": "same",
              "padding_mode": "reflect"}
    (err,) = analyze(chain(("Conv2d", params), shape=[1, 2, 2])).errors
    conv = torch.nn.Conv2d(1, 2, kernel, dilation=dilation, padding="same", padding_mode="reflect")
    before, after = conv._reversed_padding_repeated_twice[:2]       # (left, right) of the width, as torch pads
    said = ("pads " + (f"{after} value{'s' * (after != 1)} on each side" if before == after else
                       f"{before} value{'s' * (before != 1)} before and {after} value{'s' * (after != 1)} after"))
    assert said in err.message, err.message
    with pytest.raises(RuntimeError):
        conv(torch.rand(2, 1, 2, 2))


def test_attention_keys_and_values_of_other_lengths_are_said_in_the_graphs_words():
    """The message named torch's internal (steps, batch, features) shapes and only the query's shape."""
    from layerloom.graph import GraphDocument
    doc = GraphDocument("m")
    sources = [doc.add_block("Input", {"shape": shape}) for shape in ([3, 4], [5, 4], [6, 4])]
    attention = doc.add_block("MultiheadAttention", {"num_inputs": 3, "num_heads": 2})
    for port, source in enumerate(sources):
        doc.connect(source, attention, dst_port=port)
    doc.connect(attention, doc.add_block("Output"))
    (err,) = analyze(doc).errors
    assert err.block == attention and "torch.Size" not in err.message, err.message
    assert "key (input 2, 5×4) has 5 steps and its value (input 3, 6×4) has 6 steps" in err.message, err.message
    with pytest.raises((AssertionError, RuntimeError)):             # torch itself refuses it on a real batch
        torch.nn.MultiheadAttention(4, 2, batch_first=True)(torch.rand(2, 3, 4), torch.rand(2, 5, 4), torch.rand(2, 6, 4))
    doc.set_param(sources[2], "shape", [5, 4])                       # one value for each key: fine
    assert analyze(doc).ok


@pytest.mark.parametrize("kind, params, shape", [("Identity", {}, [4]), ("ChannelShuffle", {"groups": 2}, [4, 3])])
def test_blocks_that_only_move_values_pass_token_ids_as_torch_does(kind, params, shape):
    """Identity and ChannelShuffle were refused on int64 ("needs floating-point values"); torch runs them."""
    from layerloom.graph import compile_graph
    doc = chain((kind, params), shape=shape, dtype="int64")
    result = analyze(doc)
    assert result.ok, [d.message for d in result.errors]
    x = torch.randint(0, 9, (2, *shape))
    reference = getattr(torch.nn, kind)(**params)(x)
    y = compile_graph(doc, result)(x)
    assert y.dtype == torch.int64 and torch.equal(y, reference)
    (block,) = [b for b in doc.blocks if doc.blocks[b].kind == kind]
    assert result.blocks[block].output_shape == tuple(reference.shape[1:]) and result.blocks[block].output_dtype == "int64"
