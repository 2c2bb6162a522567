"""A plain RNN in ONNX two ways, side by side: one ONNX RNN operator per layer (the `onnx` export,
which imports back as an RNN block) and torch's own export, which unrolls the cell into MatMul, Add
and Tanh per time step (what the int8 exports start from, because those MatMuls quantize). Prints
file size, node count, both int8-dynamic sizes and onnxruntime latency (median, interleaved runs)
at each batch size, with the ratio operator / unrolled.

    python bench/onnx_rnn.py [--preset rnn_classifier] [--threads 1] [--repeats 50]

Timings depend on the machine and on what else runs on it: read them side by side, not as limits.
"""
import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx

from layerloom.presets import preset_path
from layerloom.runtime.export.formats import export_onnx
from layerloom.runtime.export.quantized import quantize_onnx
from layerloom.runtime.export.source import load_source
from layerloom.runtime.latency import onnx_session


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--preset", default="rnn_classifier")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    src = load_source(preset_path(args.preset))
    forms = {"operator": True, "unrolled": False}
    with tempfile.TemporaryDirectory() as tmp:
        files, seconds, int8 = {}, {}, {}
        for name, rnn_operator in forms.items():
            files[name] = Path(tmp) / f"{name}.onnx"
            start = time.perf_counter()
            result = export_onnx(src, files[name], rnn_operator=rnn_operator)
            seconds[name] = time.perf_counter() - start
            assert result.verified, result.line()
            int8[name] = Path(tmp) / f"{name}.int8.onnx"
            quantize_onnx(src, files[name], int8[name], "dynamic", None)
        print(f"{args.preset} ({'×'.join(map(str, src.input_shape))}), onnxruntime with {args.threads} thread(s), "
              f"median of {args.repeats} interleaved runs:")
        rows = [("export (s)", {k: seconds[k] for k in forms}),
                ("file (kB)", {k: files[k].stat().st_size / 1e3 for k in forms}),
                ("nodes", {k: len(onnx.load(str(files[k])).graph.node) for k in forms}),
                ("int8-dynamic file (kB)", {k: int8[k].stat().st_size / 1e3 for k in forms})]
        sessions = {k: onnx_session(files[k], args.threads) for k in forms}
        rng = np.random.default_rng(0)
        for batch in (1, 32, 256):
            feed = {"input": rng.random((batch, *src.input_shape), dtype=np.float32)}
            times = {k: [] for k in forms}
            for k in forms:                       # warm-up
                sessions[k].run(None, feed)
            for _ in range(args.repeats):
                for k in forms:
                    start = time.perf_counter()
                    sessions[k].run(None, feed)
                    times[k].append(time.perf_counter() - start)
            rows.append((f"latency batch {batch} (ms)", {k: statistics.median(v) * 1e3 for k, v in times.items()}))
    print(f"  {'':26s}{'operator':>10s}{'unrolled':>10s}{'ratio':>8s}")
    for label, v in rows:
        print(f"  {label:26s}{v['operator']:10.2f}{v['unrolled']:10.2f}{v['operator'] / v['unrolled']:8.2f}")


if __name__ == "__main__":
    main()
