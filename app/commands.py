"""Undo commands: every edit in the editor is one QUndoCommand over the document's primitives.

An edit is written once, as a function that calls primitives on a `Recorder`. The recorder applies
each primitive to the document at once (so the scene follows through the document's events) and
remembers the step together with its inverse. The resulting `EditCommand` undoes by applying the
inverses in reverse order and redoes by replaying the steps, so ids and positions stay exactly as
they were. A failing edit is rolled back before anything reaches the undo stack.
"""
from __future__ import annotations

import copy
from typing import Any, Callable

from PySide6.QtGui import QUndoCommand

from layerloom.graph.document import MISSING, Edge, GraphDocument

Step = tuple  # ("add", kind, params, pos, id, index) | ("remove", id) | ("connect", edge, index) | ...


def apply_step(doc: GraphDocument, step: Step) -> Any:
    op = step[0]
    if op == "add":
        _, kind, params, pos, block_id, index, *attrs = step   # attrs: {"trainable", "group"} when not defaults
        return doc.add_block(kind, copy.deepcopy(params), pos, block_id=block_id, index=index,
                             **(attrs[0] if attrs else {}))
    if op == "attr":
        return doc.set_block_attr(step[1], step[2], step[3])
    if op == "remove":
        return doc.remove_block(step[1])
    if op == "connect":
        _, edge, index = step
        return doc.connect(edge.src, edge.dst, edge.src_port, edge.dst_port, index=index)
    if op == "disconnect":
        return doc.disconnect(step[1])
    if op == "param":
        _, block_id, name, value = step
        return doc.set_param(block_id, name, copy.deepcopy(value) if value is not MISSING else MISSING)
    if op == "move":
        return doc.move_block(step[1], step[2])
    if op == "rename":
        return doc.rename_block(step[1], step[2])
    if op == "meta":
        return doc.set_meta(step[1], copy.deepcopy(step[2]))
    raise ValueError(f"unknown step {op}")


class Recorder:
    """The document's primitives, applied now and recorded with their inverses."""

    def __init__(self, doc: GraphDocument):
        self.doc = doc
        self.steps: list[tuple[Step, Step]] = []   # (forward, inverse)

    def _do(self, forward: Step, inverse: Step) -> None:
        self.steps.append((forward, inverse))

    def add_block(self, kind: str, params: dict | None = None, pos=(0.0, 0.0), block_id: str | None = None) -> str:
        bid = self.doc.add_block(kind, copy.deepcopy(params), pos, block_id=block_id)
        block = self.doc.blocks[bid]
        self._do(("add", kind, copy.deepcopy(block.params), block.pos, bid, None), ("remove", bid))
        return bid

    def remove_block(self, block_id: str) -> None:
        """Remove a block: its wires first (each recorded), then the block itself."""
        for edge in list(self.doc.edges_of(block_id)):
            self.disconnect(edge)
        index = list(self.doc.blocks).index(block_id)
        block, _ = self.doc.remove_block(block_id)
        self._do(("remove", block_id), ("add", block.kind, copy.deepcopy(block.params), block.pos, block_id, index,
                                        {"trainable": block.trainable, "group": block.group}))

    def connect(self, src: str, dst: str, src_port: int = 0, dst_port: int = 0) -> Edge:
        edge = self.doc.connect(src, dst, src_port, dst_port)
        self._do(("connect", edge, None), ("disconnect", edge))
        return edge

    def disconnect(self, edge: Edge) -> None:
        index = self.doc.edges.index(edge)
        self.doc.disconnect(edge)
        self._do(("disconnect", edge), ("connect", edge, index))

    def set_param(self, block_id: str, name: str, value: Any = MISSING) -> None:
        old = self.doc.set_param(block_id, name, value)
        self._do(("param", block_id, name, copy.deepcopy(value) if value is not MISSING else MISSING),
                 ("param", block_id, name, old))

    def move_block(self, block_id: str, pos) -> None:
        pos = (float(pos[0]), float(pos[1]))
        if tuple(self.doc.block(block_id).pos) == pos:
            return
        old = self.doc.move_block(block_id, pos)
        self._do(("move", block_id, pos), ("move", block_id, old))

    def rename_block(self, block_id: str, new_id: str) -> None:
        if new_id == block_id:
            return
        self.doc.rename_block(block_id, new_id)
        self._do(("rename", block_id, new_id), ("rename", new_id, block_id))

    def set_block_attr(self, block_id: str, name: str, value: Any) -> None:
        """A block's trainable switch or group."""
        old = self.doc.set_block_attr(block_id, name, value)
        self._do(("attr", block_id, name, value), ("attr", block_id, name, old))

    def set_meta(self, key: str, value: Any) -> None:
        old = self.doc.set_meta(key, value)
        self._do(("meta", key, copy.deepcopy(value)), ("meta", key, old))

    def rollback(self) -> None:
        for _, inverse in reversed(self.steps):
            apply_step(self.doc, inverse)
        self.steps.clear()


class EditCommand(QUndoCommand):
    """One undoable edit made of recorded primitive steps (already applied when pushed)."""

    def __init__(self, doc: GraphDocument, text: str, steps: list[tuple[Step, Step]]):
        super().__init__(text)
        self.doc = doc
        self.steps = list(steps)
        self._applied = True   # the recorder applied the steps; push() must not apply them twice

    @property
    def changes_network(self) -> bool:
        """False for edits of layout and metadata only (moves, name, description)."""
        return any(forward[0] not in ("move", "meta") for forward, _ in self.steps)

    def redo(self) -> None:
        if self._applied:
            return
        for forward, _ in self.steps:
            apply_step(self.doc, forward)
        self._applied = True

    def undo(self) -> None:
        for _, inverse in reversed(self.steps):
            apply_step(self.doc, inverse)
        self._applied = False


def record(doc: GraphDocument, text: str, build: Callable[[Recorder], Any]) -> tuple[EditCommand | None, Any]:
    """Run `build` against a recorder; return (the command, or None if nothing changed, build's result).

    Any exception rolls the document back to where it was and propagates.
    """
    rec = Recorder(doc)
    try:
        result = build(rec)
    except BaseException:
        rec.rollback()
        raise
    if not rec.steps:
        return None, result
    return EditCommand(doc, text, rec.steps), result
