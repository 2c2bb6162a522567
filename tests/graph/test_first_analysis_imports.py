"""The first analysis imports no TorchDynamo or TorchInductor (a fresh process counts sys.modules), and
the functions PyTorch marks 'never trace' are still never traced once Dynamo is imported."""
import json
import subprocess
import sys

SCRIPT = r"""
import json, sys
import torch
from layerloom.graph import analyze, load_graph
from layerloom.presets import preset_path

def count(prefix):
    return sum(1 for m in list(sys.modules) if m == prefix or m.startswith(prefix + "."))

before = {p: count(p) for p in ("torch._dynamo", "torch._inductor", "sympy", "triton")}
result = analyze(load_graph(preset_path("lenet5")))
after = {p: count(p) for p in ("torch._dynamo", "torch._inductor", "sympy", "triton")}

# Dynamo arrives later (torch.compile): a marked function (FlopCounterMode's dispatch) gets its real
# marker, and a compiled model that uses marked functions computes what eager does.
import torch._dynamo
from torch.utils.flop_counter import FlopCounterMode
with FlopCounterMode(display=False) as counter:
    torch.nn.functional.relu(torch.ones(2, device="meta"))
from torch.utils import flop_counter
inner = flop_counter._FlopCounterMode.__dict__["__torch_dispatch__"]
fn = inner.__closure__[inner.__code__.co_freevars.index("fn")].cell_contents
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(144, 3))
x = torch.rand(2, 1, 8, 8)
compiled = torch.compile(model, backend="eager")
same = bool(torch.equal(compiled(x), model(x)))
print("RESULT " + json.dumps({"before": before, "after": after, "macs": result.total_macs,
                              "marker": getattr(getattr(fn, "__dynamo_disable", None), "__qualname__", ""),
                              "same": same}))
"""


def test_first_analysis_leaves_dynamo_and_inductor_unimported():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line is not None, out.stderr[-3000:]
    data = json.loads(line[len("RESULT "):])
    assert data["macs"] == 416_520                                   # the analysis itself is unchanged
    assert data["after"]["torch._dynamo"] == 0 and data["after"]["torch._inductor"] == 0, data
    # nor Triton, which FlopCounterMode's module would import (graph/deferred_imports.flop_counter)
    assert data["before"]["triton"] == 0 and data["after"]["triton"] == 0, data
    # SymPy still comes with PyTorch's meta kernels (see graph/deferred_imports.py): recorded, not promised away
    assert data["before"]["sympy"] == 0
    # once Dynamo is imported, the marker is PyTorch's own again, and compiled code computes as eager
    assert "_deferred" not in data["marker"] and data["marker"], data
    assert data["same"]


def test_a_marked_function_runs_as_itself_while_another_thread_is_still_importing_dynamo(monkeypatch):
    """While Dynamo is half-imported (in sys.modules, still initialising) the wrapper must not import it
    from a second thread: the marked function just runs."""
    import types
    from importlib.machinery import ModuleSpec
    from layerloom.graph import deferred_imports

    half = types.ModuleType("torch._dynamo")
    half.__spec__ = ModuleSpec("torch._dynamo", None)
    half.__spec__._initializing = True
    real = sys.modules.get("torch._dynamo")
    monkeypatch.setitem(sys.modules, "torch._dynamo", half)
    calls = []

    def marked(x):
        calls.append(x)
        return x * 2

    assert not deferred_imports._dynamo_ready()
    assert deferred_imports._deferred(marked, True)(21) == 42 and calls == [21]
    assert not hasattr(marked, "__dynamo_disable")          # no marker was built from the half module
    half.__spec__._initializing = False
    assert deferred_imports._dynamo_ready()                  # a finished import: the real marker is built next
    if real is not None:
        monkeypatch.setitem(sys.modules, "torch._dynamo", real)


def test_only_the_thread_loading_flop_counter_is_refused_triton():
    """The finder refuses Triton to the thread that installed it and to no other, and is gone after."""
    import threading
    from layerloom.graph import deferred_imports

    finder = deferred_imports._NoTritonInThisThread()
    try:
        finder.find_spec("triton.runtime.jit")
    except ModuleNotFoundError as error:
        refused = error.name
    else:
        refused = None
    assert refused == "triton.runtime.jit"
    assert finder.find_spec("torch.utils.flop_counter") is None        # anything else: the usual finders
    elsewhere = []
    other = threading.Thread(target=lambda: elsewhere.append(finder.find_spec("triton")))
    other.start()
    other.join()
    assert elsewhere == [None]                                         # another thread imports Triton as usual
    assert not any(isinstance(f, deferred_imports._NoTritonInThisThread) for f in sys.meta_path)
