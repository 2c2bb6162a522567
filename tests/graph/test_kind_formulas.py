"""A kind's formula, as the palette and the Inspector show it, computes what torch computes: each one here is
read as written and checked against torch on a small input with settings away from the defaults."""
import math

import torch

from layerloom.graph.blocks import REGISTRY


def test_conv2d_formula_reads_with_stride_dilation_and_padding():
    formula = REGISTRY["Conv2d"].formula
    assert "x[c_in, s·i + d·m − p, s·j + d·n − p]" in formula and "d dilation" in formula
    torch.manual_seed(0)
    s, d, p = 2, 2, 1
    conv = torch.nn.Conv2d(2, 3, 3, stride=s, dilation=d, padding=p)
    x = torch.randn(1, 2, 9, 9)
    out = conv(x)[0]
    xp = torch.nn.functional.pad(x[0], (p, p, p, p))       # x[c, r − p, ...] with zeros outside
    for c_out, i, j in [(0, 0, 0), (2, 1, 3), (1, 3, 2)]:
        want = conv.bias[c_out] + sum(conv.weight[c_out, c_in, m, n] * xp[c_in, s * i + d * m, s * j + d * n]
                                      for c_in in range(2) for m in range(3) for n in range(3))
        assert torch.allclose(out[c_out, i, j], want, atol=1e-5)


def test_adaptive_max_pool_regions_end_before_the_ceiling():
    assert "⌈(i+1)·H/h⌉ − 1" in REGISTRY["AdaptiveMaxPool2d"].formula
    torch.manual_seed(0)
    x, (h, w) = torch.randn(1, 2, 7, 10), (3, 4)
    out = torch.nn.AdaptiveMaxPool2d((h, w))(x)[0]
    H, W = x.shape[2:]
    for i in range(h):
        for j in range(w):
            rows = range(math.floor(i * H / h), math.ceil((i + 1) * H / h))        # up to ⌈…⌉ − 1
            cols = range(math.floor(j * W / w), math.ceil((j + 1) * W / w))
            region = x[0][:, rows.start:rows.stop, cols.start:cols.stop]
            assert torch.equal(out[:, i, j], region.amax(dim=(1, 2)))
