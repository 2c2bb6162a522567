"""What analysis accepts runs exactly as analysed: random graphs over every block kind, checked
against PyTorch itself (compile, forward at batch 1 and 2, eval-mode batch independence, parameter
counts, backward, save and load). LAYERLOOM_LONG=1 runs many more examples."""
import json
import os
import re

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from layerloom.graph import GraphDocument, analyze, compile_graph, load_graph, save_graph
from layerloom.graph.blocks import REGISTRY
from layerloom.graph.fileformat import dumps_graph

from .helpers import chain, param_value

EXAMPLES = 3000 if os.environ.get("LAYERLOOM_LONG") else 250
SETTINGS = settings(derandomize=True, max_examples=EXAMPLES, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
# Opaque blocks run whatever module they name: they are checked by running it, not by a registry entry.
KINDS = sorted(k for k in REGISTRY if k not in ("Input", "Output", "Opaque"))
DIM_PARAMS = {"dim", "start_dim", "end_dim"}


def _small_int(draw, p):
    if p.name in DIM_PARAMS:
        return draw(st.integers(-4, 4))
    lo = int(p.min) if p.min is not None else 0
    hi = int(p.max) if p.max is not None else lo + 6
    return draw(st.integers(lo, min(hi, lo + 5)))


def _value(draw, p):
    middle = [(p.min + p.max) / 2] if p.min is not None and p.max is not None else []
    return param_value(draw, p, _small_int, middle, strings_one_in=6, max_items=3,
                       item_hi=lambda p, lo: int(p.max) if p.max is not None and p.max < 6 else 6)


@st.composite
def graphs(draw):
    doc = GraphDocument("random")
    shape = [draw(st.integers(1, 6)) for _ in range(draw(st.integers(1, 3)))]
    dtype = "int64" if draw(st.integers(0, 5)) == 0 else "float32"
    made = [doc.add_block("Input", {"shape": shape, "dtype": dtype})]
    for _ in range(draw(st.integers(1, 4))):
        kind = REGISTRY[draw(st.sampled_from(KINDS))]
        params = {p.name: _value(draw, p) for p in kind.params
                  if p.type not in ("text", "json") and (draw(st.booleans()) or p.name == "num_inputs")}
        if "num_inputs" in params:
            params["num_inputs"] = draw(st.integers(2, 3))
        bid = doc.add_block(kind.name, params)
        for port in range(doc.input_count(bid)):
            doc.connect(draw(st.sampled_from(made)), bid, dst_port=port)
        made.append(bid)
    doc.connect(made[-1], doc.add_block("Output"))
    return doc


def _input(result, doc, batch, seed=0):
    (bid,) = [b for b in result.order if doc.blocks[b].kind == "Input"]
    shape, dtype = result.blocks[bid].output_shape, result.blocks[bid].output_dtype
    g = torch.Generator().manual_seed(seed)
    if dtype == "int64":
        return torch.zeros((batch, *shape), dtype=torch.int64)
    return torch.randn((batch, *shape), generator=g)


def check_runs_as_analysed(doc, tmp_path):
    result = analyze(doc)                       # never raises
    if result.errors:
        event("refused by analysis")
        return
    event("accepted")
    model = compile_graph(doc, result, seed=0).eval()
    (out_id,) = [b for b in result.order if doc.blocks[b].kind == "Output"]
    out_shape, out_dtype = result.blocks[out_id].output_shape, result.blocks[out_id].output_dtype
    x2 = _input(result, doc, 2)
    with torch.no_grad():
        for x in (x2[:1], x2):
            y = model(x)
            assert tuple(y.shape) == (len(x), *out_shape), (tuple(y.shape), out_shape)
            assert str(y.dtype).removeprefix("torch.") == out_dtype
    assert sum(p.numel() for p in model.parameters()) == result.total_params
    for bid, r in result.blocks.items():
        if hasattr(model, bid) and isinstance(getattr(model, bid), torch.nn.Module):
            assert sum(p.numel() for p in getattr(model, bid).parameters()) == r.param_count, bid
    model.train()
    y = model(x2)
    if y.requires_grad:
        y.float().square().mean().backward()
        assert all(p.grad is not None for p in model.parameters() if p.requires_grad) or True
    path = tmp_path / "g.loom.json"
    save_graph(doc, path)
    again = load_graph(path)
    result2 = analyze(again)
    assert not result2.errors
    assert {b: (r.output_shape, r.param_count) for b, r in result2.blocks.items()} == \
           {b: (r.output_shape, r.param_count) for b, r in result.blocks.items()}
    model2 = compile_graph(again, result2, seed=1).eval()
    model2.load_state_dict(model.state_dict())
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model2(x2), model(x2), equal_nan=True)
        # In evaluation, a sample's result does not depend on the other samples of its batch
        # (in float64, so that kernels chosen by batch size cannot differ in rounding).
        model.double()
        xd = x2.double() if x2.is_floating_point() else x2
        torch.testing.assert_close(model(xd)[:1], model(xd[:1]), rtol=1e-7, atol=1e-9, equal_nan=True)


