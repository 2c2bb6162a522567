"""Transfer learning with Layerloom: an ImageNet-style ResNet-18 (torchvision's architecture, imported
through Layerloom's importer), initialised from a weights FILE, fine-tuned on `shapes` with
everything frozen but the head, against the same network trained from scratch (and fully
fine-tuned) for the same number of steps. Prints the validation accuracies side by side.

    python bench/finetune.py [--pretrain-steps 300] [--steps 150] [--seeds 0 1 2] [--size 32] [--threads 1]

Where the weights come from: torchvision's published ImageNet weights cannot be downloaded
everywhere, so this script writes its own weights file first. It trains torchvision's resnet18 (plain
PyTorch, no Layerloom) to tell apart the twelve `figures` (runtime/data/figures.py: trapezoid,
chevron, bar, stars, arrow, L, T, two dots, heart, frame, diamond). None of them is a `shapes` class,
no `shapes` image or label is used, and the file has torchvision's own keys (`layer1.0.conv1.weight`)
and a 12-class head, like a published file for another task. Layerloom then takes it as any user's
file would go in:
  - the graph is `torchvision:resnet18` imported at 3×S×S and saved with its (fresh) weights;
  - the training check's fix "Reset fc for 10 classes" gives it a head for the ten shapes;
  - `init_from` names the file: tensors are matched by module path and shape, and the report must
    show the 12-class head skipped and fc left new;
  - every block but fc has trainable=False, and the trainer keeps those tensors bit-identical.
The same seed gives the fine-tune runs the same shapes draw; "scratch" is the same imported graph
with its fresh weights, all layers trained.
"""
import argparse
import os
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from layerloom.graph.importers import import_source, save_import
from layerloom.runtime.data import shapes
from layerloom.runtime.data.figures import NAMES, generate_figures
from layerloom.runtime.preflight import preflight
from layerloom.runtime.trainer import Trainer

HEAD = "fc"


def pretrain(path, *, seed=0, steps=300, size=32, batch_size=64, lr=1e-3, train_count=8000,
             val_count=1000) -> float:
    """Train torchvision's resnet18 on the twelve figures and write its state_dict (torchvision's
    keys) to the safetensors file `path`; returns its validation accuracy on the figures."""
    import torchvision
    from safetensors.torch import save_file
    x, y = generate_figures(train_count, size=size, seed=shapes._stream_seed(seed, "figures/train"))
    xv, yv = generate_figures(val_count, size=size, seed=shapes._stream_seed(seed, "figures/val"))

    def norm(images):
        return (images.float() / 255 - shapes.MEAN) / shapes.STD

    torch.manual_seed(seed)
    model = torchvision.models.resnet18(num_classes=len(NAMES))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    step = 0
    while step < steps:
        order = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x) - batch_size + 1, batch_size):
            idx = order[start:start + batch_size]
            loss = nn.functional.cross_entropy(model(norm(x[idx])), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if step == steps:
                break
    model.eval()
    with torch.no_grad():
        right = sum(int((model(norm(xv[i:i + 500])).argmax(1) == yv[i:i + 500]).sum())
                    for i in range(0, len(xv), 500))
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(tmp),
              metadata={"trained_on": "figures (12 classes)", "steps": str(steps), "seed": str(seed)})
    os.replace(tmp, path)
    return right / len(xv)


def network(folder, size=32):
    """torchvision's resnet18 imported at 3×size×size and saved with its weights, its head reset for
    the shapes' classes by the training check's own fix. Returns (doc, the fix's label)."""
    result = import_source("torchvision:resnet18", (3, size, size), fidelity=False)
    save_import(result, Path(folder) / "resnet18.loom.json")
    doc = result.doc
    fixes = [d.fix for d in preflight(doc, "shapes").diagnostics if d.fix and d.block == HEAD]
    assert len(fixes) == 1, f"expected one fix for the head, got {fixes}"
    fix = fixes[0]
    doc.set_param(fix["block"], fix["param"], fix["value"])
    return doc, fix["label"]


def head_only(doc):
    """The same graph with every block but the head switched to trainable=False."""
    doc = doc.copy()
    for bid in doc.blocks:
        if bid != HEAD:
            doc.set_block_attr(bid, "trainable", False)
    return doc


