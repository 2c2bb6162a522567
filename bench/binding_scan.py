"""What PySide6's check of every imported module costs the window's process (app/pyside_workarounds.py).

PySide6 reads the whole source of each module imported after it, to see whether the module uses it
(for its opt-in `__feature__` modes), and linecache keeps that text. The window loads torch after Qt,
in the background while the graph is on screen, so every one of torch's modules is read in full.
Each case is a fresh process that loads Qt and then what the window loads in the background
(torch, torchvision, Layerloom's analysis):
  * binding's check: as PySide6 ships;
  * cheap check: with Layerloom's replacement (`scan_imports_cheaply`, applied by `import layerloom.app`).
It reports the time of those imports, the time spent in the check itself, the process's resident
memory and the source text left in linecache. Cases alternate; ratios are of medians.
Run: .venv/bin/python bench/binding_scan.py [--rounds N]
"""
from __future__ import annotations

import argparse
import statistics
import sys

from _child import child_result

CHILD = r"""
import json, linecache, os, sys, time
import PySide6.QtCore, PySide6.QtWidgets
feature = sys.modules["shibokensupport.feature"]
if sys.argv[1] == "cheap":
    import layerloom.app          # Qt is loaded: the package swaps the check
check = feature._mod_uses_pyside
spent = [0.0]
def timed(module):
    t = time.perf_counter()
    try:
        return check(module)
    finally:
        spent[0] += time.perf_counter() - t
feature._mod_uses_pyside = timed
start = time.perf_counter()
import torch, torchvision
import layerloom.graph.analysis
took = time.perf_counter() - start
text = sum(sum(map(len, v[2])) for v in list(linecache.cache.values()) if isinstance(v, tuple) and len(v) > 2)
rss = int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
print("RESULT " + json.dumps({"import_s": took, "check_s": spent[0], "rss_mb": rss / 1e6, "linecache_mb": text / 1e6}))
"""


def run(case: str) -> dict:
    return child_result([sys.executable, "-c", CHILD, case], f"the {case} child", timeout=300)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    rounds = p.parse_args().rounds
    results: dict[str, list[dict]] = {"binding": [], "cheap": []}
    for r in range(rounds):
        for case in (("binding", "cheap") if r % 2 == 0 else ("cheap", "binding")):
            res = run(case)
            results[case].append(res)
            print(f"round {r + 1} {case:7s}: torch+torchvision+analysis imported in {res['import_s']:.2f} s, "
                  f"{res['check_s']:.3f} s of it in the check; resident {res['rss_mb']:.0f} MB, "
                  f"linecache {res['linecache_mb']:.1f} MB", flush=True)
    med = {c: {k: statistics.median(x[k] for x in rs) for k in rs[0]} for c, rs in results.items()}
    b, c = med["binding"], med["cheap"]
    print(f"median binding's check: imports {b['import_s']:.2f} s (check {b['check_s']:.3f} s), "
          f"{b['rss_mb']:.0f} MB resident, {b['linecache_mb']:.1f} MB in linecache")
    print(f"median cheap check    : imports {c['import_s']:.2f} s (check {c['check_s']:.3f} s), "
          f"{c['rss_mb']:.0f} MB resident, {c['linecache_mb']:.1f} MB in linecache")
    print(f"cheap/binding: import time {c['import_s'] / b['import_s']:.2f}x, "
          f"time in the check {c['check_s'] / max(b['check_s'], 1e-9):.3f}x, resident memory "
          f"{c['rss_mb'] / b['rss_mb']:.2f}x ({b['rss_mb'] - c['rss_mb']:.0f} MB less)")


if __name__ == "__main__":
    main()