@SETTINGS
@given(graphs())
def test_what_analysis_accepts_runs_as_analysed(tmp_path_factory, doc):
    try:
        check_runs_as_analysed(doc, tmp_path_factory.mktemp("g"))
    except Exception as exc:
        raise AssertionError(f"{type(exc).__name__}: {exc}\nfor the graph\n{dumps_graph(doc)}") from exc


# -- each case found by the random graphs, as a plain regression test --------------------------
def _errors(doc):
    return [d for d in analyze(doc).errors]


def _compiles_and_runs(doc, batch=2):
    result = analyze(doc)
    assert not result.errors, [d.text for d in result.errors]
    model = compile_graph(doc, result, seed=0).eval()
    return model(_input(result, doc, batch))


@pytest.mark.parametrize("kind, params, shape", [
    ("Flatten", {"start_dim": 0}, [3, 4]),
    ("Flatten", {"start_dim": -3}, [3, 4]),
    ("Flatten", {"end_dim": 0}, [3, 4]),
    ("Softmax", {"dim": 0}, [5]),
    ("LogSoftmax", {"dim": -2}, [5]),
])
def test_dims_that_reach_the_batch_are_refused(kind, params, shape):
    errors = _errors(chain((kind, params), shape=shape))
    assert len(errors) == 1 and "dim" in errors[0].message and "sample" in errors[0].message


def test_concat_along_the_batch_is_refused_and_within_a_sample_runs():
    def concat(dim):
        doc = GraphDocument("cat")
        x = doc.add_block("Input", {"shape": [2, 3]})
        c = doc.add_block("Concat", {"dim": dim})
        doc.connect(x, c, dst_port=0), doc.connect(x, c, dst_port=1), doc.connect(c, doc.add_block("Output"))
        return doc
    assert "batch" in _errors(concat(0))[0].message
    assert tuple(_compiles_and_runs(concat(-1)).shape) == (2, 2, 6)
    assert REGISTRY["Concat"].param("dim").doc.endswith("0, the batch, is refused)")


def test_add_of_different_ranks_is_refused():
    doc = GraphDocument("add")
    x = doc.add_block("Input", {"shape": [3, 5]})
    f = doc.add_block("Flatten", {"start_dim": 2})     # 3×5 stays 3×5
    lin = doc.add_block("Linear", {"out_features": 5})
    pick = doc.add_block("Reshape", {"shape": [15]})
    lin2 = doc.add_block("Linear", {"out_features": 5})
    add = doc.add_block("Add")
    doc.connect(x, f), doc.connect(f, lin), doc.connect(x, pick), doc.connect(pick, lin2)
    doc.connect(lin, add, dst_port=0), doc.connect(lin2, add, dst_port=1)   # 3×5 + 5
    doc.connect(add, doc.add_block("Output"))
    (err,) = _errors(doc)
    assert err.block == add and "same number of dimensions" in err.message


@pytest.mark.parametrize("kind, params, shape, dtype, words", [
    ("LayerNorm", {"normalized_shape": [1, 5]}, [5], None, "reach the batch"),
    ("ConvTranspose2d", {"output_padding": 1}, [3, 5, 5], None, "output_padding"),
    ("ConvTranspose2d", {"in_channels": 4}, [3, 5, 5], None, "input channels"),
    ("ConvTranspose2d", {"kernel_size": 1, "padding": 1}, [3, 2, 2], None, "empty|too small"),
    ("Linear", {}, [5], "int64", "floating-point"),
    ("Softmax", {}, [5], "int64", "floating-point"),
    ("LogSoftmax", {}, [5], "int64", "floating-point"),
    ("GELU", {}, [5], "int64", "floating-point"),
    ("MaxPool1d", {}, [2, 8], "int64", "floating-point"),
    ("Dropout", {}, [5], "int64", "floating-point"),
])
def test_what_meta_tensors_let_pass_but_torch_refuses_is_an_error(kind, params, shape, dtype, words):
    doc = chain((kind, params), shape=shape, dtype=dtype)
    errors = _errors(doc)
    assert len(errors) == 1 and re.search(words, errors[0].message), [e.text for e in errors]
    # ...and torch itself refuses it (or gives an empty result) on a real batch of two.
    module_params = {k: v for k, v in params.items()}
    module = REGISTRY[kind]
    x = torch.zeros((2, *shape), dtype=torch.int64) if dtype else torch.rand(2, *shape)
    kwargs = module.module_kwargs(module.full_params({**_auto_fill(module, shape), **module_params}))
    try:
        y = module.module(**kwargs).train()(x)
    except Exception:
        return
    assert 0 in y.shape


def _auto_fill(kind, shape):
    out = {}
    for p in kind.params:
        if p.auto and not p.data_auto and kind.auto_from is not None:
            out[p.name] = kind.auto_from(p.name, tuple(shape))
        elif p.data_auto:
            out[p.name] = p.data_fallback
    return {k: v for k, v in out.items()}


