"""Which of torchvision's classification models `layerloom import torchvision:NAME` turns into ordinary blocks,
which need Opaque blocks or are refused, and why; with how closely the imported graph reproduces the model.

    python tools/torchvision_coverage.py                      # one model of each family
    python tools/torchvision_coverage.py --all                # every classification model (slow: hours here)
    python tools/torchvision_coverage.py resnet18 convnext_tiny --size 96

Each model is imported through the same path as the command line (graph/importers, the torch.fx importer),
with fresh weights, then checked as `layerloom import` checks it: the graph's output against the model's on
one input (`max diff`, 0.0 = bit for bit). Models with a fixed input size (ViT, Swin, MaxViT) use 224.
"""
from __future__ import annotations

import argparse
import collections
import sys
import time

FAMILIES = ("alexnet", "vgg11", "resnet18", "resnext50_32x4d", "wide_resnet50_2", "squeezenet1_0", "densenet121",
            "googlenet", "inception_v3", "mobilenet_v2", "mobilenet_v3_small", "mnasnet0_5", "shufflenet_v2_x0_5",
            "efficientnet_b0", "efficientnet_v2_s", "regnet_x_400mf", "regnet_y_400mf", "convnext_tiny", "swin_t",
            "swin_v2_t", "vit_b_16", "maxvit_t")
FIXED_SIZE = ("vit_", "swin", "maxvit")


def input_shape(name: str, size: int) -> tuple[int, int, int]:
    if name.startswith(FIXED_SIZE):
        return (3, 224, 224)
    side = max(size, 75) if name.startswith("inception") else size     # Inception v3 needs 75×75 at least
    return (3, side, side)


def measure(name: str, size: int) -> dict:
    """One row: what the import gave (blocks, Opaque blocks and their reasons) or why it was refused."""
    import torch
    from layerloom.graph.importers import ImportFailure, import_source
    shape = input_shape(name, size)
    start = time.perf_counter()
    torch.manual_seed(0)
    try:
        result = import_source(f"torchvision:{name}", shape)
    except ImportFailure as exc:
        return {"name": name, "shape": shape, "status": "refused", "why": str(exc),
                "seconds": time.perf_counter() - start}
    opaque = result.report.opaque
    reasons = collections.Counter(f"{o['target'].rpartition('.')[2] or o['target']}: {o['reason']}" for o in opaque)
    why = "; ".join(f"{n}× {r}" for r, n in reasons.most_common(3))
    return {"name": name, "shape": shape, "status": "Opaque" if opaque else "blocks",
            "blocks": len(result.doc.blocks), "opaque": len(opaque), "why": why,
            "max_diff": result.report.fidelity.get("max_abs_diff"), "seconds": time.perf_counter() - start}


def table(rows: list[dict]) -> str:
    lines = [f"{'model':<22} {'input':<11} {'result':<8} {'blocks':>6} {'opaque':>6} {'max diff':>9} {'s':>5}  why"]
    for r in rows:
        diff = r.get("max_diff")
        lines.append(f"{r['name']:<22} {'×'.join(map(str, r['shape'])):<11} {r['status']:<8} "
                     f"{r.get('blocks', ''):>6} {r.get('opaque', ''):>6} "
                     f"{'' if diff is None else f'{diff:.1e}' if diff else '0':>9} {r['seconds']:5.1f}  "
                     f"{r['why'][:300]}")
    counts = collections.Counter(r["status"] for r in rows)
    lines.append(f"{counts['blocks']} of {len(rows)} import as ordinary blocks, {counts['Opaque']} with Opaque "
                 f"blocks, {counts['refused']} refused")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("models", nargs="*", help="torchvision model names (default: one of each family)")
    parser.add_argument("--all", action="store_true", help="every classification model torchvision has")
    parser.add_argument("--size", type=int, default=64, help="height and width of the input (default 64)")
    args = parser.parse_args(argv)
    if args.all:
        import torchvision
        names = torchvision.models.list_models(module=torchvision.models)
    else:
        names = args.models or list(FAMILIES)
    rows = []
    for name in names:
        rows.append(measure(name, args.size))
        print(table(rows[-1:]).splitlines()[1], flush=True)
    print()
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
