"""What an import tells the person: the report of what each source node became, and the refusal.

`ImportReport` lists the source's nodes and the block each became, the Opaque blocks and why, notes,
and how closely the graph reproduces the source (fidelity); `ImportFailure` is a refusal whose message
says why and what to do. Every importer (torch.fx, torch.export, ONNX) gives these.
"""
from __future__ import annotations

from dataclasses import dataclass, field


class ImportFailure(ValueError):
    """The model cannot be imported; the message says why and what to do."""


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
                "notes": self.notes, "fidelity": self.fidelity}

    def text(self) -> str:
        lines = [f"Imported {self.source} with {self.method}: {len(self.nodes)} source nodes, "
                 f"{len(self.opaque)} Opaque block(s)"]
        for n in self.nodes:
            lines.append(f"  {n['node']:<32} {n['op']:<28} → {n['block'] or '(folded)'}"
                         + (f" ({n['kind']})" if n["kind"] else ""))
        for o in self.opaque:
            lines.append(f"Opaque {o['block']}: {o['target']}: {o['reason']}")
        lines += [f"note: {t}" for t in self.notes]
        if self.fidelity:
            f = self.fidelity
            lines.append(f"fidelity: max output difference {f.get('max_abs_diff')}, strict load "
                         f"{f.get('strict_load')}, every tensor equal {f.get('tensors_equal')}, "
                         f"{f.get('seconds')} s")
        return "\n".join(lines)