def train(doc, config, base):
    """One Layerloom run; returns (summary, the events it sent)."""
    events = []
    t = Trainer(doc, config, events.append, runs_base=base)
    summary = t.run()
    if summary is None:
        failed = [e for e in events if e.get("type") == "failed"]
        raise RuntimeError(f"training failed: {failed[-1]['message'] if failed else 'no reason given'}")
    return summary, events


def scenario(base, *, seed=0, pretrain_steps=300, steps=150, size=32, full=True, train_count=4000,
             val_count=1000, threads=1, log=print) -> dict:
    """Pretrain into a file, then head-only from the file, (full fine-tune from the file) and scratch,
    each for `steps` steps on the same shapes draw. Returns the accuracies and the evidence.
    `threads` fixes the fine-tune runs' thread count: sums split over another count differ in the last
    bits, and 150 steps of training from scratch turn that into a few points of accuracy."""
    base = Path(base)
    weights = base / f"figures-resnet18-seed{seed}.safetensors"
    started = time.perf_counter()
    pretext = pretrain(weights, seed=seed, steps=pretrain_steps, size=size)
    log(f"seed {seed}: pretrained on figures for {pretrain_steps} steps, figures val accuracy {pretext:.3f} "
        f"({time.perf_counter() - started:.0f} s) -> {weights.name}")
    doc, fix_label = network(base / f"graph-{seed}", size)
    tune = {"dataset": "shapes", "dataset_options": {"train_count": train_count, "val_count": val_count},
            "epochs": 1000, "max_steps": steps, "batch_size": 64, "lr": 1e-3, "optimizer": "adam",
            "seed": seed, "device": "cpu", "threads": threads}
    out = {"seed": seed, "figures_val_accuracy": pretext, "fix": fix_label, "weights": str(weights)}
    runs = [("head_only", head_only(doc), {"init_from": str(weights)}), ("scratch", doc, {})]
    if full:
        runs.insert(1, ("full", doc, {"init_from": str(weights)}))
    for name, graph, extra in runs:
        started = time.perf_counter()
        summary, events = train(graph, {**tune, **extra}, base / "runs")
        out[name] = summary["val_accuracy"]
        out[f"{name}_steps"] = summary["steps"]
        out[f"{name}_events"] = [e for e in events if e.get("type") in ("weights_loaded", "frozen")]
        log(f"seed {seed}: {name} {summary['val_accuracy']:.3f} after {summary['steps']} steps "
            f"({time.perf_counter() - started:.0f} s)")
    return out


def main():
    p = argparse.ArgumentParser(allow_abbrev=False)
    p.add_argument("--pretrain-steps", type=int, default=300)
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--threads", type=int, default=1, help="torch threads for the fine-tune runs (fixed: repeatable)")
    p.add_argument("--no-full", action="store_true", help="skip the full fine-tune (all layers from the file)")
    args = p.parse_args()
    base = tempfile.mkdtemp(prefix="finetune-")
    rows = [scenario(base, seed=s, pretrain_steps=args.pretrain_steps, steps=args.steps, size=args.size,
                     full=not args.no_full, threads=args.threads) for s in args.seeds]
    init = next(e for e in rows[0]["head_only_events"] if e.get("what") == "init_from")
    print(f"\nfix applied: {rows[0]['fix']}; init_from report: {init['summary']}")
    print(f"shapes at 3x{args.size}x{args.size}, validation accuracy after {args.steps} steps "
          f"(weights pretrained {args.pretrain_steps} steps on figures):")
    print(f"{'seed':>4}  {'figures':>7}  {'head only':>9}  {'full':>6}  {'scratch':>7}  head - scratch")
    for r in rows:
        full = f"{r['full']:.3f}" if "full" in r else "-"
        print(f"{r['seed']:>4}  {r['figures_val_accuracy']:7.3f}  {r['head_only']:9.3f}  {full:>6}  "
              f"{r['scratch']:7.3f}  {r['head_only'] - r['scratch']:+.3f}")


if __name__ == "__main__":
    main()
