"""Big edits: blocks selected, copied and pasted into the window in one undoable edit, and how their ids are
picked.

Prints, from one run, for fragments of 1,000 and 4,000 chained blocks:
- paste: Edit ▸ Paste's edit (ids, blocks, wires, canvas items, analysis), into an empty window;
- select all + copy: Edit ▸ Select All then Edit ▸ Copy on the pasted blocks;
- ids at once / one by one: picking the fragment's fresh ids with GraphDocument.new_ids against calling
  new_id once per block (each id taken by the next), in a graph already holding the fragment's blocks.
The last column divides the 4,000-block figure by the 1,000-block one: about 4 is linear, 16 quadratic.
Run: .venv/bin/python bench/paste.py
"""
from __future__ import annotations

import os
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication  # noqa: E402

from layerloom.app import edits  # noqa: E402
from layerloom.app.window import MainWindow  # noqa: E402
from layerloom.graph import GraphDocument  # noqa: E402
from layerloom.graph.fileformat import graph_to_dict  # noqa: E402

SIZES = (1000, 4000)


def chain(n: int) -> GraphDocument:
    doc = GraphDocument("chain")
    last = doc.add_block("Input", {"shape": [8]})
    for i in range(n):
        block = doc.add_block(("ReLU", "Tanh", "Dropout")[i % 3], {}, (i * 10.0, 0.0))
        doc.connect(last, block)
        last = block
    return doc


def one_by_one(doc: GraphDocument, kinds: list[str]) -> list[str]:
    ids: list[str] = []
    for kind in kinds:
        ids.append(doc.new_id(kind, taken=ids))
    return ids


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    app = QApplication.instance() or QApplication([])
    rows = {"paste": [], "select all + copy": [], "ids at once": [], "ids one by one": []}
    win = MainWindow(restore_settings=False)
    for n in SIZES:
        win.session.set_document(GraphDocument())
        fragment = graph_to_dict(chain(n))
        rows["paste"].append(seconds(lambda: edits.paste(win.session, fragment, at=(0, 0))))
        app.processEvents()
        rows["select all + copy"].append(seconds(lambda: (win.editing.select_all(), win.editing.copy())))
        doc = chain(n)
        kinds = [b.kind for b in doc.blocks.values()]
        rows["ids at once"].append(seconds(lambda: doc.new_ids(kinds)))
        rows["ids one by one"].append(seconds(lambda: one_by_one(doc, kinds)))
    win.session.undo_stack.setClean()
    win.close()
    win.deleteLater()
    app.processEvents()
    print(f"{'':16}" + "".join(f"{n:>10,} blocks" for n in SIZES) + f"{'ratio':>10}")
    for name, values in rows.items():
        print(f"{name:16}" + "".join(f"{v:>15.3f} s" for v in values) + f"{values[-1] / values[0]:>10.1f}")


if __name__ == "__main__":
    main()
