"""What fits in memory: the memory free for training on a device now, and the largest batch whose estimated
peak (memory.py) fits in it.

    available_bytes("cpu")                      # the system's available RAM (CUDA: the device's free memory)
    largest_batch(doc, "adam", "cpu")           # the largest batch size that fits, to within 1 %
"""
from __future__ import annotations

import os

from .memory import cuda_available, estimate_training_memory


def available_bytes(device: str = "cpu") -> int | None:
    """Memory free for training on `device` now: CUDA's free memory, or the system's available RAM."""
    device_type = str(device).split(":")[0]
    if device_type == "cuda":
        if not cuda_available():
            return None
        import torch
        free, _total = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    if device_type != "cpu":
        return None
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def largest_batch(doc, optimizer: str = "adam", device: str = "cpu", budget: int | None = None,
                  analysis=None, data: dict | None = None, limit: int = 1 << 16) -> int | None:
    """The largest batch size (up to `limit`) whose estimated device memory fits in `budget` bytes
    (default: what is available on `device` now), to within 1 %; None when not even a batch of
    one fits or nothing is known.

    Memory grows about linearly with the batch, so two estimates give a first guess; a few more
    (doubling steps, then bisection) pin the answer down."""
    from layerloom.graph import analyze

    analysis = analysis or analyze(doc, data)
    budget = available_bytes(device) if budget is None else budget
    if budget is None:
        return None

    def need(b):
        return estimate_training_memory(doc, b, optimizer, device, analysis=analysis).device_bytes

    a, b = 4, 8
    need_a, need_b = need(a), need(b)
    if need(1) > budget:
        return None
    slope = max((need_b - need_a) / (b - a), 1.0)
    guess = int(min(limit, max(1, (budget - (need_a - slope * a)) // slope)))
    lo, hi = 1, None                       # lo fits; hi (when known) does not
    if need(guess) <= budget:
        lo = guess
        step = max(1, guess // 16)
        while hi is None and lo < limit:
            probe = min(limit, lo + step)
            if need(probe) <= budget:
                lo, step = probe, step * 2
            else:
                hi = probe
        if hi is None:
            return lo
    else:
        hi = guess
    while hi - lo > max(1, lo // 100):     # bisect to within 1 %
        mid = (lo + hi) // 2
        if need(mid) <= budget:
            lo = mid
        else:
            hi = mid
    return lo
