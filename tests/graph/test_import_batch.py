"""torch.fx traces on a batch of 2: a size of 2 written into the model is never read as the batch.
An import either computes what the model computes at other batch sizes too, or is refused."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from layerloom.graph.compiler import compile_graph
from layerloom.graph.importers import ImportFailure, import_source, load_source_module
from layerloom.graph.importers.fx_import import import_module


class SwapsAtTwo(nn.Module):
    """On 2×3 samples, reshape(x.size(1), x.size(0), -1) is the identity at a batch of 2 only;
    at other batches the softmax runs across samples."""

    def forward(self, x):
        y = x.reshape(x.size(1), x.size(0), -1)
        return torch.softmax(y, dim=1).reshape(x.size(0), -1)


class FixedView(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(x.view(2, -1))


class TwoGroups(nn.Module):
    """A real 2 after the batch: the groups of a channel split."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x):
        y = self.fc(x.view(x.size(0), 2, -1))
        return torch.softmax(y, dim=1).reshape(-1, 6)


def test_a_reshape_that_mixes_samples_away_from_a_batch_of_two_is_refused():
    model = SwapsAtTwo().eval()
    x = torch.randn(4, 2, 3, generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(model(x)[:2], model(x[:2]))     # away from a batch of 2, samples mix
    with pytest.raises(ImportFailure, match=r"\.reshape\(\) gives \[2, 2, 3\] on a batch of 2 but \[2, 3, 3\]"):
        import_module(model, (2, 3))


def test_a_model_that_runs_only_on_a_batch_of_two_is_refused():
    with pytest.raises(ImportFailure, match="runs on a batch of 2 but not on a batch of 3.*x.size\\(0\\)"):
        import_module(FixedView(), (4,))


def test_a_two_after_the_batch_imports_and_matches_at_other_batches():
    model = TwoGroups().eval()
    doc, state, report = import_module(model, (6,))
    graph = compile_graph(doc, weights=False).eval()
    graph.load_state_dict(state, strict=True)
    for batch in (1, 2, 5):
        x = torch.randn(batch, 6, generator=torch.Generator().manual_seed(batch))
        with torch.no_grad():
            torch.testing.assert_close(graph(x), model(x), rtol=0, atol=0)


CENTRED = """
import torch
from torch import nn


class Centre(nn.Module):
    def __init__(self, dim=0):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        if x.sum() > 0:         # torch.fx cannot trace this: the submodule stays whole as an Opaque block
            return x - x.mean(self.dim, keepdim=True)
        return x - x.mean(self.dim, keepdim=True)


class Centred(nn.Module):
    def __init__(self, dim=0):
        super().__init__()
        self.centre = Centre(dim)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(self.centre(x))
"""


def test_a_submodule_kept_whole_that_works_across_the_batch_is_named_in_the_report(tmp_path):
    (tmp_path / "centred.py").write_text(CENTRED)
    model, _ = load_source_module(f"{tmp_path / 'centred.py'}:Centred")
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert not torch.allclose(model.eval()(x)[-1:], model(x[-1:]))     # a sample's result depends on the others
    report = import_source(f"{tmp_path / 'centred.py'}:Centred", (4,)).report
    assert [o["block"] for o in report.opaque] == ["centre"] and report.fidelity["max_abs_diff"] == 0.0
    assert any("a sample's result depends on the other samples of its batch, as in the source: an Opaque block "
               "(centre: Centre) works across the batch" in n for n in report.notes), report.notes
    alone = import_source(f"{tmp_path / 'centred.py'}:Centred", (4,), {"dim": 1}).report     # per sample
    assert alone.opaque and not any("depends on the other samples" in n for n in alone.notes)
