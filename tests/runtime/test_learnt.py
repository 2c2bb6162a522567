"""What the network learnt: filter grids, histograms and top-9 samples against plain torch/numpy."""
import numpy as np
import pytest
import torch

from layerloom.graph import GraphDocument, analyze, compile_graph
from layerloom.runtime.explain import ExplainError
from layerloom.runtime.explain_subject import load_subject
from layerloom.runtime import learnt
from layerloom.runtime.learnt import (StreamingHistogram, activation_histogram, block_summary, filter_grid,
                                      filter_tiles, first_conv, top_activating, weight_histograms)


def _rgb_conv():
    doc = GraphDocument("rgb")
    last = doc.add_block("Input", {"shape": [3, 16, 16]})
    for kind, p in [("Conv2d", {"out_channels": 5, "kernel_size": 3}), ("Flatten", {}), ("Linear", {"out_features": 2})]:
        b = doc.add_block(kind, p)
        doc.connect(last, b)
        last = b
    doc.connect(last, doc.add_block("Output"))
    return compile_graph(doc, analyze(doc), seed=0)


def test_rgb_filters_are_colour_tiles_normalised_around_zero():
    model = _rgb_conv()
    block = first_conv(model)
    w = model.get_submodule(block).weight.detach()
    tiles = filter_tiles(w)
    assert tiles.shape == (5, 3, 3, 3)
    for o in range(5):
        m = float(w[o].abs().max())
        expected = np.round((0.5 + 0.5 * w[o].permute(1, 2, 0).numpy() / m) * 255)
        np.testing.assert_allclose(tiles[o], expected, atol=1)
        assert tiles[o].max() == 255 or tiles[o].min() == 0       # the largest weight reaches an end
    grid = filter_grid(model, scale=4)
    assert grid.shape == (2 * 12 + 3 * 2, 3 * 12 + 4 * 2, 3)


def test_grey_filters_use_a_diverging_map_with_white_at_zero(trained_lenet):
    subject = load_subject(trained_lenet)
    w = subject.model.conv1.weight.detach()
    tiles = filter_tiles(w)
    assert tiles.shape == (6, 5, 5, 3)
    summed = w.sum(dim=1)
    rel = (summed / summed.abs().amax(dim=(1, 2), keepdim=True)).numpy()
    red, blue = tiles[..., 0].astype(int), tiles[..., 2].astype(int)
    assert (red[rel > 0.2] > blue[rel > 0.2]).all() and (blue[rel < -0.2] > red[rel < -0.2]).all()
    # each filter's strongest weight reaches an end of the map (normalised per filter around 0)
    ends = {(178, 24, 43), (33, 102, 172)}
    for o in range(6):
        peak = np.unravel_index(np.abs(rel[o]).argmax(), rel[o].shape)
        assert tuple(tiles[o][peak]) in ends
    zero = filter_tiles(torch.zeros(1, 1, 2, 2))
    assert (zero == 247).all()                                   # the diverging map's middle (near white)
    with pytest.raises(ExplainError, match="not a Conv2d"):
        filter_grid(subject.model, "fc1")


def test_histograms_match_numpy(trained_lenet):
    subject = load_subject(trained_lenet)
    h = weight_histograms(subject.model, "conv2", bins=30)
    w = subject.model.conv2.weight.detach().numpy().ravel()
    counts, edges = np.histogram(w, bins=30, range=(w.min(), w.max()))
    np.testing.assert_allclose(h["weight"][1], edges, rtol=1e-5, atol=1e-6)
    assert np.abs(h["weight"][0] - counts).sum() <= 2          # float32 vs float64 at bin edges
    batches = [(idx, x) for idx, _, x, _ in subject.batches(200)][:2]
    counts, edges = activation_histogram(subject.model, batches, "relu2", bins=20)
    ref = torch.relu(subject.model.conv2(subject.model.pool1(torch.relu(subject.model.conv1(
        torch.cat([x for _, x in batches])))))).detach().numpy().ravel()
    assert counts.sum() == ref.size
    np.testing.assert_allclose(edges[[0, -1]], [ref.min(), ref.max()], rtol=1e-5, atol=1e-6)


