"""Trainer extensions: every hook is called at its point of the run, and a loss hook changes training."""
import torch

from layerloom.runtime.trainer import Trainer, TrainingFailed

from .trainer_helpers import Recorder, mnist_small, small_net


class Counting:
    def __init__(self):
        self.calls = []
        self.grads_seen = 0
        self.initial = None

    def setup(self, trainer):
        self.calls.append("setup")
        self.initial = {k: v.clone() for k, v in trainer.model.state_dict().items()}

    def after_backward(self, trainer):
        self.grads_seen += sum(p.grad is not None for p in trainer.model.parameters())

    def after_step(self, trainer, loss_value):
        self.calls.append(("step", trainer.step))

    def epoch_end(self, trainer, row):
        self.calls.append(("epoch", row["epoch"]))

    def finish(self, trainer, summary):
        self.calls.append(("finish", summary["status"]))


def test_hooks_run_in_order_with_the_run_state(tmp_path):
    ext = Counting()
    rec = Recorder()
    t = Trainer(small_net(dropout=False), {"epochs": 2, "batch_size": 128}, rec, runs_base=tmp_path,
                data=mnist_small(n_train=256, n_val=64), extensions=[ext])
    summary = t.run()
    assert summary["status"] == "finished"
    steps = summary["steps"]
    assert ext.calls[0] == "setup"
    assert [c for c in ext.calls if c[0] == "step"] == [("step", i) for i in range(1, steps + 1)]
    assert [c for c in ext.calls if c[0] == "epoch"] == [("epoch", 1), ("epoch", 2)]
    assert ext.calls[-1] == ("finish", "finished")
    n_params = len(list(t.model.parameters()))
    assert ext.grads_seen == steps * n_params
    assert rec.of("epoch_end")[-1]["epoch"] == 2


def test_a_zero_loss_hook_leaves_the_weights_untouched(tmp_path):
    class Zero(Counting):
        def loss(self, trainer, x, logits, y, loss):
            return loss * 0.0
    ext = Zero()
    t = Trainer(small_net(dropout=False), {"epochs": 1, "batch_size": 128, "optimizer": "sgd",
                                            "weight_decay": 0.0}, None, runs_base=tmp_path,
                data=mnist_small(n_train=256, n_val=64), extensions=[ext])
    t.run()
    after = t.model.state_dict()
    assert all(torch.equal(ext.initial[k], after[k]) for k in after)


def test_an_extension_can_end_the_run_with_its_message(tmp_path):
    class Refuse:
        def setup(self, trainer):
            raise TrainingFailed("the teacher expects 3×32×32 inputs but this graph takes 1×28×28")
    rec = Recorder()
    t = Trainer(small_net(), {"epochs": 1}, rec, runs_base=tmp_path, data=mnist_small(n_train=64, n_val=32),
                extensions=[Refuse()])
    assert t.run() is None
    assert rec.of("failed")[0]["message"] == "the teacher expects 3×32×32 inputs but this graph takes 1×28×28"
