"""A batch size of 1 typed in the Training panel, for a graph whose BatchNorm sees one value per channel: the
readiness check says so above Start, naming the block (torch would refuse the first step), and a batch of 2
is ready again."""
from __future__ import annotations

from layerloom.graph.fileformat import save_graph

from ..graph.helpers import chain
from .helpers import settings


def test_batch_size_one_typed_in_the_panel_is_refused_for_a_batchnorm_after_a_linear(win, ui, qtbot, tmp_path):
    doc = chain(("Flatten", {}), ("Linear", {"out_features": 16}), ("BatchNorm1d", {}), ("ReLU", {}),
                ("Linear", {"out_features": 10}), shape=(1, 28, 28))
    doc.training = {"dataset": "mnist-sample", "batch_size": 32}
    path = tmp_path / "bn.loom.json"
    save_graph(doc, path)
    assert win.files.open(path, ask=False)
    qtbot.waitUntil(lambda: ui.ready, timeout=20_000)
    bn = next(b for b, blk in win.document.blocks.items() if blk.kind == "BatchNorm1d")
    settings(ui, batch_size=1)
    qtbot.waitUntil(lambda: bool(ui.panel.check_texts("error")), timeout=20_000)
    [error] = ui.panel.check_texts("error")
    assert error.startswith(f"{bn}: BatchNorm1d normalises each channel over the batch")
    assert "batch_size to 2 or more" in error and not ui.panel.start.isEnabled()
    settings(ui, batch_size=2)
    qtbot.waitUntil(lambda: ui.ready, timeout=20_000)
    assert not ui.panel.check_texts("error") and ui.panel.start.isEnabled()
