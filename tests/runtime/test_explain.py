"""Explanations over the compiled graph, checked against Captum and against what they must show."""
import json

import numpy as np
import pytest
import torch
from torch import fx, nn

from layerloom.app.main import main
from layerloom.graph import analyze, compile_graph, load_graph
from layerloom.presets import preset_path
from layerloom.runtime import explain as E
from layerloom.runtime.explain_subject import load_subject

captum_attr = pytest.importorskip("captum.attr")


@pytest.fixture(scope="module")
def subject(trained_lenet):
    return load_subject(trained_lenet)


def _validation(subject, n):
    raws, xs, ys = zip(*(subject.sample(i) for i in range(n)))
    return torch.cat(raws), torch.cat(xs), torch.tensor(ys)


def test_gradcam_and_integrated_gradients_match_captum(subject):
    model = subject.model
    _, xs, ys = _validation(subject, 4)
    for x, y in zip(xs.split(1), ys.tolist()):
        for block in ("conv2", "pool2"):
            ours = E.grad_cam(model, x, y, block, upsample=False)
            ref = captum_attr.LayerGradCam(model, model.get_submodule(block)).attribute(
                x, target=y, relu_attributions=True)
            assert ours.abs().max() > 0
            torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)
            up = captum_attr.LayerAttribution.interpolate(ref, (28, 28), interpolate_mode="bilinear")
            torch.testing.assert_close(E.grad_cam(model, x, y, block), up, atol=1e-5, rtol=0)
        for baseline in ("zeros", "blurred"):
            ig = E.integrated_gradients(model, x, y, baseline, steps=50)
            ref = captum_attr.IntegratedGradients(model).attribute(
                x, E.make_baseline(x, baseline), target=y, n_steps=50, method="gausslegendre")
            torch.testing.assert_close(ig.attributions, ref, atol=1e-5, rtol=0)


def test_occlusion_and_saliency_match_captum(subject):
    model = subject.model
    _, x, y = subject.sample(5)
    ours = E.occlusion(model, x, y, (4, 4), (2, 2))
    ref = captum_attr.Occlusion(model).attribute(x, sliding_window_shapes=(1, 4, 4), strides=(1, 2, 2),
                                                 target=y, baselines=0)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(E.saliency(model, x, y), captum_attr.Saliency(model).attribute(x, target=y),
                               atol=1e-6, rtol=0)


def test_integrated_gradients_completeness_gap_is_under_one_percent_at_50_steps(subject):
    _, xs, _ = _validation(subject, 10)
    for x in xs.split(1):
        e = E.explain(subject.model, x, "integrated-gradients", steps=50)
        assert e.completeness_gap is not None and e.completeness_gap <= 0.01, e.completeness_gap


def _ranks(a: torch.Tensor) -> torch.Tensor:
    return a.flatten().argsort().argsort().double()


def test_saliency_fails_the_model_randomisation_check_only_when_it_should(subject):
    """Adebayo et al. 2018: maps of a trained and a re-initialised network must differ."""
    random_model = compile_graph(subject.doc, analyze(subject.doc), seed=123).eval()
    _, xs, _ = _validation(subject, 20)
    rhos = []
    for x in xs.split(1):
        target = int(subject.model(x).argmax())
        a = E.saliency(subject.model, x, target).amax(dim=1)
        b = E.saliency(random_model, x, target).amax(dim=1)
        rhos.append(float(torch.corrcoef(torch.stack([_ranks(a), _ranks(b)]))[0, 1]))
    assert np.mean(rhos) < 0.5, rhos


def test_gradcam_mass_lies_on_the_ink_over_the_validation_set(subject):
    inside = outside = 0.0
    for _, raw, x, y in subject.batches(250):
        pred = subject.model(x).argmax(dim=1)
        cam = E.grad_cam(subject.model, x, pred, E.image_blocks(subject.model, x[:1])[-1])
        ink = raw > 0.3
        inside += float(cam[ink].mean())
        outside += float(cam[~ink].mean())
    assert inside > outside, (inside, outside)


class _Reuse(nn.Module):
    """A residual net that reuses one conv and applies a ReLU (in place or not) after an add."""

    def __init__(self, inplace):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.relu = nn.ReLU(inplace=inplace)
        self.tap = nn.Identity()           # a module on the add's output, for Captum's hooks
        self.head = nn.Linear(4 * 8 * 8, 3)

    def forward(self, x):
        a = self.relu(self.conv(x))
        b = self.relu(self.tap(self.conv(a.mean(1, keepdim=True)) + a))
        return self.head(b.flatten(1))


