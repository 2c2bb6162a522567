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


# -- the latency report of one model across backends (`layerloom bench`) ---------------------------

def _compare(ref, out) -> dict:
    import numpy as np
    ref, out = np.asarray(ref, dtype=np.float64), np.asarray(out, dtype=np.float64)
    return {"max_abs_diff": float(np.abs(ref - out).max()),
            "top1_agreement": float((ref.argmax(axis=-1) == out.argmax(axis=-1)).mean())}


class BenchCancelled(Exception):
    """The caller asked the benchmark to stop (between two measurements)."""


KEYS = ("torch", "pt2", "onnx", "onnx-int8-dynamic", "onnx-int8-static")   # the CPU formats, in report order
ACCURACY_BATCH = 256


def benchmark(source, batches=BATCHES, threads: int | None = None, repeats: int = 30, budget_s: float = 1.5,
              progress=None, formats=None, cancelled=None) -> dict:
    """Latency (median, p90) and throughput of a run's model at each batch size in torch eager, the
    torch.export program, onnxruntime fp32 and int8 (dynamic; static too when calibration data loads), and
    on CUDA when present (fp32 and fp16/bf16 autocast). Every backend's outputs are compared with torch's
    (the largest difference on one batch; the top-1 agreement on the validation split when it loads, else
    on that batch);
    each row also has the model's size in that format ("size_bytes": the state_dict as safetensors for
    torch, else the file) and, when the validation split loads, its "accuracy" on all of it.

    A format that cannot be made (an ONNX export torch refuses, int8 static without its data set) goes into
    "skipped" with the reason, and the others are still measured.

    `formats`: the KEYS to measure (None: all, and CUDA when present). `cancelled()`: checked between
    measurements; when it turns true, BenchCancelled is raised."""
    import tempfile
    from pathlib import Path

    import torch

    from . import threads as thread_policy
    from .export import load_source
    from .export.formats import export_onnx, export_pt2
    from .export.quantized import ExportError, load_data, quantize_onnx

    src = source if hasattr(source, "model") else load_source(source)
    n_threads = threads or thread_policy.default_threads()
    data = load_data(src, "dynamic")
    pool = data.val_x if data is not None else src.probe(max(batches), seed=2)

    def sample(b):
        reps = -(-b // len(pool))
        return pool.repeat(reps, *([1] * (pool.dim() - 1)))[:b].contiguous()

    check = sample(max(batches))
    with torch.no_grad():
        reference = src.model(check)
        # agreement is counted on the samples the accuracy is: "top-1 same 100 %" beside two accuracies
        # that differ read as a contradiction when it was counted on one batch
        predicted = data.predictions(src.model, ACCURACY_BATCH) if data is not None else None
    report = {"model": src.metadata["graph_name"], "source": src.metadata["source"], "threads": n_threads,
              "batches": list(batches), "samples": "validation" if data is not None else "random",
              "reference_abs_max": float(reference.abs().max()),
              "backends": [], "skipped": []}

    def stop_if_cancelled():
        if cancelled is not None and cancelled():
            raise BenchCancelled("the benchmark was cancelled")

    def wanted(key):
        return formats is None or key in formats

    def time_all(name, key, call, to_input=lambda x: x, sync=None, compare=True, size=None):
        stop_if_cancelled()
        if progress:
            progress(name)
        row = {"backend": name, "key": key, "latency": {}, "size_bytes": size}
        for b in batches:
            x = to_input(sample(b))
            row["latency"][str(b)] = measure(lambda: call(x), b, repeats=repeats, budget_s=budget_s, sync=sync)
            stop_if_cancelled()
        if compare:
            row.update(_compare(reference.float().cpu().numpy(), _numpy(call(to_input(check)))))
        if data is not None:
            mine = data.predictions(lambda x: _numpy(call(to_input(x.contiguous()))), ACCURACY_BATCH)
            row["accuracy"] = float((mine == data.val_y).double().mean())
            if compare:
                row["top1_agreement"] = float((mine == predicted).double().mean())
        report["backends"].append(row)

    previous = torch.get_num_threads()
    thread_policy.use_threads(n_threads)
    try:
        with tempfile.TemporaryDirectory(prefix="layerloom-bench-") as work, torch.no_grad():
            work = Path(work)
            if wanted("torch"):
                time_all("torch eager", "torch", src.model, size=_state_bytes(src.model))
            if wanted("pt2"):
                stop_if_cancelled()
                export_pt2(src, work / "model.pt2")
                program = torch.export.load(str(work / "model.pt2")).module()
                time_all("torch.export program (.pt2)", "pt2", program, size=(work / "model.pt2").stat().st_size)
            variants, onnx_failed = [], None
            if any(wanted(k) for k in KEYS[2:]):
                stop_if_cancelled()
                try:
                    export_onnx(src, work / "model.onnx")
                except ExportError as exc:      # the torch rows stand; the ONNX ones are said skipped, and why
                    onnx_failed = str(exc)
                    if wanted("onnx"):
                        report["skipped"].append({"backend": "onnxruntime fp32", "why": onnx_failed})
                if wanted("onnx") and onnx_failed is None:
                    variants.append(("onnxruntime fp32", "onnx", work / "model.onnx"))
            for mode in ("dynamic", "static"):
                if not wanted(f"onnx-int8-{mode}"):
                    continue
                stop_if_cancelled()
                try:
                    if onnx_failed is not None:
                        raise ExportError(f"it is quantized from the fp32 ONNX model, which cannot be made: "
                                          f"{onnx_failed}")
                    calibration = (data if data is not None else load_data(src, "static")) if mode == "static" \
                        else None       # (no data set: load_data says why, as `layerloom export` does)
                    quantize_onnx(src, work / "model.onnx", work / f"{mode}.onnx", mode, calibration)
                    variants.append((f"onnxruntime int8 {mode}", f"onnx-int8-{mode}", work / f"{mode}.onnx"))
                except ExportError as exc:
                    report["skipped"].append({"backend": f"onnxruntime int8 {mode}", "why": str(exc)})
            for name, key, path in variants:
                session = onnx_session(path, n_threads)
                feed_name = session.get_inputs()[0].name
                time_all(name, key, lambda x, s=session, n=feed_name: s.run(None, {n: x})[0],
                         to_input=lambda x: x.numpy(), size=path.stat().st_size)
            report["cuda"] = _cuda_rows(src, time_all) if formats is None or set(KEYS) <= set(formats) else \
                {"available": False, "note": "CUDA rows are measured when every format is chosen"}
    finally:
        thread_policy.use_threads(previous)
    return report


def _state_bytes(model) -> int:
    from safetensors.torch import save
    return len(save({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}))


def _numpy(out):
    import torch
    out = out[0] if isinstance(out, (tuple, list)) else out
    return out.detach().float().cpu().numpy() if isinstance(out, torch.Tensor) else out


def _cuda_rows(src, time_all) -> dict:
    import copy

    import torch

    if not torch.cuda.is_available():
        return {"available": False, "note": "no CUDA GPU here: the CUDA fp32 and fp16/bf16 autocast rows were skipped"}
    model = copy.deepcopy(src.model).to("cuda").eval()
    sync = torch.cuda.synchronize
    to_cuda = lambda x: x.to("cuda")   # noqa: E731
    time_all("torch CUDA fp32", "cuda-fp32", model, to_cuda, sync)
    dtypes = [("fp16", torch.float16)] + ([("bf16", torch.bfloat16)] if torch.cuda.is_bf16_supported() else [])
    for label, dtype in dtypes:
        def call(x, dtype=dtype):
            with torch.autocast("cuda", dtype=dtype):
                return model(x)
        time_all(f"torch CUDA {label} autocast", f"cuda-{label}", call, to_cuda, sync)
    return {"available": True, "device": torch.cuda.get_device_name(0)}


def size_text(n) -> str:
    """'262.3 kB', '44.8 MB', or '–' when not known."""
    if n is None:
        return "–"
    return f"{n / 1e6:.1f} MB" if n >= 1e7 else f"{n / 1e3:.1f} kB"


def percent_text(x) -> str:
    return "–" if x is None else f"{x * 100:.2f} %"


def report_table(report: dict) -> str:
    """The report as a fixed-width table, one row per backend."""
    batches = [str(b) for b in report["batches"]]
    head = f"{'backend':30}{'size':>11}" + "".join(f"{'batch ' + b + ' median/p90 ms':>26}" for b in batches) + \
           f"{'samples/s @' + batches[-1]:>16}{'max |Δ| vs torch':>18}{'top-1 same':>12}{'accuracy':>10}"
    lines = [f"{report['model']}: {report['threads']} CPU thread(s), inputs: {report['samples']} samples", head]
    for row in report["backends"]:
        lat = row["latency"]
        cells = "".join(f"{lat[b]['median_ms']:>16.3f} / {lat[b]['p90_ms']:<7.3f}" for b in batches)
        lines.append(f"{row['backend']:30}{size_text(row.get('size_bytes')):>11}{cells}"
                     f"{lat[batches[-1]]['samples_per_s']:>16,.0f}"
                     f"{row.get('max_abs_diff', float('nan')):>18.2e}{row.get('top1_agreement', 0) * 100:>11.1f}%"
                     f"{percent_text(row.get('accuracy')):>10}")
    for s in report["skipped"]:
        lines.append(f"{s['backend']}: skipped ({s['why']})")
    cuda = report.get("cuda") or {}
    lines.append(f"CUDA: {cuda.get('device')}" if cuda.get("available") else f"CUDA: {cuda.get('note', 'not measured')}")
    return "\n".join(lines)
