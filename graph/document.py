"""The graph document: blocks, wires and the primitive edits that change them.

Every change goes through one of a few reversible primitives (add_block, remove_block, connect,
disconnect, set_param, move_block, rename_block, set_meta). Each returns what is needed to undo
it and tells the observers with a plain `Event`. Qt never appears here: the editor's undo
commands call these primitives and its scene listens to the events.
"""
from __future__ import annotations

import copy
import keyword
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from . import reserved_names
from .blocks import REGISTRY, get_kind
from .groups import clean_path

POSITION_LIMIT = 10_000_000     # a block further from the origin on the canvas than this: the loader refuses it

MISSING = object()  # "no explicit value": the parameter takes its default

_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


class GraphEditError(ValueError):
    """An edit that cannot be made (unknown block, port out of range, taken id...)."""


@dataclass
class Block:
    id: str
    kind: str
    params: dict = field(default_factory=dict)   # only explicitly set values; the rest are defaults
    pos: tuple[float, float] = (0.0, 0.0)
    trainable: bool = True      # False: training leaves its weights (and norm statistics) as they are
    group: str = ""             # module path it was imported from ("layer1.0"), "" for none

    def full_params(self) -> dict:
        return get_kind(self.kind).full_params(self.params)


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    src_port: int = 0
    dst_port: int = 0


@dataclass(frozen=True)
class Event:
    """What changed. `type` is one of: block_added, block_removed, edge_added, edge_removed,
    param_changed, block_moved, block_renamed, block_changed (trainable/group: `name`), meta_changed,
    reset."""
    type: str
    block: str | None = None
    edge: Edge | None = None
    old: Any = None        # previous value / previous id
    name: str | None = None  # parameter or metadata key


def on_canvas(pos) -> tuple[float, float]:
    """`pos` as a place the file format keeps: each coordinate within POSITION_LIMIT of the origin (less one,
    so that a saved value rounded to 2 decimals stays within), NaN at 0. add_block and move_block put every
    block there, so no edit (a paste or duplicate far out, a drag) makes a file that cannot be opened again."""
    edge = float(POSITION_LIMIT - 1)
    return tuple(0.0 if v != v else min(edge, max(-edge, v)) for v in (float(pos[0]), float(pos[1])))


def id_problem(block_id: Any) -> str | None:
    """Why a string cannot be a block id, or None when it can."""
    if not isinstance(block_id, str) or not _ID_RE.fullmatch(block_id):
        return ("a block id must start with a letter and use only letters, digits and _ "
                "(at most 64 characters)")
    if keyword.iskeyword(block_id) or block_id in ("self", "torch"):
        return f'"{block_id}" is a reserved word in Python'
    if block_id in reserved_names.module_attributes():
        return f'"{block_id}" is the name of a torch.nn.Module attribute'
    if block_id in reserved_names.code_names():
        return f'"{block_id}" is a name the generated code already uses (a Python builtin or one of torch.fx\'s)'
    return None


