"""Trainer extensions: optional pieces that join a training run without growing the loop.

An extension is any object with some of the methods below; the Trainer calls the ones it has, in
the order the extensions were given. Each runs in the training thread. They are how features such
as freezing blocks, starting from trained weights, distillation, training-health statistics,
TensorBoard logs and sweep reporting attach to a run:

    setup(trainer)                    the model is compiled and on its device, the data is loaded;
                                      no optimizer yet (freeze parameters or load weights here)
    loss(trainer, x, logits, y, loss) -> the loss to optimise (default: the given one)
    after_backward(trainer)           gradients exist; the optimizer has not stepped yet
    after_step(trainer, loss_value)   the optimizer stepped; trainer.step counts it
    epoch_end(trainer, row)           the metrics row of an epoch that was just validated and saved
    resumed(trainer)                  the run goes on after a pause (the time paused was no training)
    finish(trainer, summary)          the run ended (finished or stopped), summary.json is written

An extension may raise `TrainingFailed` (from layerloom.runtime.trainer) to end the run with its
message; any other exception also ends the run with a `failed` event, never an escaping exception.
`trainer.emit(event)` sends an extra event to the run's listener.
"""
from __future__ import annotations

HOOKS = ("setup", "loss", "after_backward", "after_step", "epoch_end", "resumed", "finish")


class Extensions:
    """The extensions of one run, with a cheap dispatch: hooks no extension has cost nothing."""

    def __init__(self, extensions=()):
        self.items = list(extensions)
        self.hooks = {name: [getattr(e, name) for e in self.items if callable(getattr(e, name, None))]
                      for name in HOOKS}

    def add(self, extension) -> None:
        """Join one more extension (its hooks run after those already there)."""
        self.items.append(extension)
        for name in HOOKS:
            if callable(getattr(extension, name, None)):
                self.hooks[name].append(getattr(extension, name))

    def has(self, hook: str) -> bool:
        return bool(self.hooks[hook])

    def call(self, hook: str, *args) -> None:
        for fn in self.hooks[hook]:
            fn(*args)

    def loss(self, trainer, x, logits, y, loss):
        for fn in self.hooks["loss"]:
            loss = fn(trainer, x, logits, y, loss)
        return loss
