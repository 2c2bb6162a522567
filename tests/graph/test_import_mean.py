"""x.mean([2, 3]) over an image's spatial dims imports as a global average pool (mnasnet's head), through
torch.fx and through torch.export; other means are refused naming the call."""
from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from layerloom.graph.analysis import analyze
from layerloom.graph.compiler import compile_graph
from layerloom.graph.importers import ImportFailure
from layerloom.graph.importers.export_import import import_program
from layerloom.graph.importers.fx_import import import_module


def _random_statistics(model: nn.Module) -> nn.Module:
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return model.eval()


def _same(doc, state, model, shape):
    graph = compile_graph(doc, weights=False).eval()
    graph.load_state_dict(state, strict=True)
    x = torch.randn(3, *shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(graph(x), model(x))


class Means(nn.Module):
    def __init__(self, keep: bool):
        super().__init__()
        self.conv, self.keep = nn.Conv2d(3, 4, 3), keep

    def forward(self, x):
        y = self.conv(x)
        return y.mean([2, 3], keepdim=True) if self.keep else torch.mean(y, dim=(-1, -2))


def test_mnasnet_imports_and_computes_what_it_computes():
    model = _random_statistics(torchvision.models.mnasnet0_5(num_classes=10))
    doc, state, report = import_module(model, (3, 32, 32))
    assert not report.opaque
    _same(doc, state, model, (3, 32, 32))
    assert analyze(doc).total_params == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("keep", [True, False])
def test_a_spatial_mean_imports_by_fx_and_export(keep):
    model = Means(keep).eval()
    for doc, state, *_ in (import_module(model, (3, 6, 5)),
                          import_program(torch.export.export(model, (torch.randn(2, 3, 6, 5),)))):
        assert "AdaptiveAvgPool2d" in {b.kind for b in doc.blocks.values()}
        _same(doc, state, model, (3, 6, 5))


class ChannelMean(nn.Module):
    def forward(self, x):
        return x.mean(1)


def test_a_mean_over_other_dims_is_refused_naming_it():
    with pytest.raises(ImportFailure, match=r"mean over dims \[1\] of a 4-d tensor has no block"):
        import_module(ChannelMean(), (3, 4, 4))
