"""An imported graph trains as its source does: gradient stops (detach, no_grad), parameters frozen in the
source, training-only branches, and parametrized layers. Each case is compared with the source module."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from layerloom.graph.compiler import compile_graph
from layerloom.graph.importers import ImportFailure, import_source
from layerloom.graph.importers.fx_import import check_fidelity, import_module
from layerloom.runtime.freezing import freeze, frozen_blocks


class Detached(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 2)

    def forward(self, x):
        return self.b(torch.relu(self.a(x)).detach())


class NoGrad(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.bn, self.b = nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Linear(4, 2)

    def forward(self, x):
        with torch.no_grad():
            y = self.bn(self.a(x))
        return self.b(y)


class OnePathDetached(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(4, 4), nn.Linear(4, 2), nn.Linear(4, 2)

    def forward(self, x):
        y = self.a(x)
        return self.b(y.detach()) + self.c(y)


def _trained_once(model, doc, state, shape=(4,)):
    """Source and graph after one backward pass in training mode, the graph frozen as its blocks say."""
    gm = compile_graph(doc, weights=False)
    gm.load_state_dict(state)
    freeze(gm, frozen_blocks(doc))
    model.train()
    gm.train()
    x = torch.randn(5, *shape, generator=torch.Generator().manual_seed(3))
    model(x).square().sum().backward()
    gm(x).square().sum().backward()
    return gm


def _graph_param(gm, name: str):
    """The graph's parameter imported from the source parameter `name` (`a.weight` → block a)."""
    return dict(gm.named_parameters())[name.replace(".", "_", name.count(".") - 1)]


@pytest.mark.parametrize("cls", [Detached, NoGrad])
def test_blocks_the_source_gives_no_gradient_are_frozen(cls):
    torch.manual_seed(0)
    model = cls()
    doc, state, report = import_module(model, (4,))
    assert check_fidelity(doc, state, model, (4,), report)["max_abs_diff"] == 0.0
    gm = _trained_once(model, doc, state)
    for name, p in model.named_parameters():
        assert (p.grad is None) == (_graph_param(gm, name).grad is None), name
        assert doc.blocks[name.split(".")[0]].trainable == (p.grad is not None), name
    assert not doc.blocks["a"].trainable and doc.blocks["b"].trainable
    note = next(n for n in report.notes if "stops the gradient" in n)
    assert "a" in note.split("before ")[1].split(" (")[0] and "trainable off" in note
    assert "b" not in note.split("before ")[1].split(" (")[0].split(", ")
    for name, p in model.named_parameters():     # what reaches the source's trainable blocks is the same (a
        if p.grad is not None and cls is Detached:   # frozen BatchNorm normalises with its running statistics)
            torch.testing.assert_close(_graph_param(gm, name).grad, p.grad)


def test_no_grad_notes_batch_norm_statistics():
    doc, _, report = import_module(NoGrad(), (4,))
    note = next(n for n in report.notes if "stops the gradient" in n)
    assert not doc.blocks["bn"].trainable and "running statistics" in note


def test_a_gradient_cut_on_one_path_is_noted_not_frozen():
    torch.manual_seed(0)
    model = OnePathDetached()
    doc, state, report = import_module(model, (4,))
    assert all(b.trainable for b in doc.blocks.values())
    note = next(n for n in report.notes if "differs from the source's" in n)
    assert note.split("reaching ")[1].split(" differs")[0] == "a"
    gm = _trained_once(model, doc, state)       # the note is right: the source's gradient of `a` is another
    assert not torch.allclose(gm.a.weight.grad, model.a.weight.grad)
    torch.testing.assert_close(gm.c.weight.grad, model.c.weight.grad)


def test_a_model_without_gradient_stops_gets_no_note():
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Dropout(0.2), nn.Linear(4, 2))
    doc, _, report = import_module(model, (4,))
    assert report.notes == [] and all(b.trainable for b in doc.blocks.values())
    assert report.fidelity["gradients_compared"] is True


def test_pt2_program_with_detach_freezes_the_block_before_it(tmp_path):
    torch.manual_seed(0)
    model = Detached().eval()
    program = torch.export.export(model, (torch.randn(2, 4),),
                                  dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=1024)},))
    torch.export.save(program, str(tmp_path / "det.pt2"))
    result = import_source(str(tmp_path / "det.pt2"))
    trainable = {b.id: b.trainable for b in result.doc.blocks.values() if b.kind == "Linear"}
    assert trainable == {"a": False, "b": True}
    assert any("stops the gradient" in n for n in result.report.notes)


class PartlyFrozen(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone, self.mid, self.head = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 2)
        self.backbone.requires_grad_(False)
        self.mid.weight.requires_grad_(False)

    def forward(self, x):
        return self.head(torch.relu(self.mid(torch.relu(self.backbone(x)))))


def test_parameters_frozen_in_the_source_import_as_frozen_blocks():
    model = PartlyFrozen()
    doc, state, report = import_module(model, (4,))
    for layer in ("backbone", "mid", "head"):
        flags = [p.requires_grad for p in getattr(model, layer).parameters()]
        assert doc.blocks[layer].trainable == any(flags), layer
    assert any("backbone" in n and "requires_grad=False" in n and "trainable off" in n for n in report.notes)
    assert any("mid (mid.weight)" in n for n in report.notes)
    gm = _trained_once(model, doc, state)      # frozen where the source is: no gradient to backbone either
    assert model.backbone.weight.grad is None and gm.backbone.weight.grad is None
    assert model.head.weight.grad is not None and gm.head.weight.grad is not None


