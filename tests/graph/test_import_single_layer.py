"""One torch.nn layer as the whole model (`nn.Linear(4, 3)` itself) imports as Input → that block → Output by every
route, computing what the layer computes; a layer whose whole result is not one tensor is refused in words."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from layerloom.graph import compile_graph, load_graph
from layerloom.graph.importers import ImportFailure, ImportResult, import_source, save_import
from layerloom.graph.importers.fx_import import check_fidelity, import_module

LAYERS = [
    (lambda: nn.Linear(4, 3), (4,), "Linear", "linear"),
    (lambda: nn.Conv2d(3, 4, 3, padding=1), (3, 6, 6), "Conv2d", "conv2d"),
    (lambda: nn.LayerNorm(5), (2, 5), "LayerNorm", "layernorm"),
    (lambda: nn.Embedding(10, 3), (4,), "Embedding", "embedding"),
]


def _chain(doc) -> list[str]:
    return [b.kind for b in doc.blocks.values()]


@pytest.mark.parametrize("make, shape, kind, bid", LAYERS, ids=[k for _, _, k, _ in LAYERS])
def test_a_torch_layer_as_the_whole_model_imports_as_its_block(make, shape, kind, bid, tmp_path):
    torch.manual_seed(0)
    layer = make().eval()
    dtype = "int64" if kind == "Embedding" else "float32"
    doc, state, report = import_module(layer, shape, kind, "layer", dtype)
    assert _chain(doc) == ["Input", kind, "Output"] and bid in doc.blocks
    figures = check_fidelity(doc, state, layer, shape, report, dtype)
    assert figures["max_abs_diff"] == 0.0 and figures["tensors_equal"]
    save_import(ImportResult(doc, state, report, layer), tmp_path / "one.loom.json")
    graph = compile_graph(load_graph(tmp_path / "one.loom.json")).eval()
    x = torch.randint(0, 10, (3, *shape)) if kind == "Embedding" else torch.randn(3, *shape)
    with torch.no_grad():
        assert torch.equal(graph(x), layer(x))


def test_a_torch_layer_without_a_block_as_the_whole_model_is_one_opaque_block():
    layer = nn.PReLU(3).eval()
    doc, state, report = import_module(layer, (3, 4), "prelu", "layer")
    assert _chain(doc) == ["Input", "Opaque", "Output"]
    assert check_fidelity(doc, state, layer, (3, 4), report)["max_abs_diff"] == 0.0


@pytest.mark.parametrize("route", ["pt2", "onnx"])
def test_a_linear_layer_saved_alone_imports_as_input_linear_output(route, tmp_path):
    torch.manual_seed(0)
    layer = nn.Linear(4, 3).eval()
    x = torch.randn(2, 4)
    path = tmp_path / f"linear.{route}"
    if route == "pt2":
        torch.export.save(torch.export.export(layer, (x,)), path)
    else:
        torch.onnx.export(layer, (x,), str(path), dynamo=False, input_names=["x"], dynamic_axes={"x": {0: "N"}})
    result = import_source(str(path))
    assert _chain(result.doc) == ["Input", "Linear", "Output"]
    graph = compile_graph(result.doc, weights=False).eval()
    graph.load_state_dict(result.state, strict=True)
    with torch.no_grad():
        assert torch.allclose(graph(x), layer(x), rtol=0, atol=1e-6)


def test_a_recurrent_layer_or_attention_as_the_whole_model_is_refused_naming_what_it_returns(tmp_path):
    with pytest.raises(ImportFailure, match=r"returns the final hidden state of its LSTM beside the output; .* "
                                            r"import a module whose forward returns only that"):
        import_module(nn.LSTM(4, 5, batch_first=True), (6, 4), "lstm", "lstm")
    with pytest.raises(ImportFailure, match=r"takes a query, a key and a value"):
        import_module(nn.MultiheadAttention(4, 2, batch_first=True), (6, 4), "attention", "attention")
    with pytest.raises(ImportFailure, match=r"^lstm: LSTM with batch_first=False has no block"):
        import_module(nn.LSTM(4, 5), (6, 4), "lstm", "lstm")
    torch.export.save(torch.export.export(nn.GRU(4, 5, batch_first=True).eval(), (torch.randn(2, 6, 4),)),
                      tmp_path / "gru.pt2")
    with pytest.raises(ImportFailure, match=r"the program returns the final hidden state of its GRU beside the output; "
                                            r".* export a module whose forward returns only that"):
        import_source(str(tmp_path / "gru.pt2"))


class _WithOptions(nn.Module):
    """A forward with arguments after the input that have defaults, as many models write it."""

    def __init__(self):
        super().__init__()
        self.fc, self.head = nn.Linear(4, 6), nn.Linear(6, 3)

    def forward(self, x, mask=None, return_features=False, *, activation="relu"):
        if mask is not None:
            x = x * mask
        features = self.fc(x)
        features = features.relu() if activation == "relu" else features.tanh()
        return features if return_features else self.head(features)


def test_a_forward_with_defaulted_arguments_is_imported_as_it_runs_given_its_input_alone():
    torch.manual_seed(0)
    model = _WithOptions().eval()
    doc, state, report = import_module(model, (4,), "options", "options")
    assert report.method == "torch.fx"        # not the fallback for a model torch.fx cannot trace
    assert _chain(doc) == ["Input", "Linear", "ReLU", "Linear", "Output"]
    assert check_fidelity(doc, state, model, (4,), report)["max_abs_diff"] == 0.0
    graph = compile_graph(doc, weights=False).eval()
    graph.load_state_dict(state, strict=True)
    x = torch.randn(3, 4)
    with torch.no_grad():
        assert torch.equal(graph(x), model(x))


def test_a_container_without_a_forward_is_refused_saying_to_import_what_calls_its_layers():
    with pytest.raises(ImportFailure, match=r"^ModuleList has no forward of its own .*: import the module that calls"):
        import_module(nn.ModuleList([nn.Linear(4, 3)]), (4,), "list", "list")
