"""Copy and paste of blocks: a fragment is a small graph file (JSON) of the copied blocks and the
wires between them. It goes on the system clipboard both under a Layerloom MIME type and as text,
so pasting into another window (or another Layerloom) works and the loader validates it.
"""
from __future__ import annotations

import json

from PySide6.QtCore import QMimeData
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
    text = json.dumps(frag, indent=1)
    mime = QMimeData()
    mime.setData(MIME, text.encode("utf-8"))
    mime.setText(text)
    QGuiApplication.clipboard().setMimeData(mime)


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
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    return data
