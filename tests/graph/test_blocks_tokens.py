"""ClassToken, PositionEmbedding and Select: each computes what the torch expression it stands for computes,
and says clearly when its input does not fit."""
from __future__ import annotations

import torch

from layerloom.graph.analysis import analyze
from layerloom.graph.compiler import class_name_for, compile_graph, generated_code
from layerloom.graph.document import GraphDocument


def chain(shape, *blocks):
    doc = GraphDocument("tokens")
    doc.add_block("Input", {"shape": list(shape)}, block_id="input")
    prev = "input"
    for bid, kind, params in blocks:
        doc.add_block(kind, params, block_id=bid)
        doc.connect(prev, bid)
        prev = bid
    doc.add_block("Output", {}, block_id="output")
    doc.connect(prev, "output")
    return doc


def test_the_three_blocks_compute_the_torch_expressions():
    doc = chain((5, 8), ("cls", "ClassToken", {}), ("pos", "PositionEmbedding", {}), ("sel", "Select", {}))
    result = analyze(doc)
    assert result.blocks["cls"].output_shape == (6, 8) and result.blocks["cls"].param_count == 8
    assert result.blocks["pos"].params == {"length": 6, "embed_dim": 8} and result.blocks["pos"].param_count == 48
    assert result.blocks["sel"].output_shape == (8,)
    gm = compile_graph(doc).eval()
    with torch.no_grad():
        gm.cls.token.normal_()
    token, table = gm.cls.token, gm.pos.embedding
    x = torch.randn(3, 5, 8)
    expected = (torch.cat([token.expand(3, -1, -1), x], dim=1) + table)[:, 0]
    assert torch.equal(gm(x), expected)


def test_select_takes_any_one_position():
    doc = chain((4, 6, 7), ("sel", "Select", {"dim": -1, "index": -1}))
    x = torch.randn(2, 4, 6, 7)
    assert torch.equal(compile_graph(doc)(x), x[:, :, :, -1])
    assert analyze(doc).blocks["sel"].output_shape == (4, 6)


def test_inputs_that_do_not_fit_are_refused_with_a_reason():
    flat = analyze(chain((3, 8, 8), ("cls", "ClassToken", {})))
    assert "needs a sequence of vectors (T×E per sample), but receives 3×8×8" in flat.diagnostics_for("cls")[0].message
    fixed = analyze(chain((5, 8), ("pos", "PositionEmbedding", {"length": 4, "embed_dim": 8})))
    assert "holds 4×8 positions but receives 5×8" in fixed.diagnostics_for("pos")[0].message
    far = analyze(chain((5, 8), ("sel", "Select", {"dim": 1, "index": 5})))
    assert "index 5 is outside a dimension of size 5" in far.diagnostics_for("sel")[0].message


def test_generated_code_runs_and_matches():
    doc = chain((5, 8), ("cls", "ClassToken", {}), ("pos", "PositionEmbedding", {}), ("sel", "Select", {}))
    code = generated_code(doc)
    assert "from layerloom.graph.blocks_tokens import ClassToken" in code
    namespace: dict = {}
    exec(compile(code, "<generated>", "exec"), namespace)
    model = namespace[class_name_for(doc.name)]()
    gm = compile_graph(doc)
    model.load_state_dict(gm.state_dict())
    x = torch.randn(2, 5, 8)
    assert torch.equal(model(x), gm(x))
