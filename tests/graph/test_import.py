"""Importing PyTorch modules: torchvision references match exactly; Opaque and shared-weight cases."""
import json
import os
import textwrap

import pytest
import torch
import torchvision
from torch import nn

from layerloom.graph import analyze, compile_graph, load_graph
from layerloom.graph.importers import ImportFailure, import_source, save_import
from layerloom.graph.weights import module_path_to_id

from .test_blocks_modern import GATE

LONG = os.environ.get("LAYERLOOM_LONG") == "1"


def _randomise_norm_stats(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=g) * 2 - 1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(m.bias.shape, generator=g) - 0.5)
    return model


def _check_torchvision(name, tmp_path, shape=(3, 224, 224), max_opaque=0, exact=True):
    result = import_source(f"torchvision:{name}", shape, fidelity=False)
    reference = _randomise_norm_stats(result.model).eval()
    # the import read the weights before the statistics changed: import again from the changed model
    from layerloom.graph.importers.fx_import import import_module
    doc, state, report = import_module(reference, shape, name, f"torchvision:{name}")
    assert len(report.opaque) <= max_opaque, report.opaque
    path = tmp_path / f"{name}.loom.json"
    from layerloom.graph.importers import ImportResult
    save_import(ImportResult(doc, state, report, reference), path)
    again = load_graph(path)                                   # through the file and its weights file
    gm = compile_graph(again, weights=False).eval()
    expected_state = reference.state_dict()
    mapped = {}
    for key, value in expected_state.items():
        owner, _, leaf = key.rpartition(".")
        mapped[f"{module_path_to_id(owner)}.{leaf}"] = value
    gm.load_state_dict(mapped, strict=True)                    # torchvision's own tensors, by module path
    with_weights = compile_graph(again).eval()                 # the graph's weights file
    for key, value in with_weights.state_dict().items():
        assert torch.equal(value, mapped[key]), key
    x = torch.randn(2, *shape, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        diff = (with_weights(x) - reference(x)).abs().max().item()
    if exact:
        assert diff == 0.0
    else:
        assert diff < 1e-5
    return doc, report


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_torchvision_imports_match_exactly(name, tmp_path):
    doc, report = _check_torchvision(name, tmp_path, shape=(3, 96, 96))
    assert report.opaque == []
    assert doc.blocks["conv1" if name == "resnet18" else "features_0_0"].group in ("", "features.0")
    if name == "resnet18":
        assert doc.blocks["layer1_0_conv1"].group == "layer1.0"
        assert "layer1_0_relu_2" in doc.blocks          # a parameterless module called twice
        assert sum(b.kind == "Add" for b in doc.blocks.values()) == 8


@pytest.mark.skipif(not LONG, reason="heavy torchvision models: LAYERLOOM_LONG=1")
@pytest.mark.parametrize("name", ["vgg11", "googlenet", "alexnet", "resnet50", "densenet121", "squeezenet1_0",
                                  "efficientnet_b0", "shufflenet_v2_x0_5", "mobilenet_v3_small", "regnet_y_400mf"])
def test_more_torchvision_models_import_without_opaque_blocks(name, tmp_path):
    _check_torchvision(name, tmp_path)


MODEL = GATE + textwrap.dedent('''
    import torch.nn.functional as F


    class Net(nn.Module):
        def __init__(self, width=8):
            super().__init__()
            self.conv = nn.Conv2d(3, width, 3, padding=1)
            self.act = nn.ReLU()
            self.pool = nn.AdaptiveAvgPool2d(2)
            self.gate = Gate(width * 4)
            self.fc = nn.Linear(width * 8, 5)

        def forward(self, x):
            y = self.act(self.conv(x))
            y = self.act(y) + y                      # a module called twice, and +
            y = self.pool(y)
            y = y.view(y.size(0), -1)                # size bookkeeping folds into the Reshape
            z = self.gate(y)
            return self.fc(torch.cat([F.relu(z), y], dim=1))


    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4)

        def forward(self, x):
            return self.lin(self.lin(x))


    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = Shared()
            self.head = nn.Linear(4, 2)

        def forward(self, x):
            return self.head(self.body(x))


    class Reader(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(6, 10, batch_first=True)
            self.fc = nn.Linear(10, 3)

        def forward(self, x):
            out, _ = self.rnn(x)
            return self.fc(out[:, -1])


    def build(hidden=7):
        return nn.Sequential(nn.Flatten(), nn.Linear(12, hidden), nn.SiLU(), nn.Linear(hidden, 2))
''')


@pytest.fixture
def model_py(tmp_path):
    path = tmp_path / "model.py"
    path.write_text(MODEL)
    return path


def test_data_dependent_submodule_becomes_exactly_one_opaque_block(model_py, tmp_path):
    result = import_source(f"{model_py}:Net", (3, 8, 8))
    doc, report = result.doc, result.report
    opaque = [b for b in doc.blocks.values() if b.kind == "Opaque"]
    assert [b.id for b in opaque] == ["gate"] and len(report.opaque) == 1
    assert "torch.fx cannot trace it" in report.opaque[0]["reason"]
    assert opaque[0].params["target"] == f"{model_py.resolve()}:Gate"
    assert opaque[0].params["kwargs"] == {"features": 32, "threshold": 0.0}
    assert {"act", "act_2", "add", "reshape", "concat", "relu"} <= set(doc.blocks)
    assert doc.blocks["reshape"].params["shape"] == [32]
    assert report.fidelity["strict_load"] and report.fidelity["max_abs_diff"] <= 1e-6
    save_import(result, tmp_path / "net.loom.json")
    gm = compile_graph(load_graph(tmp_path / "net.loom.json")).eval()
    for seed in range(3):   # both branches of the data-dependent if
        x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(seed)) + (seed - 1)
        with torch.no_grad():
            assert (gm(x) - result.model(x)).abs().max().item() <= 1e-6
    assert analyze(load_graph(tmp_path / "net.loom.json")).blocks["gate"].output_shape == (32,)


