"""ShuffleNet V2 from PyTorch's TorchScript ONNX exporter imports: its chunk exports as Slices whose ends
come from the input's shape (Shape → Gather → Div → Mul), which fold to constants where shape
inference (or analysis of the blocks mapped so far) knows that size after the batch, and they become
Narrow blocks; its channel shuffle reshapes to a batch of 1 fixed in the file where shape inference
lost the tensor's shape."""
from __future__ import annotations

import warnings

import pytest
import torch
import torchvision
from torch import nn

from layerloom.graph.compiler import compile_graph
from layerloom.graph.importers import import_source


@pytest.mark.parametrize("how", ["torchscript-fixed-batch", "torchscript-dynamic-batch"])
def test_shufflenet_from_the_torchscript_exporter_imports_as_blocks_that_compute_and_train_as_it_does(tmp_path, how):
    """Its chunks become Narrow blocks (each was a Slice run by onnxruntime in an Opaque block, through which no
    gradient flows), so every weight trains (the dynamo exporter's Split: test_import_onnx_split.py). With a
    dynamic batch every channel shuffle's Reshape, and so every Slice after it, reads its sizes from the
    tensor's shape, which shape inference loses past the first one: analysis of the blocks mapped so far gives
    them (the import stopped with "the Slice ... reads ..., which comes from no tensor of the network")."""
    torch.manual_seed(0)
    model = torchvision.models.shufflenet_v2_x0_5(num_classes=10)
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    model.eval()
    path = tmp_path / "shufflenet.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(1, 3, 32, 32),), str(path), dynamo=False, input_names=["x"],
                          dynamic_axes={"x": {0: "N"}} if how.endswith("dynamic-batch") else None)
    result = import_source(str(path))
    assert result.report.opaque == []
    assert sum(b.kind == "Narrow" for b in result.doc.blocks.values()) == 26      # 13 chunks, two halves each
    graph = compile_graph(result.doc, weights=False).eval()
    graph.load_state_dict(result.state, strict=True)
    for batch in (1, 3):
        x = torch.randn(batch, 3, 32, 32, generator=torch.Generator().manual_seed(batch))
        with torch.no_grad():
            torch.testing.assert_close(graph(x), model(x), rtol=1e-4, atol=1e-5)
    graph(x).square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in graph.parameters())
