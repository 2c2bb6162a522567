"""Text from a graph file, quoted for where it goes.

A graph's name, description, ids, class names and data options are data written by whoever made
the file. They reach generated Python (model.py, train.py, View Code) only as literals built here
from JSON values, and they reach a terminal or a message only through `shown`, which escapes
control characters (terminal escapes, NUL, newlines, lone surrogates) and cuts long text.
"""
from __future__ import annotations

import math
import pprint
from typing import Any

SHOWN_LIMIT = 60


class LiteralError(ValueError):
    """A value that has no safe Python literal (not plain JSON data)."""


def _check_json(value: Any, where: str, depth: int = 0) -> None:
    if depth > 50:
        raise LiteralError(f"{where} is nested more than 50 levels deep")
    if value is None or isinstance(value, (bool, int, str)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise LiteralError(f"{where} is {value}, which is not a finite number")
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_json(v, f"{where}[{i}]", depth + 1)
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise LiteralError(f"{where} has a key that is not a string ({shown(repr(k))})")
            _check_json(v, f"{where}.{shown(k)}", depth + 1)
        return
    raise LiteralError(f"{where} holds {type(value).__name__}, which is not plain JSON data")


def py_literal(value: Any, where: str = "value", width: int = 100) -> str:
    """Python source for a JSON value: null -> None, true -> True, strings through repr.

    Only plain data (None, bool, int, finite float, str, lists and str-keyed dicts of them) is
    accepted, so the text is always a literal that `ast.literal_eval` reads back as the same value."""
    _check_json(value, where)
    if isinstance(value, tuple):
        value = list(value)
    return pprint.pformat(value, width=width, sort_dicts=False)


def docstring_literal(text: str) -> str:
    """A string literal usable as a docstring: repr, so quotes and newlines stay inside it."""
    if not isinstance(text, str):
        raise LiteralError("a docstring must be text")
    return repr(text)


def shown(text: Any, limit: int = SHOWN_LIMIT) -> str:
    """One printable line for a message or a terminal: control and non-printable characters
    (ESC, NUL, newlines, bidi overrides, lone surrogates) are escaped, and long text is cut."""
    text = text if isinstance(text, str) else repr(text)
    if len(text) > 4 * limit:
        text = text[:4 * limit]
        cut = True
    else:
        cut = False
    out = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
    if cut or len(out) > limit:
        out = out[:max(1, limit - 1)] + "…"
    return out
