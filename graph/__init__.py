"""Layerloom's graph core: the document, block library, analysis, compiler and file format.

Qt-free: usable from notebooks, servers and the command line.
"""
from .analysis import AnalysisResult, Analyzer, BlockResult, analyze
from .blocks import CATEGORIES, REGISTRY, BlockKind, get_kind, kinds_by_category
from .compiler import CompileError, compile_graph, generated_code
from .diagnostics import Diagnostic
from .document import MISSING, Block, Edge, Event, GraphDocument, GraphEditError
from .fileformat import GraphFileError, graph_to_dict, load_graph, save_graph

__all__ = [
    "AnalysisResult", "Analyzer", "BlockResult", "analyze", "CATEGORIES", "REGISTRY", "BlockKind", "get_kind",
    "kinds_by_category", "CompileError", "compile_graph", "generated_code", "Diagnostic", "MISSING", "Block",
    "Edge", "Event", "GraphDocument", "GraphEditError", "GraphFileError", "graph_to_dict", "load_graph",
    "save_graph",
]
