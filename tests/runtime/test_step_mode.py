"""One training step made visible: its numbers equal autograd's and the optimizer's."""
import copy

import pytest
import torch

from layerloom.graph import compile_graph, load_graph
from layerloom.presets import preset_path
from layerloom.runtime.data import load_dataset
from layerloom.runtime.step_mode import StepView, filter_normalised_direction, loss_surface
from layerloom.runtime.optimization import training_loss

from ..graph.helpers import chain


@pytest.fixture(scope="module")
def batch():
    data = load_dataset("mnist-sample")
    x, y = data.train.batch(torch.arange(32))
    return x.float(), y


def lenet(seed=0):
    return compile_graph(load_graph(preset_path("lenet5")), seed=seed)


WATCH = [("conv1", "weight", (2, 0, 1, 3)), ("fc1", "bias", (7,)), ("fc3", "weight", (4, 50))]


@pytest.mark.parametrize("config", [
    {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9},
    {"optimizer": "sgd", "lr": 0.05, "momentum": 0.0, "weight_decay": 0.01},
    {"optimizer": "adam", "lr": 0.003, "weight_decay": 0.001},
    {"optimizer": "adamw", "lr": 0.003, "weight_decay": 0.05},
])
def test_update_rule_numbers_equal_the_optimizer(batch, config):
    x, y = batch
    view = StepView(lenet(), config, x, y)
    for _ in range(3):          # the second and third steps use momentum buffers and moments
        report = view.step(WATCH)
        for w in report.weights:
            assert w.after == pytest.approx(w.expected, rel=1e-5, abs=1e-7), w.rule
            assert w.rule.endswith(f"{w.expected:.6g}")


def test_gradients_equal_a_plain_backward(batch):
    x, y = batch
    model = lenet(3)
    reference = copy.deepcopy(model)
    view = StepView(model, {"optimizer": "sgd", "lr": 0.01}, x, y)
    report = view.step()
    reference.train()
    loss = training_loss("cross_entropy", reference(x), y)
    loss.backward()
    assert report.loss_before == pytest.approx(float(loss.detach()), rel=1e-6)
    for block in ("conv1", "conv2", "fc1", "fc2", "fc3"):
        expected = torch.sqrt(sum(p.grad.norm() ** 2 for n, p in reference.named_parameters()
                                  if n.startswith(block + ".")))
        assert report.param_grad_norms[block] == pytest.approx(float(expected), rel=1e-5)
    # the gradient arriving at the last layer's output is dL/dlogits = (softmax − onehot) / N
    logits = reference(x).detach()
    dlogits = (torch.softmax(logits, 1) - torch.nn.functional.one_hot(y, 10)) / len(y)
    assert report.output_grad_norms["fc3"] == pytest.approx(float(dlogits.norm()), rel=1e-5)
    assert {"conv1", "relu1", "pool1", "fc1", "fc3"} <= set(report.output_grad_norms)
    assert report.loss_after < report.loss_before


def test_batch_norm_statistics_move_once_per_step(batch):
    """The loss 'after' is a second look at the batch: it must not move BatchNorm's running
    statistics a second time (they equal those of one training forward)."""
    x, y = batch
    doc = chain(("Conv2d", {"out_channels": 4, "kernel_size": 3}), ("BatchNorm2d", {}), ("ReLU", {}),
                ("Flatten", {}), ("Dropout", {"p": 0.3}), ("Linear", {"out_features": 10}))
    model = compile_graph(doc, seed=0)
    reference = copy.deepcopy(model).train()
    with torch.no_grad():
        reference(x)
    report = StepView(model, {"optimizer": "sgd", "lr": 0.01}, x, y).step()
    for (name, a), (_, b) in zip(model.named_buffers(), reference.named_buffers()):
        assert torch.equal(a, b), name
    assert report.loss_after != report.loss_before


def test_loss_surface_centre_and_directions(batch):
    x, y = batch
    model = lenet(5)
    g = torch.Generator().manual_seed(0)
    d = filter_normalised_direction(model, g)
    w = model.conv2.weight.detach()
    norms = lambda t: torch.linalg.vector_norm(t, dim=(1, 2, 3))  # noqa: E731
    assert torch.allclose(norms(d["conv2.weight"]), norms(w), rtol=1e-5)
    assert torch.count_nonzero(d["fc1.bias"]) == 0
    view = StepView(model, {"optimizer": "sgd", "lr": 0.05}, x, y)
    report = view.step()
    surface = loss_surface(model, x, y, steps=5, span=0.5, step_delta=report.delta)
    model.eval()
    with torch.no_grad():
        centre = float(training_loss("cross_entropy", model(x), y))
    assert surface["loss"].shape == (5, 5)
    assert surface["loss"][2, 2] == pytest.approx(centre, rel=1e-6)
    assert len(surface["step"]) == 2
    # the weights are back where they were
    with torch.no_grad():
        assert float(training_loss("cross_entropy", model(x), y)) == pytest.approx(centre, rel=1e-7)
