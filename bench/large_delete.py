"""Deleting part of a large graph: the cost of each deleted block as the graph grows, in one run.

A chain of N blocks (N - 1 wires) has its middle quarter deleted through the undo stack (what the
Delete key does), for N = 1,000 and 4,000; the time per deleted block should not grow with N (it
grew with the wires left: blocks x wires). Then undo and redo of the larger one. Read the ratio.
Run: .venv/bin/python bench/large_delete.py
"""
from __future__ import annotations

import os
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication  # noqa: E402

from layerloom.app import edits  # noqa: E402
from layerloom.app.session import Session  # noqa: E402
from layerloom.graph import GraphDocument  # noqa: E402


def chain(n: int) -> GraphDocument:
    doc = GraphDocument("chain")
    last = doc.add_block("Input", {"shape": [4]})
    for i in range(n - 1):
        b = doc.add_block("ReLU", None, (float(i), 0.0))
        doc.connect(last, b)
        last = b
    return doc


def per_block_us(session: Session, n: int) -> tuple[float, float, float]:
    doc = chain(n)
    session.set_document(doc)
    ids = list(doc.blocks)[3 * n // 8: 5 * n // 8]
    t = time.perf_counter()
    edits.delete(session, ids)
    deleted = time.perf_counter() - t
    t = time.perf_counter()
    session.undo()
    undone = time.perf_counter() - t
    t = time.perf_counter()
    session.redo()
    redone = time.perf_counter() - t
    return deleted / len(ids) * 1e6, undone * 1e3, redone * 1e3


def main() -> None:
    app = QApplication.instance() or QApplication(["large-delete"])
    session = Session()
    per_block_us(session, 200)                 # warm
    rows = {n: per_block_us(session, n) for n in (1000, 4000)}
    for n, (us, undo_ms, redo_ms) in rows.items():
        print(f"{n:5,} blocks, middle quarter deleted: {us:7.0f} µs a block  undo {undo_ms:6.0f} ms  "
              f"redo {redo_ms:6.0f} ms")
    print(f"  per-block cost, 4,000 / 1,000 blocks: {rows[4000][0] / rows[1000][0]:.2f}x (1.00: linear; "
          "blocks x wires: about 4x)")
    session.deleteLater()
    app.processEvents()


if __name__ == "__main__":
    main()
