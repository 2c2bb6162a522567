"""The analysis caches shared by the GUI, training and export threads: concurrent analyses give the
serial results, and an edit is never answered from the cache."""
import sys
import threading

import pytest
from torch import nn

from layerloom.graph import Analyzer, analyze, load_graph
from layerloom.graph.analysis import CACHE, MODULES, compute_block
from layerloom.presets import preset_path

from .helpers import chain

PRESETS = ("lenet5", "mlp", "alexnet", "rnn_classifier", "text_gru", "seq_mnist_lstm")


def _graphs():
    docs = {name: load_graph(preset_path(name)) for name in PRESETS}
    # torch warns while building this one: its note must stay with its own block
    docs["warns"] = chain(("LSTM", {"hidden_size": 4, "dropout": 0.5}), ("ReLU", {}), shape=(5, 3))
    small = load_graph(preset_path("lenet5"))
    small.set_param("input", "shape", [1, 20, 20])     # same kinds, other shapes
    docs["lenet5_small"] = small
    return docs


@pytest.fixture
def small_caches(monkeypatch):
    """Caches small enough that threads evict each other's entries all the time."""
    CACHE.clear(), MODULES.clear()
    monkeypatch.setattr(CACHE, "size", 24)
    monkeypatch.setattr(MODULES, "size", 6)
    yield
    CACHE.clear(), MODULES.clear()


def test_threads_analysing_at_once_get_the_serial_results(small_caches):
    docs = _graphs()
    serial = {name: analyze(doc) for name, doc in docs.items()}
    assert any(d.code == "torch_warning" for d in serial["warns"].warnings)
    CACHE.clear(), MODULES.clear()
    rounds = 3
    start = threading.Barrier(len(docs))
    got: dict[str, list] = {name: [] for name in docs}
    failed: list[BaseException] = []

    def work(name):
        try:
            start.wait()
            for _ in range(rounds):
                got[name].append(analyze(docs[name]))
        except BaseException as exc:   # noqa: BLE001 - reported by the main thread
            failed.append(exc)

    threads = [threading.Thread(target=work, args=(name,)) for name in docs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads)
    assert failed == []
    for name, results in got.items():
        assert len(results) == rounds
        for result in results:
            assert result == serial[name], name
    assert CACHE.hits > 0 and len(CACHE) <= CACHE.size


def test_an_edited_param_is_not_answered_from_the_cache():
    doc = chain(("Conv2d", {"out_channels": 4, "kernel_size": 3}), shape=(3, 8, 8))
    analyzer = Analyzer(doc)
    before = analyzer.result.blocks["conv1"]
    assert before.param_count == sum(p.numel() for p in nn.Conv2d(3, 4, 3).parameters())
    doc.set_param("conv1", "out_channels", 5)
    after = analyzer.result.blocks["conv1"]
    assert after.param_count == sum(p.numel() for p in nn.Conv2d(3, 5, 3).parameters())
    assert after.output_shape == (5, 6, 6)
    doc.set_param("conv1", "padding", 1)
    assert analyzer.result.blocks["conv1"].output_shape == (5, 8, 8)
    doc.set_param("conv1", "padding", 0)
    doc.set_param("conv1", "out_channels", 4)
    hits = CACHE.hits
    assert analyzer.result.blocks["conv1"] == before     # back to the first params: the cached result again
    assert CACHE.hits > hits


def test_the_key_holds_the_inputs_and_the_value_types():
    a = compute_block("Linear", {"in_features": "auto", "out_features": 3}, [((4,), "float32")])
    b = compute_block("Linear", {"in_features": "auto", "out_features": 3}, [((6,), "float32")])
    assert (a.param_count, b.param_count) == (4 * 3 + 3, 6 * 3 + 3)
    c = compute_block("Linear", {"in_features": "auto", "out_features": 3}, [((4,), "int64")])
    assert c.problem is not None and c.problem.code == "dtype" and a.problem is None


def test_warnings_stay_with_the_block_that_raised_them():
    """torch's warnings are caught with process-wide state: blocks computed in several threads at
    once must each keep exactly their own warning."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)      # switch threads as often as possible
    try:
        per_thread, n_threads = 40, 4
        start = threading.Barrier(n_threads)
        notes: dict[int, list] = {}

        def work(t):
            start.wait()
            for i in range(per_thread):
                size = 1000 + t * per_thread + i     # a new cache key each time: every call computes
                c = compute_block("GRU", {"hidden_size": size, "dropout": 0.5}, [((2, 3), "float32")])
                quiet = compute_block("ReLU", {}, [((size,), "float32")])
                notes[size] = [n.message for n in c.notes] + [n.message for n in quiet.notes]

        threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
    finally:
        sys.setswitchinterval(old)
    assert len(notes) == per_thread * n_threads
    for size, messages in notes.items():
        assert len(messages) == 1 and "num_layers" in messages[0], (size, messages)
