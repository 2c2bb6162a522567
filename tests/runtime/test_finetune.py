"""Starting from trained weights and freezing blocks: the trainer, the CLI option and train.py."""
import importlib.util
import os
import urllib.error
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from layerloom.graph import GraphDocument, compile_graph, save_graph
from layerloom.runtime.export import export_model
from layerloom.runtime.initial_weights import read_init_source, weights_folder
from layerloom.graph.weights import WeightsError
from layerloom.runtime.trainer import Trainer

from .trainer_helpers import Recorder, mnist_small


def bn_net(head=10):
    doc = GraphDocument("bn", training={"dataset": "mnist-sample"})
    last = doc.add_block("Input", {"shape": [1, 28, 28]})
    for kind, p in (("Conv2d", {"out_channels": 4, "kernel_size": 3, "stride": 2}), ("BatchNorm2d", {}),
                    ("ReLU", {}), ("Flatten", {}), ("Linear", {"out_features": head})):
        b = doc.add_block(kind, p)
        doc.connect(last, b)
        last = b
    doc.connect(last, doc.add_block("Output"))
    return doc


class SeeStart:
    """Records the weights a run starts from (runs after the built-in extensions)."""
    def setup(self, trainer):
        self.start = {k: v.clone() for k, v in trainer.model.state_dict().items()}


def test_frozen_blocks_are_bit_identical_after_training(tmp_path):
    doc = bn_net()
    doc.set_block_attr("conv1", "trainable", False)
    doc.set_block_attr("bn1", "trainable", False)
    seen, rec = SeeStart(), Recorder()
    t = Trainer(doc, {"epochs": 1, "batch_size": 64, "optimizer": "adamw", "weight_decay": 0.1}, rec,
                runs_base=tmp_path, data=mnist_small(256, 64), extensions=[seen])
    assert t.run()["status"] == "finished"
    end = t.model.state_dict()
    for key in ("conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var"):
        assert torch.equal(end[key], seen.start[key]), key
    assert not torch.equal(end["fc1.weight"], seen.start["fc1.weight"])
    assert rec.of("frozen")[0]["blocks"] == ["conv1", "bn1"]


def test_everything_frozen_is_refused_with_a_reason(tmp_path):
    doc = bn_net()
    for bid in ("conv1", "bn1", "fc1"):
        doc.set_block_attr(bid, "trainable", False)
    rec = Recorder()
    assert Trainer(doc, {"epochs": 1}, rec, runs_base=tmp_path, data=mnist_small(128, 64)).run() is None
    assert "nothing to train" in rec.of("failed")[0]["message"]


def test_init_from_a_run_with_a_changed_head(tmp_path):
    first = Trainer(bn_net(), {"epochs": 1, "batch_size": 64}, None, runs_base=tmp_path / "a",
                    data=mnist_small(256, 64))
    assert first.run() is not None
    trained = {k: v.clone() for k, v in first.model.state_dict().items()}
    seen, rec = SeeStart(), Recorder()
    second = Trainer(bn_net(head=12), {"epochs": 1, "batch_size": 64, "init_from": str(first.run_dir)}, rec,
                     runs_base=tmp_path / "b", data=mnist_small(256, 64), extensions=[seen])
    assert second.run() is not None
    for key in ("conv1.weight", "bn1.running_var"):
        assert torch.equal(seen.start[key], trained[key]), key
    assert seen.start["fc1.weight"].shape == (12, 676)
    report = rec.of("weights_loaded")[0]
    assert set(report["new"]) == {"fc1.weight", "fc1.bias"}
    assert {s["key"] for s in report["skipped"]} == {"fc1.weight", "fc1.bias"}
    assert "conv1.weight" in report["loaded"]


def test_init_from_files_and_the_offline_torchvision_message(tmp_path, monkeypatch):
    net = compile_graph(bn_net(), seed=3)
    state = net.state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "w.safetensors"))
    torch.save({"state_dict": state}, tmp_path / "w.pt")
    for name in ("w.safetensors", "w.pt"):
        got = read_init_source(str(tmp_path / name))
        assert all(torch.equal(got[k], v) for k, v in state.items())
    torch.save({"evil": object()}, tmp_path / "bad.pt")
    with pytest.raises(WeightsError, match="holds Python objects besides tensors and plain values"):
        read_init_source(str(tmp_path / "bad.pt"))

    monkeypatch.setenv("LAYERLOOM_DATA", str(tmp_path / "data"))

    def offline(url, dst, progress=True):
        raise urllib.error.URLError("no network")
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(WeightsError) as exc:
        read_init_source("torchvision:squeezenet1_0")
    text = str(exc.value)
    assert str(weights_folder()) in text and "https://download.pytorch.org/models/squeezenet1_0-" in text
    # the file put where the message says is used
    import torchvision
    url = torchvision.models.get_model_weights("squeezenet1_0").DEFAULT.url
    weights_folder().mkdir(parents=True, exist_ok=True)
    reference = torchvision.models.squeezenet1_0().state_dict()
    torch.save(reference, weights_folder() / url.rsplit("/", 1)[-1])
    got = read_init_source("torchvision:squeezenet1_0")
    assert set(got) == set(reference) and torch.equal(got["features.0.weight"], reference["features.0.weight"])
    with pytest.raises(WeightsError, match="no model called"):
        read_init_source("torchvision:no_such_net")


