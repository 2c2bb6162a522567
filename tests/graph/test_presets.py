"""Presets compile to modules equal to hand-written and torchvision networks."""
import pytest
import torch
import torchvision
from torch import nn

from layerloom.graph import analyze, compile_graph, load_graph
from layerloom.graph.layout import layout_plan
from layerloom.presets import preset_path, preset_paths


class HandLeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = torch.relu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        return self.fc3(x)


def copy_state(src: nn.Module, dst: nn.Module):
    """Give dst src's state entry by entry, in order (names differ, shapes must not). dst takes src's tensors
    themselves, so it may be built on the meta device (no memory, no initialisation of its own)."""
    a, b = src.state_dict(), dst.state_dict()
    assert len(a) == len(b)
    new = {}
    for (ka, va), (kb, vb) in zip(a.items(), b.items()):
        assert va.shape == vb.shape, (ka, kb)
        new[kb] = va
    dst.load_state_dict(new, assign=True)


def test_every_preset_is_clean_named_and_has_training_defaults():
    names = {p.name for p in preset_paths()}
    assert {"lenet5.loom.json", "alexnet.loom.json", "mlp.loom.json", "vgg11.loom.json",
            "resnet18.loom.json"} <= names
    for path in preset_paths():
        doc = load_graph(path)
        result = analyze(doc)
        assert result.ok, (path.name, [d.text for d in result.diagnostics])
        assert not result.warnings, (path.name, [d.text for d in result.warnings])
        assert doc.name and doc.description
        for key in ("dataset", "optimizer", "lr", "batch_size", "epochs"):
            assert key in doc.training, (path.name, key)


def test_lenet5_matches_hand_written():
    doc = load_graph(preset_path("lenet5"))
    assert analyze(doc).total_params == 61_706
    gm = compile_graph(doc).eval()
    ref = HandLeNet5().eval()
    assert sum(p.numel() for p in ref.parameters()) == sum(p.numel() for p in gm.parameters()) == 61_706
    copy_state(ref, gm)
    x = torch.randn(4, 1, 28, 28)
    torch.testing.assert_close(gm(x), ref(x))


@pytest.mark.parametrize("name, factory, params_1000", [
    ("alexnet", torchvision.models.alexnet, 61_100_840),
    ("resnet18", torchvision.models.resnet18, 11_689_512),
    ("vgg11", torchvision.models.vgg11, 132_863_336),
])
def test_torchvision_architectures(name, factory, params_1000):
    doc = load_graph(preset_path(name))
    last = [b for b in doc.blocks if doc.blocks[b].kind == "Linear"][-1]
    doc.set_param(last, "out_features", 1000)
    result = analyze(doc)
    assert result.total_params == params_1000
    torch.manual_seed(0)
    ref = factory(num_classes=1000).eval()
    gm = compile_graph(doc, device="meta").eval()      # every weight comes from torchvision's model
    copy_state(ref, gm)
    x = torch.randn(1, 3, 224 if name != "vgg11" else 64, 224 if name != "vgg11" else 64)
    with torch.no_grad():
        torch.testing.assert_close(gm(x), ref(x), rtol=1e-4, atol=1e-4)


def test_layout_is_left_to_right_and_wraps():
    doc = load_graph(preset_path("resnet18"))
    pos, band = layout_plan(doc)
    assert len(set(pos.values())) == len(doc.blocks)          # no two blocks on one spot
    assert len(set(band.values())) > 2                          # long network wrapped into rows
    xs = [x for x, _ in pos.values()]
    assert max(xs) - min(xs) <= 13 * 210                      # at most 14 columns a row
    for e in doc.edges:                     # wires go left to right in a row, or on to a later row
        if band[e.src] == band[e.dst]:
            assert pos[e.dst][0] > pos[e.src][0], e
        else:
            assert band[e.dst] > band[e.src], e
            assert pos[e.dst][1] > pos[e.src][1], e
    # Rows break between residual blocks: every skip connection (into an Add) stays within a row.
    for e in doc.edges:
        if doc.blocks[e.dst].kind == "Add":
            assert band[e.src] == band[e.dst], e


def test_shufflenet_v2_preset_is_torchvisions_to_the_last_bit_at_any_image_size():
    doc = load_graph(preset_path("shufflenet_v2_x0_5"))
    last = [b for b in doc.blocks if doc.blocks[b].kind == "Linear"][-1]
    doc.set_param(last, "out_features", 1000)
    result = analyze(doc)
    assert result.total_params == 1_366_792 and round(result.total_macs / 1e9, 2) == 0.04   # torchvision publishes
    doc.set_param("input", "shape", [3, 64, 64])      # Narrow and ChannelShuffle hold no image size
    torch.manual_seed(0)
    ref = torchvision.models.shufflenet_v2_x0_5(num_classes=1000).eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in ref.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.2)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    gm = compile_graph(doc).eval()
    copy_state(ref, gm)
    x = torch.randn(2, 3, 64, 64, generator=g)
    with torch.no_grad():
        assert torch.equal(gm(x), ref(x))
