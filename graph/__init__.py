"""Layerloom's graph core: the document, block library, analysis, compiler and file format.

Qt-free: usable from notebooks, servers and the command line. The names below are imported from their
modules on first use (PEP 562), so `import layerloom.graph.document` (what the window needs to draw a
graph) does not load analysis, the compiler or torch.
"""
from __future__ import annotations

import importlib

_WHERE = {
    "analysis": ("AnalysisResult", "Analyzer", "BlockResult", "analyze"),
    "blocks": ("CATEGORIES", "REGISTRY", "BlockKind", "get_kind", "kinds_by_category"),
    "compiler": ("CompileError", "compile_graph", "generated_code"),
    "diagnostics": ("Diagnostic",),
    "document": ("MISSING", "Block", "Edge", "Event", "GraphDocument", "GraphEditError"),
    "fileformat": ("GraphFileError", "graph_to_dict", "load_graph", "save_graph"),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}

__all__ = list(_MODULE_OF)


def __getattr__(name: str):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
