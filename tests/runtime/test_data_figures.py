"""The twelve pretraining figures: none is a shapes class, each is drawn, the same seed gives the same images."""
import math

import torch

from layerloom.runtime.data import shapes
from layerloom.runtime.data.figures import MASKS, NAMES, generate_figures


def _grid(n=96):
    c = (torch.arange(n, dtype=torch.float32) + 0.5) / n * 2.4 - 1.2
    return c.view(1, n), c.view(n, 1)


def _rotated(mask_of, angle):
    x, y = _grid()
    cos, sin = math.cos(angle), math.sin(angle)
    return mask_of(x * cos + y * sin, y * cos - x * sin)


def test_no_figure_is_a_shapes_class_at_any_rotation():
    assert not set(NAMES) & set(shapes.CLASSES) and len(NAMES) == len(MASKS) == 12
    x, y = _grid()
    figures = [m(x.expand(96, 96), y.expand(96, 96)) for m in MASKS]
    for f, name in zip(figures, NAMES):
        assert 0.05 < float(f.float().mean()) < 0.6, name          # a figure, not empty, not the whole square
    for kind, cls in enumerate(shapes.CLASSES):
        for turn in range(36):
            a = _rotated(lambda u, v: shapes._mask(kind, u, v), turn * math.pi / 18)
            for f, name in zip(figures, NAMES):
                iou = float((a & f).sum()) / float((a | f).sum())
                assert iou < 0.8, (name, cls, turn, iou)


def test_generated_like_shapes_balanced_and_deterministic():
    x, y = generate_figures(120, size=24, seed=3)
    assert x.shape == (120, 3, 24, 24) and x.dtype == torch.uint8
    assert torch.bincount(y, minlength=12).tolist() == [10] * 12
    x2, y2 = generate_figures(120, size=24, seed=3)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert not torch.equal(generate_figures(120, size=24, seed=4)[0], x)
    # the default classes are untouched by the figures parameter
    a, la = shapes.generate(40, size=24, seed=3)
    b, lb = shapes.generate(40, size=24, seed=3, figures=None)
    assert torch.equal(a, b) and torch.equal(la, lb) and int(la.max()) == 9
