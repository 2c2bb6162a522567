"""A block's channels are where torch puts them: dim 1 of Conv1d / MaxPool1d / BatchNorm1d outputs (N×C×L),
the last dim of recurrent, Embedding, attention and Linear outputs. The top samples of a channel and the
channel count are checked against the block's own torch module run on the same samples."""
import pytest
import torch

from layerloom.graph import GraphDocument, analyze, compile_graph
from layerloom.runtime.explain import ExplainError
from layerloom.runtime.learnt import channel_axis, channel_count, top_activating


def _model(shape, *specs, dtype=None):
    doc = GraphDocument("channels")
    params = {"shape": list(shape)}
    if dtype:
        params["dtype"] = dtype
    last = doc.add_block("Input", params)
    ids = []
    for kind, p in specs:
        b = doc.add_block(kind, p)
        doc.connect(last, b)
        last = b
        ids.append(b)
    doc.connect(last, doc.add_block("Output"))
    return compile_graph(doc, analyze(doc), seed=0).eval(), ids


def _reference(model, x, block):
    """The block's output on x, from torch's own modules called one after the other (Interpreter-free)."""
    values = {}

    class Grab(torch.fx.Interpreter):
        def run_node(self, n):
            values[n.name] = super().run_node(n)
            return values[n.name]
    with torch.no_grad():
        Grab(model).run(x)
    return values[block]


HEAD = [("Flatten", {}), ("Linear", {"out_features": 3})]
CASES = [   # (input shape, blocks, index of the block looked at, torch's channel dim of that block's output)
    ((2, 10), [("Conv1d", {"out_channels": 4, "kernel_size": 3}), *HEAD], 0, 1),
    ((2, 10), [("Conv1d", {"out_channels": 5, "kernel_size": 3}), ("ReLU", {}), *HEAD], 1, 1),
    ((2, 10), [("Conv1d", {"out_channels": 3, "kernel_size": 3}), ("MaxPool1d", {"kernel_size": 2}), *HEAD], 1, 1),
    ((6, 12), [("BatchNorm1d", {}), *HEAD], 0, 1),
    ((9, 4), [("LSTM", {"hidden_size": 5}), *HEAD], 0, 2),
    ((9, 4), [("GRU", {"hidden_size": 6}), ("Tanh", {}), *HEAD], 1, 2),
    ((7, 4), [("MultiheadAttention", {"num_heads": 2}), *HEAD], 0, 2),
    ((7, 6), [("Linear", {"out_features": 3}), *HEAD], 0, 2),
    ((3, 8, 8), [("Conv2d", {"out_channels": 4, "kernel_size": 3}), *HEAD], 0, 1),
]


@pytest.mark.parametrize("shape, specs, at, dim", CASES, ids=lambda v: str(v))
def test_top_samples_of_a_channel_match_torch(shape, specs, at, dim):
    model, ids = _model(shape, *specs)
    block = ids[at]
    x = torch.randn(40, *shape, generator=torch.Generator().manual_seed(1))
    a = _reference(model, x, block)
    assert channel_count(a, channel_axis(model, block)) == a.shape[dim]
    for channel in (0, a.shape[dim] - 1):
        ref = a.select(dim, channel).reshape(40, -1).mean(dim=1)
        values, indices = ref.topk(5)
        top = top_activating(model, [(torch.arange(40), x)], block, channel, k=5)
        assert [t["index"] for t in top] == indices.tolist()
        torch.testing.assert_close(torch.tensor([t["activation"] for t in top]), values, rtol=1e-5, atol=1e-6)
    with pytest.raises(ExplainError, match=f"has {a.shape[dim]} channels"):
        top_activating(model, [(torch.arange(40), x)], block, a.shape[dim], k=5)


def test_embedding_of_two_dimensional_ids_has_its_features_last():
    model, ids = _model((3, 5), ("Embedding", {"num_embeddings": 11, "embedding_dim": 4}), *HEAD, dtype="int64")
    x = torch.randint(0, 11, (30, 3, 5), generator=torch.Generator().manual_seed(2))
    a = _reference(model, x, ids[0])                      # N×3×5×4: 4 features per token
    assert channel_count(a, channel_axis(model, ids[0])) == a.shape[-1] == 4
    ref = a[..., 2].reshape(30, -1).mean(dim=1)
    top = top_activating(model, [(torch.arange(30), x)], ids[0], 2, k=4)
    assert [t["index"] for t in top] == ref.topk(4).indices.tolist()
