"""Moving a large group on the canvas: an imported network's biggest group (densenet121's `features`,
423 blocks in 66 nested groups) moved by one drag step, and by an undoable move and its undo. Each is
measured with the scene following every block at once (wires and groups laid out after each block:
blocks × wires) and holding the moves until the last block (what the canvas does), side by side. Then
deleting 40 of its blocks and undoing it (the groups catch up once per edit).

    QT_QPA_PLATFORM=offscreen python bench/group_moves.py [--model densenet121] [--repeats 3]

Timings depend on the machine and on what else runs on it: read the ratios, not the numbers.
"""
import argparse
import statistics
import time

from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QApplication


def main() -> None:
    p = argparse.ArgumentParser(allow_abbrev=False)
    p.add_argument("--model", default="densenet121")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    app = QApplication.instance() or QApplication([])
    from layerloom.app.window import MainWindow
    from layerloom.graph.importers import import_source

    doc = import_source(f"torchvision:{args.model}", (3, 64, 64), fidelity=False).doc
    win = MainWindow(restore_settings=False)
    win.resize(1400, 900)
    win.show()
    app.processEvents()
    win.session.set_document(doc)
    scene = win.scene
    big = max(scene.groups.items.values(), key=lambda g: len(g.members))
    start = {b: scene.blocks[b].pos() for b in big.members}
    print(f"{args.model}: {len(doc.blocks)} blocks, {len(doc.edges)} wires, {len(scene.groups.items)} groups; "
          f"moving {big.name} ({len(big.members)} blocks)")

    def step(held: bool, dx: float = 10.0) -> None:
        if held:
            with scene.holding_moves():
                for b, pos in start.items():
                    scene.blocks[b].setPos(pos + QPointF(dx, 0))
        else:
            for b, pos in start.items():
                scene.blocks[b].setPos(pos + QPointF(dx, 0))

    def back() -> None:                                   # untimed: to the start, for the next repeat
        with scene.holding_moves():
            for b, pos in start.items():
                scene.blocks[b].setPos(pos)

    def timed(fn, after=lambda: None) -> float:
        """The median of `repeats` runs of fn, in ms; `after` runs untimed after each."""
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
            after()
        return 1000 * statistics.median(times)

    one_by_one = timed(lambda: step(False), back)
    held = timed(lambda: step(True), back)
    print(f"one drag step: block by block {one_by_one:.0f} ms, held {held:.0f} ms "
          f"({one_by_one / held:.1f}x faster held)")

    from layerloom.app import edits

    def move_and_undo() -> None:
        edits.move_blocks(win.session, {b: (pos.x(), pos.y() + 500) for b, pos in start.items()}, text="Move")
        win.session.undo()
    print(f"an undoable move of {big.name} and its undo: {timed(move_and_undo):.0f} ms")
    some = [b for b in big.members if b in doc.blocks][-40:]
    print(f"deleting {len(some)} of its blocks (one edit, about 150 changes) and the undo: "
          f"{timed(lambda: (edits.delete(win.session, some), win.session.undo())):.0f} ms")
    win.session.undo_stack.clear()          # while the session is alive: clearing tells it the index changed
    win.close()


if __name__ == "__main__":
    main()
