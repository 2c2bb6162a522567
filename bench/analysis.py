"""Re-analysis cost of one edit on a 300-block chain and on ResNet-18.

Prints, from one run, for each graph: a cold full analysis (empty cache), and the re-analysis after
one parameter edit at three places: near the end (one block's output changes), in the middle (half
the graph downstream changes shape and is recomputed) and at the Input (every block recomputed,
never-seen shapes). The last column is cold / edit-near-end: what the per-block cache buys.
Target (issue 2): a single edit well under 50 ms on the 300-block graph.
Run: .venv/bin/python bench/analysis.py
"""
from __future__ import annotations

import statistics
import time

from layerloom.graph import GraphDocument, analyze, load_graph
from layerloom.graph.analysis import CACHE
from layerloom.presets import preset_path


def chain_300() -> GraphDocument:
    doc = GraphDocument("chain-300")
    last = doc.add_block("Input", {"shape": [8, 32, 32]})
    for i in range(99):   # 99 × (Conv2d, BatchNorm2d, ReLU) + Input + Output = 299... plus a Flatten
        for kind, params in (("Conv2d", {"out_channels": 8 + i % 50, "kernel_size": 3, "padding": 1}),
                             ("BatchNorm2d", {}), ("ReLU", {})):
            b = doc.add_block(kind, params)
            doc.connect(last, b)
            last = b
    b = doc.add_block("Flatten")
    doc.connect(last, b)
    doc.connect(b, doc.add_block("Output"))
    return doc


def time_edit(doc, block, param, values) -> float:
    times = []
    for v in values:
        doc.set_param(block, param, v)
        t = time.perf_counter()
        analyze(doc)
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def bench(doc, late, middle, start):
    CACHE.data.clear()
    t = time.perf_counter()
    analyze(doc)
    cold = (time.perf_counter() - t) * 1e3
    return cold, time_edit(doc, *late), time_edit(doc, *middle), time_edit(doc, *start)


def main():
    analyze(chain_300())  # warm up torch's meta kernels once
    rows = []
    doc = chain_300()
    rows.append(("300-block chain", len(doc.blocks), *bench(
        doc, ("conv99", "out_channels", range(60, 67)), ("conv50", "out_channels", range(70, 77)),
        ("input", "shape", [[8, 32, 40 + i] for i in range(5)]))))
    doc = load_graph(preset_path("resnet18"))
    rows.append(("ResNet-18", len(doc.blocks), *bench(
        doc, ("fc1", "out_features", range(11, 18)), ("conv11", "out_channels", range(300, 307)),
        ("input", "shape", [[3, 200 + i, 224] for i in range(5)]))))
    print(f"{'graph':<17}{'blocks':>7}{'cold ms':>9}{'edit@end ms':>13}{'edit@middle ms':>16}"
          f"{'edit@input ms':>15}{'cold/edit@end':>15}")
    for name, n, cold, late, middle, start in rows:
        print(f"{name:<17}{n:>7}{cold:>9.1f}{late:>13.2f}{middle:>16.1f}{start:>15.1f}{cold / late:>14.0f}x")


if __name__ == "__main__":
    main()
