"""Pruning a trained LeNet-5 by half and fine-tuning one epoch keeps its accuracy on the real digits."""
import torch

from layerloom.graph import compile_graph
from layerloom.runtime.pruning import InitialWeights, prune_run, state_bytes
from layerloom.runtime.trainer import Trainer

from .trainer_helpers import lenet, mnist_small


def test_lenet_with_half_its_channels_pruned_and_fine_tuned_keeps_its_accuracy(tmp_path):
    t = Trainer(lenet(), {"epochs": 3}, None, runs_base=tmp_path)        # the whole mnist-sample set
    assert t.run() is not None
    report = prune_run(t.run_dir, 0.5, blocks=["conv1", "conv2"], finetune_epochs=1, runs_base=tmp_path)
    rows = report.rows
    original, pruned, tuned = rows["original"], rows["pruned"], rows["fine-tuned"]
    assert pruned["macs"] <= 0.6 * original["macs"]
    assert pruned["params"] < 0.6 * original["params"] and pruned["bytes"] < 0.6 * original["bytes"]
    assert report.result.kept.keys() == {"conv1", "conv2"} and len(report.result.kept["conv2"]) == 8
    assert original["val_accuracy"] == t.summary["val_accuracy"]          # measured as the trainer did
    assert tuned["val_accuracy"] >= original["val_accuracy"] - 0.01, report.table()
    assert tuned["macs"] == pruned["macs"] and report.run_dir.is_dir()
    # the fine-tuning run started from the kept weights, not from a fresh initialisation
    fresh = compile_graph(report.result.doc, seed=0).state_dict()
    assert not torch.equal(fresh["conv1.weight"], report.result.weights["conv1.weight"])
    assert "fine-tuned" in report.table() and "MACs" in report.table()


def test_initial_weights_extension_loads_before_the_first_step(tmp_path):
    doc = lenet()
    weights = {k: torch.full_like(v, 0.01) if v.is_floating_point() else v
               for k, v in compile_graph(doc, seed=3).state_dict().items()}
    seen = {}

    class Spy:
        def setup(self, trainer):
            seen.update({k: v.clone() for k, v in trainer.model.state_dict().items()})
    t = Trainer(doc, {"epochs": 1, "max_steps": 1}, None, runs_base=tmp_path, data=mnist_small(128, 64),
                extensions=[InitialWeights(weights), Spy()])
    assert t.run() is not None
    assert all(torch.equal(seen[k], weights[k]) for k in weights)
    assert state_bytes(weights) > 4 * sum(v.numel() for v in weights.values())
