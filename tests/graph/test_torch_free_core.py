"""The part of the graph core the window draws from (registry, document, file format, layout facts) loads
without torch; the names it stands in for are torch's own."""
from __future__ import annotations

import builtins
import inspect
import subprocess
import sys

import pytest
import torch

from layerloom.graph import reserved_names
from layerloom.graph.blocks import REGISTRY, get_kind
from layerloom.graph.document import GraphDocument, id_problem
from layerloom.graph.lazy_torch import ModuleRef, nn, resolved


def test_opening_every_preset_loads_no_torch():
    code = ("import sys\n"
            "from layerloom.graph.fileformat import load_graph\n"
            "from layerloom.graph.blocks import REGISTRY\n"
            "from layerloom.presets import preset_paths\n"
            "docs = [load_graph(p) for p in preset_paths()]\n"
            "labels = [REGISTRY[b.kind].short_label(b.full_params()) for d in docs for b in d.blocks.values()]\n"
            "assert len(docs) >= 9 and labels\n"
            "print(sorted(m for m in ('torch', 'numpy', 'networkx', 'sympy') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "[]"


def test_reserved_names_are_torchs():
    gm = torch.fx.GraphModule(torch.nn.Module(), torch.fx.Graph())
    live = set(dir(torch.fx.GraphModule)) | set(dir(gm)) | set(vars(gm)) | {"meta", "training", "shape_env"}
    spelled = {n for n in live if n[:1].isalpha()}
    assert reserved_names.MODULE_ATTRIBUTES == spelled, "refresh graph/reserved_names.py for this torch"
    from torch.fx.graph import _illegal_names
    assert set(_illegal_names) - set(vars(builtins)) <= reserved_names.FX_GLOBALS | set(__import__("keyword").kwlist)
    # an id the compiled module would shadow, or a name generated code uses, is refused
    for name in ("training", "forward", "state_dict", "print", "inf", "device", "x"):
        assert id_problem(name) is not None, name
    assert id_problem("input") is None and id_problem("conv1") is None


@pytest.mark.parametrize("name", sorted(k for k, v in REGISTRY.items() if isinstance(v.module, ModuleRef)))
def test_every_lazy_module_is_the_real_class(name):
    kind = get_kind(name)
    target = resolved(kind.module)
    assert inspect.isclass(target) and issubclass(target, torch.nn.Module)
    assert kind.module.__name__ == target.__name__
    assert inspect.signature(kind.module) == inspect.signature(target)
    assert kind.module == target and kind.module == ModuleRef(kind.module.where, target.__name__)


def test_a_module_ref_builds_the_module_torch_builds():
    torch.manual_seed(0)
    mine = nn.Conv2d(1, 6, 5)
    torch.manual_seed(0)
    theirs = torch.nn.Conv2d(1, 6, 5)
    assert type(mine) is torch.nn.Conv2d
    assert all(torch.equal(a, b) for a, b in zip(mine.state_dict().values(), theirs.state_dict().values()))
    with pytest.raises(AttributeError):
        nn._private


def test_networkx_view_of_a_document():
    doc = GraphDocument()
    a = doc.add_block("Input")
    b = doc.add_block("Output")
    doc.connect(a, b)
    g = doc.to_networkx()
    assert list(g.edges) == [(a, b, 0)]
