"""Weights of the wrong kind: complex, whole-number or true/false tensors for floating-point parameters are
skipped with a reason that names the tensor and its dtype (torch would drop the imaginary part with a warning,
or turn 0/1 into weights without a word), and NaN or infinite values are refused outright. Integer buffers
(BatchNorm's num_batches_tracked) still load, and floating-point tensors load as torch converts them."""
import warnings

import pytest
import torch
from hypothesis import given, settings, strategies as st
from safetensors.torch import load_file, save_file

from layerloom.graph import compile_graph
from layerloom.graph.weights import WeightsError, load_matching, match_weights

from .helpers import chain


def _net():
    return chain(("Conv2d", {"out_channels": 4, "kernel_size": 3}), ("BatchNorm2d", {}), ("Flatten", {}),
                 ("Linear", {"out_features": 5}), shape=(2, 6, 6))


def _source(seed=1):
    trained = compile_graph(_net(), seed=seed)
    with torch.no_grad():
        trained.bn1.running_mean.uniform_()
        trained.bn1.num_batches_tracked.fill_(7)
    return {k: v.clone() for k, v in trained.state_dict().items()}


def test_torch_itself_warns_or_stays_silent_on_these_casts():
    with pytest.warns(UserWarning, match="imaginary part"):
        torch.zeros(2, dtype=torch.float32).copy_(torch.ones(2, dtype=torch.complex64))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        torch.zeros(2).copy_(torch.tensor([True, False]))     # no word: true/false became weights


@pytest.mark.parametrize("dtype, words", [
    (torch.complex64, "holds complex values (complex64), but conv1.weight is real (float32)"),
    (torch.int64, "holds whole numbers (int64), not the floating-point weights conv1.weight needs (float32)"),
    (torch.uint8, "holds whole numbers (uint8), not the floating-point weights conv1.weight needs (float32)"),
    (torch.bool, "holds true/false values (bool), not the floating-point weights conv1.weight needs (float32)"),
])
def test_a_tensor_of_the_wrong_kind_is_skipped_with_its_dtype_and_the_block_kept_fresh(tmp_path, dtype, words):
    source = _source()
    source["conv1.weight"] = source["conv1.weight"].to(dtype)
    save_file(source, tmp_path / "w.safetensors")                 # as it comes from a file
    source = load_file(tmp_path / "w.safetensors")
    model = compile_graph(_net(), seed=2)
    fresh = model.conv1.weight.detach().clone()
    with warnings.catch_warnings():
        warnings.simplefilter("error")                            # torch's cast warning is not printed
        report = load_matching(model, source, "w.safetensors")
    reasons = dict(report.skipped)
    assert reasons["conv1.weight"].startswith(words)
    assert reasons["conv1.bias"] == ("block conv1 loads all its tensors or none, and the source's weight cannot be "
                                     "used (see that tensor); the block keeps fresh weights")
    assert torch.equal(model.conv1.weight, fresh) and set(report.new) == {"conv1.weight", "conv1.bias"}
    assert torch.equal(model.fc1.weight, source["fc1.weight"])
    assert int(model.bn1.num_batches_tracked) == 7                # the integer buffer loads as it is


def test_a_source_where_nothing_else_fits_says_why_not_that_nothing_fits():
    source = {"conv1.weight": _source()["conv1.weight"].to(torch.int64)}
    model = compile_graph(chain(("Conv2d", {"out_channels": 4, "kernel_size": 3, "bias": False}), shape=(2, 6, 6)))
    with pytest.raises(WeightsError, match=r"^nothing in w\.pt can be loaded: conv1\.weight: holds whole numbers "
                                           r"\(int64\)"):
        load_matching(model, source, "w.pt")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.float64, torch.bfloat16])
def test_nan_or_infinite_weights_are_refused_naming_the_tensor(bad, dtype):
    source = _source()
    source["conv1.weight"] = source["conv1.weight"].to(dtype)
    source["conv1.weight"][1, 0, 2, 2] = bad
    assert not torch.isfinite(source["conv1.weight"]).all()
    with pytest.raises(WeightsError) as info:
        load_matching(compile_graph(_net()), source, "w.safetensors")
    assert str(info.value) == ("conv1.weight holds NaN or infinite values in w.safetensors: weights saved from a "
                               "training that diverged cannot be a starting point; use an earlier checkpoint's "
                               "weights, or start from fresh weights")


def test_a_float8_nan_is_found_too():
    source = _source()
    weight = source["conv1.weight"].to(torch.float8_e4m3fn)
    weight.view(torch.uint8)[0, 0, 0, 0] = 0x7F                   # e4m3fn's NaN
    assert torch.isnan(weight.to(torch.float32)).any()
    source["conv1.weight"] = weight
    with pytest.raises(WeightsError, match="conv1.weight holds NaN or infinite values"):
        match_weights(compile_graph(_net()).state_dict(), source, "w")


@settings(derandomize=True, max_examples=30, deadline=None, database=None)
@given(dtype=st.sampled_from([torch.float64, torch.float16, torch.bfloat16, torch.float8_e5m2, torch.float32]),
       seed=st.integers(0, 1000))
def test_floating_weights_load_as_torch_converts_them(dtype, seed):
    source = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in _source(seed).items()}
    model = compile_graph(_net(), seed=seed + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = load_matching(model, source, "w")
    reference = compile_graph(_net(), seed=seed + 1)
    reference.load_state_dict(source)                              # torch's own loading casts the same way
    assert report.skipped == [] and report.new == []
    for key, value in reference.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
