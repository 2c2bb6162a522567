"""Layerloom's own .pt2 exports of recurrent graphs (scans that take any number of steps) import back as their
RNN, LSTM or GRU blocks, and give the exported program's outputs at other step counts and batch sizes."""
from __future__ import annotations

import json

import pytest
import torch

from layerloom.graph import GraphDocument, save_graph
from layerloom.graph.compiler import compile_graph
from layerloom.graph.importers import ImportFailure
from layerloom.graph.importers.export_import import import_pt2
from layerloom.runtime.export import export_pt2, load_source


def _export(tmp_path, shape, blocks, dtype=None):
    doc = GraphDocument("seq")
    last = doc.add_block("Input", {"shape": shape, **({"dtype": dtype} if dtype else {})})
    for kind, params in [*blocks, ("Output", {})]:
        block = doc.add_block(kind, params)
        doc.connect(last, block)
        last = block
    save_graph(doc, tmp_path / "seq.loom.json")
    result = export_pt2(load_source(tmp_path / "seq.loom.json"), tmp_path / "seq.pt2")
    assert result.verified and "any sequence length" in result.line(), result.line()
    return tmp_path / "seq.pt2"


RELU_RNN = ("RNN", {"hidden_size": 4, "nonlinearity": "relu", "bias": False})


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """`exported(kind, params)`: the .pt2 file of Input 6×3 → that layer → Linear(2), exported once for the
    module (an export of a scan takes seconds)."""
    made = {}

    def get(kind, params):
        key = json.dumps([kind, params], sort_keys=True)
        if key not in made:
            torch.manual_seed(0)
            made[key] = _export(tmp_path_factory.mktemp("seq"), [6, 3],
                                [(kind, params), ("Linear", {"out_features": 2})])
        return made[key]
    return get


@pytest.mark.parametrize("kind, params", [
    ("LSTM", {"hidden_size": 5, "num_layers": 2, "bidirectional": True, "output": "last"}),
    RELU_RNN,
])
def test_a_scanned_recurrent_layer_imports_as_its_block_and_gives_the_programs_outputs(exported, kind, params):
    path = exported(kind, params)
    doc, state, report = import_pt2(path)
    layer = [b for b in doc.blocks.values() if b.kind == kind]
    mine = {k: v for k, v in params.items() if k != "output"}
    assert len(layer) == 1 and {k: layer[0].params[k] for k in mine} == mine
    if params.get("output") == "last":                  # the program's x[:, -1]
        assert [b.params for b in doc.blocks.values() if b.kind == "Select"] == [{"dim": 1, "index": -1}]
    assert doc.blocks[next(b for b in doc.blocks if doc.blocks[b].kind == "Input")].params["shape"] == [6, 3]
    graph = compile_graph(doc, weights=False).eval()
    graph.load_state_dict(state, strict=True)
    program = torch.export.load(str(path)).module()
    for batch, steps in ((1, 1), (4, 6), (2, 11)):          # against the program torch itself loads
        x = torch.randn(batch, steps, 3, generator=torch.Generator().manual_seed(steps))
        with torch.no_grad():
            torch.testing.assert_close(graph(x), program(x), rtol=1e-5, atol=1e-6)
    assert report.fidelity["max_abs_diff_other_steps"] < 1e-5
    assert any("any number of steps" in n and "13 steps (a batch of 2)" in n for n in report.notes)


class Running(torch.nn.Module):
    """A running sum written as a torch scan: no recurrent layer."""

    def forward(self, x):
        from torch._higher_order_ops.scan import scan
        _, sums = scan(lambda c, x_t: (c + x_t, (c + x_t).clone()), x.new_zeros(x.shape[0], x.shape[2]),
                       x.transpose(0, 1))
        return sums.transpose(0, 1)


def test_a_scan_that_is_no_recurrent_layer_is_refused_in_words(tmp_path):
    dims = ({0: torch.export.Dim("batch", min=1, max=64), 1: torch.export.Dim("steps", min=1, max=64)},)
    program = torch.export.export(torch.nn.Sequential(Running()), (torch.randn(2, 5, 3),), dynamic_shapes=dims)
    torch.export.save(program, tmp_path / "sums.pt2", extra_files={"layerloom.json": json.dumps(
        {"format": "layerloom.model", "input_shape": [5, 3]})})
    with pytest.raises(ImportFailure, match=r"^module 0 runs a torch scan with weights not named as a "
                                            r"recurrent layer's \(none\); Layerloom imports a torch scan only where it "
                                            r"computes an RNN"):
        import_pt2(tmp_path / "sums.pt2")


def test_the_checks_at_other_lengths_are_held_to_the_memory_an_import_may_use(exported, monkeypatch):
    """They run 2 samples of 2T+1 steps and 5 of T: up to 6 samples' worth of the graph's largest tensor."""
    import math

    from layerloom.graph import analyze
    from layerloom.graph.importers import batch_check
    path = exported(*RELU_RNN)          # the file the test above imports
    doc, _, _ = import_pt2(path)
    sample = max(math.prod(b.output_shape) for b in analyze(doc).blocks.values() if b.output_shape) * 4
    monkeypatch.setattr(batch_check, "CHECK_BYTES", 4 * sample)      # a batch of 3 fits, 6 does not
    with pytest.raises(ImportFailure, match=r"checking the import runs the model on a batch of 6"):
        import_pt2(path)
