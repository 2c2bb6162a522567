"""What an import tells the person: the report of what each source node became, and the refusal.

`ImportReport` lists the source's nodes and the block each became, the Opaque blocks and why, notes,
and how closely the graph reproduces the source (fidelity); `ImportFailure` is a refusal whose message
says why and what to do. Every importer (torch.fx, torch.export, ONNX) gives these.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..quoting import shown


MESSAGE_LIMIT = 2000
# Outputs further apart than this are not float rounding: the graph does not compute what the source does. (The
# torch.fx and torch.export routes give 0; onnxruntime against torch differs by about 1e-5 on ResNet-18.)
FIDELITY_TOLERANCE = 1e-3
_NOT_GROUP = re.compile(r"[^A-Za-z0-9_-]")


def group_name(path: str) -> str:
    """A module path from the source as a block's group: each part letters, digits, _ and - only (a name from a
    file with control characters or bidi overrides gets _ for them), at most 300 characters in all."""
    return ".".join(_NOT_GROUP.sub("_", part) for part in str(path or "").split("."))[:300] if path else ""


class ImportFailure(ValueError):
    """The model cannot be imported; the message says why and what to do. It is one printable line: names
    that came from a file (an ONNX node called "fc\\x1b[2J\\n...") are escaped, however the message was built."""

    def __init__(self, message: str = ""):
        super().__init__(shown(str(message), MESSAGE_LIMIT))


@dataclass
class ImportReport:
    source: str
    method: str
    nodes: list[dict] = field(default_factory=list)     # {"node", "op", "block", "kind"}
    opaque: list[dict] = field(default_factory=list)    # {"block", "target", "reason"}
    notes: list[str] = field(default_factory=list)
    fidelity: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"source": self.source, "method": self.method, "nodes": self.nodes, "opaque": self.opaque,
                "notes": self.notes, "fidelity": self.fidelity, "warning": self.fidelity_warning()}

    def fidelity_warning(self) -> str:
        """"" when every output compared agreed with the source's; else what disagreed, in words."""
        figures = {k: v for k, v in self.fidelity.items() if k.startswith("max_abs_diff")}
        if self.fidelity.get("strict_load") is False:
            return ("the imported weights do not fit the graph's blocks one for one (tensors missing or left over): "
                    "some blocks would start from fresh weights; check the import report before relying on it")
        if not figures:
            return ""
        if any(v is None for v in figures.values()):
            return ("the imported graph's outputs could not be compared with the source's (they differ in number or "
                    "shape): check what the graph computes before relying on it")
        worst = max(float(v) for v in figures.values())
        if worst == worst and worst <= FIDELITY_TOLERANCE:
            return ""
        return (f"the imported graph's outputs differ from the source's by up to {worst:.3g}, more than float rounding "
                f"({FIDELITY_TOLERANCE:g}): it does not compute what the source does; look at the Opaque blocks and "
                "the notes, and check the model in evaluation mode")

    def text(self) -> str:
        lines = [f"Imported {shown(self.source, 200)} with {self.method}: {len(self.nodes)} source nodes, "
                 f"{len(self.opaque)} Opaque block(s)"]
        for n in self.nodes:      # node and operator names come from the file
            lines.append(f"  {shown(n['node'], 80):<32} {shown(n['op'], 80):<28} → {n['block'] or '(folded)'}"
                         + (f" ({n['kind']})" if n["kind"] else ""))
        for o in self.opaque:
            lines.append(f"Opaque {o['block']}: {shown(o['target'], 200)}: {shown(o['reason'], MESSAGE_LIMIT)}")
        lines += [f"note: {shown(t, MESSAGE_LIMIT)}" for t in self.notes]
        if self.fidelity_warning():
            lines.append(f"warning: {self.fidelity_warning()}")
        if self.fidelity:
            f = self.fidelity
            lines.append(f"fidelity: max output difference {f.get('max_abs_diff')}, strict load "
                         f"{f.get('strict_load')}, every tensor equal {f.get('tensors_equal')}, "
                         f"{f.get('seconds')} s")
        return "\n".join(lines)