def test_gradcam_works_through_add_blocks_reused_modules_and_inplace_relu():
    torch.manual_seed(0)
    plain, inplace = _Reuse(False), _Reuse(True)
    inplace.load_state_dict(plain.state_dict())
    gm = fx.symbolic_trace(inplace)
    add = next(n.name for n in gm.graph.nodes if n.op == "call_function" and "add" in n.name)
    convs = [n.name for n in gm.graph.nodes if n.op == "call_module" and n.target == "conv"]
    assert len(convs) == 2
    x = torch.rand(1, 1, 8, 8)
    # the reference: Captum's hooks on the twin without in-place ReLU, at the module after the add
    ref = captum_attr.LayerGradCam(plain, plain.tap).attribute(x, target=1, relu_attributions=True)
    ours = E.grad_cam(gm, x, 1, add, upsample=False)
    assert ref.abs().sum() > 0
    torch.testing.assert_close(ours, ref, atol=1e-6, rtol=0)
    # each use of the reused conv is a node of its own; the first one's Grad-CAM equals its
    # hand computation from autograd on the plain twin
    a = plain.conv(x).detach().requires_grad_(True)
    h = torch.relu(a)
    out = plain.head(torch.relu(plain.conv(h.mean(1, keepdim=True)) + h).flatten(1))
    (g,) = torch.autograd.grad(out[0, 1], a)
    expected = torch.relu((g.mean((2, 3), keepdim=True) * a.detach()).sum(1, keepdim=True))
    torch.testing.assert_close(E.grad_cam(gm, x, 1, convs[0], upsample=False), expected, atol=1e-6, rtol=0)


def test_text_attribution_through_the_embedding_of_the_gru_preset():
    doc = load_graph(preset_path("text_gru"))
    model = compile_graph(doc, analyze(doc, {"num_classes": 3, "vocab_size": 40}), seed=0).eval()
    x = torch.randint(1, 40, (1, 15), generator=torch.Generator().manual_seed(1))
    e = E.explain(model, x, "integrated-gradients", target=2)
    assert e.kind == "sequence" and e.block == "emb1" and e.attribution.shape == (15,)
    assert e.completeness_gap <= 0.01
    ref = captum_attr.LayerIntegratedGradients(model, model.emb1).attribute(
        x, torch.zeros_like(x), target=2, n_steps=50, method="gausslegendre")
    np.testing.assert_allclose(e.attribution, ref.sum(-1)[0].numpy(), atol=1e-5)
    s = E.explain(model, x, "saliency", target=2)
    assert s.attribution.shape == (15,) and (s.attribution >= 0).all() and s.attribution.max() > 0
    with pytest.raises(E.ExplainError, match="image input"):
        E.explain(model, x, "gradcam")


def test_cancel_stops_integrated_gradients_and_progress_reaches_the_end(subject):
    _, x, y = subject.sample(0)
    seen = []
    E.integrated_gradients(subject.model, x, y, steps=20, batch=5, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(5, 20), (10, 20), (15, 20), (20, 20)]
    with pytest.raises(E.Cancelled):
        E.integrated_gradients(subject.model, x, y, steps=20, batch=5, cancel=lambda: True)


def test_cli_writes_png_and_json(trained_lenet, tmp_path, capsys):
    from PIL import Image
    out = tmp_path / "ig.png"
    assert main(["explain", str(trained_lenet), "--sample", "3", "--method", "integrated-gradients",
                 "--out", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["method"] == "integrated-gradients" and result["label"] == 3
    assert result["target"] == result["prediction"][0]["index"]
    assert len(result["prediction"]) == 5 and 0 <= result["completeness_gap"] <= 0.01
    with Image.open(out) as im:
        assert im.width > 3 * 224 and im.height > 224
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    digit = tmp_path / "digit.png"
    raw, _, _ = load_subject(trained_lenet).sample(3)
    Image.fromarray((raw[0, 0].numpy() * 255).astype(np.uint8)).save(digit)
    assert main(["explain", str(trained_lenet), "--image", str(digit), "--method", "gradcam", "--block", "conv2",
                 "--out", str(tmp_path / "cam.png"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["block"] == "conv2" and result["prediction"][0]["index"] == 3
    assert main(["explain", str(trained_lenet), "--sample", "99999", "--method", "saliency",
                 "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert "no validation sample 99999" in err and "Traceback" not in err
    assert main(["explain", str(trained_lenet), "--sample", "1", "--method", "gradcam", "--block", "fc1",
                 "--out", str(tmp_path / "x.png")]) == 2
    assert "pick one of" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_an_untrained_graph_s_explanation_warns_about_the_explanation_not_an_export(tmp_path, capsys):
    assert load_subject(preset_path("lenet5")).warnings[0].startswith(
        "this graph has not been trained: the explanation is of freshly initialised weights")
    out = tmp_path / "x.png"
    argv = ["explain", str(preset_path("lenet5")), "--sample", "0", "--method", "saliency", "--out", str(out)]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "the explanation is of freshly initialised weights" in err and "export" not in err and out.is_file()


def test_a_trained_run_s_explanation_has_no_such_warning(subject):
    assert subject.trained and subject.warnings == []


def test_explaining_a_sample_of_a_run_whose_data_set_is_gone_says_to_put_it_back(tmp_path, capsys):
    import json

    from layerloom.app.main import main
    from layerloom.presets import preset_path
    data = tmp_path / "reviews.csv"
    doc = json.loads(preset_path("text_gru").read_text(encoding="utf-8"))
    doc["training"]["dataset_options"]["path"] = str(data)          # never written: as if deleted since
    graph = tmp_path / "text.loom.json"
    graph.write_text(json.dumps(doc), encoding="utf-8")
    out = tmp_path / "x.png"
    assert main(["explain", str(graph), "--sample", "0", "--method", "saliency", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("layerloom explain: the validation samples of this run cannot be loaded: ")
    assert "reviews.csv" in err and err.endswith("(put its data set back where the run read it)")
    assert "\n" not in err and not out.exists()
