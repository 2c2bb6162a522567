"""Changes: the document's primitive edits as objects that apply themselves and return their inverse.

    inverse = SetParam("conv1", "out_channels", 8).apply(doc)     # doc changed; inverse restores it
    inverse.apply(doc)                                             # returns the change again

A `Transaction` applies changes one by one and keeps their inverses, so an edit made of several
changes can be rolled back as one (when a later change is refused), undone, and redone exactly (ids,
positions and the order of blocks and wires come back as they were). The desktop app's undo command
only adapts a transaction's inverses to QUndoStack; a notebook or a server uses the same objects.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from .document import MISSING, Edge, GraphDocument, on_canvas


def _copy(value):
    return value if value is MISSING else copy.deepcopy(value)


class Change:
    network = True          # False for layout and metadata changes (allowed while the graph trains)

    def apply(self, doc: GraphDocument) -> "Change":
        raise NotImplementedError


@dataclass(frozen=True)
class AddBlock(Change):
    kind: str
    params: dict = field(default_factory=dict)
    pos: tuple = (0.0, 0.0)
    block_id: str | None = None
    index: int | None = None                       # where in the block order (undoing a removal)
    attrs: dict = field(default_factory=dict)      # trainable / group when not the defaults

    def apply(self, doc):
        bid = doc.add_block(self.kind, copy.deepcopy(self.params), self.pos, block_id=self.block_id,
                            index=self.index, **self.attrs)
        return RemoveBlock(bid)


@dataclass(frozen=True)
class RemoveBlock(Change):
    """Removes a block that has no wires (a Transaction disconnects them first, each as its own change)."""
    block_id: str

    def apply(self, doc):
        index = doc.block_index(self.block_id)
        block, _ = doc.remove_block(self.block_id)
        return AddBlock(block.kind, copy.deepcopy(block.params), tuple(block.pos), self.block_id, index,
                        {"trainable": block.trainable, "group": block.group})


@dataclass(frozen=True)
class Connect(Change):
    edge: Edge
    index: int | None = None

    def apply(self, doc):
        e = self.edge
        return Disconnect(doc.connect(e.src, e.dst, e.src_port, e.dst_port, index=self.index))


@dataclass(frozen=True)
class Disconnect(Change):
    edge: Edge

    def apply(self, doc):
        index = doc.edge_index(self.edge)
        doc.disconnect(self.edge)
        return Connect(self.edge, index)


@dataclass(frozen=True)
class SetParam(Change):
    block_id: str
    name: str
    value: Any = MISSING                           # MISSING: back to the default

    def apply(self, doc):
        old = doc.set_param(self.block_id, self.name, _copy(self.value))
        return SetParam(self.block_id, self.name, old)


@dataclass(frozen=True)
class SetBlockAttr(Change):
    block_id: str
    name: str                                      # "trainable" or "group"
    value: Any

    def apply(self, doc):
        return SetBlockAttr(self.block_id, self.name, doc.set_block_attr(self.block_id, self.name, self.value))


@dataclass(frozen=True)
class MoveBlock(Change):
    block_id: str
    pos: tuple
    network = False

    def apply(self, doc):
        return MoveBlock(self.block_id, tuple(doc.move_block(self.block_id, self.pos)))


@dataclass(frozen=True)
class RenameBlock(Change):
    block_id: str
    new_id: str
    entries: tuple = ()           # (id, weights id or None) pairs of doc.weights_ids to set (undo, redo)

    def apply(self, doc):
        before = tuple((k, doc.weights_ids.get(k)) for k in (self.block_id, self.new_id))
        doc.rename_block(self.block_id, self.new_id, dict(self.entries) if self.entries else None)
        return RenameBlock(self.new_id, self.block_id, before)


@dataclass(frozen=True)
class SetMeta(Change):
    key: str                                       # name | description | training | weights
    value: Any
    network = False

    def apply(self, doc):
        return SetMeta(self.key, doc.set_meta(self.key, copy.deepcopy(self.value)))


@dataclass(frozen=True)
class Outcome:
    """What an edit verb did: its value, or the reason it was refused (one sentence a person can act on).
    True when it was done."""
    value: Any = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return not self.reason

    def __bool__(self) -> bool:
        return self.ok


def refused(reason: str) -> Outcome:
    return Outcome(None, reason)


def apply_all(doc: GraphDocument, changes) -> list[Change]:
    """Apply `changes` in order; returns their inverses in the order that undoes them."""
    with doc.settle_order():
        return [c.apply(doc) for c in changes][::-1]


class Transaction:
    """Applies changes now and keeps their inverses. Used as a context manager it rolls everything back
    when the block raises. The verbs mirror the document's primitives and return what they do."""

    def __init__(self, doc: GraphDocument):
        self.doc = doc
        self.inverses: list[Change] = []          # in the order they were made

    def __enter__(self) -> "Transaction":
        return self

    def __exit__(self, kind, value, tb) -> bool:
        if kind is not None:
            self.rollback()
        return False

    def apply(self, change: Change) -> Change:
        inverse = change.apply(self.doc)
        self.inverses.append(inverse)
        return inverse

    @property
    def changed(self) -> bool:
        return bool(self.inverses)

    @property
    def network(self) -> bool:
        """Does this transaction change what the network computes (not only layout or metadata)?"""
        return any(c.network for c in self.inverses)

    def undo_list(self) -> list[Change]:
        """The inverses in the order that undoes the whole transaction."""
        return self.inverses[::-1]

    def rollback(self) -> None:
        apply_all(self.doc, self.undo_list())
        self.inverses.clear()

    # -- verbs -------------------------------------------------------------------------------------
    def add_block(self, kind: str, params: dict | None = None, pos=(0.0, 0.0), block_id: str | None = None, *,
                  trainable: bool = True, group: str = "") -> str:
        attrs = {**({} if trainable else {"trainable": False}), **({"group": str(group)} if group else {})}
        return self.apply(AddBlock(kind, dict(params or {}), (float(pos[0]), float(pos[1])), block_id,
                                   attrs=attrs)).block_id

    def remove_block(self, block_id: str) -> None:
        """Remove a block: its wires first (each its own change), then the block."""
        for edge in list(self.doc.edges_of(block_id)):
            self.disconnect(edge)
        self.apply(RemoveBlock(block_id))

    def connect(self, src: str, dst: str, src_port: int = 0, dst_port: int = 0) -> Edge:
        return self.apply(Connect(Edge(src, dst, src_port, dst_port))).edge

    def disconnect(self, edge: Edge) -> None:
        self.apply(Disconnect(edge))

    def set_param(self, block_id: str, name: str, value: Any = MISSING) -> None:
        self.apply(SetParam(block_id, name, _copy(value)))

    def move_block(self, block_id: str, pos) -> None:
        pos = on_canvas(pos)             # where the document will put it: a drag past the edge is no change
        if tuple(self.doc.block(block_id).pos) != pos:
            self.apply(MoveBlock(block_id, pos))

    def rename_block(self, block_id: str, new_id: str) -> None:
        if new_id != block_id:
            self.apply(RenameBlock(block_id, new_id))

    def set_block_attr(self, block_id: str, name: str, value: Any) -> None:
        self.apply(SetBlockAttr(block_id, name, value))

    def set_meta(self, key: str, value: Any) -> None:
        self.apply(SetMeta(key, value))
