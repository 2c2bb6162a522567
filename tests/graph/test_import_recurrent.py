"""A recurrent layer's final hidden state `h[-1]` imports as the block's last step, exactly as PyTorch
computes it; where it is not the last step (both directions) or the sequence is read too, the import says so."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from layerloom.graph.compiler import compile_graph
from layerloom.graph.importers import ImportFailure
from layerloom.graph.importers.fx_import import import_module


class Classifier(nn.Module):
    def __init__(self, layer: type, also_sequence: bool = False, **options):
        super().__init__()
        self.rnn = layer(4, 6, batch_first=True, **options)
        self.fc = nn.Linear(options.get("proj_size") or 6, 3)
        self.also_sequence, self.lstm = also_sequence, layer is nn.LSTM

    def forward(self, x):
        if self.lstm:
            out, (h, _) = self.rnn(x)
        else:
            out, h = self.rnn(x)
        y = self.fc(h[-1])
        return y + self.fc(out[:, 0]) if self.also_sequence else y


@pytest.mark.parametrize("layer,options", [(nn.GRU, {"num_layers": 2}), (nn.LSTM, {"proj_size": 5}),
                                           (nn.RNN, {"nonlinearity": "relu"})], ids=["gru", "lstm", "rnn"])
def test_the_last_hidden_state_is_the_blocks_last_step(layer, options):
    model = Classifier(layer, **options).eval()
    doc, state, _ = import_module(model, (7, 4))
    assert [b.kind for b in doc.blocks.values()] == ["Input", layer.__name__, "Linear", "Output"]
    assert doc.blocks["rnn"].params["output"] == "last"
    graph = compile_graph(doc, weights=False).eval()
    graph.load_state_dict(state, strict=True)
    x = torch.randn(3, 7, 4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(graph(x), model(x), rtol=0, atol=0)


@pytest.mark.parametrize("model", [Classifier(nn.GRU, bidirectional=True), Classifier(nn.LSTM, also_sequence=True)],
                         ids=["both-directions", "sequence-read-too"])
def test_a_hidden_state_that_is_not_the_last_step_is_refused(model):
    with pytest.raises(ImportFailure, match="hidden state"):
        import_module(model.eval(), (7, 4))
