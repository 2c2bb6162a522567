"""The block tab's channel box counts a Conv1d's channels (dim 1 of N×C×L), not its positions along the
sequence: the range and the top-9 are checked against the Conv1d module's own output."""
import torch

from layerloom.app.panels.block_learnt import BlockLearnt
from layerloom.graph import GraphDocument, analyze, compile_graph


class _Subject:
    """Just what the block tab reads of a run: its model, its validation samples in batches."""

    def __init__(self, model, x):
        self.model, self.x = model, x

    def sample(self, index):
        return self.x[index:index + 1], self.x[index:index + 1], 0

    def batches(self, size=256):
        for start in range(0, len(self.x), size):
            idx = torch.arange(start, min(len(self.x), start + size))
            yield idx, self.x[idx], self.x[idx], torch.zeros(len(idx), dtype=torch.int64)

    def words(self, x):
        return None


def _conv1d_subject():
    doc = GraphDocument("seq")
    last = doc.add_block("Input", {"shape": [3, 28]})
    ids = []
    for kind, p in [("Conv1d", {"out_channels": 6, "kernel_size": 3}), ("ReLU", {}), ("Flatten", {}),
                    ("Linear", {"out_features": 4})]:
        b = doc.add_block(kind, p)
        doc.connect(last, b)
        last = b
        ids.append(b)
    doc.connect(last, doc.add_block("Output"))
    model = compile_graph(doc, analyze(doc), seed=0).eval()
    x = torch.randn(60, 3, 28, generator=torch.Generator().manual_seed(3))
    return _Subject(model, x), ids


def test_the_channel_box_of_a_conv1d_counts_its_filters(qtbot, tmp_path):
    subject, (conv, relu, *_) = _conv1d_subject()
    view = BlockLearnt(lambda a: None)
    qtbot.addWidget(view)
    view.resize(900, 420)
    view.show()
    view.set_subject(subject, [conv, relu])
    for block, module_out in ((conv, lambda x: subject.model.get_submodule(conv)(x)),
                              (relu, lambda x: torch.relu(subject.model.get_submodule(conv)(x)))):
        view.block.setCurrentText(block)
        assert view.jobs.wait()
        view.channel.setValue(4)
        assert view.jobs.wait()
        with torch.no_grad():
            a = module_out(subject.x)                             # N×C×L, torch's own layout
        assert view.channel.maximum() == a.shape[1] - 1 == 5      # 6 filters, not 26 positions
        ref = a[:, 4].mean(dim=1).topk(9)
        assert [t["index"] for t in view.top9] == ref.indices.tolist()
        assert "channel 4 of " + block in view.top_title.text()
    view.grab().save(str(tmp_path / "conv1d-block-tab.png"))
