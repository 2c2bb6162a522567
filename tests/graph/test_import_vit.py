"""Vision transformers import without Opaque blocks: the class token, the position embedding and `x[:, 0]`
become blocks, and the graph computes exactly what torchvision's model computes."""
from __future__ import annotations

import os

import pytest
import torch
import torchvision

from layerloom.graph.compiler import compile_graph
from layerloom.graph.fileformat import load_graph
from layerloom.graph.importers import ImportFailure, ImportResult, import_source, save_import
from layerloom.graph.importers.fx_import import import_module
from layerloom.graph.weights import match_weights

LONG = os.environ.get("LAYERLOOM_LONG") == "1"


def tiny_vit():
    torch.manual_seed(0)
    model = torchvision.models.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2,
                                                 hidden_dim=16, mlp_dim=32, num_classes=5)
    with torch.no_grad():
        model.class_token.normal_()           # torchvision starts it at zero: make it count
    return model.eval()


def test_a_small_vision_transformer_imports_exactly(tmp_path):
    model = tiny_vit()
    doc, state, report = import_module(model, (3, 32, 32), "vit", "VisionTransformer")
    assert report.opaque == []
    kinds = {b.kind for b in doc.blocks.values()}
    assert {"ClassToken", "PositionEmbedding", "Select", "MultiheadAttention", "LayerNorm", "GELU"} <= kinds
    assert doc.blocks["class_token"].group == "" and doc.blocks["encoder_pos_embedding"].group == "encoder"
    save_import(ImportResult(doc, state, report, model), tmp_path / "vit.loom.json")
    gm = compile_graph(load_graph(tmp_path / "vit.loom.json")).eval()
    assert torch.equal(gm.state_dict()["class_token.token"], model.class_token)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(gm(x), model(x))
    # torchvision's own state_dict (as published weights would be) fits every tensor of the graph
    chosen, weights = match_weights(gm.state_dict(), model.state_dict(), "torchvision")
    assert weights.new == [] and weights.skipped == []
    assert torch.equal(chosen["encoder_pos_embedding.embedding"], model.encoder.pos_embedding)


SCALED = """
import torch
from torch import nn


class Scale(nn.Module):
    def __init__(self, features=4):
        super().__init__()
        self.features = features
        self.weight = nn.Parameter(torch.linspace(0.5, 2.0, features))

    def forward(self, x):
        return x * self.weight


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.scale = Scale(4)

    def forward(self, x):
        return self.scale(self.fc(x))
"""


def test_another_use_of_a_modules_own_tensor_still_makes_it_opaque(tmp_path):
    (tmp_path / "scaled.py").write_text(SCALED)
    result = import_source(f"{tmp_path / 'scaled.py'}:Net", (4,))
    assert [o["block"] for o in result.report.opaque] == ["scale"]
    assert "uses its own tensor 'weight' directly" in result.report.opaque[0]["reason"]
    assert result.report.fidelity["max_abs_diff"] == 0.0


@pytest.mark.skipif(not LONG, reason="vit_b_16 at 224×224: LAYERLOOM_LONG=1")
def test_vit_b_16_imports_with_at_most_one_opaque_block():
    result = import_source("torchvision:vit_b_16", (3, 224, 224))
    assert len(result.report.opaque) <= 1
    assert result.report.fidelity["strict_load"] and result.report.fidelity["tensors_equal"]
    assert result.report.fidelity["max_abs_diff"] == 0.0


def test_a_small_vision_transformer_exported_to_pt2_imports_as_the_same_blocks_exactly(tmp_path):
    """torch.export records the class token as expand → cat, the position embedding as an add of a weight, and
    each attention as the ~25 calls it makes: they become the blocks the torch.fx route gives."""
    model = tiny_vit()
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    program = torch.export.export(model, (x,))
    torch.export.save(program, tmp_path / "vit.pt2")
    result = import_source(str(tmp_path / "vit.pt2"))
    doc, _, _ = import_module(model, (3, 32, 32), "vit", "VisionTransformer")
    assert sorted((b.id, b.kind, b.group, repr(b.params)) for b in result.doc.blocks.values()) == \
        sorted((b.id, b.kind, b.group, repr(b.params)) for b in doc.blocks.values())
    assert result.report.fidelity["max_abs_diff"] == 0.0 and result.report.fidelity["tensors_equal"]
    assert any("attention layers' dropout" in n for n in result.report.notes)
    save_import(result, tmp_path / "vit.loom.json")
    gm = compile_graph(load_graph(tmp_path / "vit.loom.json")).eval()
    with torch.no_grad():
        assert torch.equal(gm(x), program.module()(x))


class _Attending(torch.nn.Module):
    def __init__(self, how):
        super().__init__()
        self.how = how
        self.attn = torch.nn.MultiheadAttention(8, 2, batch_first=how != "time_first")
        self.key = torch.nn.Linear(8, 8)
        self.register_buffer("mask", torch.eye(5, dtype=torch.bool))

    def forward(self, x):
        if self.how == "mask":
            return self.attn(x, x, x, attn_mask=self.mask, need_weights=False)[0]
        if self.how == "cross":
            keys = self.key(x)
            return self.attn(x, keys, keys, need_weights=False)[0]
        if self.how == "weights":
            out, weights = self.attn(x, x, x)
            return out + weights.sum()
        if self.how == "twice":
            once = self.attn(x, x, x, need_weights=False)[0]
            return self.attn(once, once, once, need_weights=False)[0]
        return self.attn(x, x, x, need_weights=False)[0]


@pytest.mark.parametrize("how, says", [
    ("time_first", r"takes the sequence first \(batch_first=False\); .* build it with batch_first=True"),
    ("mask", r"is given a key, a value or a mask of its own"),
    ("cross", r"is given a key, a value or a mask of its own"),
    ("weights", r"^attn \(MultiheadAttention\): its attention weights are used beside its output"),
    ("twice", r"^attn\.in_proj_weight is used by two calls .* Give each call its own layer")])
def test_an_exported_attention_no_block_can_stand_for_is_refused_naming_it(tmp_path, how, says):
    torch.manual_seed(0)
    program = torch.export.export(_Attending(how).eval(), (torch.randn(2, 5, 8),))
    torch.export.save(program, tmp_path / f"{how}.pt2")
    with pytest.raises(ImportFailure, match=says if how in ("weights", "twice") else r"^attn \(MultiheadAttention\) "
                       + says):
        import_source(str(tmp_path / f"{how}.pt2"))


def test_a_vision_transformer_exported_with_a_dynamic_batch_imports_and_runs_on_other_batches(tmp_path):
    """Its attention works out sizes from the batch (symbolic multiplies) that reach steps outside it: they are
    sizes, not a second result or a mask."""
    model = tiny_vit()
    batch = torch.export.Dim("batch", min=1, max=64)
    program = torch.export.export(model, (torch.randn(2, 3, 32, 32),), dynamic_shapes=({0: batch},))
    torch.export.save(program, tmp_path / "vit.pt2")
    result = import_source(str(tmp_path / "vit.pt2"))
    assert [b.kind for b in result.doc.blocks.values()].count("MultiheadAttention") == 2
    assert result.report.fidelity["max_abs_diff_batch_3"] == 0.0
    gm = compile_graph(result.doc, weights=False).eval()
    gm.load_state_dict(result.state, strict=True)
    x = torch.randn(5, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.equal(gm(x), program.module()(x))