class GraphDocument:
    def __init__(self, name: str = "Untitled", description: str = "", training: dict | None = None):
        self.name = name
        self.description = description
        self.training: dict = dict(training or {})
        self.sweep: dict = {}             # the graph file's `sweep` section (see layerloom.runtime.sweeps)
        self.collapsed: list[str] = []    # the groups shown as one card (module paths, see groups.py)
        self.blocks: dict[str, Block] = {}
        self.edges: list[Edge] = []
        self.revision = 0
        self.locked: str | None = None   # why the network cannot change now (e.g. a training run), or None
        # Initial weights: a safetensors file named relative to the graph file's folder (see weights.py)
        self.weights: str | None = None
        # A renamed block's id in that weights file: {block id: its id when the weights were written}, so
        # that a rename keeps the block's weights (graph/weights.py: read_graph_weights)
        self.weights_ids: dict[str, str] = {}
        self.path: str | None = None     # the file this document was loaded from or saved to, if any
        self._observers: list[Callable[[Event], None]] = []
        self._order: list[str] | None = None       # the block order while settle_order() defers it
        self._wire_set: tuple[tuple, set] | None = None   # (what it was taken from, the wires as a set)
        self._wires_at: tuple | None = None      # (the wire list, its length, {block: its wires}): edges_of
        self._positions: tuple | None = None     # (the wire list, {id(wire): where it was}): edge_index
        self._block_at: tuple | None = None      # (the deferred block order, {block: where it was})

    # -- observers --------------------------------------------------------------------------
    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        self._observers.append(callback)

        def unsubscribe():
            if callback in self._observers:
                self._observers.remove(callback)
        return unsubscribe

    def _emit(self, event: Event) -> None:
        self.revision += 1
        for cb in list(self._observers):
            cb(event)

    @contextmanager
    def settle_order(self):
        """Many blocks put back at their places (undoing the delete of thousands): each joins the end of the
        dict at once and the block order is rebuilt once at the end, not once per block (blocks x blocks)."""
        if self._order is not None:
            yield
            return
        self._order = list(self.blocks)
        try:
            yield
        finally:
            order, self._order = self._order, None
            if order != list(self.blocks):
                self.blocks = {k: self.blocks[k] for k in order if k in self.blocks}

    def block_index(self, block_id: str) -> int:
        """Where the block is in the block order."""
        order = self._order
        if order is None:
            return list(self.blocks).index(block_id)
        # while the order is deferred, where each block was is kept: blocks removed from the back (a delete
        # of hundreds) are each found at once; a stale place fails its check and is looked up anew
        at = self._block_at
        i = at[1].get(block_id) if at is not None and at[0] is order else None
        if i is None or i >= len(order) or order[i] != block_id:
            self._block_at = (order, {b: i for i, b in enumerate(order)})
            i = self._block_at[1].get(block_id)
        return i if i is not None else order.index(block_id)

    def has_wire(self, edge: Edge) -> bool:
        """Is this exact wire in the graph? (A set kept beside the list: a paste or undo of thousands of wires
        would otherwise scan every wire for each.)"""
        key = (id(self.edges), len(self.edges))
        if self._wire_set is None or self._wire_set[0] != key:
            self._wire_set = (key, set(self.edges))
        return edge in self._wire_set[1]

    def edge_index(self, edge: Edge) -> int:
        """Where a wire is in the wire list (ValueError: not there). The very object is looked for first,
        by its id: comparing it field by field with every wire before it made undoing a paste of thousands
        of wires take seconds. An undo takes the last wire first and a delete the first: both ends are tried
        before the whole list."""
        edges = self.edges
        if edges and edges[-1] is edge:
            return len(edges) - 1
        if edges and edges[0] is edge:
            return 0
        # where each wire was, kept while wires are taken out from the back: deleting many wires does one
        # pass over the list, not one per wire (a stale place is seen by its identity check and rebuilt)
        if self._positions is None or self._positions[0] is not edges:
            self._positions = (edges, {id(e): i for i, e in enumerate(edges)})
        i = self._positions[1].get(id(edge))
        if i is not None and i < len(edges) and edges[i] is edge:
            return i
        self._positions = (edges, {id(e): i for i, e in enumerate(edges)})
        i = self._positions[1].get(id(edge))
        return i if i is not None else edges.index(edge)

    # -- queries ------------------------------------------------------------------------------
    def block(self, block_id: str) -> Block:
        try:
            return self.blocks[block_id]
        except KeyError:
            raise GraphEditError(f'there is no block "{block_id}"') from None

    def edges_into(self, block_id: str) -> list[Edge]:
        return [e for e in self.edges if e.dst == block_id]

    def edges_from(self, block_id: str) -> list[Edge]:
        return [e for e in self.edges if e.src == block_id]

    def edges_of(self, block_id: str) -> list[Edge]:
        """The wires into and out of a block, in wire order. An index by block is kept beside the wire list
        while wires are added at its end or taken out: removing hundreds of blocks from a large graph
        would otherwise scan every wire for each block (blocks x wires)."""
        at = self._wires_at
        if at is None or at[0] is not self.edges or at[1] != len(self.edges):
            index: dict[str, list[Edge]] = {}
            for e in self.edges:
                index.setdefault(e.src, []).append(e)
                if e.dst != e.src:
                    index.setdefault(e.dst, []).append(e)
            self._wires_at = at = (self.edges, len(self.edges), index)
        return list(at[2].get(block_id, ()))

    def _wires_at_follow(self, edge: Edge, added: bool, before: int) -> None:
        """Keep the index by block in step with one wire added at the end or taken out (`before`: the wire
        list's length before); any other change (a wire put back in the middle) drops it."""
        at = self._wires_at
        if at is None or at[0] is not self.edges or at[1] != before:
            self._wires_at = None
            return
        for b in dict.fromkeys((edge.src, edge.dst)):
            wires = at[2].setdefault(b, [])
            if added:
                wires.append(edge)
            else:
                del wires[next(i for i, e in enumerate(wires) if e is edge or e == edge)]
        self._wires_at = (self.edges, len(self.edges), at[2])

    def input_count(self, block_id: str) -> int:
        b = self.block(block_id)
        return get_kind(b.kind).input_count(b.full_params())

    def output_count(self, block_id: str) -> int:
        return get_kind(self.block(block_id).kind).outputs

    def to_networkx(self):
        """The graph as a networkx.MultiDiGraph (networkx is imported here: the window opens without it)."""
        import networkx as nx
        g = nx.MultiDiGraph()
        g.add_nodes_from(self.blocks)
        for e in self.edges:
            g.add_edge(e.src, e.dst, src_port=e.src_port, dst_port=e.dst_port)
        return g

    def new_id(self, kind: str, taken: Iterable[str] = ()) -> str:
        """A readable, unused id for a new block of `kind`: conv1, conv2, fc3..."""
        return self.new_ids([kind], taken)[0]

    def new_ids(self, kinds: Iterable[str], taken: Iterable[str] = ()) -> list[str]:
        """Ids for several new blocks, as new_id would give them one after the other (each id taken by the
        next), in one look at the ids in use per prefix: a paste of thousands of blocks stays quick."""
        used = set(self.blocks) | set(taken)
        last: dict[str, int] = {}            # prefix -> the highest number after it in use
        out = []
        for kind in kinds:
            prefix = get_kind(kind).prefix if kind in REGISTRY else kind.lower()
            if kind in ("Input", "Output") and prefix not in used:
                new = prefix
            else:
                if prefix not in last:
                    pattern = re.compile(re.escape(prefix) + r"(\d+)")
                    last[prefix] = max((int(m.group(1)) for b in used if (m := pattern.fullmatch(b))), default=0)
                n = last[prefix] + 1
                while f"{prefix}{n}" in used:
                    n += 1
                last[prefix], new = n, f"{prefix}{n}"
            used.add(new)
            out.append(new)
        return out

    def copy(self) -> "GraphDocument":
        """A detached deep copy (no observers)."""
        other = GraphDocument(self.name, self.description, copy.deepcopy(self.training))
        other.sweep = copy.deepcopy(self.sweep)
        other.collapsed = list(self.collapsed)
        other.blocks = {k: Block(b.id, b.kind, copy.deepcopy(b.params), tuple(b.pos), b.trainable, b.group)
                        for k, b in self.blocks.items()}
        other.edges = list(self.edges)
        other.weights, other.path = self.weights, self.path
        other.weights_ids = dict(self.weights_ids)
        return other

    # -- read-only while something depends on the network ----------------------------------------
    def lock(self, reason: str) -> None:
        """Refuse edits that change the network (blocks, wires, parameters, ids) with GraphEditError(reason).

        Positions and the graph's name, description and training section stay editable. A copy is
        never locked.
        """
        self.locked = str(reason)

    def unlock(self) -> None:
        self.locked = None

    def _check_unlocked(self) -> None:
        if self.locked:
            raise GraphEditError(self.locked)

    # -- primitive edits ------------------------------------------------------------------------
    def add_block(self, kind: str, params: dict | None = None, pos=(0.0, 0.0),
                  block_id: str | None = None, index: int | None = None, *, trainable: bool = True,
                  group: str = "") -> str:
        """Add a block (at the end of the block order, or at `index`: undo puts a block back where it was)."""
        self._check_unlocked()
        if kind not in REGISTRY:
            raise GraphEditError(f'unknown block kind "{kind}"')
        params = dict(params or {})
        known = get_kind(kind).param_names
        for name in params:
            if name not in known:
                raise GraphEditError(f'{kind} has no parameter "{name}" (it has: {", ".join(known) or "none"})')
        if block_id is None:
            block_id = self.new_id(kind)
        elif block_id in self.blocks:
            raise GraphEditError(f'the id "{block_id}" is already taken')
        elif (why := id_problem(block_id)):
            raise GraphEditError(why)
        block = Block(block_id, kind, copy.deepcopy(params), on_canvas(pos), bool(trainable), clean_path(str(group)))
        if self._order is not None:
            self._order.insert(len(self._order) if index is None else max(0, index), block_id)
            self.blocks[block_id] = block
        elif index is None or index >= len(self.blocks):
            self.blocks[block_id] = block
        else:
            items = list(self.blocks.items())
            items.insert(max(0, index), (block_id, block))
            self.blocks = dict(items)
        self._emit(Event("block_added", block=block_id))
        return block_id

    def remove_block(self, block_id: str) -> tuple[Block, list[Edge]]:
        """Remove a block and every wire touching it; returns both for undo."""
        self._check_unlocked()
        block = self.block(block_id)
        removed = self.edges_of(block_id)
        for e in removed:
            self.disconnect(e)
        del self.blocks[block_id]
        if self._order is not None:
            del self._order[self.block_index(block_id)]
        self._emit(Event("block_removed", block=block_id, old=block))
        return block, removed

    def connect(self, src: str, dst: str, src_port: int = 0, dst_port: int = 0,
                index: int | None = None) -> Edge:
        """Add a wire (at the end of the wire list, or at `index`)."""
        self._check_unlocked()
        self.block(src), self.block(dst)
        if src == dst:
            raise GraphEditError(f"{src} cannot be wired into itself")
        if not 0 <= src_port < self.output_count(src):
            raise GraphEditError(f"{src} has no output port {src_port}")
        if not 0 <= dst_port < self.input_count(dst):
            raise GraphEditError(f"{dst} has no input port {dst_port}")
        edge = Edge(src, dst, src_port, dst_port)
        if self.has_wire(edge):
            raise GraphEditError(f"{src} is already wired to {dst}")
        before = len(self.edges)
        if index is None or index >= before:
            self.edges.append(edge)
            self._wires_at_follow(edge, True, before)
        else:
            self.edges.insert(max(0, index), edge)
            self._wires_at = None
        self._wire_set[1].add(edge)
        self._wire_set = ((id(self.edges), len(self.edges)), self._wire_set[1])
        self._emit(Event("edge_added", edge=edge, block=dst))
        return edge

    def disconnect(self, edge: Edge) -> Edge:
        self._check_unlocked()
        in_step = self._wire_set is not None and self._wire_set[0] == (id(self.edges), len(self.edges))
        before = len(self.edges)
        try:
            index = self.edge_index(edge)
        except ValueError:
            raise GraphEditError(f"there is no wire from {edge.src} to {edge.dst}") from None
        edge = self.edges[index]
        del self.edges[index]
        self._wires_at_follow(edge, False, before)
        if in_step:
            self._wire_set[1].discard(edge)
            self._wire_set = ((id(self.edges), len(self.edges)), self._wire_set[1])
        self._emit(Event("edge_removed", edge=edge, block=edge.dst))
        return edge

    def set_param(self, block_id: str, name: str, value: Any = MISSING) -> Any:
        """Set (or with MISSING, reset to default) one parameter; returns the old explicit value."""
        self._check_unlocked()
        block = self.block(block_id)
        kind = get_kind(block.kind)
        if name not in kind.param_names:
            raise GraphEditError(f'{block.kind} has no parameter "{name}"')
        old = block.params.get(name, MISSING)
        if value is MISSING:
            block.params.pop(name, None)
        else:
            block.params[name] = copy.deepcopy(value)
        self._emit(Event("param_changed", block=block_id, name=name, old=old))
        return old

    def move_block(self, block_id: str, pos) -> tuple[float, float]:
        block = self.block(block_id)
        old = block.pos
        block.pos = on_canvas(pos)
        self._emit(Event("block_moved", block=block_id, old=old))
        return old

    def rename_block(self, block_id: str, new_id: str, entries: dict | None = None) -> str:
        """Give a block a new id. Its tensors in the graph's weights file keep their keys: `weights_ids` says
        which id they are under. `entries`: what `weights_ids` holds for the two ids afterwards ({id: weights
        id or None}), given by an undo to restore exactly what was; by default the block's entry moves."""
        self._check_unlocked()
        block = self.block(block_id)
        if new_id == block_id:
            return block_id
        if new_id in self.blocks:
            raise GraphEditError(f'the id "{new_id}" is already taken')
        if (why := id_problem(new_id)):
            raise GraphEditError(why)
        self.blocks = {(new_id if k == block_id else k): v for k, v in self.blocks.items()}
        self._wire_set = None
        if self._order is not None:
            self._order[self._order.index(block_id)] = new_id
        block.id = new_id
        if entries is None:
            in_weights = self.weights_ids.get(block_id, block_id)
            claimed = in_weights == block_id and block_id in self.weights_ids.values()   # another's tensors
            entries = {block_id: None, new_id: None if claimed or in_weights == new_id else in_weights}
        for key, value in entries.items():
            if value is None:
                self.weights_ids.pop(key, None)
            else:
                self.weights_ids[key] = value
        self.edges = [Edge(new_id if e.src == block_id else e.src, new_id if e.dst == block_id else e.dst,
                           e.src_port, e.dst_port) for e in self.edges]
        self._emit(Event("block_renamed", block=new_id, old=block_id))
        return block_id

    def set_block_attr(self, block_id: str, name: str, value: Any) -> Any:
        """Set a block's `trainable` (bool) or `group` (module path text); returns the old value."""
        self._check_unlocked()
        block = self.block(block_id)
        if name == "trainable" and isinstance(value, bool):
            pass
        elif name == "group" and isinstance(value, str):
            pass
        else:
            raise GraphEditError(f"a block's {name} cannot be set to {value!r}: trainable takes true/false, "
                                 "group takes text")
        old = getattr(block, name)
        setattr(block, name, clean_path(value) if name == "group" else value)
        self._emit(Event("block_changed", block=block_id, name=name, old=old))
        return old

    def set_meta(self, key: str, value: Any) -> Any:
        """Change the graph's name, description, training or sweep section, its weights file (and
        `weights_ids`, which describes it) or its collapsed groups; returns the old value."""
        if key not in ("name", "description", "training", "weights", "weights_ids", "sweep", "collapsed"):
            raise GraphEditError(f"unknown graph property {key}")
        old = getattr(self, key)
        setattr(self, key, copy.deepcopy(value))
        self._emit(Event("meta_changed", name=key, old=old))
        return old
