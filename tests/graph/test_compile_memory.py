"""A graph whose weights cannot fit in the machine's memory is refused before anything is allocated: a small
file naming Embedding(10000000, 65536) asks for 2.6 TB. PyTorch's allocator refuses it with its own words (or,
for a size the system lets through, the machine runs out of memory while the weights are filled in)."""
import resource

import pytest
import torch

from layerloom.graph import CompileError, analyze, compile_graph

from .helpers import chain


@pytest.fixture
def at_most_8_gb():
    """An address-space limit, so that no machine tries the allocation for real."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (min(hard, 8 * 2 ** 30) if hard > 0 else 8 * 2 ** 30, hard))
    yield
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _huge():
    return chain(("Embedding", {"num_embeddings": 10 ** 7, "embedding_dim": 65536}), ("ReLU", {}),
                 shape=[4], dtype="int64")


def test_weights_larger_than_memory_are_refused_in_words(at_most_8_gb):
    doc = _huge()
    emb = next(b for b in doc.blocks if doc.blocks[b].kind == "Embedding")
    with pytest.raises(CompileError) as info:
        compile_graph(doc)
    (d,) = info.value.diagnostics
    assert d.block == emb and "655,360,000,000 parameters" in d.message and "2,621.4 GB" in d.message, d.message
    assert "memory" in d.message and "smaller" in d.message
    with pytest.raises(RuntimeError, match="allocate"):         # what PyTorch says for the same module
        torch.nn.Embedding(10 ** 7, 65536)


def test_weights_that_fit_and_shape_only_builds_are_not_refused(at_most_8_gb):
    from torch._subclasses.fake_tensor import FakeTensorMode
    doc = _huge()
    result = analyze(doc)
    assert compile_graph(doc, result, device="meta").graph is not None     # no memory for the weights
    with FakeTensorMode():                                                 # memory estimates build on fakes
        assert compile_graph(doc, result).graph is not None
    small = chain(("Embedding", {"num_embeddings": 10, "embedding_dim": 4}), shape=[4], dtype="int64")
    assert sum(p.numel() for p in compile_graph(small).parameters()) == 40
