"""Structured pruning: the smaller network computes exactly what the original computes with the
dropped channels removed by hand (sliced weights, or zeroed channels), through BatchNorm, Add and Concat."""
import copy

import pytest
import torch
from torch import nn

from layerloom.graph import GraphDocument, MISSING, compile_graph, graph_to_dict, load_graph
from layerloom.graph.pruning import PruneError, plan_channels, prune_channels
from layerloom.presets import preset_path


def _resnet():
    doc = load_graph(preset_path("resnet18"))
    doc.set_param("input", "shape", [3, 32, 32])          # the same network on small images: fast
    return doc


def _trained_like(model, seed=0):
    """Random weights and BatchNorm statistics, as after training (fresh BN would hide slicing errors)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.2)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.2)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return model.eval()


def _compiled(result):
    model = compile_graph(result.doc)
    model.load_state_dict(result.weights, strict=True)
    return model.eval()


def test_one_conv_in_a_residual_block_matches_hand_sliced_layers():
    doc = _resnet()
    model = _trained_like(compile_graph(doc, seed=0))
    result = prune_channels(doc, model.state_dict(), ratio=0.5, blocks=["conv2"])
    w = model.conv2.weight.detach()
    keep = sorted(w.abs().sum(dim=(1, 2, 3)).topk(32).indices.tolist())     # L1 norm, the strongest half
    assert result.kept == {"conv2": keep} and result.groups == [["conv2"]]
    ref = copy.deepcopy(model)
    conv2 = nn.Conv2d(64, 32, 3, padding=1, bias=False)
    conv2.weight.data = w[keep].clone()
    bn2 = nn.BatchNorm2d(32).eval()
    for name in ("weight", "bias", "running_mean", "running_var"):
        getattr(bn2, name).data = getattr(model.bn2, name).detach()[keep].clone()
    conv3 = nn.Conv2d(32, 64, 3, padding=1, bias=False)
    conv3.weight.data = model.conv3.weight.detach()[:, keep].clone()
    ref.conv2, ref.bn2, ref.conv3 = conv2, bn2, conv3
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(_compiled(result)(x), ref(x), atol=1e-5, rtol=1e-4)
    changes = {(b, p): (old, new) for b, p, old, new in result.changes}
    assert changes == {("conv2", "out_channels"): (64, 32)}


def test_whole_resnet18_equals_the_original_with_dropped_channels_zeroed():
    doc = _resnet()
    model = _trained_like(compile_graph(doc, seed=0))
    result = prune_channels(doc, model.state_dict(), ratio=0.5)
    # residual streams: every conv whose BatchNorm output reaches the same Add loses the same channels
    stream = next(g for g in result.groups if "conv1" in g)
    assert {"conv1", "conv3", "conv5"} <= set(stream)
    assert all(result.kept[c] == result.kept["conv1"] for c in stream)
    assert len(result.groups) < len(result.kept)
    # reference: the original network, each pruned conv's BatchNorm output zeroed on the dropped channels
    hooks = []
    for conv, kept in result.kept.items():
        (bn,) = [e.dst for e in doc.edges_from(conv)]
        assert doc.blocks[bn].kind == "BatchNorm2d"
        mask = torch.zeros(model.get_submodule(conv).out_channels)
        mask[kept] = 1
        hooks.append(model.get_submodule(bn).register_forward_hook(
            lambda mod, inp, out, mask=mask: out * mask.view(1, -1, 1, 1)))
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        expected = model(x)
        got = _compiled(result)(x)
    for h in hooks:
        h.remove()
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    assert result.after["params"] < 0.3 * result.before["params"]
    assert result.after["macs"] < 0.3 * result.before["macs"]


def _branchy(explicit_in=False):
    """Two convs joined by Concat, then Conv, Flatten, Linear, BatchNorm1d, Linear."""
    doc = GraphDocument("branchy")
    doc.add_block("Input", {"shape": [2, 8, 8]})
    doc.add_block("Conv2d", {"out_channels": 6, "kernel_size": 3, "padding": 1}, block_id="ca")
    doc.add_block("Conv2d", {"out_channels": 4, "kernel_size": 1}, block_id="cb")
    doc.add_block("Concat", {}, block_id="cat")
    doc.add_block("ReLU", {}, block_id="relu")
    params = {"out_channels": 8, "kernel_size": 3, "stride": 2}
    if explicit_in:
        params["in_channels"] = 10
    doc.add_block("Conv2d", params, block_id="cc")
    doc.add_block("Flatten", {}, block_id="flat")
    doc.add_block("Linear", {"out_features": 12, **({"in_features": 72} if explicit_in else {})}, block_id="fa")
    doc.add_block("BatchNorm1d", {}, block_id="bnf")
    doc.add_block("Linear", {"out_features": 5}, block_id="fb")
    doc.add_block("Output", {})
    for a, b, port in [("input", "ca", 0), ("input", "cb", 0), ("ca", "cat", 0), ("cb", "cat", 1),
                       ("cat", "relu", 0), ("relu", "cc", 0), ("cc", "flat", 0), ("flat", "fa", 0),
                       ("fa", "bnf", 0), ("bnf", "fb", 0), ("fb", "output", 0)]:
        doc.connect(a, b, 0, port)
    return doc


def test_concat_flatten_and_batchnorm1d_are_sliced_consistently():
    doc = _branchy(explicit_in=True)
    model = _trained_like(compile_graph(doc, seed=1), seed=1)
    result = prune_channels(doc, model.state_dict(), ratio=0.5)
    assert set(result.kept) == {"ca", "cb", "cc", "fa"} and "fb" not in result.kept
    masks = {}
    for block, module in (("ca", "ca"), ("cb", "cb"), ("cc", "cc"), ("fa", "bnf")):
        n = model.get_submodule(block).weight.shape[0]
        m = torch.zeros(n)
        m[result.kept[block]] = 1
        masks[module] = m
    hooks = [model.get_submodule(name).register_forward_hook(
        lambda mod, inp, out, m=m: out * m.view(1, -1, *([1] * (out.dim() - 2)))) for name, m in masks.items()]
    x = torch.randn(5, 2, 8, 8)
    with torch.no_grad():
        expected = model(x)
        got = _compiled(result)(x)
    for h in hooks:
        h.remove()
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
    new = {(b, p): v for b, p, _, v in result.changes}
    assert new[("cc", "in_channels")] == 3 + 2 and new[("fa", "in_features")] == 4 * 3 * 3


def test_reverting_the_changes_restores_the_graph_exactly():
    doc = _branchy(explicit_in=True)
    before = graph_to_dict(doc)
    result = prune_channels(doc, None, ratio=0.4)
    assert graph_to_dict(doc) == before                        # the input document is untouched
    pruned = result.doc
    for block, param, old, _new in reversed(result.changes):
        pruned.set_param(block, param, old)
    assert graph_to_dict(pruned) == before
    assert any(old is MISSING or isinstance(old, int) for _, _, old, _ in result.changes)


def test_what_cannot_be_pruned_says_why():
    doc = load_graph(preset_path("lenet5"))
    plan = plan_channels(doc)
    assert plan.prunable() == ["conv1", "conv2", "fc1", "fc2"]
    with pytest.raises(PruneError, match="fc3 cannot be pruned: its outputs are the network's outputs"):
        prune_channels(doc, None, 0.5, blocks=["fc3"])
    with pytest.raises(PruneError, match="between 0 and 1"):
        prune_channels(doc, None, 1.0)
    with pytest.raises(PruneError, match='no block "conv9"'):
        prune_channels(doc, None, 0.5, blocks=["conv9"])
    gn = GraphDocument("gn")
    gn.add_block("Input", {"shape": [1, 8, 8]})
    for bid, kind, p in [("c", "Conv2d", {"out_channels": 4, "kernel_size": 3}),
                         ("g", "GroupNorm", {"num_groups": 2}), ("f", "Flatten", {}),
                         ("l", "Linear", {"out_features": 3}), ("output", "Output", {})]:
        gn.add_block(kind, p, block_id=bid)
    for a, b in [("input", "c"), ("c", "g"), ("g", "f"), ("f", "l"), ("l", "output")]:
        gn.connect(a, b)
    assert "GroupNorm" in plan_channels(gn).why_not("c")


def _broadcast_add():
    """c0 feeds a (8 channels) and b (1 channel); Add broadcasts b over a's channels."""
    doc = GraphDocument("broadcast")
    doc.add_block("Input", {"shape": [3, 8, 8]})
    for bid, out in (("c0", 6), ("a", 8), ("b", 1)):
        doc.add_block("Conv2d", {"out_channels": out, "kernel_size": 3, "padding": 1}, block_id=bid)
    doc.add_block("Add", {}, block_id="plus")
    doc.add_block("Flatten", {}, block_id="flat")
    doc.add_block("Linear", {"out_features": 4}, block_id="fc")
    doc.add_block("Output", {})
    for a, b, port in [("input", "c0", 0), ("c0", "a", 0), ("c0", "b", 0), ("a", "plus", 0), ("b", "plus", 1),
                       ("plus", "flat", 0), ("flat", "fc", 0), ("fc", "output", 0)]:
        doc.connect(a, b, 0, port)
    return doc


