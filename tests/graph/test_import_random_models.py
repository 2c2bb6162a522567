"""Random PyTorch models (chains of torch.nn layers and functional calls with odd settings, with skips that
add or concatenate, in-place activations) imported through torch.fx: each import either gives a graph that
computes what the model computes, whose analysis counts the model's own parameters and gives its output
shape, or is refused with an ImportFailure; never a different answer, never another exception.
LAYERLOOM_LONG=1 draws many more.
"""
from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from torch import nn

from layerloom.graph import analyze, compile_graph
from layerloom.graph.importers import ImportFailure
from layerloom.graph.importers.fx_import import import_module

EXAMPLES = 400 if os.environ.get("LAYERLOOM_LONG") else 25
SETTINGS = settings(derandomize=True, max_examples=EXAMPLES, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


class Call(nn.Module):
    """One functional call with fixed settings (traced through: it is not a torch.nn layer)."""

    def __init__(self, name: str, **settings):
        super().__init__()
        self.name, self.settings = name, settings

    def forward(self, x):
        if self.name == "flatten":
            return torch.flatten(x, **self.settings)
        if self.name == "permute":
            return x.permute(0, *self.settings["dims"])
        if self.name == "view":
            return x.view(x.size(0), -1)
        return getattr(F, self.name)(x, **self.settings)


class Skip(nn.Module):
    """x + body(x), or cat([x, body(x)], dim)."""

    def __init__(self, body: nn.Module, join: str, dim: int = 1):
        super().__init__()
        self.body, self.join, self.dim = body, join, dim

    def forward(self, x):
        y = self.body(x)
        return x + y if self.join == "add" else torch.cat([x, y], dim=self.dim)


def _image_layer(draw, c: int) -> nn.Module:
    k = draw(st.sampled_from([1, 2, 3]))
    choice = draw(st.sampled_from(["conv", "convT", "bn", "gn", "act", "fact", "maxpool", "avgpool", "fpool",
                                   "adaptive", "upsample", "interp", "dropout", "identity", "softmax"]))
    if choice == "conv":
        groups = draw(st.sampled_from([g for g in (1, 2, c) if c % g == 0]))
        out = groups * draw(st.integers(1, 3))
        return nn.Conv2d(c, out, k, stride=draw(st.sampled_from([1, 2])), padding=draw(st.sampled_from([0, 1])),
                         dilation=draw(st.sampled_from([1, 2])), groups=groups, bias=draw(st.booleans()),
                         padding_mode=draw(st.sampled_from(["zeros", "reflect", "circular"])))
    if choice == "convT":
        stride = draw(st.sampled_from([1, 2]))
        return nn.ConvTranspose2d(c, draw(st.integers(1, 4)), k, stride=stride,
                                  output_padding=draw(st.integers(0, stride - 1)), bias=draw(st.booleans()))
    if choice == "bn":
        bn = nn.BatchNorm2d(c, eps=draw(st.sampled_from([1e-5, 1e-3])), affine=draw(st.booleans()))
        with torch.no_grad():
            bn.running_mean.normal_()
            bn.running_var.uniform_(0.5, 2.0)
        return bn
    if choice == "gn":
        return nn.GroupNorm(draw(st.sampled_from([g for g in (1, c) if c % g == 0])), c)
    if choice == "act":
        return draw(st.sampled_from([nn.ReLU(inplace=True), nn.ReLU6(), nn.SiLU(inplace=True), nn.Hardswish(),
                                     nn.GELU("tanh"), nn.LeakyReLU(0.2, inplace=True), nn.Tanh(), nn.Sigmoid(),
                                     nn.Hardsigmoid()]))
    if choice == "fact":
        return draw(st.sampled_from([Call("relu", inplace=True), Call("gelu"), Call("leaky_relu", negative_slope=0.3),
                                     Call("hardtanh", min_val=0.0, max_val=6.0), Call("silu"),
                                     Call("dropout", p=0.3, training=False)]))
    if choice == "maxpool":
        return nn.MaxPool2d(k, stride=draw(st.sampled_from([None, 1, 2])), ceil_mode=draw(st.booleans()))
    if choice == "avgpool":
        return nn.AvgPool2d(k, stride=draw(st.sampled_from([None, 1, 2])), ceil_mode=draw(st.booleans()),
                            count_include_pad=draw(st.booleans()), padding=draw(st.integers(0, k // 2)))
    if choice == "fpool":
        return Call("max_pool2d", kernel_size=k, stride=draw(st.sampled_from([1, 2])), ceil_mode=draw(st.booleans()))
    if choice == "adaptive":
        return draw(st.sampled_from([nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d]))(draw(st.sampled_from([1, 2, 3])))
    if choice == "upsample":
        return nn.Upsample(scale_factor=2, mode=draw(st.sampled_from(["nearest", "bilinear"])))
    if choice == "interp":
        return Call("interpolate", scale_factor=draw(st.sampled_from([0.5, 2])),
                    mode=draw(st.sampled_from(["nearest", "bilinear"])))
    if choice == "dropout":
        return nn.Dropout(draw(st.sampled_from([0.0, 0.5])))
    if choice == "softmax":
        return draw(st.sampled_from([nn.Softmax(dim=1), nn.LogSoftmax(dim=-1), Call("softmax", dim=-2)]))
    return nn.Identity()


def _run(model, x):
    with torch.no_grad():
        return model(x)


@st.composite
def models(draw):
    c, h = draw(st.integers(1, 4)), draw(st.integers(3, 9))
    shape = (c, h, draw(st.integers(3, 9)))
    x = torch.randn(2, *shape)
    layers: list[nn.Module] = []
    for _ in range(draw(st.integers(1, 4))):
        current = _run(nn.Sequential(*layers).eval(), x)
        if current.dim() != 4 or min(current.shape[2:]) < 3:
            break
        layer = _image_layer(draw, current.shape[1])
        if draw(st.integers(0, 3)) == 0:
            try:
                body_out = _run(layer.eval(), current.clone())
            except RuntimeError:
                continue
            if body_out.shape == current.shape and draw(st.booleans()):
                layer = Skip(layer, "add")
            elif body_out.shape[2:] == current.shape[2:]:
                layer = Skip(layer, "cat", draw(st.sampled_from([1, -3])))
        try:
            _run(nn.Sequential(*layers, layer).eval(), x)
        except RuntimeError:
            continue
        layers.append(layer)
    head = draw(st.sampled_from(["none", "flatten", "view", "permute"]))
    if head == "flatten":
        layers.append(Call("flatten", start_dim=draw(st.sampled_from([1, 2, -2]))))
    elif head == "view":
        layers += [Call("view"), nn.LazyLinear(3)]
    elif head == "permute":
        layers.append(Call("permute", dims=draw(st.permutations([1, 2, 3]))))
    model = nn.Sequential(*layers).eval()
    _run(model, x)                                   # lazy layers take their sizes
    return model, shape


@given(models())
@SETTINGS
def test_a_random_model_imports_as_a_graph_that_computes_the_same_or_is_refused(drawn):
    model, shape = drawn
    try:
        doc, state, _ = import_module(model, shape)
    except ImportFailure as exc:
        assert str(exc).strip()
        event(f"refused: {str(exc).split(';')[0][:70]}")
        return
    event(f"imported, {sum(b.kind == 'Opaque' for b in doc.blocks.values())} Opaque")
    graph = compile_graph(doc, weights=False).eval()
    graph.load_state_dict(state, strict=True)
    x = torch.randn(3, *shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected, got = model(x.clone()), graph(x.clone())
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    result = analyze(doc)
    assert result.total_params == sum(p.numel() for p in model.parameters())
    out = next(b for b in doc.blocks.values() if b.kind == "Output")
    assert tuple(result.blocks[out.id].input_shapes[0]) == tuple(expected.shape[1:])
