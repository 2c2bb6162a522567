"""Imports that must behave like the PyTorch module they came from, or be refused with a reason:
tied weights, layers called with more than their input, dimensions counted from the end."""
from __future__ import annotations

import textwrap

import pytest
import torch

from layerloom.graph.compiler import compile_graph
from layerloom.graph.fileformat import load_graph
from layerloom.graph.importers import ImportFailure, import_source, load_source_module, save_import

MODELS = textwrap.dedent('''
    import torch
    from torch import nn
    import torch.nn.functional as F


    class Tied(nn.Module):
        """Two layers that share one weight matrix (and keep biases of their own)."""

        def __init__(self, width=6):
            super().__init__()
            self.enc = nn.Linear(width, width)
            self.dec = nn.Linear(width, width)
            self.dec.weight = self.enc.weight

        def forward(self, x):
            return self.dec(torch.tanh(self.enc(x)))


    class WithTiedBody(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = Tied()
            self.out = nn.Linear(6, 3)

        def forward(self, x):
            return self.out(self.body(x))


    class Up(nn.Module):
        """A transposed convolution told its output size, as in U-Nets."""

        def __init__(self):
            super().__init__()
            self.down = nn.Conv2d(3, 4, 3, stride=2, padding=1)
            self.up = nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1)

        def forward(self, x):
            return self.up(self.down(x), output_size=x.size()) + x


    class WithUp(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = Up()
            self.act = nn.ReLU()

        def forward(self, x):
            return self.act(self.block(x))


    class AcrossBatch(nn.Module):
        """Dims counted from the end that reach the batch: the layer and the call work across samples."""

        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.mix = nn.Softmax(dim=-3)

        def forward(self, x):
            return torch.flatten(self.mix(self.fc(x)), -3)


    class InPlaceRead(nn.Module):
        """An in-place ReLU changes the convolution's output, which a view made before it reads after."""

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 3, padding=1)
            self.act = nn.ReLU(inplace=True)

        def forward(self, x):
            y = self.conv(x)
            flat = y.flatten(1)
            return self.act(y).flatten(1) + flat


    class WithInPlaceRead(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = InPlaceRead()
            self.fc = nn.Linear(48, 2)

        def forward(self, x):
            return self.fc(F.relu(self.inner(x), inplace=True))


    class AlwaysDrops(nn.Module):
        """F.dropout's default is training=True: this drops values in evaluation too."""

        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 8)

        def forward(self, x):
            return F.dropout(self.fc(x), 0.5)


    class WithAlwaysDrops(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = AlwaysDrops()
            self.head = nn.Linear(8, 2)

        def forward(self, x):
            return self.head(self.body(x))


    class TimeFirst(nn.Module):
        """A batch-first interface around an LSTM built time-first (batch_first=False, torch's default)."""

        def __init__(self, features=4, hidden=6):
            super().__init__()
            self.features, self.hidden = features, hidden
            self.rnn = nn.LSTM(features, hidden)

        def forward(self, x):
            out, _ = self.rnn(x.transpose(0, 1))
            return out.transpose(0, 1)


    class WithTimeFirst(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = TimeFirst()
            self.fc = nn.Linear(6, 2)

        def forward(self, x):
            return self.fc(self.enc(x))


    class Doubler(nn.Module):
        """Must stay whole (a number times a tensor has no block) but forgets its constructor argument."""

        def __init__(self, width):
            super().__init__()
            self.fc = nn.Linear(width, width)

        def forward(self, x):
            return self.fc(x) * 2


    class WithDoubler(nn.Module):
        def __init__(self):
            super().__init__()
            self.twice = Doubler(4)
            self.out = nn.Linear(4, 2)

        def forward(self, x):
            return self.out(self.twice(x))


    class Shrink(nn.Module):
        def forward(self, x):
            return F.interpolate(x, size=(2, 3), mode="area")


    class WithShrink(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 1)
            self.shrink = Shrink()

        def forward(self, x):
            return self.shrink(self.conv(x))


    class Scaled(nn.Module):
        """Token ids into a submodule that uses its own tensor: it stays whole and gets the ids."""

        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(9, 4)
            self.scale = nn.Parameter(torch.ones(4))

        def forward(self, x):
            return self.emb(x) * self.scale


    class Reader(nn.Module):
        def __init__(self):
            super().__init__()
            self.scaled = Scaled()
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(self.scaled(x))
''')


@pytest.fixture
def models_py(tmp_path):
    path = tmp_path / "models.py"
    path.write_text(MODELS)
    return path


def _one_step(module, x, target):
    """The module's output after one SGD step on a fixed loss: what training does with its weights."""
    torch.manual_seed(0)
    module.eval()
    optimiser = torch.optim.SGD(module.parameters(), lr=0.5)
    loss = torch.nn.functional.cross_entropy(module(x), target)
    optimiser.zero_grad()
    loss.backward()
    optimiser.step()
    with torch.no_grad():
        return module(x)