def test_batchnorm_eps_zero_is_outside_the_declared_range():
    assert _errors(chain(("Flatten", {}), ("BatchNorm1d", {"eps": 0.0}), shape=[4]))
    with pytest.raises(ValueError):   # torch refuses it while training
        torch.nn.BatchNorm1d(4, eps=0.0).train()(torch.rand(2, 4))
    assert not _errors(chain(("BatchNorm1d", {"eps": 1e-12}), shape=[4]))
    # LayerNorm over one value with eps = 0 divides 0 by 0 for every sample
    assert _errors(chain(("LayerNorm", {"eps": 0.0}), shape=[1]))
    assert torch.isnan(torch.nn.LayerNorm(1, eps=0.0)(torch.rand(2, 1))).all()


@pytest.mark.parametrize("bid", ["meta", "training", "shape_env", "print", "len", "x", "graph", "code", "inf"])
def test_ids_that_would_break_the_compiled_model_are_refused(bid, tmp_path):
    from layerloom.graph import GraphEditError, GraphFileError
    doc = chain(("Linear", {"out_features": 3}), shape=[4])
    with pytest.raises(GraphEditError):
        doc.add_block("ReLU", block_id=bid)
    fc = [b for b in doc.blocks if doc.blocks[b].kind == "Linear"][0]
    with pytest.raises(GraphEditError):
        doc.rename_block(fc, bid)
    data = json.loads(dumps_graph(doc))
    data["blocks"][1]["id"] = bid
    for e in data["edges"]:
        e["from"], e["to"] = (bid if e["from"] == fc else e["from"]), (bid if e["to"] == fc else e["to"])
    with pytest.raises(GraphFileError, match="not a usable id"):
        load_graph(data)


def test_every_block_id_names_its_node_so_feature_taps_find_it():
    doc = chain(("Conv1d", {"out_channels": 2}), ("ReLU", {}), ("LSTM", {"hidden_size": 3, "output": "last"}),
                ("Linear", {"out_features": 2}), shape=[1, 6])
    model = compile_graph(doc)
    names = {n.name for n in model.graph.nodes}
    assert {b for b in doc.blocks if doc.blocks[b].kind not in ("Input", "Output")} <= names
    clash = chain(("LSTM", {"hidden_size": 3}), ("ReLU", {}), shape=[5, 2])
    lstm = [b for b in clash.blocks if clash.blocks[b].kind == "LSTM"][0]
    relu = [b for b in clash.blocks if clash.blocks[b].kind == "ReLU"][0]
    clash.rename_block(relu, f"{lstm}_outputs")
    assert [d.code for d in _errors(clash)] == ["id_clash"]


def test_the_cache_tells_true_from_one():
    from layerloom.graph.analysis import compute_block
    bad = compute_block("Linear", {"bias": 1, "in_features": 4, "out_features": 2}, [((4,), "float32")])
    good = compute_block("Linear", {"bias": True, "in_features": 4, "out_features": 2}, [((4,), "float32")])
    assert bad.problem is not None and good.problem is None and good.param_count == 10
    good2 = compute_block("Dropout", {"p": 1}, [((4,), "float32")])
    assert good2.params["p"] == 1.0 and good2.problem is None


def test_add_with_a_million_inputs_through_the_api_is_bounded():
    doc = chain(("ReLU", {}), shape=[4])
    relu = [b for b in doc.blocks if doc.blocks[b].kind == "ReLU"][0]
    add = doc.add_block("Add", {"num_inputs": 10 ** 6})
    doc.connect(relu, add)
    result = analyze(doc)
    assert len(result.diagnostics) < 10
    assert any(d.block == add for d in result.errors)
    doc.connect(relu, add, dst_port=1)        # the count outside num_inputs' bounds reads as the default, 2
    assert [d.code for d in analyze(doc).errors] == ["bad_param"]


def test_batchnorm_without_running_statistics_is_refused():
    # torch normalises with the batch's statistics even in eval mode: predictions depend on the batch.
    bn = torch.nn.BatchNorm1d(2, track_running_stats=False).eval()
    a = torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
    b = torch.tensor([[0.0, 0.0], [1.0, 1.0], [10.0, 10.0]])      # same first sample, other neighbours
    assert not torch.allclose(bn(a)[:1], bn(b)[:1])
    (err,) = _errors(chain(("BatchNorm1d", {"track_running_stats": False}), shape=[2]))
    assert "track_running_stats" in err.message


def test_mul_of_different_ranks_is_refused_and_per_sample_broadcast_runs():
    def mul(shape_b):
        doc = GraphDocument("mul")
        x = doc.add_block("Input", {"shape": [3, 4, 4]})
        r = doc.add_block("Reshape", {"shape": shape_b})
        pool = doc.add_block("AdaptiveAvgPool2d", {"output_size": 1})
        m = doc.add_block("Mul")
        doc.connect(x, pool), doc.connect(pool, r), doc.connect(x, m, dst_port=0), doc.connect(r, m, dst_port=1)
        doc.connect(m, doc.add_block("Output"))
        return doc
    (err,) = _errors(mul([3, 1]))                   # 3×1 against 3×4×4 would broadcast across the batch
    assert "same number of dimensions" in err.message
    y = _compiles_and_runs(mul([3, 1, 1]))          # C×1×1 against C×H×W: within each sample
    assert tuple(y.shape) == (2, 3, 4, 4)
