"""Recurrent layers in torch.export programs (.pt2) import as LSTM, GRU and RNN blocks that compute what
the layer computes."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from layerloom.graph.analysis import analyze
from layerloom.graph.compiler import compile_graph
from layerloom.graph.importers import ImportFailure, import_source
from layerloom.graph.importers.export_import import import_program


class Seq(nn.Module):
    def __init__(self, layer: nn.Module):
        super().__init__()
        self.rnn = layer
        out = layer.hidden_size * (2 if layer.bidirectional else 1)
        self.fc = nn.Linear(getattr(layer, "proj_size", 0) or out, 3)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.fc(out[:, -1])


LAYERS = {
    "lstm": lambda: nn.LSTM(4, 5, batch_first=True),
    "lstm2_bidirectional": lambda: nn.LSTM(4, 5, num_layers=2, batch_first=True, bidirectional=True),
    "lstm_proj": lambda: nn.LSTM(4, 6, batch_first=True, proj_size=3),
    "gru": lambda: nn.GRU(4, 5, num_layers=2, batch_first=True),
    "rnn_relu": lambda: nn.RNN(4, 5, batch_first=True, nonlinearity="relu", bias=False),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_an_exported_recurrent_layer_imports_and_computes_what_it_computes(name):
    torch.manual_seed(0)
    model = Seq(LAYERS[name]()).eval()
    program = torch.export.export(model, (torch.randn(2, 6, 4),))
    doc, state, report, _ = import_program(program)
    assert {"LSTM", "GRU", "RNN"} & {b.kind for b in doc.blocks.values()}
    graph = compile_graph(doc, weights=False).eval()
    graph.load_state_dict(state, strict=True)
    x = torch.randn(2, 6, 4, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(graph(x), model(x))
    assert analyze(doc).total_params == sum(p.numel() for p in model.parameters())


def test_a_pt2_file_with_an_lstm_imports(tmp_path):
    torch.manual_seed(0)
    model = Seq(LAYERS["lstm"]()).eval()
    torch.export.save(torch.export.export(model, (torch.randn(2, 6, 4),)), tmp_path / "m.pt2")
    result = import_source(str(tmp_path / "m.pt2"))
    assert result.report.fidelity["max_abs_diff"] < 1e-5



class Twice(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(4, 4, batch_first=True)

    def forward(self, x):
        return self.rnn(self.rnn(x)[0])[0]


def test_a_recurrent_layer_called_twice_is_refused_as_plainly_as_any_shared_weight():
    program = torch.export.export(Twice().eval(), (torch.randn(2, 6, 4),))
    with pytest.raises(ImportFailure, match=r"rnn\.weight_ih_l0 is used by two calls \(gru and gru_1\); Layerloom "
                                            "blocks own their weights, so it would become two separate copies. "
                                            "Give each call its own layer"):
        import_program(program)
