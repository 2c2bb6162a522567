"""How many intra-op threads torch uses for training.

Measured on a 2-core machine (LeNet-5, mnist-sample, batch 64): with torch's default of 2 threads
the step rate swung from about 500 to 15,000 samples/s depending on what else ran on the machine
(OpenMP's workers spin and fight the GUI thread and any other process for the two cores), while 1
thread gave a steady 9,000-9,500 samples/s in the main thread and in a background thread alike.
So on machines with few cores Layerloom trains with one intra-op thread and leaves a core to the
GUI; with more cores it uses all but one (up to 8). bench/trainer.py measures the outcome.
The setting is made from the training thread itself, since OpenMP's thread count is per thread.
"""
from __future__ import annotations

import os

import torch


def default_threads() -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if cores <= 2:
        return 1
    return min(8, cores - 1)


def configure(requested: int = 0) -> int:
    """Set torch's intra-op threads for the calling thread's work; returns the number used."""
    n = requested if requested > 0 else default_threads()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n