def test_activation_histogram_bins_batch_by_batch_as_numpy_bins_all_the_values(trained_lenet):
    subject = load_subject(trained_lenet)
    batches = [(idx, x) for idx, _, x, _ in subject.batches(100)][:4]
    every = torch.cat([a.reshape(-1) for _, a in learnt._activations(subject.model, batches, "conv2")]).numpy()
    counts, edges = activation_histogram(subject.model, batches, "conv2", bins=20)     # all of them fit
    assert edges[0] == every.min() and edges[-1] == every.max()
    np.testing.assert_array_equal(counts, np.histogram(every, bins=edges.astype(np.float64))[0])
    first = 100 * 16 * 10 * 10                      # conv2's values for the first batch: the edges span those
    hist = StreamingHistogram(bins=20, held=first - 1)
    held = []
    for _, a in learnt._activations(subject.model, batches, "conv2"):
        hist.add(a)
        held.append(hist._waiting_n)
    assert held == [0, 0, 0, 0]                     # binned as they came: never more than one batch held
    counts, edges = hist.result()
    assert edges[0] == every[:first].min() and edges[-1] == every[:first].max()
    np.testing.assert_array_equal(counts, np.histogram(every, bins=edges.astype(np.float64))[0])
    assert hist.below == (every < edges[0]).sum() and hist.above == (every > edges[-1]).sum() > 0
    assert counts.sum() + hist.below + hist.above == every.size
    both, top = block_summary(subject.model, batches, "conv2", 3, bins=20, held=first - 1)
    np.testing.assert_array_equal(both.result()[0], counts)
    assert top == top_activating(subject.model, batches, "conv2", 3)


def test_top9_are_the_samples_a_channel_responds_to_most(trained_lenet):
    subject = load_subject(trained_lenet)
    model = subject.model
    batches = [(idx, x) for idx, _, x, _ in subject.batches(300)]
    top = top_activating(model, batches, "conv2", channel=3)
    xs = torch.cat([x for _, x in batches])
    with torch.no_grad():
        ref = model.conv2(model.pool1(model.relu1(model.conv1(xs))))[:, 3].mean(dim=(1, 2))
    values, indices = ref.topk(9)
    assert [t["index"] for t in top] == indices.tolist()
    np.testing.assert_allclose([t["activation"] for t in top], values.numpy(), rtol=1e-5)
    with pytest.raises(ExplainError, match="no channel 99"):
        top_activating(model, batches[:1], "conv2", channel=99)


def test_nan_weights_are_named_as_such_and_nan_outputs_are_left_out_of_the_bars():
    from layerloom.presets import preset_path
    from layerloom.runtime.explain import explain
    from layerloom.runtime.learnt import NotFinite
    subject = load_subject(preset_path("lenet5"))
    model = subject.model
    with torch.no_grad():
        model.conv1.weight[0] = float("nan")                     # one filter diverged
    batches = [(idx, x) for idx, _, x, _ in subject.batches(50)][:2]
    with pytest.raises(NotFinite, match="conv1's filters hold NaN"):
        filter_grid(model)
    hist = StreamingHistogram(bins=10)
    values = torch.cat([a.reshape(-1) for _, a in learnt._activations(model, batches, "conv1")])
    hist.add(values)
    counts, edges = hist.result()
    finite = values[torch.isfinite(values)].numpy()
    assert hist.not_finite == values.numel() - finite.size == 100 * 28 * 28     # filter 0 of 6, 28×28 each
    np.testing.assert_array_equal(counts, np.histogram(finite, bins=edges.astype(np.float64))[0])
    with torch.no_grad():
        model.conv1.weight[:] = float("nan")                     # all of them
    with pytest.raises(NotFinite, match="all of conv1's weight values are NaN or infinite"):
        weight_histograms(model, "conv1")
    with pytest.raises(NotFinite, match="all of fc3's outputs are NaN"):
        activation_histogram(model, batches, "fc3")
    _, x, _ = subject.sample(0)
    with pytest.raises(ExplainError, match="scores for this sample are NaN or infinite"):
        explain(model, x, "saliency")
    with pytest.raises(ExplainError, match="validation samples 0 to 255 are NaN"):
        subject.wrong_predictions()


def test_a_block_s_outputs_are_looked_at_without_running_the_layers_after_it():
    from layerloom.presets import preset_path
    subject = load_subject(preset_path("lenet5"))
    model = subject.model
    batches = [(idx, x) for idx, _, x, _ in subject.batches(50)][:2]
    later = []
    hook = model.fc3.register_forward_hook(lambda *_: later.append(1))
    try:
        got = list(learnt._activations(model, batches, "conv2"))
        assert later == []                                   # conv2's outputs need nothing after conv2
    finally:
        hook.remove()
    with torch.no_grad():
        for (_, a), (_, x) in zip(got, batches):
            torch.testing.assert_close(a, model.conv2(model.pool1(torch.relu(model.conv1(x)))), rtol=0, atol=0)


def test_a_recurrent_block_s_weights_are_found_under_its_own_name():
    from layerloom.presets import preset_path
    model = load_subject(preset_path("text_gru")).model
    assert "gru1" not in [n.name for n in model.graph.nodes if n.op == "call_module"]   # its call is gru1_outputs
    h = weight_histograms(model, "gru1", bins=10)
    assert set(h) == {name for name, _ in model.gru1.named_parameters()}
    w = model.gru1.weight_ih_l0.detach().numpy().ravel()
    counts, edges = h["weight_ih_l0"]
    np.testing.assert_array_equal(counts, np.histogram(w, bins=edges.astype(np.float64))[0])
