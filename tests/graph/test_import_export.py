"""torch.export programs as graphs: `.pt2` files, and the fallback for models torch.fx cannot trace.
Each import is compared with the program or module it came from."""
from __future__ import annotations

import textwrap

import pytest
import torch

from layerloom.graph.compiler import compile_graph
from layerloom.graph.fileformat import load_graph
from layerloom.graph.importers import ImportFailure, import_source, load_source_module, save_import

MODEL = textwrap.dedent('''
    import torch
    from torch import nn
    import torch.nn.functional as F


    class Net(nn.Module):
        """The `if` on a shape stops torch.fx at the top level; torch.export follows the branch taken."""

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 6, 3, padding=1, groups=3)
            self.bn = nn.BatchNorm2d(6)
            self.pool = nn.AdaptiveAvgPool2d(2)
            self.norm = nn.LayerNorm(24)
            self.fc = nn.Linear(24, 5)
            with torch.no_grad():
                self.bn.running_mean.normal_()
                self.bn.running_var.uniform_(0.5, 2.0)

        def forward(self, x):
            y = F.relu(self.bn(self.conv(x)))
            if x.shape[-1] > 4:
                y = F.max_pool2d(y, 2)
            y = self.pool(y + y)
            y = y.view(y.size(0), -1)
            return torch.softmax(self.fc(self.norm(y)), dim=-1)


    class Looks(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            if x.sum() > 0:                 # a value: neither torch.fx nor torch.export can follow it
                return self.fc(x)
            return x


    class Keyword(nn.Module):
        """A submodule named after a Python keyword: legal for nn.Module, but torch.fx writes `self.class`."""

        def __init__(self):
            super().__init__()
            self.add_module("class", nn.Linear(4, 3))

        def forward(self, x):
            return torch.tanh(getattr(self, "class")(x))


    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return self.fc(self.fc(x))
''')


@pytest.fixture
def model_py(tmp_path):
    path = tmp_path / "model.py"
    path.write_text(MODEL)
    return path


def _same(gm, reference, shape, seed=0):
    x = torch.randn(2, *shape, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return (gm(x) - reference(x)).abs().max().item()


def test_a_pt2_file_imports_and_computes_what_the_program_computes(model_py, tmp_path):
    model, _ = load_source_module(f"{model_py}:Net")
    model.eval()
    program = torch.export.export(model, (torch.randn(2, 3, 8, 8),), strict=False)
    torch.export.save(program, str(tmp_path / "net.pt2"))
    result = import_source(str(tmp_path / "net.pt2"))
    report, doc = result.report, result.doc
    assert report.method == "torch.export" and not report.opaque
    assert {"conv", "bn", "pool", "norm", "fc"} <= set(doc.blocks)
    assert doc.blocks["conv"].params["groups"] == 3 and doc.blocks["conv"].kind == "Conv2d"
    assert doc.blocks["input"].params["shape"] == [3, 8, 8]
    assert report.fidelity["strict_load"] and report.fidelity["tensors_equal"]
    assert report.fidelity["max_abs_diff"] <= 1e-6
    save_import(result, tmp_path / "net.loom.json")
    gm = compile_graph(load_graph(tmp_path / "net.loom.json")).eval()
    assert torch.equal(gm.state_dict()["bn.running_var"], model.bn.running_var)
    assert _same(gm, model, (3, 8, 8)) <= 1e-6
    assert _same(gm, torch.export.load(str(tmp_path / "net.pt2")).module(), (3, 8, 8), seed=3) <= 1e-6

    from layerloom.runtime.cli import run                 # the same through `layerloom import FILE.pt2`
    assert run(["import", str(tmp_path / "net.pt2"), "--out", str(tmp_path / "cli.loom.json")]) == 0
    assert load_graph(tmp_path / "cli.loom.json").weights == "cli.safetensors"


def test_a_model_torch_fx_cannot_trace_falls_back_to_torch_export(model_py):
    result = import_source(f"{model_py}:Net", (3, 8, 8))
    assert result.report.method == "torch.export" and not result.report.opaque
    assert any("torch.fx could not trace the model" in n for n in result.report.notes)
    gm = compile_graph(result.doc, weights=False).eval()
    gm.load_state_dict(result.state, strict=True)
    assert _same(gm, result.model.eval(), (3, 8, 8)) <= 1e-6
    assert result.report.fidelity["max_abs_diff"] <= 1e-6


def test_a_submodule_named_after_a_keyword_falls_back_to_torch_export(model_py):
    result = import_source(f"{model_py}:Keyword", (4,))
    assert result.report.method == "torch.export" and not result.report.opaque
    assert any("SyntaxError" in n for n in result.report.notes)      # why torch.fx's own code did not compile
    gm = compile_graph(result.doc, weights=False).eval()
    gm.load_state_dict(result.state, strict=True)
    assert _same(gm, result.model.eval(), (4,)) <= 1e-6


def test_a_value_dependent_branch_at_the_top_is_refused_with_both_reasons(model_py):
    with pytest.raises(ImportFailure, match="neither torch.fx .* nor torch.export .* can trace the model"):
        import_source(f"{model_py}:Looks", (4,))


def test_shared_weights_in_a_program_are_refused(model_py, tmp_path):
    model, _ = load_source_module(f"{model_py}:Shared")
    torch.export.save(torch.export.export(model.eval(), (torch.randn(2, 4),), strict=False), str(tmp_path / "s.pt2"))
    with pytest.raises(ImportFailure, match="fc.weight is used by two calls"):
        import_source(str(tmp_path / "s.pt2"))


def test_a_file_that_is_not_a_program_is_one_line(tmp_path):
    bad = tmp_path / "bad.pt2"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ImportFailure, match=r"bad.pt2 is not a torch.export program file") as caught:
        import_source(str(bad))
    assert "\n" not in str(caught.value)


