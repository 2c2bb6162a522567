"""Inference latency: median and p90 of repeated calls, and throughput, with the thread count stated.

    from layerloom.runtime.latency import measure, onnx_session
    session = onnx_session("model.onnx", threads=2)
    stats = measure(lambda: session.run(None, feed), batch=32)   # {"median_ms", "p90_ms", ...}

Each call is timed alone with a monotonic clock after a few warm-up calls; the number of timed calls
adapts to a time budget so that a large model at batch 32 does not take minutes. On CUDA the caller
passes `sync=torch.cuda.synchronize` so that the clock stops when the GPU has finished.
"""
from __future__ import annotations

import statistics
import time

BATCHES = (1, 32)


def measure(fn, batch: int, *, warmup: int = 2, repeats: int = 30, min_repeats: int = 5,
            budget_s: float = 1.5, sync=None) -> dict:
    """Time `fn()` (one inference of `batch` samples): median and 90th percentile in ms, samples/s."""
    for _ in range(warmup):
        fn()
    if sync:
        sync()
    times = []
    started = time.perf_counter()
    while len(times) < repeats:
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - t0)
        if len(times) >= min_repeats and time.perf_counter() - started > budget_s:
            break
    median = statistics.median(times)
    p90 = sorted(times)[min(len(times) - 1, int(round(0.9 * (len(times) - 1))))]
    return {"batch": batch, "median_ms": median * 1e3, "p90_ms": p90 * 1e3,
            "samples_per_s": batch / median if median > 0 else float("inf"), "calls": len(times)}


def onnx_session(path, threads: int):
    """An onnxruntime CPU session with `threads` intra-op threads (and one inter-op thread)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnx_latency(session, sample, batches=BATCHES) -> dict:
    """Latency of an onnxruntime session at each batch size; `sample(batch)` gives a numpy input."""
    name = session.get_inputs()[0].name
    out = {}
    for b in batches:
        feed = {name: sample(b)}
        out[str(b)] = measure(lambda: session.run(None, feed), b)
    return out


def describe(stats: dict) -> str:
    """'0.41 ms (p90 0.52), 2,430 samples/s'."""
    return (f"{stats['median_ms']:.2f} ms (p90 {stats['p90_ms']:.2f}), "
            f"{stats['samples_per_s']:,.0f} samples/s")