def test_tied_weights_are_refused_at_the_top_and_stay_tied_inside_a_submodule(models_py, tmp_path):
    with pytest.raises(ImportFailure, match=r"enc\.weight and dec\.weight are one tensor") as caught:
        import_source(f"{models_py}:Tied", (6,))
    assert "Wrap both layers in a submodule" in str(caught.value)

    result = import_source(f"{models_py}:WithTiedBody", (6,))
    assert [b.id for b in result.doc.blocks.values() if b.kind == "Opaque"] == ["body"]
    assert "tied weights" in result.report.opaque[0]["reason"]
    save_import(result, tmp_path / "tied.loom.json")
    graph = compile_graph(load_graph(tmp_path / "tied.loom.json"))
    x = torch.randn(4, 6, generator=torch.Generator().manual_seed(1))
    target = torch.tensor([0, 1, 2, 1])
    with torch.no_grad():
        torch.testing.assert_close(graph.eval()(x), result.model.eval()(x), rtol=0, atol=0)
    # trained one step, the graph moves as the model does: one matrix, two uses
    torch.testing.assert_close(_one_step(graph, x, target), _one_step(result.model, x, target))


def test_a_layer_called_with_its_output_size_is_kept_whole(models_py):
    with pytest.raises(ImportFailure, match="up is called with more than its input"):
        import_source(f"{models_py}:Up", (3, 8, 8))
    result = import_source(f"{models_py}:WithUp", (3, 8, 8))
    assert [b.id for b in result.doc.blocks.values() if b.kind == "Opaque"] == ["block"]
    graph = compile_graph(result.doc, weights=False).eval()
    graph.load_state_dict(result.state, strict=True)
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(graph(x), result.model.eval()(x), rtol=0, atol=0)


def test_dims_counted_from_the_end_that_reach_the_batch_are_not_blocks(models_py, tmp_path):
    with pytest.raises(ImportFailure, match="flatten from dimension -3 mixes the batch"):
        import_source(f"{models_py}:AcrossBatch", (3, 4))
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Softmax(dim=-3)).eval()
    from layerloom.graph.importers.fx_import import check_fidelity, import_module
    doc, state, report = import_module(model, (3, 4))
    assert [b.kind for b in doc.blocks.values()] == ["Input", "Linear", "Opaque", "Output"]   # the layer as it is
    assert "softmax with dim=-3 works across the batch dimension" in report.opaque[0]["reason"]
    assert check_fidelity(doc, state, model, (3, 4))["max_abs_diff"] == 0.0

    program = torch.export.export(load_source_module(f"{models_py}:AcrossBatch")[0].eval(), (torch.randn(2, 3, 4),))
    torch.export.save(program, tmp_path / "across.pt2")
    with pytest.raises(ImportFailure, match="softmax with dim=-3 works across the batch dimension"):
        import_source(str(tmp_path / "across.pt2"))


def test_an_in_place_change_that_is_read_again_keeps_its_module_whole(models_py):
    with pytest.raises(ImportFailure, match="in-place module act changes a tensor that is read again"):
        import_source(f"{models_py}:InPlaceRead", (3, 4, 4))
    result = import_source(f"{models_py}:WithInPlaceRead", (3, 4, 4))
    assert [b.kind for b in result.doc.blocks.values()] == ["Input", "Opaque", "ReLU", "Linear", "Output"]
    graph = compile_graph(result.doc, weights=False).eval()
    graph.load_state_dict(result.state, strict=True)
    x = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        torch.testing.assert_close(graph(x), result.model.eval()(x), rtol=0, atol=0)


