"""An Inspector rename (app/edits.py) keeps an imported block's weights, and so does its undo: the graph
computes what the torch module it was imported from computes."""
from __future__ import annotations

import torch

from layerloom.app import edits
from layerloom.graph import compile_graph
from layerloom.graph.fileformat import load_graph
from layerloom.graph.importers import import_source, save_import

MODEL = '''
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):
        return self.fc(torch.flatten(torch.relu(self.conv1(x)), 1))
'''


def test_rename_and_its_undo_keep_the_weights(win, tmp_path):
    torch.manual_seed(0)
    (tmp_path / "model.py").write_text(MODEL)
    result = import_source(f"{tmp_path / 'model.py'}:Net", (3, 6, 6))
    graph = tmp_path / "net.loom.json"
    save_import(result, graph)
    model = result.model.eval()
    x = torch.randn(2, 3, 6, 6, generator=torch.Generator().manual_seed(3))

    def same_after_save():
        assert win.files.save()
        gm = compile_graph(load_graph(graph), seed=5).eval()
        with torch.no_grad():
            torch.testing.assert_close(gm(x), model(x), rtol=0, atol=1e-6)

    assert win.files.open(str(graph))
    assert edits.rename(win.session, "conv1", "features")
    assert edits.rename(win.session, "fc", "classifier")
    same_after_save()
    win.session.undo_stack.undo()
    assert "fc" in win.document.blocks
    same_after_save()
    win.session.undo_stack.redo()
    assert "classifier" in win.document.blocks
    same_after_save()
