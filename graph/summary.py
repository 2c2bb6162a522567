"""Text and JSON summaries of an analysed graph (like torchinfo's table)."""
from __future__ import annotations

from .diagnostics import shape_text


def human(n: int) -> str:
    """1234567 -> '1.23M'."""
    for unit, div in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.2f}{unit}"
    return str(n)


def summary_rows(doc, result) -> list[dict]:
    rows = []
    for bid, r in result.blocks.items():
        rows.append({"id": bid, "kind": r.kind,
                     "output_shape": list(r.output_shape) if r.ok and r.output_shape is not None else None,
                     "params": r.param_count, "flops": r.flops, "status": r.status})
    return rows


def summary_json(doc, result) -> dict:
    return {
        "name": doc.name,
        "blocks": [{k: row[k] for k in ("id", "kind", "output_shape", "params", "flops")}
                   for row in summary_rows(doc, result)],
        "total_params": result.total_params,
        "total_flops": result.total_flops,
        "diagnostics": [{"block": d.block, "message": d.message, "severity": d.severity, "code": d.code}
                        for d in result.diagnostics],
    }


def summary_table(doc, result) -> str:
    rows = summary_rows(doc, result)
    header = ("Block", "Kind", "Output shape", "Params", "FLOPs")
    body = []
    for row in rows:
        shape = shape_text(row["output_shape"]) if row["output_shape"] is not None else (
            "not computed" if row["status"] == "blocked" else row["status"])
        body.append((row["id"], row["kind"], shape, f"{row['params']:,}", human(row["flops"])))
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(header)]
    right = {3, 4}

    def fmt(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    rule = "─" * (sum(widths) + 2 * (len(widths) - 1))
    lines = [doc.name, rule, fmt(header), rule, *(fmt(r) for r in body), rule,
             f"Total params: {result.total_params:,}",
             f"Total FLOPs per sample: {result.total_flops:,} ({human(result.total_flops)})"]
    if result.diagnostics:
        lines.append(rule)
        for d in result.diagnostics:
            lines.append(f"{d.severity}: {d.text}")
    return "\n".join(lines)
