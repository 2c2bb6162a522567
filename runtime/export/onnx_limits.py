"""What an ONNX export cannot hold, said in one plain line that names the block.

Two kinds of limit: a layer ONNX's operators cannot express (an LSTM with a projection: ONNX's LSTM has
no `proj_size`, and torch's exporter writes a model onnxruntime then refuses to run), found before
exporting; and an aten operator torch's exporter has no translation for (e.g. `adaptive_max_pool2d`
with an output size that does not divide the input), found from the exporter's error, whose text is
many lines with terminal colours: the operator is named, and the blocks that use it are found from the
program's `nn_module_stack`.
"""
from __future__ import annotations

import re

import torch

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_MISSING = re.compile(r"No ONNX function found for <OpOverload\(op='([\w.]+)', overload='(\w+)'\)>")


def plain(text: str) -> str:
    """`text` without terminal colour codes or other control characters."""
    return "".join(ch for ch in _ANSI.sub("", text) if ch == "\n" or ch.isprintable())


def first_line(exc: BaseException) -> str:
    text = plain(str(exc)).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


def unsupported_layers(model: torch.nn.Module) -> str | None:
    """Why `model` cannot become ONNX before trying, or None."""
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.LSTM) and module.proj_size > 0:
            return (f"block {name} is an LSTM with proj_size={module.proj_size}, which ONNX's LSTM operator "
                    "cannot express: export pt2 instead, or set proj_size to 0")
    return None


def explain_export_failure(exc: BaseException, program_of) -> str:
    """One line for an exporter failure. `program_of()` gives the torch.export program (to find which
    blocks use an operator the exporter cannot translate); it is only called for such a failure."""
    text = plain(str(exc))
    match = _MISSING.search(text)
    if match is None:
        return _summary(text) or first_line(exc)
    op = match.group(1)
    blocks = []
    try:
        for node in program_of().graph.nodes:
            schema = getattr(node.target, "_schema", None)
            stack = node.meta.get("nn_module_stack") or {}
            if schema is not None and schema.name.replace("::", ".") == op and stack:
                path = list(stack.values())[-1][0]
                if path not in blocks:
                    blocks.append(path)
    except Exception:   # naming the blocks is a courtesy: the operator alone still says what failed
        blocks = []
    where = f" (used by {', '.join(blocks)})" if blocks else ""
    return (f"torch's ONNX exporter has no translation for {op}{where}: export pt2 instead, "
            "or change that block's parameters")



_SUMMARY = re.compile(r"## Exception summary\s*\n\s*<class '(?:[\w.]+\.)?(\w+)'>: ([^\n]*)")


def _summary(text: str) -> str | None:
    """The exporter's own cause ("TypeError: missing a required argument: 'x'"), where its message of
    several paragraphs ("Failed to export the model with torch.export. This is step 1/3 ...") has one."""
    found = _SUMMARY.search(text)
    return f"{found.group(1)}: {found.group(2).strip()}"[:300] if found else None


_RUN_FAILURE = re.compile(r"while running (\w+) node\. Name:'([^']*)' Status Message: (.*)", re.S)
_SOURCE = re.compile(r"^\S+\.(?:h|cc|cpp):\d+ ")     # onnxruntime's source file and line


def run_failure(exc: BaseException, model) -> str:
    """One line for onnxruntime failing to run the ONNX `model` (a ModelProto): the operator, its node, the block
    the node computes for (the exporter's name scopes), and onnxruntime's own words, without its source file, C++
    function and failed condition; `first_line` where the failure names no node."""
    found = _RUN_FAILURE.search(plain(str(exc)))
    if found is None:
        return first_line(exc)
    op, name, said = found.groups()
    said = " ".join(said.split())
    if " was false. " in said:                     # "<file>:<line> <C++ function>(...) <condition> was false. <words>"
        said = said.split(" was false. ", 1)[1]
    said = _SOURCE.sub("", said)
    block = next((block_of(n) for n in model.graph.node if n.name == name), None)
    return f"onnxruntime's {op} node {name}{f' (block {block})' if block else ''} fails: {said}"[:300]


def block_of(node) -> str | None:
    """The block (the top-level module's attribute: Layerloom's block id) an exported node belongs to."""
    scopes = next((p.value for p in node.metadata_props if p.key == "pkg.torch.onnx.name_scopes"), None)
    names = re.findall(r"'([^']*)'", scopes or "")
    return names[1] if len(names) > 1 and names[1] else None