def test_an_add_that_broadcasts_one_channel_keeps_its_inputs_whole():
    doc = _broadcast_add()
    model = compile_graph(doc, seed=2).eval()
    result = prune_channels(doc, model.state_dict(), ratio=0.5)
    assert set(result.kept) == {"c0"}
    mask = torch.zeros(6)
    mask[result.kept["c0"]] = 1
    hook = model.c0.register_forward_hook(lambda mod, inp, out: out * mask.view(1, -1, 1, 1))
    x = torch.randn(3, 3, 8, 8)
    with torch.no_grad():
        expected = model(x)
        got = _compiled(result)(x)
    hook.remove()
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
    assert result.after["params"] == sum(p.numel() for p in _compiled(result).parameters())
    with pytest.raises(PruneError, match=r"a cannot be pruned: plus adds tensors of 8 and 1 channels \(broadcast\)"):
        prune_channels(doc, model.state_dict(), 0.5, blocks=["a"])


def test_a_refusal_names_the_block_the_reason_and_what_can_be_pruned_instead():
    doc = load_graph(preset_path("lenet5"))
    with pytest.raises(PruneError, match="fc3 cannot be pruned: its outputs are the network's outputs; "
                                         "choose one of conv1, conv2, fc1, fc2 instead"):
        prune_channels(doc, None, 0.5, blocks=["fc3"])
    with pytest.raises(PruneError, match='no block "conv9": choose one of conv1, conv2, fc1, fc2'):
        prune_channels(doc, None, 0.5, blocks=["conv9"])
    grouped = GraphDocument("grouped")
    grouped.add_block("Input", {"shape": [4, 8, 8]})
    for bid, kind, p in [("c", "Conv2d", {"out_channels": 8, "kernel_size": 3}),
                         ("g", "Conv2d", {"out_channels": 8, "kernel_size": 3, "groups": 4}), ("f", "Flatten", {}),
                         ("l", "Linear", {"out_features": 3}), ("output", "Output", {})]:
        grouped.add_block(kind, p, block_id=bid)
    for a, b in [("input", "c"), ("c", "g"), ("g", "f"), ("f", "l"), ("l", "output")]:
        grouped.connect(a, b)
    assert torch.nn.Conv2d(8, 8, 3, groups=4).weight.shape[1] == 2       # each filter reads 2 fixed channels
    with pytest.raises(PruneError, match=r"c cannot be pruned: g is a grouped convolution \(groups 4\): each filter "
                                         "reads a fixed slice of the channels; no other block of this graph"):
        prune_channels(grouped, None, 0.5, blocks=["c"])
    with pytest.raises(PruneError, match="no block of this graph can be pruned .*: pruning removes channels of a "
                                         "Conv or Linear block that feeds another Conv or Linear"):
        prune_channels(grouped, None, 0.5)


def test_a_ratio_that_would_leave_a_layer_no_channel_keeps_one_and_says_so():
    from layerloom.runtime.pruning import PruneReport
    doc = load_graph(preset_path("lenet5"))
    result = prune_channels(doc, None, 0.95, blocks=["conv1", "fc1"])     # 6 and 120 channels
    assert len(result.kept["conv1"]) == 1 and len(result.kept["fc1"]) == 6
    assert result.notes == ["conv1 keeps 1 of its 6 channels, the fewest a layer can have: removing 95% would "
                            "leave none"]
    row = {"params": 1, "macs": 1, "bytes": 1, "val_accuracy": None}
    assert result.notes[0] + "." in PruneReport(result, {"original": row, "pruned": row}).table().splitlines()
    assert prune_channels(doc, None, 0.5).notes == []
