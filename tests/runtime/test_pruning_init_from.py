"""A run that started from other weights (`init_from`) is pruned and fine-tuned from its own trained weights:
neither the fine-tuning nor a later run of the pruned graph goes back to the source `init_from` named."""
import torch

from layerloom.graph import load_graph
from layerloom.runtime.checkpoints import load_checkpoint
from layerloom.runtime.pruning import prune_run
from layerloom.runtime.runs import read_json
from layerloom.runtime.trainer import Trainer

from .trainer_helpers import lenet, mnist_small

UNCHANGED = ("conv1.weight", "conv1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias")


def test_fine_tuning_after_a_prune_starts_from_the_runs_trained_weights_not_its_init_from(tmp_path):
    data = mnist_small(256, 64)
    source = Trainer(lenet(), {"epochs": 1, "max_steps": 5}, None, runs_base=tmp_path / "a", data=data)
    assert source.run() is not None
    doc = lenet()
    doc.training = {**doc.training, "init_from": str(source.run_dir)}    # the graph names the weights to start from
    trained = Trainer(doc, {"epochs": 1, "max_steps": 5, "lr": 0.05}, None, runs_base=tmp_path / "b", data=data)
    assert trained.run() is not None
    a, b = load_checkpoint(source.run_dir).weights, load_checkpoint(trained.run_dir).weights
    assert any(not torch.equal(a[k], b[k]) for k in UNCHANGED)          # training moved them away from the source

    report = prune_run(trained.run_dir, 0.5, tmp_path / "pruned", blocks=["conv2"], finetune_epochs=1,
                       runs_base=tmp_path / "ft", data=data,
                       overrides={"max_steps": 1, "lr": 1e-8, "optimizer": "sgd", "weight_decay": 0.0})
    tuned = load_checkpoint(report.run_dir).weights
    for key in UNCHANGED:       # the layers pruning left whole: the pruned run's weights, one tiny step on
        torch.testing.assert_close(tuned[key], b[key], rtol=0, atol=1e-6, msg=key)
    assert any(not torch.allclose(tuned[k], a[k], rtol=0, atol=1e-4) for k in UNCHANGED)
    assert not read_json(report.run_dir / "config.json").get("init_from")
    # the pruned graph on disk names no init_from: training it again starts from its kept weights too
    saved = load_graph(report.graph_path)
    assert "init_from" not in saved.training
    assert {k: v for k, v in saved.training.items()} == {k: v for k, v in doc.training.items() if k != "init_from"}
