"""A BatchNorm whose sample gives it one value per channel (after a Linear, after a global pool) cannot train
on a batch of one sample: torch refuses it at the first step. The training check (runtime/preflight.py) says
so before a run starts, naming the block, exactly where real torch training fails; and a last, partial batch
of one (a training split one more than a multiple of the batch size) never reaches the model."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from layerloom.graph import analyze
from layerloom.graph.compiler import compile_graph
from layerloom.runtime.freezing import freeze, frozen_blocks
from layerloom.runtime.preflight import preflight
from layerloom.runtime.trainer import Trainer

from ..graph.helpers import chain
from .trainer_helpers import Recorder, mnist_small

HEAD = [("Flatten", {}), ("Linear", {"out_features": 10})]
GRAPHS = {
    "after a Linear": [("Flatten", {}), ("Linear", {"out_features": 16}), ("BatchNorm1d", {}), ("ReLU", {}),
                       ("Linear", {"out_features": 10})],
    "after a global pool": [("Conv2d", {"out_channels": 4, "kernel_size": 3}), ("AdaptiveAvgPool2d", {}),
                            ("BatchNorm2d", {}), *HEAD],
    "on feature maps": [("Conv2d", {"out_channels": 4, "kernel_size": 3}), ("BatchNorm2d", {}), ("ReLU", {}), *HEAD],
    "on a sequence": [("Reshape", {"shape": [28, 28]}), ("BatchNorm1d", {}), *HEAD],
    "after a Linear, frozen": [("Flatten", {}), ("Linear", {"out_features": 16}), ("BatchNorm1d", {}),
                               ("Linear", {"out_features": 10})],
}


def _graph(name):
    doc = chain(*GRAPHS[name], shape=(1, 28, 28))
    if name.endswith("frozen"):
        doc.blocks[next(b for b, blk in doc.blocks.items() if blk.kind.startswith("BatchNorm"))].trainable = False
    return doc


def _torch_trains_on(doc, batch: int) -> bool:
    """The reference: one real training step of the compiled graph (frozen blocks frozen as the trainer does)."""
    model = compile_graph(doc, analyze(doc, {"num_classes": 10}), seed=0)
    freeze(model, frozen_blocks(doc))
    model.train()
    data = mnist_small(8, 8).train
    x, y = data.batch(torch.arange(batch))
    try:
        nn.functional.cross_entropy(model(x.float()), y).backward()
    except ValueError as exc:
        assert "Expected more than 1 value per channel" in str(exc)
        return False
    return True


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_a_batch_of_one_is_refused_exactly_where_torch_cannot_train(name):
    doc = _graph(name)
    for batch in (1, 2):
        found = [d for d in preflight(doc, "mnist-sample", batch_size=batch).errors if d.code == "train_batch_of_one"]
        assert bool(found) == (not _torch_trains_on(doc, batch)), (name, batch)
        for d in found:
            assert doc.blocks[d.block].kind.startswith("BatchNorm") and "batch_size to 2 or more" in d.message
            assert "LayerNorm" in d.message


@pytest.mark.parametrize("where", ["graph", "run"])
def test_a_run_with_batch_size_one_is_refused_before_its_first_step(tmp_path, where):
    """Set in the graph file, or only for the run (the Training panel, --batch-size): both are the run's."""
    doc = _graph("after a Linear")
    doc.training = {"batch_size": 1} if where == "graph" else {"batch_size": 64}
    rec = Recorder()
    Trainer(doc, {"max_steps": 3, **({"batch_size": 1} if where == "run" else {})}, rec, runs_base=tmp_path,
            data=mnist_small(32, 16)).run()
    [failed] = rec.of("failed")
    bn = next(b for b, blk in doc.blocks.items() if blk.kind == "BatchNorm1d")
    assert bn in failed["message"] and "batch_size to 2 or more" in failed["message"]
    assert not rec.of("step") and "Expected more than 1 value" not in failed["message"]


@pytest.mark.parametrize("n_train, batch_size", [(9, 4), (9, 8), (5, 2)])
def test_a_last_batch_of_one_is_left_out_and_training_finishes(tmp_path, n_train, batch_size):
    """n_train is one more than a multiple of batch_size: the real trainer trains every epoch to its end."""
    doc = _graph("after a Linear")
    rec = Recorder()
    result = Trainer(doc, {"batch_size": batch_size, "epochs": 2}, rec, runs_base=tmp_path,
                     data=mnist_small(n_train, 8)).run()
    assert not rec.of("failed") and result is not None, rec.of("failed")


def test_layerloom_train_refuses_batch_size_one_before_it_makes_a_run_folder(tmp_path, capsys):
    from layerloom.app.main import main
    from layerloom.graph.fileformat import save_graph
    doc = _graph("after a Linear")
    doc.training = {"dataset": "mnist-sample"}
    save_graph(doc, tmp_path / "g.loom.json")
    assert main(["train", str(tmp_path / "g.loom.json"), "--batch-size", "1", "--max-steps", "2",
                 "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    bn = next(b for b, blk in doc.blocks.items() if blk.kind == "BatchNorm1d")
    assert f"layerloom train: {bn}: BatchNorm1d normalises each channel" in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()
