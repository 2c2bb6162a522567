"""The GPU fast path changes nothing on the CPU, and its channels-last form computes the same."""
import torch

from layerloom.graph import compile_graph, load_graph
from layerloom.presets import preset_path
from layerloom.runtime.device_path import prepare_model, to_device, wants_channels_last


def test_cpu_gets_the_same_model_and_tensors():
    model = compile_graph(load_graph(preset_path("lenet5")), seed=0)
    weight = model.conv1.weight
    prepared, channels_last = prepare_model(model, torch.device("cpu"))
    assert prepared is model and not channels_last and prepared.conv1.weight is weight
    x, y = torch.rand(4, 1, 28, 28), torch.arange(4)
    bx, by = to_device(x, y, torch.device("cpu"), channels_last)
    assert bx is x and by is y


def test_channels_last_is_chosen_for_convolutions_on_cuda_only():
    cnn = compile_graph(load_graph(preset_path("lenet5")))
    rnn = compile_graph(load_graph(preset_path("seq_mnist_lstm")))
    assert wants_channels_last(cnn, torch.device("cuda"))
    assert not wants_channels_last(rnn, torch.device("cuda"))
    assert not wants_channels_last(cnn, torch.device("cpu"))


def test_channels_last_computes_what_the_default_layout_computes():
    model = compile_graph(load_graph(preset_path("lenet5")), seed=0).eval()
    x = torch.rand(8, 1, 28, 28)
    expected = model(x)
    nhwc = model.to(memory_format=torch.channels_last)
    assert nhwc.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    got = nhwc(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
