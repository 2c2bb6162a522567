"""`generated_code` writes the forward from the traced fx graph without building or compiling a module;
its layers and forward are line for line what fx's own GraphModule (the compiled model) holds, for every
preset, and the text runs as the compiled model does."""
import re

import pytest
import torch

from layerloom.graph import analyze, compile_graph, generated_code, load_graph
from layerloom.graph.blocks import get_kind
from layerloom.graph.compiler import _index_syntax, class_name_for, constructor_source
from layerloom.presets import preset_paths


def through_graph_module(doc) -> tuple[list[str], list[str]]:
    """The layer lines and the forward as they were made before: from a compiled GraphModule's children
    and its `.code` (fx compiles that text into the module's forward)."""
    gm = compile_graph(doc, weights=False, device="meta")
    analysis = analyze(doc)
    layers = [f"        self.{name} = {constructor_source(get_kind(doc.blocks[name].kind), analysis.blocks[name].params)}"
              for name, _ in gm.named_children()]
    body = [_index_syntax(re.sub(r";\s+[\w\s=]+= None\s*$", "", line)) for line in gm.code.strip("\n").splitlines()]
    return layers, ["    " + line if line.strip() else "" for line in body]


def _run_shape(path, text: str) -> list:
    """The sample shape to run the preset at: its Input's, or 64×64 for an image network whose code is the
    very same text at 64×64 (it pools adaptively: nothing in it holds the image size)."""
    doc = load_graph(path)
    shape = next(b.full_params()["shape"] for b in doc.blocks.values() if b.kind == "Input")
    if len(shape) != 3 or shape[1] * shape[2] <= 64 * 64:
        return shape
    small = [shape[0], 64, 64]
    doc.set_param("input", "shape", small)
    return small if analyze(doc).ok and generated_code(doc) == text else shape


@pytest.mark.parametrize("path", preset_paths(), ids=lambda p: p.name.removesuffix(".loom.json"))
def test_every_preset_gets_the_same_text_as_the_compiled_module(path):
    doc = load_graph(path)
    text = generated_code(doc)
    layers, forward = through_graph_module(doc)
    lines = text.splitlines()
    start = lines.index("        super().__init__()") + 1
    assert lines[start:start + len(layers)] == layers and lines[start + len(layers)] == ""
    assert lines[start + len(layers) + 1:] == forward
    # and it is a working module: same outputs as the compiled graph with the same weights
    namespace = {}
    exec(compile(text, "<generated>", "exec"), namespace)       # the preset's own text, shipped with Layerloom
    model = compile_graph(doc, seed=0).eval()
    with torch.device("meta"):                      # built without weights of its own: it takes the model's
        mine = namespace[class_name_for(doc.name)]().eval()
    mine.load_state_dict(model.state_dict(), assign=True)
    shape = _run_shape(path, text)
    dtype = torch.long if doc.blocks["input"].full_params().get("dtype") in ("int64", "long") else torch.float32
    x = torch.randint(0, 50, (2, *shape)) if dtype == torch.long else torch.randn(2, *shape)
    with torch.no_grad():
        a, b = model(x), mine(x)
    assert torch.equal(a if torch.is_tensor(a) else a[0], b if torch.is_tensor(b) else b[0])


@pytest.mark.parametrize("name, spec, shape", [
    ("class token", ("ClassToken", {}), [3, 4]),                     # the class the code defines inline
    ("Position Embedding", ("PositionEmbedding", {}), [3, 4]),
    ("stochastic depth", ("StochasticDepth", {"p": 0.5}), [4]),      # the class the code imports
    ("ValueError", ("ReLU", {}), [4]),                               # a builtin
])
def test_a_graph_named_like_a_class_its_code_uses_still_runs(name, spec, shape):
    from tests.graph.helpers import chain
    doc = chain(spec, shape=shape, name=name)
    text = generated_code(doc)
    namespace = {}
    exec(compile(text, "<generated>", "exec"), namespace)       # Layerloom's own generated text
    cls = class_name_for(name)
    assert cls == compile_graph(doc).__class__.__name__
    mine = namespace[cls]().eval()
    model = compile_graph(doc, seed=0).eval()
    mine.load_state_dict(model.state_dict())
    x = torch.rand(2, *shape)
    with torch.no_grad():
        assert torch.equal(mine(x), model(x))