def test_a_dropout_that_stays_on_in_evaluation_is_not_a_dropout_block(models_py):
    with pytest.raises(ImportFailure, match="dropout with training=True drops values in evaluation too"):
        import_source(f"{models_py}:AlwaysDrops", (8,))
    result = import_source(f"{models_py}:WithAlwaysDrops", (8,), fidelity=False)
    assert [b.id for b in result.doc.blocks.values() if b.kind == "Opaque"] == ["body"]
    graph = compile_graph(result.doc, weights=False).eval()
    graph.load_state_dict(result.state, strict=True)
    x = torch.randn(4, 8, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        torch.manual_seed(6)
        expected = result.model.eval()(x)
        torch.manual_seed(6)
        torch.testing.assert_close(graph(x), expected, rtol=0, atol=0)


def test_a_time_first_lstm_keeps_the_module_that_uses_it_whole(models_py):
    from layerloom.graph.importers.fx_import import import_module
    bare = torch.nn.Sequential(torch.nn.LSTM(4, 6))
    with pytest.raises(ImportFailure, match="0: LSTM with batch_first=False has no block .*batch_first=True"):
        import_module(bare, (5, 4))
    result = import_source(f"{models_py}:WithTimeFirst", (5, 4))
    assert [b.kind for b in result.doc.blocks.values()] == ["Input", "Opaque", "Linear", "Output"]
    graph = compile_graph(result.doc, weights=False).eval()
    graph.load_state_dict(result.state, strict=True)
    x = torch.randn(3, 5, 4, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        torch.testing.assert_close(graph(x), result.model.eval()(x), rtol=0, atol=0)


def test_an_imported_graph_that_would_not_run_is_refused_with_its_problem(models_py):
    with pytest.raises(ImportFailure, match="the imported graph would not run .*scaled: Opaque needs floating-point"):
        import_source(f"{models_py}:Reader", (5,), input_dtype="int64")


class _InPlaceOnInput(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, x):
        y = torch.nn.functional.leaky_relu(x, 0.1, inplace=True)
        return self.fc(y), torch.sigmoid(y)


def test_the_fidelity_figure_compares_every_output_on_an_input_of_its_own():
    from layerloom.graph.importers.fx_import import check_fidelity, import_module
    model = _InPlaceOnInput().eval()
    doc, state, _ = import_module(model, (4,))
    figures = check_fidelity(doc, state, model, (4,))
    graph = compile_graph(doc, weights=False).eval()
    graph.load_state_dict(state)
    x = torch.randn(2, 4, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = model(x.clone()), graph(x.clone())
    torch.testing.assert_close(got, expected, rtol=0, atol=0)     # the graph does what the model does
    assert figures["max_abs_diff"] == 0.0                          # and the figure says so
    single = torch.nn.Sequential(torch.nn.LeakyReLU(0.1, inplace=True), torch.nn.Linear(4, 3)).eval()
    doc, state, _ = import_module(single, (4,))
    assert check_fidelity(doc, state, single, (4,))["max_abs_diff"] == 0.0


def test_a_module_that_cannot_be_rebuilt_says_which_attribute_to_keep(models_py):
    with pytest.raises(ImportFailure, match=r"twice \(Doubler\) must stay whole .*'width' is not kept") as caught:
        import_source(f"{models_py}:WithDoubler", (4,))
    assert "add self.width = width to its __init__" in str(caught.value)


def test_a_call_with_a_setting_its_block_does_not_have_keeps_its_module_whole(models_py):
    with pytest.raises(ImportFailure, match='interpolate has no Upsample block .*got "area"'):
        import_source(f"{models_py}:Shrink", (3, 5, 5))
    result = import_source(f"{models_py}:WithShrink", (3, 5, 5))
    assert [b.kind for b in result.doc.blocks.values()] == ["Input", "Conv2d", "Opaque", "Output"]
    graph = compile_graph(result.doc, weights=False).eval()
    graph.load_state_dict(result.state, strict=True)
    x = torch.randn(2, 3, 5, 5, generator=torch.Generator().manual_seed(8))
    with torch.no_grad():
        torch.testing.assert_close(graph(x), result.model.eval()(x), rtol=0, atol=0)


class _KeywordAttention(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.keys = torch.nn.Linear(4, 4)
        self.attn = torch.nn.MultiheadAttention(4, 2, batch_first=True)

    def forward(self, x):
        k = self.keys(x)
        return self.attn(x, key=k, value=k, need_weights=False)[0]


def test_attention_given_its_key_and_value_by_keyword_imports_as_a_block():
    from layerloom.graph.importers.fx_import import import_module
    model = _KeywordAttention().eval()
    doc, state, report = import_module(model, (5, 4))
    assert [b.kind for b in doc.blocks.values()] == ["Input", "Linear", "MultiheadAttention", "Output"]
    assert doc.blocks["attn"].params["num_inputs"] == 2            # the query, and the key that is the value
    graph = compile_graph(doc, weights=False).eval()
    graph.load_state_dict(state, strict=True)
    x = torch.randn(3, 5, 4, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        torch.testing.assert_close(graph(x), model(x), rtol=0, atol=0)


def test_outputs_that_differ_from_the_source_are_a_warning_in_words_not_only_a_figure():
    """The fidelity check recorded a large output difference as a number and said nothing: an import that did
    not compute what its source does read as an import that did."""
    from layerloom.app.import_dialog import report_text
    from layerloom.graph.importers import ImportResult
    from layerloom.graph.importers.fx_import import check_fidelity, import_module
    from layerloom.graph.importers.report import ImportReport
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2)).eval()
    doc, state, _ = import_module(model, (4,))
    good = ImportReport("m.py:Net", "torch.fx")
    check_fidelity(doc, state, model, (4,), good)
    assert good.fidelity["max_abs_diff"] == 0.0 and good.fidelity_warning() == ""
    spoilt = {k: (v + 0.5 if k.endswith("bias") else v) for k, v in state.items()}    # not the source's weights
    bad = ImportReport("m.py:Net", "torch.fx")
    check_fidelity(doc, spoilt, model, (4,), bad)
    warning = bad.fidelity_warning()
    assert bad.fidelity["max_abs_diff"] > 0.1 and warning.startswith(
        f"the imported graph's outputs differ from the source's by up to {bad.fidelity['max_abs_diff']:.3g}, more "
        "than float rounding (0.001): it does not compute what the source does")
    assert f"warning: {warning}" in bad.text()
    shown = report_text(ImportResult(doc, spoilt, bad, model))
    assert "Warning: the imported graph's outputs differ from the source's" in shown
