"""Text and JSON summaries of an analysed graph (like torchinfo's table), and the wording of costs.

Costs are labelled everywhere: MACs are multiply-adds (the figure papers and torchvision publish,
e.g. ResNet-18 at 224×224: 1.81 G) and FLOPs are 2 × MACs (what FlopCounterMode counts).
"""
from __future__ import annotations

from .diagnostics import shape_text
from .quoting import shown

COST_TOOLTIP = ("MACs: multiply-adds per sample, the figure papers and torchvision publish.\n"
                "FLOPs: floating-point operations per sample = 2 × MACs (one multiply and one add).")


def human(n: int) -> str:
    """1234567 -> '1.23M'."""
    for unit, div in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.2f}{unit}"
    return str(n)


def cost_text(macs: int) -> str:
    """'1.81G MACs · 3.63G FLOPs': both conventions, each labelled."""
    return f"{human(macs)} MACs · {human(2 * macs)} FLOPs"


def partial_text(result) -> str:
    """'' when every block was computed, else 'partial: 12 blocks not computed'."""
    n = result.not_computed
    if not n:
        return ""
    return f"partial: {n} block{'s' if n != 1 else ''} not computed"


def summary_rows(doc, result) -> list[dict]:
    rows = []
    for bid, r in result.blocks.items():
        rows.append({"id": bid, "kind": r.kind,
                     "output_shape": list(r.output_shape) if r.ok and r.output_shape is not None else None,
                     "params": r.param_count, "macs": r.macs, "flops": r.flops, "status": r.status})
    return rows


BLOCK_KEYS = ("id", "kind", "output_shape", "params", "macs", "flops")


def summary_json(doc, result) -> dict:
    """The `layerloom summary --json` object; callers may add keys (it is a plain dict)."""
    return {
        "name": doc.name,
        "blocks": [{k: row[k] for k in BLOCK_KEYS} for row in summary_rows(doc, result)],
        "total_params": result.total_params,
        "total_macs": result.total_macs,
        "total_flops": result.total_flops,
        "not_computed": result.not_computed,
        "diagnostics": [{"block": d.block, "message": d.message, "severity": d.severity, "code": d.code}
                        for d in result.diagnostics],
    }


def summary_table(doc, result) -> str:
    rows = summary_rows(doc, result)
    header = ("Block", "Kind", "Output shape", "Params", "MACs", "FLOPs")
    body = []
    for row in rows:
        ok = row["status"] == "ok"
        shape = shape_text(row["output_shape"]) if row["output_shape"] is not None else (
            "not computed" if row["status"] == "blocked" else row["status"])
        body.append((row["id"], row["kind"], shape, f"{row['params']:,}",
                     human(row["macs"]) if ok else "—", human(row["flops"]) if ok else "—"))
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(header)]
    right = {3, 4, 5}

    def fmt(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    rule = "─" * (sum(widths) + 2 * (len(widths) - 1))
    partial = partial_text(result)
    note = f" ({partial})" if partial else ""
    lines = [shown(doc.name, 200), rule, fmt(header), rule, *(fmt(r) for r in body), rule,
             f"Total params: {result.total_params:,}{note}",
             f"Total MACs per sample: {result.total_macs:,} ({human(result.total_macs)}){note}",
             f"Total FLOPs per sample: {result.total_flops:,} ({human(result.total_flops)}){note}",
             "MACs are multiply-adds, as papers and torchvision count them; FLOPs = 2 × MACs."]
    if result.diagnostics:
        lines.append(rule)
        for d in result.diagnostics:
            lines.append(f"{d.severity}: {d.text}")
    return "\n".join(lines)
