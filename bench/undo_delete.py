"""Deleting and pasting a whole graph, and undoing both: 300 blocks against 3,000, in the main window.

Prints, from one run, the best of 3 times to delete every block of a chain, to undo that delete, and to
undo a paste of the whole chain into an empty graph, at 300 and 3,000 blocks, and the 3,000 / 300
ratios. Work that grows with the graph once per block gives about 10x; work done once per block per
block (what undo used to do) gives 100x.
Run: .venv/bin/python bench/undo_delete.py
"""
from __future__ import annotations

import os
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication  # noqa: E402

from layerloom.app import clipboard, edits  # noqa: E402
from layerloom.app.window import MainWindow  # noqa: E402
from layerloom.graph import GraphDocument  # noqa: E402

SIZES = (300, 3000)


def chain(n: int) -> GraphDocument:
    doc = GraphDocument(f"chain-{n}")
    last = doc.add_block("Input", {"shape": [16]})
    for i in range(n - 1):
        b = doc.add_block("ReLU", None, (200.0 * (i % 30), 150.0 * (i // 30)))
        doc.connect(last, b)
        last = b
    return doc


def paste_undo(app: QApplication, window: MainWindow, n: int) -> float:
    window.session.set_document(chain(n))
    frag = clipboard.fragment(window.session.document, list(window.session.document.blocks))
    times = []
    for _ in range(3):
        window.session.set_document(GraphDocument("empty"))
        edits.paste(window.session, frag)
        app.processEvents()
        t = time.perf_counter()
        window.session.undo()
        app.processEvents()
        times.append(time.perf_counter() - t)
        assert not window.session.document.blocks
    return min(times)


def measure(app: QApplication, window: MainWindow, n: int) -> tuple[float, float, float]:
    window.session.set_document(chain(n))
    app.processEvents()
    deletes, undos = [], []
    for _ in range(3):
        ids = list(window.session.document.blocks)
        t = time.perf_counter()
        edits.delete(window.session, ids)
        app.processEvents()
        deletes.append(time.perf_counter() - t)
        t = time.perf_counter()
        window.session.undo()
        app.processEvents()
        undos.append(time.perf_counter() - t)
        assert len(window.session.document.blocks) == n
    return min(deletes), min(undos), paste_undo(app, window, n)


def main() -> None:
    app = QApplication.instance() or QApplication([])
    window = MainWindow()
    times = {n: measure(app, window, n) for n in SIZES}
    small, large = SIZES
    print(f"{'blocks':>8} {'delete s':>9} {'undo s':>8} {'undo paste s':>13}")
    for n, (d, u, p) in times.items():
        print(f"{n:>8} {d:>9.3f} {u:>8.3f} {p:>13.3f}")
    print(f"ratio {large}/{small}: delete {times[large][0] / times[small][0]:.1f}x, "
          f"undo {times[large][1] / times[small][1]:.1f}x, undo paste {times[large][2] / times[small][2]:.1f}x "
          f"(blocks: {large / small:.0f}x)")
    window.session.undo_stack.clear()
    window.close()


if __name__ == "__main__":
    main()
