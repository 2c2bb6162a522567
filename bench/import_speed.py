"""How long `layerloom import torchvision:resnet18` takes: the import itself (trace, map, lay out),
the fidelity check it runs by default (compile, strict load, one forward pass of both networks), and
the whole command in a fresh process (Python and torch start-up included). Each is measured several
times in one run; the median is printed.

    python bench/import_speed.py [--model resnet18] [--repeats 5]

Timings depend on the machine and on what else runs on it: read them side by side, not as limits.
"""
import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from layerloom.graph.importers import import_source
from layerloom.graph.importers.fx_import import check_fidelity


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    source, shape = f"torchvision:{args.model}", (3, 224, 224)
    import_source(source, shape, fidelity=False)                 # warm: torchvision's modules imported once
    only = median_seconds(lambda: import_source(source, shape, fidelity=False), args.repeats)
    result = import_source(source, shape, fidelity=False)
    check = median_seconds(lambda: check_fidelity(result.doc, result.state, result.model, shape), args.repeats)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "model.loom.json"
        command = [sys.executable, "-c", "import sys; from layerloom.app.main import main; sys.exit(main())",
                   "import", source, "--out", str(out)]
        whole = median_seconds(lambda: subprocess.run(command, check=True, capture_output=True), max(1, args.repeats // 2))
    print(f"{source} at {'×'.join(map(str, shape))}, median of {args.repeats}:")
    print(f"  import (trace, map, lay out):          {only:6.2f} s")
    print(f"  fidelity check (compile, load, run):    {check:6.2f} s")
    print(f"  `layerloom import` in a new process:    {whole:6.2f} s")


if __name__ == "__main__":
    main()