def test_exported_train_py_honours_frozen_blocks(tmp_path, project_runner):
    """conv1 and its batch norm frozen: train.py keeps their weights and the norm's running statistics (its
    hook crashed step 1: it returned the module, which became the layer's input)."""
    doc = bn_net()
    doc.set_block_attr("conv1", "trainable", False)
    doc.set_block_attr("bn1", "trainable", False)
    graph = tmp_path / "bn.loom.json"
    save_graph(doc, graph)
    _, results = export_model(graph, ["project"], tmp_path / "out")
    project = results[0].path
    text = (project / "train.py").read_text()
    assert "FROZEN = ['conv1', 'bn1']" in text
    proc = project_runner.run(project, "--epochs", "1", "--max-steps", "3", "--init", "model_state.pt",
                              "--device", "cpu")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    start = torch.load(project / "model_state.pt", weights_only=True)
    end = torch.load(project / "checkpoints" / "epoch-1.pt", weights_only=True)["model"]
    for key in ("conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var"):
        assert torch.equal(start[key], end[key]), key
    assert not torch.equal(start["fc1.weight"], end["fc1.weight"])


def test_head_only_fine_tune_from_a_file_with_another_tasks_head(tmp_path):
    """The transfer path of bench/finetune.py at a tiny size: a state_dict file with torchvision's keys and a
    12-class head, an imported resnet18 whose head the training check resets for the ten shapes, init_from
    the file, every block but fc frozen. The body starts as the file's tensors and ends bit-identical."""
    import torchvision
    from torch import nn

    from layerloom.graph.importers import import_source, save_import
    from layerloom.runtime.preflight import preflight

    torch.manual_seed(5)
    source = torchvision.models.resnet18(num_classes=12)
    for m in source.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
    file = tmp_path / "other-task.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(file))

    result = import_source("torchvision:resnet18", (3, 32, 32), fidelity=False)
    save_import(result, tmp_path / "net.loom.json")
    doc = result.doc
    fixes = [d.fix for d in preflight(doc, "shapes").diagnostics if d.fix and d.block == "fc"]
    assert [f["label"] for f in fixes] == ["Reset fc for 10 classes"]
    doc.set_param("fc", fixes[0]["param"], fixes[0]["value"])
    for bid in doc.blocks:
        if bid != "fc":
            doc.set_block_attr(bid, "trainable", False)
    seen, rec = SeeStart(), Recorder()
    t = Trainer(doc, {"dataset": "shapes", "dataset_options": {"train_count": 96, "val_count": 32},
                      "batch_size": 32, "epochs": 1, "max_steps": 3, "device": "cpu", "init_from": str(file)},
                rec, runs_base=tmp_path / "runs", extensions=[seen])
    assert t.run() is not None, rec.of("failed")
    report = next(e for e in rec.of("weights_loaded") if e["what"] == "init_from")
    assert report["new"] == ["fc.weight", "fc.bias"]
    assert {s["key"]: "does not fit" in s["why"] for s in report["skipped"]} == {"fc.weight": True, "fc.bias": True}

    end = t.model.state_dict()
    body = {k: v for k, v in source.state_dict().items() if not k.startswith("fc.")}
    # layer1.0.downsample.0.weight is block layer1_0_downsample_0's weight
    ids = {key: "{}.{}".format(key.rsplit(".", 1)[0].replace(".", "_"), key.rsplit(".", 1)[1]) for key in body}
    assert sorted(report["loaded"]) == sorted(ids.values()) and set(end) == {*ids.values(), "fc.weight", "fc.bias"}
    for key, value in body.items():
        mine = ids[key]
        assert torch.equal(seen.start[mine], value), key
        assert torch.equal(end[mine], value), key          # frozen: weights and running statistics unchanged
    assert seen.start["fc.weight"].shape == (10, 512)
    assert not torch.equal(end["fc.weight"], seen.start["fc.weight"])
    frozen = rec.of("frozen")[0]
    assert "fc" not in frozen["blocks"] and len(frozen["blocks"]) == len(doc.blocks) - 1
    assert frozen["params"] == sum(p.numel() for n, p in source.named_parameters() if not n.startswith("fc."))


# head-only beats scratch by at least this much validation accuracy (1,000 images: one standard error of an
# accuracy near 0.6 is about 0.016); measured margins were about 0.2 (bench/finetune.py prints them)
MARGIN = 0.10


def _bench():
    path = Path(__file__).resolve().parents[2] / "bench" / "finetune.py"
    spec = importlib.util.spec_from_file_location("layerloom_finetune_bench", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(os.environ.get("LAYERLOOM_LONG") != "1",
                    reason="pretrains ResNet-18 once per seed (several minutes each on 2 cores): set LAYERLOOM_LONG=1")
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_head_only_from_the_pretrained_file_beats_scratch(tmp_path, seed):
    """The seed scenario (bench/finetune.py): ResNet-18 pretrained on the figures into a file, then on shapes
    for 150 steps each, head only from the file against the whole network from scratch, same seed."""
    r = _bench().scenario(tmp_path, seed=seed, pretrain_steps=300, steps=150, full=False, log=print)
    assert r["head_only_steps"] == r["scratch_steps"] == 150
    init = next(e for e in r["head_only_events"] if e.get("what") == "init_from")
    assert init["new"] == ["fc.weight", "fc.bias"] and len(init["loaded"]) == 120
    frozen = next(e for e in r["head_only_events"] if e["type"] == "frozen")
    assert "fc" not in frozen["blocks"] and frozen["params"] > 11_000_000
    assert not [e for e in r["scratch_events"] if e.get("what") == "init_from"]
    assert r["head_only"] >= r["scratch"] + MARGIN, r
