"""Settings torch refuses get a failing line in the worked-out arithmetic (ok=False, no output shape)
instead of a confident result; settings torch runs get none. The reference is torch itself: the real
module (or tensor method) built here from the same numbers and run on a real batch of two."""
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layerloom.graph import analyze
from layerloom.graph.arithmetic import explain
from layerloom.graph.blocks import REGISTRY

from .helpers import chain

SMALL = settings(derandomize=True, max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _torch_shape(kind, p, shape):
    """The per-sample output shape torch gives, or None when torch refuses the settings or the input (or gives
    an empty output, a size 0, which no block after it could use)."""
    x = torch.rand(2, *shape)
    nn = torch.nn
    try:
        with torch.no_grad():
            if kind in ("Conv1d", "Conv2d"):
                keys = ("kernel_size", "stride", "padding", "dilation", "groups", "padding_mode")
                m = getattr(nn, kind)(shape[0], p["out_channels"], **{k: p[k] for k in keys if k in p})
            elif kind == "ConvTranspose2d":
                keys = ("kernel_size", "stride", "padding", "output_padding", "dilation")
                m = nn.ConvTranspose2d(shape[0], p["out_channels"], **{k: p[k] for k in keys if k in p})
            elif kind == "LSTM":
                m = nn.LSTM(shape[-1], p["hidden_size"], proj_size=p.get("proj_size", 0), batch_first=True)
                return tuple(m(x)[0].shape[1:])
            elif kind == "Permute":
                return tuple(x.permute(0, *[d + 1 for d in p["dims"]]).shape[1:])
            elif kind == "Reshape":
                return tuple(x.reshape(2, *p["shape"]).shape[1:])
            else:
                m = getattr(nn, kind)(**p)
            out = tuple(m(x).shape[1:])
            return None if 0 in out else out
    except (RuntimeError, ValueError, IndexError, TypeError):
        return None


def _arithmetic(kind, p, shape):
    full = REGISTRY[kind].full_params(p)
    for name, value in (("in_channels", shape[0]), ("input_size", shape[-1])):
        if name in full and full[name] == "auto":
            full[name] = value
    return explain(kind, full, [tuple(shape)])


CASES = [    # (kind, params, sample shape): each refused one next to a setting torch runs
    ("ConvTranspose2d", {"out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 2},
     (4, 9, 7)),
    ("ConvTranspose2d", {"out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 1},
     (4, 9, 7)),
    ("ConvTranspose2d", {"out_channels": 4, "kernel_size": 3, "stride": 1, "dilation": 2, "output_padding": 1},
     (4, 5, 5)),
    ("ConvTranspose2d", {"out_channels": 4, "kernel_size": 3, "stride": 1, "output_padding": 1}, (4, 5, 5)),
    ("Flatten", {"start_dim": 3, "end_dim": 1}, (2, 3, 4)),
    ("Flatten", {"start_dim": 3, "end_dim": -3}, (2, 3, 4)),
    ("Flatten", {"start_dim": 2, "end_dim": 2}, (2, 3, 4)),
    ("Conv2d", {"out_channels": 4, "kernel_size": 3, "stride": 2, "padding": "same"}, (3, 8, 8)),
    ("Conv2d", {"out_channels": 4, "kernel_size": 3, "stride": 1, "padding": "same"}, (3, 8, 8)),
    ("Conv1d", {"out_channels": 4, "kernel_size": 1, "stride": 2, "padding": "same", "dilation": 2}, (4, 10)),
    ("Conv2d", {"out_channels": 4, "kernel_size": 3, "padding": 2, "padding_mode": "reflect"}, (3, 2, 8)),
    ("Conv2d", {"out_channels": 4, "kernel_size": 3, "padding": 1, "padding_mode": "reflect"}, (3, 2, 8)),
    ("Conv1d", {"out_channels": 4, "kernel_size": 5, "padding": "same", "dilation": 3, "padding_mode": "reflect"},
     (4, 6)),
    ("Conv1d", {"out_channels": 4, "kernel_size": 5, "padding": 3, "padding_mode": "circular"}, (4, 2)),
    ("Conv1d", {"out_channels": 4, "kernel_size": 5, "padding": 2, "padding_mode": "circular"}, (4, 2)),
    ("MaxPool2d", {"kernel_size": 2, "padding": 2}, (3, 8, 8)),
    ("MaxPool2d", {"kernel_size": 2, "padding": 1}, (3, 8, 8)),
    ("MaxPool2d", {"kernel_size": 1, "padding": 1, "dilation": 3, "ceil_mode": True}, (2, 10, 3)),
    ("MaxPool1d", {"kernel_size": 3, "padding": 2}, (2, 16)),
    ("AvgPool2d", {"kernel_size": 3, "padding": [1, 2]}, (2, 5, 5)),
    ("AvgPool2d", {"kernel_size": [3, 5], "padding": [1, 2]}, (2, 5, 5)),
    ("Reshape", {"shape": [2, -1, -1]}, (2, 3, 4)),
    ("Reshape", {"shape": [2, -1]}, (2, 3, 4)),
    ("Permute", {"dims": [-1, 0, 1]}, (2, 3, 4)),
    ("Permute", {"dims": [2, 0, 1]}, (2, 3, 4)),
    ("LSTM", {"hidden_size": 3, "proj_size": 3}, (5, 2)),
    ("LSTM", {"hidden_size": 3, "proj_size": 2}, (5, 2)),
    ("Upsample", {"scale_factor": 2.0, "mode": "bilinear"}, (2, 3, 4, 5)),
    ("Upsample", {"scale_factor": 2.0, "mode": "trilinear"}, (2, 3, 4, 5)),
    ("Upsample", {"scale_factor": 2.0, "mode": "linear"}, (2, 3, 4)),
    ("Upsample", {"scale_factor": 2.0, "mode": "nearest"}, (2, 3)),
    ("Softmax", {"dim": 3}, (4, 3)),
    ("LogSoftmax", {"dim": -4}, (4, 3)),
    ("Softmax", {"dim": -2}, (4, 3)),
]


@pytest.mark.parametrize("kind, params, shape", CASES, ids=lambda v: str(v))
def test_the_arithmetic_fails_exactly_where_torch_refuses(kind, params, shape):
    expected = _torch_shape(kind, params, shape)
    a = _arithmetic(kind, params, shape)
    if expected is None:
        assert a.failing is not None and a.output_shape is None, a.lines()
        assert a.failing.text in a.lines()          # the Inspector draws this line in red with ✗
    else:
        assert a.failing is None and a.output_shape == expected, (a.lines(), expected)


def test_the_failing_line_says_what_breaks():
    texts = {k: _arithmetic(k, p, s).failing.text for k, p, s in (CASES[0], CASES[4], CASES[7], CASES[15])}
    assert texts["ConvTranspose2d"] == "H: output_padding 2 ≥ stride 2 and dilation 1"
    assert texts["Flatten"] == "start_dim 3 comes after end_dim 1 (dimension 3 after 1)"
    assert texts["Conv2d"] == 'padding "same" needs stride 1, not 2'
    assert texts["MaxPool2d"] == "H: padding 2 > half of kernel_size 2 (at most 1)"


def test_analysis_refuses_what_the_arithmetic_marks():
    """The Inspector shows the red block's failing line: analysis (torch on meta tensors plus the kinds'
    checks) must call the same settings an error."""
    for kind, params, shape in CASES:
        doc = chain((kind, params), shape=shape)
        bid = next(b for b, blk in doc.blocks.items() if blk.kind == kind)
        r = analyze(doc).blocks[bid]
        a = REGISTRY[kind].worked_out(r.params, r.input_shapes)
        assert (a.failing is not None) == (r.status == "error"), (kind, params, a.lines(), r.status)


def test_a_dim_on_the_batch_is_marked_as_analysis_refuses_it():
    """torch would take dim 0 (the batch); a block's dims count within one sample (house rule 14)."""
    for dim in (0, -3):
        doc = chain(("LogSoftmax", {"dim": dim}), shape=(4, 3))
        bid = next(b for b, blk in doc.blocks.items() if blk.kind == "LogSoftmax")
        r = analyze(doc).blocks[bid]
        assert r.status == "error" and _arithmetic("LogSoftmax", {"dim": dim}, (4, 3)).failing is not None


@SMALL
@given(h=st.integers(1, 9), k=st.integers(1, 4), s=st.integers(1, 3), p=st.integers(0, 2), op=st.integers(0, 2),
       d=st.integers(1, 3))
def test_transposed_convolutions_against_torch(h, k, s, p, op, d):
    params = {"out_channels": 2, "kernel_size": k, "stride": s, "padding": p, "output_padding": op, "dilation": d}
    expected = _torch_shape("ConvTranspose2d", params, (2, h, h + 1))
    a = _arithmetic("ConvTranspose2d", params, (2, h, h + 1))
    assert (a.failing is None) == (expected is not None), (params, h, a.lines())
    if expected is not None:
        assert a.output_shape == expected


@SMALL
@given(h=st.integers(1, 9), k=st.integers(1, 4), s=st.integers(1, 3), p=st.integers(0, 3),
       kind=st.sampled_from(["MaxPool2d", "AvgPool2d"]), ceil=st.booleans())
def test_pooling_padding_against_torch(h, k, s, p, kind, ceil):
    params = {"kernel_size": k, "stride": s, "padding": p, "ceil_mode": ceil}
    expected = _torch_shape(kind, params, (2, h, h + 2))
    a = _arithmetic(kind, params, (2, h, h + 2))
    assert (a.failing is None) == (expected is not None), (params, h, a.lines())
    if expected is not None:
        assert a.output_shape == expected


@SMALL
@given(start=st.integers(-3, 3).filter(bool), end=st.integers(-3, 3).filter(bool))
def test_flatten_against_torch(start, end):
    params = {"start_dim": start, "end_dim": end}
    expected = _torch_shape("Flatten", params, (2, 3, 4))
    a = _arithmetic("Flatten", params, (2, 3, 4))
    assert (a.failing is None) == (expected is not None), (params, a.lines())
    if expected is not None:
        assert a.output_shape == expected