def test_shared_weights_become_one_opaque_block_or_are_refused(model_py):
    result = import_source(f"{model_py}:Outer", (4,))
    opaque = [b for b in result.doc.blocks.values() if b.kind == "Opaque"]
    assert [b.id for b in opaque] == ["body"]
    assert "called twice with the same weights" in result.report.opaque[0]["reason"]
    assert result.report.fidelity["max_abs_diff"] == 0.0
    with pytest.raises(ImportFailure, match="called twice with the same weights"):
        import_source(f"{model_py}:Shared", (4,))


def test_last_step_of_a_recurrent_layer_becomes_output_last(model_py):
    result = import_source(f"{model_py}:Reader", (5, 6))
    assert result.doc.blocks["rnn"].params["output"] == "last"
    assert [b.kind for b in result.doc.blocks.values()] == ["Input", "LSTM", "Linear", "Output"]
    assert result.report.fidelity["max_abs_diff"] == 0.0


def test_cli_imports_a_factory_with_arguments(model_py, tmp_path, capsys):
    from layerloom.runtime.cli import run
    out = tmp_path / "built.loom.json"
    code = run(["import", f"{model_py}:build", "--out", str(out), "--input-shape", "3,4",
                "--args", json.dumps({"hidden": 9}), "--report"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "max output difference 0.0" in printed.out and "module 1" in printed.out
    doc = load_graph(out)
    assert doc.weights == "built.safetensors" and doc.blocks["m_1"].params["out_features"] == 9
    assert run(["import", f"{model_py}:nothing", "--out", str(out)]) == 1
    assert "has no class or function called nothing" in capsys.readouterr().err


def test_a_constructor_that_refuses_its_arguments_is_shown_as_called_and_says_how_to_give_them(tmp_path):
    path = tmp_path / "wide.py"
    path.write_text("from torch import nn\n\n\nclass Net(nn.Sequential):\n    def __init__(self, width):\n"
                    "        super().__init__(nn.Linear(4, width))\n")
    with pytest.raises(ImportFailure, match=r"^Net\(1, 2\) failed \(TypeError: .*\): give the arguments it takes as "
                                            r"JSON \(--args, or Arguments in the import dialog\)"):
        import_source(f"{path}:Net", (4,), [1, 2])
    with pytest.raises(ImportFailure, match=r"^Net\(\) failed \(TypeError: .*missing 1 required positional argument"):
        import_source(f"{path}:Net", (4,))
    with pytest.raises(ImportFailure, match=r"missing\.py does not exist: check the file's path"):
        import_source(f"{tmp_path / 'missing.py'}:Net", (4,))
