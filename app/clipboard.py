"""Copy and paste of blocks: a fragment is a small graph file (JSON) of the copied blocks and the
wires between them. It goes on the system clipboard as text, so pasting into another window (or
another Layerloom) works and the loader validates it; a fragment under the Layerloom MIME type (as
earlier versions put it there) pastes too.

The clipboard's data is made by Qt (`setText`), never a QMimeData made in Python: the clipboard keeps
its data past the end of the program, and one made in Python then calls into an interpreter that is
gone (the process crashed on its way out after any copy).
"""
from __future__ import annotations

import json

from PySide6.QtGui import QGuiApplication

from layerloom.graph.fileformat import FORMAT, graph_to_dict

MIME = "application/x-layerloom-blocks+json"


def fragment(doc, block_ids) -> dict:
    """The blocks (in document order) and the wires among them, as a graph-file dict."""
    ids = set(block_ids)
    data = graph_to_dict(doc)
    return {"format": data["format"], "version": data["version"], "name": "Clipboard",
            "blocks": [b for b in data["blocks"] if b["id"] in ids],
            "edges": [e for e in data["edges"] if e["from"] in ids and e["to"] in ids]}


def put(frag: dict) -> None:
    QGuiApplication.clipboard().setText(json.dumps(frag, indent=1))


def get() -> dict | None:
    """The fragment on the clipboard, or None when it holds something else."""
    mime = QGuiApplication.clipboard().mimeData()
    if mime is None:
        return None
    if mime.hasFormat(MIME):
        raw = bytes(mime.data(MIME)).decode("utf-8", "replace")
    elif mime.hasText():
        raw = mime.text()
    else:
        return None
    if len(raw) > 16 * 1024 * 1024:
        return None
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):      # not JSON, or nested deeper than Python's parser goes
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    return data