class Noisy(nn.Module):
    def __init__(self):
        super().__init__()
        self.l = nn.Linear(4, 4)

    def forward(self, x):
        if self.training:
            x = x + 0.1 * torch.randn_like(x)
        return self.l(x)


class Dropping(nn.Module):
    """Training-time behaviour the blocks keep themselves: no note."""

    def __init__(self):
        super().__init__()
        self.l, self.bn, self.drop = nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Dropout(0.1)

    def forward(self, x):
        return F.dropout(self.drop(self.bn(self.l(x))), 0.2, training=self.training)


def test_a_training_only_branch_is_noted():
    model = Noisy()
    doc, state, report = import_module(model, (4,))
    note = next(n for n in report.notes if "while training" in n)
    assert "randn_like" in note and "evaluation mode" in note
    assert not model.training          # left in evaluation mode, as the import found it
    gm = compile_graph(doc, weights=False)     # the note is right: in training mode the source differs
    gm.load_state_dict(state)
    model.train()
    gm.train()
    x = torch.ones(3, 4)
    assert not torch.equal(model(x), gm(x))


def test_dropout_and_batch_norm_are_no_training_branch():
    model = Dropping()
    _, _, report = import_module(model, (4,))
    assert not any("while training" in n for n in report.notes)


def _linear_with(kind: str) -> nn.Module:
    torch.manual_seed(0)
    layer = nn.Linear(4, 4)
    if kind == "weight_norm":
        return nn.utils.parametrizations.weight_norm(layer)
    if kind == "spectral_norm":
        return nn.utils.parametrizations.spectral_norm(layer)
    if kind == "old_weight_norm":
        return nn.utils.weight_norm(layer)
    return nn.utils.spectral_norm(layer)


class Normed(nn.Module):
    def __init__(self, kind):
        super().__init__()
        self.l, self.o = _linear_with(kind), nn.Linear(4, 2)

    def forward(self, x):
        return self.o(torch.relu(self.l(x)))


@pytest.mark.parametrize("kind, what, remove", [
    ("weight_norm", "weight normalisation", "torch.nn.utils.parametrize.remove_parametrizations(layer, \"weight\")"),
    ("spectral_norm", "spectral normalisation", "torch.nn.utils.parametrize.remove_parametrizations(layer, \"weight\")"),
    ("old_weight_norm", "weight normalisation", "torch.nn.utils.remove_weight_norm(layer)"),
    ("old_spectral_norm", "spectral normalisation", "torch.nn.utils.remove_spectral_norm(layer)"),
])
def test_parametrized_layers_are_named_with_how_to_remove_it(kind, what, remove):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)       # the old hooks are deprecated
        model = Normed(kind)
    with pytest.raises(ImportFailure) as caught:
        import_module(model, (4,))
    text = str(caught.value)
    assert text.startswith("l (Linear) is a parametrized layer") and what in text and remove in text
    assert "constructor" not in text and "Parametrized" not in text and "\n" not in text


def test_removing_the_parametrization_as_told_imports_the_same_outputs():
    model = Normed("weight_norm").eval()
    x = torch.randn(3, 4)
    with torch.no_grad():
        before = model(x)
    torch.nn.utils.parametrize.remove_parametrizations(model.l, "weight")
    doc, state, report = import_module(model, (4,))
    gm = compile_graph(doc, weights=False)
    gm.load_state_dict(state)
    with torch.no_grad():
        torch.testing.assert_close(gm.eval()(x), before)


def test_pt2_program_keeps_the_parameters_its_model_froze(tmp_path):
    model = PartlyFrozen().eval()
    torch.export.save(torch.export.export(model, (torch.randn(2, 4),)), str(tmp_path / "frozen.pt2"))
    result = import_source(str(tmp_path / "frozen.pt2"))
    for layer in ("backbone", "mid", "head"):
        flags = [p.requires_grad for p in getattr(model, layer).parameters()]
        assert result.doc.blocks[layer].trainable == any(flags), layer


class ShapeBranch(nn.Module):
    """An `if` on a shape stops torch.fx; the model is imported through torch.export."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 2)

    def forward(self, x):
        y = self.a(x)
        if x.shape[1] == 4:
            y = y.detach()
        return self.b(y)


def test_a_model_imported_through_torch_export_freezes_what_it_detaches():
    torch.manual_seed(0)
    model = ShapeBranch()
    doc, state, report = import_module(model, (4,))
    assert report.method == "torch.export"
    gm = _trained_once(model, doc, state)
    for name, p in model.named_parameters():
        assert (p.grad is None) == (_graph_param(gm, name).grad is None), name
    assert not doc.blocks["a"].trainable and doc.blocks["b"].trainable


def test_a_parametrized_layer_as_the_whole_model_is_named():
    with pytest.raises(ImportFailure, match=r"^the model \(Linear\) is a parametrized layer: its weight is computed by "
                                            "weight normalisation"):
        import_module(nn.utils.parametrizations.weight_norm(nn.Linear(4, 4)), (4,))
