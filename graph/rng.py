"""The process's default CPU random generator, shared by every thread, and a stream of it for one user.

Dropout and data augmentation draw from the default generator, and so does building a network
(`compile_graph`), which forks it to seed its weights and puts it back afterwards. A training run in
one thread and a network built in another (Export, Step, Prune while it trains) used to interleave
there: the build put the generator back over numbers the run had drawn meanwhile, so the run drew
them again and no longer matched the same run trained alone.

`LOCK` is held by whoever uses the default generator: `compile_graph` while it builds, a training
run while it takes a step. A run draws from its own `Stream`: its state goes into the default
generator for each step and comes back out after it, so nothing drawn in between by others (an
unseeded build, say) changes its numbers. Checkpoints keep that state, as they kept the default one.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager

LOCK = threading.RLock()


class Stream:
    """A sequence of the default CPU generator of one's own: started from `seed`, or from `state` (a
    state `torch.get_rng_state()` gave, as a checkpoint holds it)."""

    def __init__(self, seed: int | None = None, state=None):
        import torch
        self.state = state if state is not None else torch.Generator().manual_seed(int(seed)).get_state()

    @contextmanager
    def drawing(self):
        """The default generator is this stream's for the block's duration (others wait for it)."""
        import torch
        with LOCK:
            outside = torch.get_rng_state()
            torch.set_rng_state(self.state)
            try:
                yield
            finally:
                self.state = torch.get_rng_state()
                torch.set_rng_state(outside)
