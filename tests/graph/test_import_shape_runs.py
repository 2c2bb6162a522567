"""The torch.fx import records each step's shape on meta tensors, falls back to fake tensors for a model that
makes CPU tensors of its own and to a real run for one that looks at values, and gets torch's shapes each way."""
from __future__ import annotations

import torch
import torchvision
from torch._subclasses import fake_tensor

from layerloom.graph.compiler import compile_graph
from layerloom.graph.importers import import_source
from layerloom.graph.importers.fx_import import check_fidelity, import_module


def _count_fake_modes(monkeypatch) -> list:
    made = []
    original = fake_tensor.FakeTensorMode.__init__

    def counting(self, *args, **kwargs):
        made.append(1)
        original(self, *args, **kwargs)
    monkeypatch.setattr(fake_tensor.FakeTensorMode, "__init__", counting)
    return made


def test_a_shufflenet_is_imported_without_fake_tensors_and_computes_what_torchvision_does(monkeypatch):
    """Fake tensors cost about ten times what meta tensors cost a step (bench/import_shape_runs.py)."""
    torch.manual_seed(0)
    model = torchvision.models.ShuffleNetV2([2, 1, 1], [8, 16, 32, 64, 128], num_classes=7).eval()
    made = _count_fake_modes(monkeypatch)
    doc, state, report = import_module(model, (3, 32, 32), "shufflenet", "shufflenet")
    assert made == []
    assert check_fidelity(doc, state, model, (3, 32, 32), report)["max_abs_diff"] == 0.0
    assert all(not t.is_meta for t in state.values())     # the model's own weights stayed as they were
    assert all(not t.is_meta for t in model.state_dict().values())


MODELS = """
import torch
from torch import nn


class Shift(nn.Module):
    \"\"\"Makes a CPU tensor in its forward: meta tensors cannot run it, fake ones can.\"\"\"

    def forward(self, x):
        return x + torch.ones(x.shape[-1])


class Gate(nn.Module):
    \"\"\"Looks at values: neither meta nor fake tensors can run it.\"\"\"

    def forward(self, x):
        return x * 2 if bool(x.sum() > -1e9) else x


class Net(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner, self.out = (Shift() if inner == "shift" else Gate()), nn.Linear(4, 2)

    def forward(self, x):
        return self.out(self.inner(x)).relu()
"""


def test_models_meta_tensors_cannot_run_fall_back_to_fake_then_real_runs_and_import_exactly(monkeypatch, tmp_path):
    (tmp_path / "models.py").write_text(MODELS)
    for inner, fake_used in (("shift", True), ("gate", True)):
        made = _count_fake_modes(monkeypatch)
        result = import_source(f"{tmp_path / 'models.py'}:Net", (4,), args={"inner": inner})
        assert bool(made) == fake_used
        assert [b.kind for b in result.doc.blocks.values()] == ["Input", "Opaque", "Linear", "ReLU", "Output"]
        assert result.report.fidelity["max_abs_diff"] == 0.0 and result.report.fidelity["tensors_equal"]
        graph = compile_graph(result.doc, weights=False).eval()
        graph.load_state_dict(result.state, strict=True)
        x = torch.randn(3, 4)
        with torch.no_grad():
            assert torch.equal(graph(x), result.model(x))
