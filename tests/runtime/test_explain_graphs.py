"""Graphs an explanation cannot follow are refused with a message, never with a traceback."""
import pytest

from layerloom.app.main import main
from layerloom.graph import GraphDocument, compile_graph
from layerloom.graph.fileformat import save_graph
from layerloom.runtime import explain as E


def two_input_graph(path):
    doc = GraphDocument("two inputs")
    a, b = doc.add_block("Input", {"shape": [1, 28, 28]}), doc.add_block("Input", {"shape": [1, 28, 28]})
    cat = doc.add_block("Concat", {"dim": 1})
    doc.connect(a, cat, dst_port=0)
    doc.connect(b, cat, dst_port=1)
    last = cat
    for kind, params in [("Flatten", {}), ("Linear", {"out_features": 10}), ("Output", {})]:
        made = doc.add_block(kind, params)
        doc.connect(last, made)
        last = made
    doc.training = {"dataset": "mnist-sample"}
    save_graph(doc, path)
    return doc


def test_a_graph_with_two_inputs_is_refused_in_words(tmp_path, capsys):
    import torch
    graph = tmp_path / "two.loom.json"
    model = compile_graph(two_input_graph(graph)).eval()
    x = torch.rand(1, 1, 28, 28)
    with pytest.raises(TypeError):
        model(x)                                    # torch itself needs both inputs
    with pytest.raises(E.ExplainError, match="one Input block, and this one has 2"):
        E.explain(model, x, "saliency")
    out = tmp_path / "x.png"
    assert main(["explain", str(graph), "--sample", "0", "--method", "saliency", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "explain a graph with a single Input" in err and "Traceback" not in err and not out.exists()


def test_gradcam_on_a_resnet_explains_through_its_last_spatial_stage_not_the_1x1_pool():
    import torch
    from torch.fx.passes.shape_prop import ShapeProp

    from layerloom.graph import load_graph
    from layerloom.presets import preset_path
    captum_attr = pytest.importorskip("captum.attr")
    doc = load_graph(preset_path("resnet18"))
    doc.set_param("input", "shape", [3, 64, 64])                   # a 2×2 last stage: quick, and still spatial
    model = compile_graph(doc, seed=0).eval()
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    ShapeProp(model).propagate(x)
    shapes = {n.name: tuple(n.meta["tensor_meta"].shape) for n in model.graph.nodes if "tensor_meta" in n.meta}
    e = E.explain(model, x, "gradcam")
    assert shapes["gap1"][-2:] == (1, 1) and shapes[e.block][-2:] == (2, 2)
    last_spatial = [n for n, s in shapes.items() if len(s) == 4 and s[-2:] != (1, 1) and n != "x"][-1]
    assert e.block == last_spatial
    ref = captum_attr.LayerGradCam(model, model.get_submodule(e.block)).attribute(x, target=e.target,
                                                                                  relu_attributions=True)
    ref = captum_attr.LayerAttribution.interpolate(ref, (64, 64), interpolate_mode="bilinear")
    torch.testing.assert_close(torch.from_numpy(e.attribution), ref[0, 0], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("method", ["gradcam", "occlusion"])
def test_an_image_method_on_a_sequence_says_which_methods_fit(method):
    import torch

    from layerloom.graph import load_graph
    from layerloom.presets import preset_path
    model = compile_graph(load_graph(preset_path("rnn_classifier")), seed=0).eval()
    with pytest.raises(E.ExplainError) as refused:
        E.explain(model, torch.rand(1, 28, 28), method)
    assert "needs an image input (C×H×W), and this model reads 28×28: use saliency or integrated-gradients" \
        in str(refused.value)


def test_a_blurred_baseline_fits_an_image_smaller_than_its_kernel(tmp_path, capsys):
    import torch
    doc = GraphDocument("small pictures")
    last = doc.add_block("Input", {"shape": [1, 8, 8]})
    for kind, params in [("Conv2d", {"out_channels": 4, "kernel_size": 3}), ("ReLU", {}), ("Flatten", {}),
                         ("Linear", {"out_features": 10}), ("Output", {})]:
        made = doc.add_block(kind, params)
        doc.connect(last, made)
        last = made
    model = compile_graph(doc, seed=0).eval()
    x = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    base = E.blurred(x)
    assert base.shape == x.shape and base.std() < 0.5 * x.std()            # smoothed, not refused
    torch.testing.assert_close(E.blurred(torch.full_like(x, 0.3)), torch.full_like(x, 0.3))
    e = E.explain(model, x, "integrated-gradients", baseline="blurred", steps=32)
    captum_attr = pytest.importorskip("captum.attr")
    ref = captum_attr.IntegratedGradients(model).attribute(x, baselines=base, target=e.target, n_steps=32,
                                                           method="gausslegendre")
    torch.testing.assert_close(torch.from_numpy(e.attribution), ref[0].sum(dim=0), atol=1e-6, rtol=1e-4)
    graph = tmp_path / "small.loom.json"
    doc.training = {"dataset": "mnist-sample"}
    save_graph(doc, graph)
    image = tmp_path / "digit.png"
    from PIL import Image
    Image.new("L", (8, 8), 200).save(image)
    out = tmp_path / "ig.png"
    assert main(["explain", str(graph), "--image", str(image), "--method", "integrated-gradients",
                 "--baseline", "blurred", "--out", str(out)]) == 0
    assert out.is_file() and "Traceback" not in capsys.readouterr().err
