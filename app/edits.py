"""The editor's verbs: each is one undoable edit built from document primitives.

The canvas, the inspector, the menus and the diagnostics panel all call these; none of them edits
the document or the scene items directly. Each returns an `Outcome`: true with its value when done,
false with the reason when refused (a locked graph, a value out of range, a taken id, a cycle).
"""
from __future__ import annotations

from typing import Any, Iterable

from layerloom.graph.blocks import get_kind
from layerloom.graph.changes import Outcome, refused
from layerloom.graph.document import MISSING, Edge, GraphDocument, GraphEditError
from layerloom.graph.fileformat import MAX_BLOCKS, MAX_EDGES, graph_from_dict
from layerloom.graph.groups import group_names, members, parents, with_collapsed
from layerloom.graph.layout import auto_layout as plan_layout
from layerloom.graph.params import ParamError

from .session import Session


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def downstream(doc: GraphDocument, block_id: str, reverse: bool = False) -> set[str]:
    """Every block reachable from `block_id` along wires (upstream with reverse=True), itself included."""
    nexts: dict[str, list[str]] = {}
    for e in doc.edges:
        a, b = (e.dst, e.src) if reverse else (e.src, e.dst)
        nexts.setdefault(a, []).append(b)
    seen, stack = {block_id}, [block_id]
    while stack:
        for nxt in nexts.get(stack.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def wire_problem(doc: GraphDocument, src: str, src_port: int, dst: str, dst_port: int) -> str | None:
    """Why src→dst cannot be wired (None when it can): same block, or a cycle."""
    for b in (src, dst):
        if b not in doc.blocks:
            return f'there is no block "{b}"'
    if src == dst:
        return f"{src} cannot be wired into itself"
    if src in downstream(doc, dst):
        return f"wiring {src} into {dst} would make a cycle ({dst} already feeds {src})"
    if not 0 <= src_port < doc.output_count(src) or not 0 <= dst_port < doc.input_count(dst):
        return "there is no such port"
    return None


def add_block(session: Session, kind: str, pos, params: dict | None = None) -> Outcome:
    return session.edit(f"Add {kind}", lambda r: r.add_block(kind, params, pos))


def connect(session: Session, src: str, src_port: int, dst: str, dst_port: int) -> Outcome:
    """Wire an output into an input; a wire already in that input is replaced in the same step."""
    doc = session.document
    why = wire_problem(doc, src, src_port, dst, dst_port)
    if why:
        session.message.emit(f"Cannot connect: {why}.")
        return refused(why)
    edge = Edge(src, dst, src_port, dst_port)
    if edge in doc.edges:
        return Outcome(edge)
    old = [e for e in doc.edges_into(dst) if e.dst_port == dst_port]

    def build(r):
        for e in old:
            r.disconnect(e)
        return r.connect(src, dst, src_port, dst_port)
    text = f"Connect {src} → {dst}" if not old else f"Rewire {dst} from {old[0].src} to {src}"
    return session.edit(text, build)


def wires_into(doc: GraphDocument, inside: Iterable[str], source: tuple[str, int]) -> list[Edge]:
    """The wires that carry output `source` (block, port) to blocks of `inside`."""
    inside = set(inside)
    return [e for e in doc.edges if (e.src, e.src_port) == tuple(source) and e.dst in inside]


def feed_group(session: Session, name: str, old: tuple[str, int], new: tuple[str, int]) -> Outcome:
    """A collapsed group's input takes another output: every wire that carries output `old` (block, port)
    into group `name` carries `new` instead, in one step (what wiring into the card's input port does)."""
    doc = session.document
    inside = set(members(doc).get(name, ()))
    edges = wires_into(doc, inside, old)
    if not edges:
        why = f"nothing from {old[0]} goes into {name}"
    elif new[0] in inside:
        why = f"{new[0]} is inside {name}"
    else:
        why = next((w for e in edges if (w := wire_problem(doc, new[0], new[1], e.dst, e.dst_port))), None)
    if why:
        session.message.emit(f"Cannot connect: {why}.")
        return refused(why)
    if tuple(new) == tuple(old):
        return Outcome(edges)

    def build(r):
        for e in edges:
            r.disconnect(e)
        return [r.connect(new[0], e.dst, new[1], e.dst_port) for e in edges]
    return session.edit(f"Rewire {name} from {old[0]} to {new[0]}", build)


def delete(session: Session, block_ids: Iterable[str] = (), edges: Iterable[Edge] = (), text: str = "Delete") -> Outcome:
    """Remove blocks (with their wires) and wires in one step."""
    block_ids = [b for b in dict.fromkeys(block_ids) if b in session.document.blocks]
    edges = [e for e in edges if e.src not in block_ids and e.dst not in block_ids]
    if not block_ids and not edges:
        return refused("nothing is selected")

    def build(r):
        gone = set(block_ids)
        # every wire first, found in one pass (one search per block was blocks x wires: seconds for thousands)
        wires = [e for e in r.doc.edges if e.src in gone or e.dst in gone] + [e for e in edges if r.doc.has_wire(e)]
        at = {e: i for i, e in enumerate(r.doc.edges)}
        order = {b: i for i, b in enumerate(r.doc.blocks)}
        for e in sorted(dict.fromkeys(wires), key=at.__getitem__, reverse=True):
            r.disconnect(e)               # from the back of the wire list: each is found where it was
        with r.doc.settle_order():        # and the blocks from the back of the block order, the order once
            for b in sorted(block_ids, key=order.__getitem__, reverse=True):
                r.remove_block(b)
    what = (block_ids[0] if len(block_ids) == 1 else _plural(len(block_ids), "block")) if block_ids else \
        _plural(len(edges), "wire")
    return session.edit(f"{text} {what}", build)


def move_blocks(session: Session, moves: dict[str, tuple[float, float]], text: str | None = None) -> Outcome:
    moves = {b: p for b, p in moves.items()
             if b in session.document.blocks and tuple(session.document.blocks[b].pos) != tuple(p)}
    if not moves:
        return Outcome()
    if text is None:
        text = f"Move {next(iter(moves))}" if len(moves) == 1 else f"Move {_plural(len(moves), 'block')}"

    def build(r):
        for b, p in moves.items():
            r.move_block(b, p)
    return session.edit(text, build)


def set_param(session: Session, block_id: str, name: str, value: Any = MISSING) -> Outcome:
    """Set one parameter (MISSING: back to its default); the value the block now has, or why not."""
    doc = session.document
    block = doc.block(block_id)
    param = get_kind(block.kind).param(name)
    if value is not MISSING:
        try:
            value = param.check(value)
        except ParamError as exc:
            session.message.emit(f"{block_id}: {exc}")
            return refused(f"{name}: {exc}")
        if block.params.get(name, MISSING) == value:
            return Outcome(value)
    elif name not in block.params:
        return Outcome(MISSING)
    shown = "default" if value is MISSING else value
    done = session.edit(f"Set {block_id}.{name} = {shown}", lambda r: r.set_param(block_id, name, value))
    return Outcome(value) if done else done


def rename(session: Session, block_id: str, new_id: str) -> Outcome:
    """Give a block a new id; the new id, or why not."""
    if new_id == block_id:
        return Outcome(new_id)
    done = session.edit(f"Rename {block_id} to {new_id}", lambda r: r.rename_block(block_id, new_id))
    return Outcome(new_id) if done else done


def set_trainable(session: Session, block_ids: Iterable[str], trainable: bool) -> Outcome:
    """Freeze (False) or unfreeze (True) blocks in one step: a frozen block keeps its weights and
    normalisation statistics through training. The blocks that changed, or why not."""
    doc = session.document
    ids = [b for b in block_ids if b in doc.blocks and doc.blocks[b].trainable != bool(trainable)]
    if not ids:
        return Outcome([])
    what = ids[0] if len(ids) == 1 else _plural(len(ids), "block")
    done = session.edit(f"{'Unfreeze' if trainable else 'Freeze'} {what}",
                        lambda r: [r.set_block_attr(b, "trainable", bool(trainable)) for b in ids])
    return Outcome(ids) if done else done


NAME_LIMIT = 200     # characters in a graph's name: what a graph file may hold (graph/fileformat.py)


def set_meta(session: Session, key: str, value: Any) -> Outcome:
    if key == "name" and not (isinstance(value, str) and value.strip() and len(value) <= NAME_LIMIT):
        why = f"a graph's name is 1 to {NAME_LIMIT} characters: choose a shorter name"
        session.message.emit(f"Cannot rename the graph: {why}.")
        return refused(why)
    if getattr(session.document, key) == value:
        return Outcome(value)
    return session.edit(f"Change graph {key}", lambda r: r.set_meta(key, value))


def set_collapsed(session: Session, names: Iterable[str], collapsed: bool, text: str = "") -> Outcome:
    """Collapse (or expand) groups in one undoable step; the groups inside keep their own state.
    Its value: the groups that changed."""
    doc = session.document
    names = [n for n in dict.fromkeys(names) if (n in doc.collapsed) != bool(collapsed)]
    if not names:
        return Outcome([])
    after = with_collapsed(doc.collapsed, names, collapsed)
    text = text or f"{'Collapse' if collapsed else 'Expand'} {names[0] if len(names) == 1 else _plural(len(names), 'group')}"
    done = session.edit(text, lambda r: r.set_meta("collapsed", after))
    return Outcome(names) if done else done


def set_all_collapsed(session: Session, collapsed: bool) -> Outcome:
    """Collapse (or expand) every group, at every depth."""
    names = group_names(session.document)
    if not names:
        session.message.emit("This graph has no groups: imported models group their blocks by module.")
        return refused("the graph has no groups")
    return set_collapsed(session, names, collapsed, f"{'Collapse' if collapsed else 'Expand'} all groups")


def paste(session: Session, fragment: dict, at: tuple[float, float] | None = None,
          offset: tuple[float, float] = (30.0, 30.0), text: str = "Paste") -> Outcome:
    """Add the blocks of a clipboard fragment with fresh ids and their wires among themselves; each keeps its
    parameters, its trainable switch and its group (a collapsed group it lands in opens).

    `at` puts the fragment's top-left corner there; otherwise it lands `offset` from where it was.
    """
    try:
        part = graph_from_dict(fragment)
    except Exception as exc:  # the clipboard holds something else: say so, change nothing
        why = f"the clipboard does not hold usable Layerloom blocks ({str(exc).rstrip('.')})"
        session.message.emit(f"Cannot paste: {why}. Copy the blocks again.")
        return refused(why)
    if not part.blocks:
        return refused("the clipboard holds no blocks")
    doc = session.document
    blocks, wires = len(doc.blocks) + len(part.blocks), len(doc.edges) + len(part.edges)
    if blocks > MAX_BLOCKS or wires > MAX_EDGES:     # a file of it could not be opened again
        why = (f"the graph would hold {blocks:,} blocks and {wires:,} wires, more than a graph file may hold "
               f"({MAX_BLOCKS:,} and {MAX_EDGES:,}); paste fewer blocks, or build the rest in another graph")
        session.message.emit(f"Cannot {text.lower()}: {why}.")
        return refused(why)
    xs = [b.pos[0] for b in part.blocks.values()]
    ys = [b.pos[1] for b in part.blocks.values()]
    dx, dy = (at[0] - min(xs), at[1] - min(ys)) if at is not None else offset

    def build(r):
        ids = dict(zip(part.blocks, r.doc.new_ids(b.kind for b in part.blocks.values())))
        for old_id, b in part.blocks.items():
            r.add_block(b.kind, b.params, (b.pos[0] + dx, b.pos[1] + dy), block_id=ids[old_id],
                        trainable=b.trainable, group=b.group)
        for e in part.edges:
            r.connect(ids[e.src], ids[e.dst], e.src_port, e.dst_port)
        hiding = {n for b in part.blocks.values() for n in parents(b.group)} & set(r.doc.collapsed)
        if hiding:       # pasted into a collapsed group: it opens, the new blocks show (and are selected)
            r.set_meta("collapsed", with_collapsed(r.doc.collapsed, hiding, False))
        return list(ids.values())
    n = len(part.blocks)
    return session.edit(f"{text} {_plural(n, 'block')}", build)


def insert_before(session: Session, block_id: str, kind: str, params: dict | None = None) -> Outcome:
    """Put a new block of `kind` on the wire into `block_id`'s first input."""
    doc = session.document
    target = doc.block(block_id)
    wires = [e for e in doc.edges_into(block_id) if e.dst_port == 0]

    def build(r):
        if wires:
            src = doc.blocks[wires[0].src]
            pos = ((src.pos[0] + target.pos[0]) / 2, max(src.pos[1], target.pos[1]) + 100)
        else:
            pos = (target.pos[0] - 210, target.pos[1])
        new = r.add_block(kind, params, pos)
        for e in wires:
            r.disconnect(e)
        if wires:
            r.connect(wires[0].src, new, wires[0].src_port, 0)
        r.connect(new, block_id, 0, 0)
        return new
    return session.edit(f"Insert {kind} before {block_id}", build)


def apply_fix(session: Session, fix: dict) -> Outcome:
    """Apply a Diagnostic's fix: one undoable step."""
    action, block = fix.get("action"), fix.get("block")
    if block not in session.document.blocks:
        return refused(f'there is no block "{block}" any more')
    if action == "set_param":
        return set_param(session, block, fix["param"], fix["value"])
    if action == "reset_param":
        return set_param(session, block, fix["param"], MISSING)
    if action == "insert_before":
        return insert_before(session, block, fix["kind"])
    raise GraphEditError(f"unknown fix {action}")


def fix_label(fix: dict) -> str:
    if fix.get("label"):
        return fix["label"]
    if fix.get("action") == "reset_param":
        return f"Reset {fix['param']} to its default"
    return "Fix"


def auto_layout(session: Session) -> Outcome:
    return move_blocks(session, plan_layout(session.document), text="Auto layout")
