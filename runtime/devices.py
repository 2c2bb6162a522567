"""Which training devices this machine has: the one rule that the trainer (which refuses a run set to a
device it lacks), the memory estimate ("auto" resolved) and the Training panel (its device list and its
readiness check) all read. Qt-free; torch is imported when first asked."""
from __future__ import annotations

LACKING = {"cuda": "no CUDA GPU is available here",
           "mps": "Apple's Metal backend (MPS) is not available here"}


def has(name: str) -> bool:
    """Whether this machine can train on device `name` ("cpu", "cuda" or "mps"; "auto" always can)."""
    import torch
    if name == "cuda":
        return torch.cuda.is_available()
    if name == "mps":
        backend = getattr(torch.backends, "mps", None)
        return bool(backend and backend.is_available())
    return True


def resolve(name: str) -> str:
    """The device a run set to `name` trains on: "auto" is CUDA, then MPS, then the CPU."""
    if name != "auto":
        return name
    return next((d for d in ("cuda", "mps") if has(d)), "cpu")


def missing(name: str) -> str | None:
    """What this machine lacks for a run on device `name` ("no CUDA GPU is available here"), or None when
    it can train there."""
    return None if has(name) else LACKING.get(name, f"{name} is not available here")
