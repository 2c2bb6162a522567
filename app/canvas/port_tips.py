"""What a port says on hover: its name, the shape analysis found there, and what may be wired to it."""
from __future__ import annotations

import html

from layerloom.graph.blocks import get_kind
from layerloom.graph.diagnostics import shape_text
from layerloom.graph.document import GraphDocument


def _takes(kind, index: int, count: int) -> tuple[str, str]:
    """(the port's name, what may be wired into it) for an input the registry does not name."""
    name = "input" if count == 1 else f"input {index + 1} of {count}"
    if kind.category == "Merge":
        return name, kind.doc
    if kind.expected_rank is not None:
        return name, f"a {kind.expected_rank[1]} sample: the output of any block that makes one"
    if kind.input_dtype == "int":
        return name, "token ids (whole numbers), e.g. an Input whose dtype is int64"
    return name, "the output of any block"


def _shape_line(result, source: str | None) -> str:
    if result is None:
        return "Shape: being worked out…"
    r = result.blocks.get(source) if source is not None else None
    if r is not None and r.ok and r.output_shape is not None:
        return f"Shape: {html.escape(shape_text(r.output_shape))} (one sample, without the batch)"
    return "Shape: not known (the block it comes from has a problem to fix first)"


def port_tooltip(doc: GraphDocument, result, block_id: str, is_output: bool, index: int) -> str:
    """The tooltip of port `index` of block `block_id` (rich text: names from files are escaped)."""
    block = doc.blocks.get(block_id)
    if block is None:
        return ""
    kind = get_kind(block.kind)
    bid = html.escape(block_id)
    if is_output:
        lines = [f"<b>{bid}</b>: output", _shape_line(result, block_id),
                 "Wire it to any number of inputs: drag from here to a port on a block's left side."]
        return _joined(lines)
    params = block.full_params()
    count = kind.input_count(params)
    names = kind.input_port_names(params)
    name, takes = names[index] if index < len(names) else _takes(kind, index, count)
    wires = [e for e in doc.edges_into(block_id) if e.dst_port == index]
    lines = [f"<b>{bid}</b>: {html.escape(name)}"]
    if wires:
        lines.append(f"From {html.escape(wires[0].src)}. " + _shape_line(result, wires[0].src))
    else:
        lines.append("Nothing wired in yet.")
    lines.append(f"Takes {html.escape(takes)}.")
    lines.append("<i>One wire per input: wiring another output here replaces it.</i>")
    return _joined(lines)


def _joined(lines: list[str]) -> str:
    """One line each, unbroken (a tooltip otherwise wraps rich text at a third of its natural width)."""
    return "<br>".join(f"<nobr>{line}</nobr>" for line in lines)
