"""A recurrent graph's ONNX export traced at its Input's length and at a few steps, side by side.

torch.export unrolls recurrent layers over the steps it traces, so tracing a 200-step text model takes
minutes; the `onnx` export traces SHORT_TRACE steps, frees the steps axis and checks the file at the
Input's length and two others. Prints each export's seconds and the ratio full / short.

    python bench/onnx_long_sequence.py [--preset text_gru]

Timings depend on the machine and on what else runs on it: read them side by side, not as limits.
"""
import argparse
import tempfile
import time
from pathlib import Path

from layerloom.presets import preset_path
from layerloom.runtime.export import formats
from layerloom.runtime.export.source import load_source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--preset", default="text_gru")
    args = parser.parse_args()
    src = load_source(preset_path(args.preset))
    seconds = {}
    with tempfile.TemporaryDirectory() as tmp:
        formats.export_onnx(src, Path(tmp) / "warm-up.onnx")          # the exporter's own first-call costs
        for name, short in (("short trace", formats.SHORT_TRACE), ("full trace", 10**9)):
            formats.SHORT_TRACE = short
            start = time.perf_counter()
            result = formats.export_onnx(src, Path(tmp) / f"{name}.onnx")
            seconds[name] = time.perf_counter() - start
            assert result.verified, result.line()
            print(f"{name}: {seconds[name]:.1f} s; {result.notes[-1]}")
    print(f"{args.preset} ({'×'.join(map(str, src.input_shape))}): full / short = "
          f"{seconds['full trace'] / seconds['short trace']:.1f}x")


if __name__ == "__main__":
    main()
