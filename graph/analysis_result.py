"""What analysis found, as plain data: each block's shapes, parameters and cost, and the diagnostics.

Torch-free (analysis.py computes these; the window shows them), and convertible to JSON and back
(`to_dict` / `from_dict`): the window keeps the last results on disk so that a graph opened again shows
its shapes before torch has loaded (app/analysis_cache.py).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .problems import Diagnostic, Findings

Shape = tuple[int, ...]


@dataclass
class BlockResult:
    id: str
    kind: str
    status: str = "ok"                      # ok | error | blocked (an upstream error) | cycle
    params: dict = field(default_factory=dict)   # full params with "auto" resolved
    input_shapes: list = field(default_factory=list)
    output_shape: Shape | None = None       # without the batch dimension
    output_dtype: str | None = None
    param_count: int = 0
    macs: int = 0                           # multiply-adds per sample (batch of one)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def flops(self) -> int:
        """Floating-point operations per sample: 2 × MACs."""
        return 2 * self.macs


@dataclass
class AnalysisResult(Findings):
    blocks: dict[str, BlockResult]
    order: list[str]
    diagnostics: list[Diagnostic]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def total_params(self) -> int:
        return sum(r.param_count for r in self.blocks.values() if r.ok)

    @property
    def total_macs(self) -> int:
        """Multiply-adds per sample of the blocks that could be computed (see `not_computed`)."""
        return sum(r.macs for r in self.blocks.values() if r.ok)

    @property
    def total_flops(self) -> int:
        return 2 * self.total_macs

    @property
    def not_computed(self) -> int:
        """How many blocks have no shape or cost (errors, blocked by an upstream error, on a cycle):
        when it is not 0, the totals are partial."""
        return sum(not r.ok for r in self.blocks.values())

    def diagnostics_for(self, block_id: str) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.block == block_id]

    def output_shape(self, block_id: str) -> Shape | None:
        r = self.blocks.get(block_id)
        return r.output_shape if r is not None and r.ok else None


def to_dict(result: AnalysisResult) -> dict:
    """JSON-ready data (shapes as lists)."""
    return {"blocks": [asdict(r) for r in result.blocks.values()], "order": list(result.order),
            "diagnostics": [asdict(d) for d in result.diagnostics]}


def from_dict(data: dict) -> AnalysisResult:
    """The result `to_dict` made; raises KeyError, TypeError or ValueError on anything else."""
    blocks = {}
    for row in data["blocks"]:
        r = BlockResult(**row)
        r.input_shapes = [tuple(s) if isinstance(s, list) else s for s in r.input_shapes]
        r.output_shape = tuple(r.output_shape) if r.output_shape is not None else None
        blocks[r.id] = r
    diagnostics = [Diagnostic(**d) for d in data["diagnostics"]]
    return AnalysisResult(blocks, [str(b) for b in data["order"]], diagnostics)