def test_an_embedding_that_scales_gradients_by_frequency_keeps_doing_so(tmp_path):
    model = torch.nn.Sequential(torch.nn.Embedding(10, 4, padding_idx=2, scale_grad_by_freq=True),
                                torch.nn.Flatten(), torch.nn.Linear(20, 3)).eval()
    ids = torch.tensor([[1, 1, 1, 5, 2], [3, 1, 5, 5, 0]])
    torch.export.save(torch.export.export(model, (ids,), strict=False), str(tmp_path / "emb.pt2"))
    result = import_source(str(tmp_path / "emb.pt2"))
    graph = compile_graph(result.doc, weights=False).eval()
    graph.load_state_dict(result.state, strict=True)
    grads = []
    for net in (model, graph):
        net.zero_grad()
        net(ids).sum().backward()
        grads.append(next(m for m in net.modules() if isinstance(m, torch.nn.Embedding)).weight.grad)
    torch.testing.assert_close(grads[1], grads[0])      # a word seen three times: a third of the gradient


def test_a_batch_norm_without_running_statistics_is_refused_for_what_it_is(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3, track_running_stats=False)).eval()
    torch.export.save(torch.export.export(model, (torch.randn(2, 4),), strict=False), str(tmp_path / "bn.pt2"))
    with pytest.raises(ImportFailure, match="without running statistics .*track_running_stats=True"):
        import_source(str(tmp_path / "bn.pt2"))


def test_a_refusal_after_the_fallback_says_what_to_change_in_the_model_py(tmp_path):
    path = tmp_path / "branchy.py"
    path.write_text(textwrap.dedent('''
        from torch import nn


        class Branchy(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 2)

            def forward(self, x):
                if x.shape[1] > 3:          # torch.fx cannot follow this; torch.export can
                    x = x * 2               # but a number times a tensor has no block
                return self.fc(x)
    '''))
    with pytest.raises(ImportFailure, match="mul of a tensor and a number has no block") as caught:
        import_source(f"{path}:Branchy", (5, 4))
    assert "torch.fx could not trace the model" in str(caught.value)
    assert "into a submodule" in str(caught.value) and "import the model.py it came from" not in str(caught.value)
