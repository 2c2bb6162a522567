"""Groups: the module paths imported blocks carry (`layer1.0`), as a tree of nested groups.

A block's `group` is the path of the module it came from. Every prefix of a path is a group too:
a block in `layer1.0` belongs to `layer1.0` and to `layer1`. The document keeps which groups are
collapsed (`GraphDocument.collapsed`, saved in the file); a block is hidden when any group holding it
is collapsed, and then shows as the card of the outermost collapsed one.
"""
from __future__ import annotations

from typing import Iterable


def parents(path: str) -> list[str]:
    """Every group holding a block whose group is `path`, outermost first: "a.b.c" -> ["a", "a.b", "a.b.c"]."""
    if not path:
        return []
    parts = path.split(".")
    return [".".join(parts[:n]) for n in range(1, len(parts) + 1)]


def depth(name: str) -> int:
    """0 for a top-level group (`layer1`), 1 for `layer1.0`, ..."""
    return name.count(".")


def parent(name: str) -> str:
    """The group directly holding group `name` ("" for a top-level group)."""
    return name.rpartition(".")[0]


def contains(outer: str, inner: str) -> bool:
    """Is group (or block path) `inner` inside group `outer`, or the same group?"""
    return inner == outer or inner.startswith(outer + ".")


def group_names(doc) -> list[str]:
    """Every group of the document, each parent before its children, in block order."""
    names: dict[str, None] = {}
    for block in doc.blocks.values():
        for name in parents(block.group):
            names.setdefault(name, None)
    return list(names)


def members(doc) -> dict[str, list[str]]:
    """group name -> the ids of every block inside it (its subgroups' blocks included), in block order."""
    out: dict[str, list[str]] = {}
    for bid, block in doc.blocks.items():
        for name in parents(block.group):
            out.setdefault(name, []).append(bid)
    return out


def shown_as(path: str, collapsed: Iterable[str]) -> str:
    """The outermost collapsed group holding a block of group `path` ("" when the block is visible)."""
    closed = set(collapsed)
    return next((name for name in parents(path) if name in closed), "")


def with_collapsed(current: Iterable[str], names: Iterable[str], collapsed: bool) -> list[str]:
    """The collapsed list after collapsing (or expanding) `names`: sorted, each name once."""
    out = set(current)
    out = out | set(names) if collapsed else out - set(names)
    return sorted(out)
