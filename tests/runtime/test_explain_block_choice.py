"""`--block` / `block=`: an id the graph lacks is named as such (with the graph's own blocks), and a block
given to a method that does not explain through one is reported, not silently dropped."""
import numpy as np
import pytest
import torch

from layerloom.app.main import main
from layerloom.graph import analyze, compile_graph, load_graph
from layerloom.presets import preset_path
from layerloom.runtime import explain as E


@pytest.fixture(scope="module")
def lenet():
    doc = load_graph(preset_path("lenet5"))
    model = compile_graph(doc, seed=0).eval()
    x = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    return doc, model, x


@pytest.mark.parametrize("method", E.METHODS)
def test_an_unknown_block_is_named_with_the_graphs_blocks(lenet, method):
    doc, model, x = lenet
    with pytest.raises(E.ExplainError) as err:
        E.explain(model, x, method, block="nosuch", steps=4)
    text = str(err.value)
    assert text.startswith("the graph has no block nosuch: ")
    for bid, blk in doc.blocks.items():             # the document's own ids, every block that computes
        if blk.kind not in ("Input", "Output"):
            assert bid in text


def test_a_block_given_to_saliency_on_an_image_is_reported_and_changes_nothing(lenet):
    _, model, x = lenet
    e = E.explain(model, x, "saliency", block="conv1")
    assert "block conv1 was ignored" in e.details["warning"] and e.block is None
    xr = x.clone().requires_grad_(True)                # torch's own gradient of the predicted score
    score = model(xr)[0, e.target]
    (grad,) = torch.autograd.grad(score, xr)
    np.testing.assert_allclose(e.attribution, grad[0].abs().amax(dim=0).numpy(), rtol=1e-5, atol=1e-7)
    assert "warning" not in E.explain(model, x, "saliency").details
    assert "warning" not in E.explain(model, x, "gradcam", block="conv2").details


def test_a_block_on_token_ids_is_used_and_not_reported():
    doc = load_graph(preset_path("text_gru"))
    model = compile_graph(doc, analyze(doc, {"num_classes": 3, "vocab_size": 40}), seed=0).eval()
    x = torch.randint(1, 40, (1, 9), generator=torch.Generator().manual_seed(1))
    e = E.explain(model, x, "saliency", block="emb1")
    assert e.block == "emb1" and "warning" not in e.details
    with pytest.raises(E.ExplainError, match="the graph has no block emb9"):
        E.explain(model, x, "saliency", block="emb9")


def test_the_cli_says_which_block_is_missing_and_warns_about_an_unused_one(tmp_path, capsys):
    graph = str(preset_path("lenet5"))
    out = tmp_path / "x.png"
    for method in ("gradcam", "saliency", "occlusion"):
        assert main(["explain", graph, "--sample", "0", "--method", method, "--block", "nosuch",
                     "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert "layerloom explain: the graph has no block nosuch" in err and "conv1" in err
        assert "Traceback" not in err and not out.exists()
    assert main(["explain", graph, "--sample", "0", "--method", "saliency", "--block", "conv1",
                 "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "warning: --block: saliency does not explain through a block" in err and out.is_file()
