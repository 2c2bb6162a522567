"""How many channels a ratio removes, and which: as torch.nn.utils.prune.ln_structured decides for the same
weights (L1 norm over each output channel, `amount` the share to remove), for many widths and ratios."""
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from torch.nn.utils import prune

from layerloom.graph import GraphDocument, compile_graph
from layerloom.graph.pruning import PruneError, prune_channels


def _mlp(width: int) -> GraphDocument:
    doc = GraphDocument("mlp")
    doc.add_block("Input", {"shape": [5]}, block_id="input")
    prev = "input"
    for bid, kind, params in (("fc", "Linear", {"out_features": width}), ("act", "ReLU", {}),
                              ("head", "Linear", {"out_features": 3}), ("output", "Output", {})):
        doc.add_block(kind, params, block_id=bid)
        doc.connect(prev, bid)
        prev = bid
    return doc


@settings(max_examples=80, deadline=None, derandomize=True, database=None)
@given(n=st.integers(1, 40), ratio=st.floats(0.001, 0.999))
@example(n=3, ratio=0.5).via("a .5 case: torch removes round(1.5) = 2")
@example(n=5, ratio=0.5).via("round(2.5) = 2")
@example(n=7, ratio=0.5).via("round(3.5) = 4")
@example(n=9, ratio=0.5).via("round(4.5) = 4")
@example(n=6, ratio=0.95).via("torch removes all six: a layer keeps one")
@example(n=10, ratio=0.25).via("round(2.5) = 2")
def test_the_channels_kept_are_the_ones_torch_ln_structured_keeps(n, ratio):
    doc = _mlp(n)
    weights = compile_graph(doc, seed=n).state_dict()
    reference = torch.nn.Linear(5, n)
    reference.weight.data = weights["fc.weight"].clone()
    prune.ln_structured(reference, "weight", amount=ratio, n=1, dim=0)
    torch_kept = [i for i in range(n) if reference.weight_mask[i].any()]
    if max(1, len(torch_kept)) == n:           # nothing to remove (a layer keeps one channel): refused, in words
        try:
            prune_channels(doc, weights, ratio, blocks=["fc"])
        except PruneError as exc:
            assert "removes no channel" in str(exc)
        else:
            raise AssertionError(f"n={n} ratio={ratio}: pruned although nothing is to be removed")
        return
    result = prune_channels(doc, weights, ratio, blocks=["fc"])
    kept = result.kept["fc"]
    if torch_kept:
        assert kept == torch_kept, (n, ratio)
    else:                                      # torch would remove every channel: one stays, the strongest
        strongest = int(weights["fc.weight"].abs().sum(dim=1).argmax())
        assert kept == [strongest] and result.notes and "keeps 1 of its" in result.notes[0], (n, ratio)
    assert result.doc.blocks["fc"].params["out_features"] == len(kept)
