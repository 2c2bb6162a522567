"""The analysis worked out from the rules before torch loads (graph/quick_analysis.py) is exactly the
analysis torch gives, or nothing: on every preset and lesson graph, on random graphs of the families people
build and on random blocks with odd settings, each result it returns equals the full analysis (every block's
shapes, dtype, parameters and MACs, the order and every diagnostic). Where it cannot vouch for a block it
returns None, and these tests check it does not do so for the graphs `make run` and the presets open."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layerloom.graph import GraphDocument, analyze
from layerloom.graph.analysis_result import to_dict
from layerloom.graph.document import Edge
from layerloom.graph.fileformat import dumps_graph, load_graph
from layerloom.graph.analysis_walk import walk
from layerloom.graph.blocks import REGISTRY
from layerloom.graph.quick_analysis import compute, quick_analyze
from layerloom.presets import preset_path

from .families import family_graphs
from .helpers import chain
from .test_random_blocks_against_torch import graphs as odd_block_graphs

PRESETS = Path(preset_path("lenet5")).parent
ANSWERED = ["lenet5", "alexnet", "mlp", "resnet18", "vgg11", "shufflenet_v2_x0_5", "word2vec_skipgram",
            "rnn_classifier", "seq_mnist_lstm", "text_gru"]
LONG = bool(os.environ.get("LAYERLOOM_LONG"))        # tools/soak_random_graphs.py: many more, drawn afresh
SETTINGS = settings(derandomize=not LONG, max_examples=3000 if LONG else 120, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


def _same_as_full(doc, data=None) -> bool:
    """Whether the quick analysis answered; where it did, its result must equal torch's analysis."""
    quick = walk(doc, data, compute)          # quick_analyze without its guard: a rule that raises fails here
    if quick is None:
        return False
    full = analyze(doc, data)
    assert to_dict(quick) == to_dict(full), f"quick and full analysis differ for\n{dumps_graph(doc)}"
    return True


@pytest.mark.parametrize("path", sorted(PRESETS.rglob("*.loom.json")), ids=lambda p: p.name)
@pytest.mark.parametrize("data", [None, {"num_classes": 7, "vocab_size": 50}])
def test_every_preset_and_lesson_graph_is_the_full_analysis_or_nothing(path, data):
    answered = _same_as_full(load_graph(path), data)
    if path.name.removesuffix(".loom.json") in ANSWERED:
        assert answered, f"{path.name} is built of kinds the rules cover and should be analysed before torch"


def test_uncovered_kinds_and_settings_wait_for_torch():
    for spec, shape in [(("MultiheadAttention", {"num_heads": 2, "embed_dim": 6}), (6, 8)),   # torch refuses it
                        (("LSTM", {"hidden_size": 4, "dropout": 0.5}), (6, 8)),     # torch warns of it
                        (("LSTM", {"hidden_size": 1, "proj_size": 1}), (1, 1)),     # torch refuses it
                        (("Conv1d", {"kernel_size": 4, "padding": "same"}), (1, 5)),   # torch warns of it
                        (("Conv2d", {"kernel_size": 3, "padding": 1, "padding_mode": "reflect"}), (3, 8, 8)),
                        (("MaxPool2d", {"kernel_size": 2, "padding": 2}), (3, 8, 8)),
                        (("Upsample", {"scale_factor": 2.0, "align_corners": False}), (3, 8, 8)),  # refused
                        (("Upsample", {"mode": "bilinear", "scale_factor": 2.0}), (3, 8)),   # torch refuses it
                        (("Conv2d", {"in_channels": 4, "kernel_size": 3}), (3, 8, 8)),   # torch refuses it
                        (("Linear", {"in_features": 5, "out_features": 2}), (4,))]:
        doc = chain(spec, shape=shape)
        assert quick_analyze(doc) is None, spec


@pytest.mark.parametrize("params, shape", [({"scale_factor": 2.0}, (3, 8, 8)), ({"scale_factor": 1 / 3}, (2, 9)),
                                           ({"size": [5, 7], "scale_factor": None, "mode": "bilinear"}, (3, 4, 4)),
                                           ({"scale_factor": 0.7, "mode": "bicubic", "align_corners": True}, (1, 6, 6)),
                                           ({"size": 12, "scale_factor": None, "mode": "trilinear"}, (2, 3, 4, 5))])
def test_upsampling_is_answered_as_torch_computes_it(params, shape):
    doc = chain(("Upsample", params), ("Flatten", {}), ("Linear", {"out_features": 3}), shape=shape)
    assert _same_as_full(doc), params


def test_a_wiring_mistake_reads_as_in_the_full_analysis():
    doc = chain(("Conv2d", {"out_channels": 4, "kernel_size": 3}), ("ReLU", {}))
    add = doc.add_block("Add", {})
    doc.connect(list(doc.blocks)[2], add)           # its second input is not wired
    assert _same_as_full(doc)
    assert any(d.block == add for d in quick_analyze(doc).errors)


def _answers_some(strategy, least: int):
    answered = []

    @SETTINGS
    @given(strategy)
    def check(doc):
        answered.append(_same_as_full(doc))

    check()
    assert sum(answered) >= least, f"the quick analysis answered only {sum(answered)} of {len(answered)} graphs"


def test_random_graphs_of_the_families_people_build_are_the_full_analysis_or_nothing():
    _answers_some(family_graphs(long_sequences=LONG), least=30)


