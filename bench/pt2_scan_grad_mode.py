"""A recurrent graph's pt2 export (its layers as scans, any sequence length) with autograd on and under
torch.no_grad(), side by side: seconds of torch.export.export (median of interleaved runs), the ratio
no_grad / grad, and whether the two programs are the same (every graph's code, the state_dict, outputs at
two lengths, and the same outputs again after torch.export.save and torch.export.load).

    python bench/pt2_scan_grad_mode.py [--preset text_gru] [--repeats 3]

Timings depend on the machine and on what else runs on it: read them side by side, not as limits.
"""
import argparse
import io
import statistics
import time
import warnings

import torch

from layerloom.presets import preset_path
from layerloom.runtime.export.formats import _batch_dim
from layerloom.runtime.export.recurrent_scan import scanned
from layerloom.runtime.export.source import load_source
from layerloom.runtime.export.steps import export_steps, other_lengths, steps_dim


def _codes(program) -> dict:
    return {name: m.code for name, m in program.graph_module.named_modules() if hasattr(m, "code")}


def _same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) and a[k].requires_grad == b[k].requires_grad
                                        for k in a)


def _reloaded(program):
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    buffer.seek(0)
    return torch.export.load(buffer).module()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--preset", default="text_gru")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    src = load_source(preset_path(args.preset))
    steps = int(src.input_shape[0])
    model = scanned(src.model)
    x = src.probe(2, steps=export_steps(steps))

    def export():
        return torch.export.export(model, (x,), dynamic_shapes=({0: _batch_dim(), 1: steps_dim()},))

    export()                                        # torch.export's own first-call costs
    modes = {"grad": torch.enable_grad, "no_grad": torch.no_grad}
    seconds = {k: [] for k in modes}
    programs = {}
    for _ in range(args.repeats):
        for name, mode in modes.items():
            start = time.perf_counter()
            with mode():
                programs[name] = export()
            seconds[name].append(time.perf_counter() - start)
    a, b = programs["grad"], programs["no_grad"]
    print(f"{args.preset} ({'×'.join(map(str, src.input_shape))}), torch {torch.__version__}, "
          f"median of {args.repeats} interleaved exports:")
    for name in modes:
        print(f"  {name:8s} {statistics.median(seconds[name]):6.2f} s")
    print(f"  no_grad / grad = {statistics.median(seconds['no_grad']) / statistics.median(seconds['grad']):.2f}")
    print(f"  same code in all {len(_codes(a))} graphs: {_codes(a) == _codes(b)}; "
          f"same state_dict: {_same_state(a.state_dict, b.state_dict)}; "
          f"same signature: {str(a.graph_signature) == str(b.graph_signature)}")
    loaded = {name: _reloaded(p) for name, p in programs.items()}
    for n in other_lengths(steps):
        probe = src.probe(3, seed=1, steps=n)
        with torch.no_grad():
            want = src.model(probe)
            got = {name: p.module()(probe) for name, p in programs.items()}
            back = {name: m(probe) for name, m in loaded.items()}
        print(f"  {n} steps: outputs equal {torch.equal(got['grad'], got['no_grad'])}, after save/load "
              f"{torch.equal(back['grad'], back['no_grad'])}; max |Δ| vs torch "
              f"{float((back['no_grad'] - want).abs().max()):.1e}")


if __name__ == "__main__":
    main()
