"""Groups: the module paths imported blocks carry (`layer1.0`), as a tree of nested groups.

A block's `group` is the path of the module it came from. Every prefix of a path is a group too:
a block in `layer1.0` belongs to `layer1.0` and to `layer1`. The document keeps which groups are
collapsed (`GraphDocument.collapsed`, saved in the file); a block is hidden when any group holding it
is collapsed, and then shows as the card of the outermost collapsed one.
"""
from __future__ import annotations

from typing import Iterable


def parents(path: str) -> list[str]:
    """Every group holding a block whose group is `path`, outermost first: "a.b.c" -> ["a", "a.b", "a.b.c"].
    Empty parts are passed over (".a..b." holds "a" and "a.b"): never a group named ""."""
    parts = [part for part in path.split(".") if part] if path else []
    return [".".join(parts[:n]) for n in range(1, len(parts) + 1)]


def clean_path(path: str) -> str:
    """`path` without empty parts: ".a..b." -> "a.b" (what the document holds, so that a saved file reloads)."""
    return ".".join(part for part in path.split(".") if part) if "." in path else path


def path_problem(path: str) -> str | None:
    """Why `path` is not a group path a file may hold (None when it is): a part left empty by a dot at its
    start or end, or by two dots in a row."""
    if not path or "" not in path.split("."):
        return None
    where = ("it starts with a dot" if path.startswith(".") else "it ends with a dot" if path.endswith(".")
             else "it has two dots in a row")
    return (f'a group is a module path of names joined by dots, such as "layer1.0", but {where}: '
            "remove the extra dot")


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
