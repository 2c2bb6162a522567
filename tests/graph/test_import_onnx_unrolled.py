"""PyTorch's dynamo ONNX exporter unrolls nn.RNN into single steps on a time-first sequence: the
refusal says which Transpose and how to export the layer so that it imports."""
from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from layerloom.graph.compiler import compile_graph
from layerloom.graph.importers import ImportFailure, import_source


class Reader(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn, self.fc = nn.RNN(4, 5, batch_first=True), nn.Linear(5, 3)

    def forward(self, x):
        return self.fc(self.rnn(x)[0][:, -1])


def _export(model, path, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(2, 6, 4),), str(path), **options)
    return str(path)


def test_an_unrolled_rnn_is_refused_saying_how_to_export_it_and_that_export_imports(tmp_path):
    torch.manual_seed(0)
    model = Reader().eval()
    with pytest.raises(ImportFailure, match=r"Transpose to \[1, 0, 2\] moves the batch dimension.*"
                                            r"torch\.onnx\.export\(\.\.\., dynamo=False\)"):
        import_source(_export(model, tmp_path / "unrolled.onnx", dynamo=True))
    result = import_source(_export(model, tmp_path / "kept.onnx", dynamo=False))
    graph = compile_graph(result.doc, weights=False).eval()
    graph.load_state_dict(result.state, strict=True)
    x = torch.randn(2, 6, 4, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(graph(x), model(x), rtol=1e-5, atol=1e-5)