def test_random_blocks_with_odd_settings_are_the_full_analysis_or_nothing():
    _answers_some(odd_block_graphs(), least=15)


def test_the_quick_analysis_loads_neither_torch_nor_networkx():
    code = ("import sys, json\n"
            "from layerloom.graph.fileformat import load_graph\n"
            "from layerloom.graph.quick_analysis import quick_analyze\n"
            "from layerloom.presets import preset_path\n"
            "doc = load_graph(preset_path('resnet18'))\n"
            "doc.set_param('fc1', 'out_features', 1000)\n"
            "r = quick_analyze(doc)\n"
            "print(json.dumps([r.total_params, r.total_macs, sorted(m for m in ('torch', 'networkx', 'numpy') "
            "if m in sys.modules)]))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    params, macs, loaded = json.loads(out.stdout.splitlines()[-1])
    assert loaded == []
    assert (params, macs) == (11_689_512, 1_814_073_344)     # torchvision's resnet18: 11.69 M, 1.81 G MACs


@SETTINGS
@given(st.integers(2, 12).flatmap(lambda n: st.tuples(st.just(n), st.lists(
    st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(lambda e: e[0] != e[1]), max_size=3 * n))))
def test_blocks_are_ordered_as_networkx_orders_them(case):
    """The walk's own ordering (no networkx unless there is a cycle) against networkx's lexicographical
    topological sort of the acyclic part, and its strongly connected components for the cycles."""
    import networkx as nx

    from layerloom.graph.analysis_walk import topological_order
    n, pairs = case
    doc = GraphDocument("order")
    ids = [doc.add_block("ReLU") for _ in range(n)][::-1]          # document order differs from creation order
    edges = {(ids[a], ids[b]) for a, b in pairs}
    for src, dst in edges:
        doc.edges.append(Edge(src, dst))      # as a file may hold them: cycles included
    g = nx.DiGraph(list(edges))
    g.add_nodes_from(doc.blocks)
    index = {b: i for i, b in enumerate(doc.blocks)}
    cycles = [c for c in nx.strongly_connected_components(g) if len(c) > 1]
    on_cycle = set().union(*cycles) if cycles else set()
    g.remove_nodes_from(on_cycle)
    order, found_on_cycle, found_cycles = topological_order(doc)
    assert order == list(nx.lexicographical_topological_sort(g, key=index.__getitem__))
    assert found_on_cycle == on_cycle and sorted(map(sorted, found_cycles)) == sorted(map(sorted, cycles))


@pytest.mark.parametrize("dtype", REGISTRY["Input"].param("dtype").choices)
def test_every_input_dtype_is_the_full_analysis_or_nothing(dtype):
    """Blocks that take any dtype keep it (or merge it, for two inputs); float and int blocks refuse the other."""
    answered = []
    for spec in [("Flatten", {}), ("Reshape", {"shape": [-1]}), ("Permute", {"dims": [1, 0]}),
                 ("Select", {"dim": 1, "index": 0}), ("Narrow", {"dim": 1, "start": 0, "length": 1}),
                 ("Conv1d", {"out_channels": 2, "kernel_size": 1}), ("Linear", {"out_features": 3}),
                 ("Softmax", {"dim": -1}), ("LayerNorm", {}), ("BatchNorm1d", {}), ("MaxPool1d", {"kernel_size": 1}),
                 ("Embedding", {"num_embeddings": 5, "embedding_dim": 2}), ("LSTM", {"hidden_size": 2})]:
        answered.append(_same_as_full(chain(spec, shape=(3, 4), dtype=dtype)))
    for kind in ("Add", "Mul", "Concat"):
        doc = GraphDocument("merge")
        source, merge = doc.add_block("Input", {"shape": [3, 4], "dtype": dtype}), doc.add_block(kind, {})
        doc.connect(source, merge, dst_port=0)
        doc.connect(source, merge, dst_port=1)
        doc.connect(merge, doc.add_block("Output"))
        answered.append(_same_as_full(doc))
    assert sum(answered) >= 9         # the shape blocks and merges take every dtype


@pytest.mark.parametrize("specs, shape", [
    ([("ReLU", {})], (1_000_000,) * 8),                                     # torch: storage size overflowed
    ([("Flatten", {}), ("Linear", {"out_features": 10})], (1_000_000,) * 4),
    ([("Upsample", {"scale_factor": 1024.0}), ("Upsample", {"scale_factor": 1024.0})], (3, 1000, 1000)),
    ([("Upsample", {"scale_factor": 1024.0})], (3, 1000, 1000)),           # large, but torch takes it
    ([("Linear", {"out_features": 10_000_000})], (1_000_000,)),
    ([("Conv2d", {"out_channels": 65536, "kernel_size": 1024})], (65536, 1024, 1024)),
    ([("Reshape", {"shape": [2**31, 2**31]}), ("ReLU", {})], (2**62,)),
    ([("Reshape", {"shape": [2**31, 2**30]}), ("ReLU", {})], (2**61,)),
])
def test_tensors_too_large_for_torch_are_never_vouched_for(specs, shape):
    """Shapes whose tensors torch refuses (their bytes reach 2**63) were shown as OK until torch loaded."""
    doc = chain(*specs, shape=shape)
    if _same_as_full(doc):                        # answered: then exactly as torch's analysis, errors and all
        assert not analyze(doc).errors
