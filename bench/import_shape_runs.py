"""Where a torch.fx import of a small ShuffleNet V2 spends its time: the two runs that record each step's
shape (a batch of 2, then one of 3), on fake tensors (as before) and on meta tensors (as now, falling back
to fake ones), beside one real forward pass and the fidelity check that follows the import. Each is the
median of several runs in this one process.

    python bench/import_shape_runs.py [--repeats 5]

Timings depend on the machine and on what else runs on it: read the ratios, not the seconds.
"""
import argparse

import torch
import torchvision
from torch import fx

from layerloom.graph.importers.fx_import import _Recorder, _Tracer, check_fidelity, import_module
from layerloom.graph.importers.shape_run import _on_fake, record_shapes

from import_speed import median_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = torchvision.models.ShuffleNetV2([2, 1, 1], [8, 16, 32, 64, 128], num_classes=7).eval()
    shape = (3, 32, 32)
    gm = fx.GraphModule(model, _Tracer(set()).trace(model))
    x2, x3 = torch.randn(2, *shape), torch.randn(3, *shape)
    fake = median_seconds(lambda: [_on_fake(x, _Recorder(gm)) for x in (x2, x3)], args.repeats)
    meta = median_seconds(lambda: [record_shapes(gm, x, _Recorder) for x in (x2, x3)], args.repeats)
    with torch.no_grad():
        real = median_seconds(lambda: [_Recorder(gm).run(x) for x in (x2, x3)], args.repeats)
    whole = median_seconds(lambda: import_module(model, shape, "shufflenet", "bench"), args.repeats)
    doc, state, report = import_module(model, shape, "shufflenet", "bench")
    check = median_seconds(lambda: check_fidelity(doc, state, model, shape, report), args.repeats)
    print(f"shape runs on fake tensors (before)  {fake:7.3f} s")
    print(f"shape runs on meta tensors (now)     {meta:7.3f} s   {fake / meta:5.1f}x faster")
    print(f"the same two runs on real tensors    {real:7.3f} s   (for scale: they compute every value)")
    print(f"the whole import (now)               {whole:7.3f} s   shape runs were {fake / (whole - meta + fake):.0%} "
          "of it before")
    print(f"the fidelity check after it          {check:7.3f} s")


if __name__ == "__main__":
    main()
