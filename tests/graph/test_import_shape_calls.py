"""x.select, x.unsqueeze and x.squeeze(dim) import as Select and Reshape blocks that compute what PyTorch
computes; a call that would touch the batch is refused."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from layerloom.graph.compiler import compile_graph
from layerloom.graph.importers import ImportFailure, import_source
from layerloom.graph.importers.fx_import import import_module


class Picks(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x):
        y = self.fc(x).unsqueeze(1).unsqueeze(-1)          # 1×4×3×1
        return y.squeeze(-1).squeeze(1).select(1, 2) + torch.select(x, -2, -1)


class Touches(nn.Module):
    def __init__(self, call: str):
        super().__init__()
        self.call = call

    def forward(self, x):
        if self.call == "select":
            return x.select(0, 1)
        return x.squeeze() if self.call == "squeeze" else x.squeeze(0) if self.call == "squeeze0" else x.squeeze(-3)


def test_select_unsqueeze_and_squeeze_compute_what_torch_computes():
    model = Picks().eval()
    doc, state, report = import_module(model, (4, 3))
    assert not report.opaque
    assert sorted(b.kind for b in doc.blocks.values()) == ["Add", "Input", "Linear", "Output"] + ["Reshape"] * 4 + \
        ["Select"] * 2
    graph = compile_graph(doc, weights=False).eval()
    graph.load_state_dict(state, strict=True)
    for batch in (1, 5):
        x = torch.randn(batch, 4, 3, generator=torch.Generator().manual_seed(batch))
        with torch.no_grad():
            torch.testing.assert_close(graph(x), model(x), rtol=0, atol=0)


@pytest.mark.parametrize("call", ["select", "squeeze", "squeeze0"])
def test_a_call_that_would_touch_the_batch_is_refused(call):
    with pytest.raises(ImportFailure, match="batch"):
        import_module(Touches(call), (4, 1))


def test_a_dim_counted_from_the_end_that_is_the_batch_is_named_as_the_model_writes_it(tmp_path):
    with pytest.raises(ImportFailure, match=r"squeeze with dim=-3 works across the batch dimension \(dim -3 of a "
                                            r"3-d tensor is dim 0\): it would drop a batch of one"):
        import_module(Touches("squeeze-3"), (4, 1))
    torch.export.save(torch.export.export(Touches("squeeze-3"), (torch.randn(2, 4, 1),)), tmp_path / "t.pt2")
    with pytest.raises(ImportFailure, match=r"squeeze with dim=-3 works across the batch dimension"):
        import_source(str(tmp_path / "t.pt2"))
