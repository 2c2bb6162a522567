"""torch.export programs are checked on a second batch size, as traced models are: an import either computes
what the program (or the model torch.fx could not trace) computes on a batch of 3, or is refused."""
from __future__ import annotations

import textwrap

import pytest
import torch
from torch import nn

from layerloom.graph.compiler import compile_graph
from layerloom.graph.importers import ImportFailure, import_source


class Flat(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3)
        self.fc = nn.Linear(24, 2)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).view(x.size(0), -1))


def _graph(result):
    graph = compile_graph(result.doc, weights=False).eval()
    graph.load_state_dict(result.state, strict=True)
    return graph


def test_a_program_with_a_dynamic_batch_is_checked_against_itself_on_a_batch_of_three(tmp_path):
    torch.manual_seed(0)
    model = Flat().eval()
    batch = torch.export.Dim("batch", min=2, max=64)
    program = torch.export.export(model, (torch.randn(4, 2, 4, 6),), dynamic_shapes=({0: batch},))
    torch.export.save(program, tmp_path / "flat.pt2")
    result = import_source(str(tmp_path / "flat.pt2"))
    assert result.report.fidelity["max_abs_diff_batch_3"] <= 1e-6
    x = torch.randn(3, 2, 4, 6, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(_graph(result)(x), program.module()(x))


@pytest.mark.parametrize("batch, other", [(1, 3), (2, 4)])
def test_a_program_exported_for_one_batch_size_is_checked_on_more_samples_that_many_at_a_time(tmp_path, batch,
                                                                                             other):
    torch.manual_seed(0)
    torch.export.save(torch.export.export(Flat().eval(), (torch.randn(batch, 2, 4, 6),)), tmp_path / "one.pt2")
    program = torch.export.load(str(tmp_path / "one.pt2")).module()
    with pytest.raises(Exception):                 # torch itself: the program takes its own batch size only
        program(torch.randn(other, 2, 4, 6))
    result = import_source(str(tmp_path / "one.pt2"))
    said = (f"the program runs on a batch of {batch} only (it does not run on 3); the graph was checked against it "
            f"on a batch of {batch}, and on {other} samples against the program run on them {batch} at a time")
    assert any(n.startswith(said) for n in result.report.notes), result.report.notes
    assert result.report.fidelity[f"max_abs_diff_batch_{other}"] <= 1e-6
    x = torch.randn(other, 2, 4, 6, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(_graph(result)(x), torch.cat([program(x[i:i + batch])
                                                                 for i in range(0, other, batch)]))


def test_a_model_torch_fx_cannot_trace_that_mixes_samples_away_from_two_is_refused(tmp_path):
    path = tmp_path / "swaps.py"
    path.write_text(textwrap.dedent('''
        import torch
        from torch import nn


        class Swaps(nn.Module):
            def forward(self, x):
                if x.shape[-1] > 1:          # torch.fx cannot follow this; torch.export can
                    x = x.reshape(x.size(1), x.size(0), -1)      # the identity on a batch of 2 only
                return torch.softmax(x, dim=1).reshape(-1, 6)
    '''))
    with pytest.raises(ImportFailure, match=r"on a batch of 3 \(the import saw a batch of 2\) the imported graph "
                                            "gives results that differ"):
        import_source(f"{path}:Swaps", (2, 3))


class PoolsByBatch(nn.Module):
    def forward(self, x):
        return torch.nn.functional.adaptive_avg_pool2d(x, (x.size(0), 1))


def test_a_dynamic_size_after_the_batch_or_a_setting_read_from_the_batch_is_one_line(tmp_path):
    """Sizes torch.export keeps symbolic would become block settings: refused in words, not a TypeError."""
    batch, steps = torch.export.Dim("batch", min=2, max=64), torch.export.Dim("steps", min=2, max=64)
    model = nn.Sequential(nn.Linear(4, 2), nn.Flatten()).eval()
    program = torch.export.export(model, (torch.randn(2, 6, 4),), dynamic_shapes=({0: batch, 1: steps},))
    torch.export.save(program, tmp_path / "steps.pt2")
    with pytest.raises(ImportFailure, match=r"the program's input has a dynamic size after the batch \(dim 1\); .*"
                                            r"export the program with only the batch dynamic"):
        import_source(str(tmp_path / "steps.pt2"))
    program = torch.export.export(PoolsByBatch(), (torch.randn(4, 2, 6, 6),), dynamic_shapes=({0: batch},))
    torch.export.save(program, tmp_path / "pools.pt2")
    with pytest.raises(ImportFailure, match="a setting computed from the batch size has no block"):
        import_source(str(tmp_path / "pools.pt2"))
