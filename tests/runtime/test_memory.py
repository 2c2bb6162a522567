"""Peak training memory estimates against real training steps measured by PyTorch's MemTracker."""
import json
import os

import pytest
import torch
from torch.distributed._tools.mem_tracker import MemTracker

from layerloom.graph import analyze, compile_graph, load_graph
from layerloom.presets import preset_path
from layerloom.runtime import memory
from layerloom.runtime.cli import run as cli_run
from layerloom.runtime.memory import MemoryEstimateError, estimate_training_memory
from layerloom.runtime.memory_fit import largest_batch

KEYS = {"Parameter": "parameters", "Gradient": "gradients", "Optstate": "optimizer_state"}


class _NoHook:
    def remove(self):
        pass


def real_peak(doc, batch_size, optimizer="adam", frozen=()):
    """A real two-step training loop (real tensors, real kernels) tracked by MemTracker. `frozen`: block ids
    whose parameters get requires_grad off and stay out of the optimizer, as the trainer's Freezing does."""
    torch.manual_seed(0)
    model = compile_graph(doc)
    for bid in frozen:
        for p in model.get_submodule(bid).parameters():
            p.requires_grad_(False)
    params = doc.blocks["input"].full_params()
    x = torch.rand(batch_size, *params["shape"])
    y = torch.randint(0, 10, (batch_size,))
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = (torch.optim.Adam if optimizer == "adam" else torch.optim.SGD)(trainable, lr=1e-3,
                                                                         **({"momentum": 0.9} if optimizer == "sgd" else {}))
    tracker = MemTracker()
    for p in model.parameters():           # MemTracker cannot hook a parameter that takes no gradient
        if not p.requires_grad:
            tracker._param_to_grad_hook_handles[p] = (_NoHook(), _NoHook())
    tracker.track_external(model, opt, x, y)
    with tracker:
        for step in range(2):
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            del loss
            if step == 0:
                tracker.reset_mod_stats()
    snap = next(iter(tracker.get_tracker_snapshot("peak").values()))
    return snap["Total"], {KEYS[k.value]: v for k, v in snap.items() if getattr(k, "value", None) in KEYS}


@pytest.mark.parametrize("preset,batch,optimizer", [("lenet5", 32, "adam"), ("mlp", 32, "adam"),
                                                    ("lenet5", 16, "sgd")])
def test_estimate_matches_a_real_run_within_one_percent(preset, batch, optimizer):
    doc = load_graph(preset_path(preset))
    est = estimate_training_memory(doc, batch, optimizer, "cpu")
    peak, _ = real_peak(doc, batch, optimizer)
    assert est.method == "memtracker"
    assert abs(est.peak_bytes - peak) <= 0.01 * peak, (est.peak_bytes, peak)
    assert sum(est.categories.values()) == est.peak_bytes
    # per block: module names are block ids; a Conv's parameters are its weight and bias
    conv = compile_graph(doc).get_submodule("fc1")
    assert est.blocks["fc1"]["parameters"] == sum(p.numel() * 4 for p in conv.parameters())
    assert 0 < est.blocks["fc1"]["peak"] <= est.peak_bytes


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_a_frozen_block_has_no_gradients_or_optimizer_state_in_the_estimate(optimizer):
    """fc1 frozen (trainable off): the estimate against a real run measured by MemTracker, per category."""
    doc = load_graph(preset_path("mlp"))
    doc.blocks["fc1"].trainable = False
    peak, real = real_peak(doc, 64, optimizer, frozen=["fc1"])
    est = estimate_training_memory(doc, 64, optimizer, "cpu")
    assert est.method == "memtracker"
    assert abs(est.peak_bytes - peak) <= 0.01 * peak, (est.peak_bytes, peak)
    for key in ("gradients", "optimizer_state", "parameters"):
        assert est.categories[key] == real.get(key, 0), (key, est.categories[key], real)
    analytic = estimate_training_memory(doc, 64, optimizer, "cpu", use_tracker=False)
    assert analytic.method == "analytic"
    assert analytic.categories["gradients"] == real.get("gradients", 0)
    assert abs(analytic.categories["optimizer_state"] - real.get("optimizer_state", 0)) <= 64, real


def test_lstm_estimate_counts_the_recurrent_workspace():
    doc = load_graph(preset_path("seq_mnist_lstm"))
    est = estimate_training_memory(doc, 32, "adam", "cpu")
    peak, _ = real_peak(doc, 32)
    assert abs(est.peak_bytes - peak) <= 0.10 * peak, (est.peak_bytes, peak)
    # the workspace is most of it: without the probe the fake-tensor figure is far off
    assert any("workspace" in n for n in est.notes)


@pytest.mark.skipif(not os.environ.get("LAYERLOOM_LONG"), reason="ResNet-18 at 224x224 trains slowly: LAYERLOOM_LONG=1")
def test_resnet18_estimate_at_batch_32():
    doc = load_graph(preset_path("resnet18"))
    est = estimate_training_memory(doc, 32, "adam", "cpu")
    peak, _ = real_peak(doc, 32)
    assert abs(est.peak_bytes - peak) <= 0.01 * peak, (est.peak_bytes, peak)


def test_fallback_when_memtracker_is_unavailable(monkeypatch):
    doc = load_graph(preset_path("lenet5"))
    peak, exact = real_peak(doc, 32)
    monkeypatch.setattr(memory, "_memtracker_available", lambda: False)
    est = estimate_training_memory(doc, 32, "adam", "cpu")
    assert est.method == "analytic"
    assert "not available" in est.notes[0]
    assert est.categories["parameters"] == exact["parameters"]             # exact
    assert est.categories["optimizer_state"] == exact["optimizer_state"]   # Adam's two moments + step
    assert est.categories["gradients"] >= exact["gradients"]               # all of them (peak: nearly all)
    assert 0.5 * peak <= est.peak_bytes <= 2 * peak     # activations are approximate


def test_fallback_when_memtracker_breaks(monkeypatch):
    def broken(*args, **kwargs):
        raise AttributeError("'MemTracker' object has no attribute '_peak_mem_snap'")
    monkeypatch.setattr(memory, "_tracked_estimate", broken)
    est = estimate_training_memory(load_graph(preset_path("mlp")), 8, "sgd", "cpu")
    assert est.method == "analytic" and "MemTracker failed" in est.notes[0]
    assert est.categories["optimizer_state"] == est.categories["parameters"]   # SGD momentum: one buffer


def test_largest_batch_fits_the_budget():
    doc = load_graph(preset_path("lenet5"))
    result = analyze(doc)
    budget = estimate_training_memory(doc, 100, "adam", analysis=result).device_bytes
    assert largest_batch(doc, "adam", "cpu", budget=budget, analysis=result) == 100
    assert largest_batch(doc, "adam", "cpu", budget=1000, analysis=result) is None


def test_cuda_estimate_adds_context_and_reserve():
    est = estimate_training_memory(load_graph(preset_path("mlp")), 16, "adam", "cuda")
    assert est.overheads["cuda_context"] > 0 and est.overheads["reserve"] > 0
    assert est.device_bytes == est.peak_bytes + sum(est.overheads.values())


def test_bad_settings_are_one_line_errors():
    doc = load_graph(preset_path("mlp"))
    with pytest.raises(MemoryEstimateError, match="batch size"):
        estimate_training_memory(doc, 0)
    # past the largest batch a run takes (the training settings' own bound), an estimate means nothing
    from layerloom.runtime.config import ConfigError, TrainConfig
    with pytest.raises(ConfigError, match="batch_size must be between 1 and 65,536"):
        TrainConfig.from_dict({"batch_size": 65_537})
    assert estimate_training_memory(doc, 65_536).batch_size == 65_536
    with pytest.raises(MemoryEstimateError, match="from 1 to 65,536 .the largest a run takes., not 65537"):
        estimate_training_memory(doc, 65_537)
    with pytest.raises(MemoryEstimateError, match="optimizer"):
        estimate_training_memory(doc, 4, "lbfgs")


def test_summary_json_has_training_memory(capsys):
    path = str(preset_path("lenet5"))
    assert cli_run(["summary", path, "--batch-size", "32", "--optimizer", "adam", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    tm = data["training_memory"]
    peak, _ = real_peak(load_graph(path), 32)
    assert abs(tm["peak_bytes"] - peak) <= 0.01 * peak
    assert set(tm["categories"]) >= {"parameters", "gradients", "optimizer_state", "activations", "temporaries"}
    assert all(isinstance(v, int) for v in tm["categories"].values())
    assert "conv1" in tm["blocks"]
    with pytest.raises(SystemExit) as exit_info:
        cli_run(["summary", path, "--batch-size", "-3"])
    assert exit_info.value.code == 2
    assert "batch size" in capsys.readouterr().err


def test_memory_check_reports_the_estimate_against_the_first_step(tmp_path):
    from layerloom.runtime.memory_check import MemoryCheck
    from layerloom.runtime.trainer import Trainer

    from .trainer_helpers import mnist_small
    events = []
    doc = load_graph(preset_path("lenet5"))
    check = MemoryCheck(measure=lambda: 1_000_000)        # stands in for torch.cuda.max_memory_allocated
    t = Trainer(doc, {"epochs": 1, "batch_size": 32, "max_steps": 2, "optimizer": "adam"}, events.append,
                runs_base=tmp_path, data=mnist_small(n_train=256, n_val=64), extensions=[check])
    assert t.run()["status"] == "finished"
    memory_events = [e for e in events if e["type"] == "memory"]
    assert len(memory_events) == 1 and memory_events[0]["step"] == 1
    expected = estimate_training_memory(doc, 32, "adam", "cpu").peak_bytes
    assert memory_events[0]["estimate_bytes"] == expected and memory_events[0]["actual_bytes"] == 1_000_000


def test_the_analytic_estimate_of_a_huge_network_allocates_nothing(monkeypatch):
    """The fallback built the real modules on the CPU (build_modules chose the CPU inside the caller's meta
    device): estimating a 2.6 TB Embedding tried to allocate it. Under an 8 GB address-space limit, so that no
    machine tries for real."""
    import resource
    from layerloom.graph import GraphDocument
    doc = GraphDocument("huge")
    x = doc.add_block("Input", {"shape": [4], "dtype": "int64"})
    emb = doc.add_block("Embedding", {"num_embeddings": 10 ** 7, "embedding_dim": 65536})
    first, fc = doc.add_block("Select", {"dim": 1, "index": 0}), doc.add_block("Linear", {"out_features": 10})
    doc.connect(x, emb), doc.connect(emb, first), doc.connect(first, fc), doc.connect(fc, doc.add_block("Output"))
    monkeypatch.setattr(memory, "_memtracker_available", lambda: False)
    with torch.device("meta"):
        net = torch.nn.Sequential(torch.nn.Embedding(10 ** 7, 65536), torch.nn.Linear(65536, 10))
    weights = sum(p.numel() * p.element_size() for p in net.parameters())
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (min(hard, 8 * 2 ** 30) if hard > 0 else 8 * 2 ** 30, hard))
    try:
        est = estimate_training_memory(doc, 2, "sgd", "cpu")
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    assert est.method == "analytic" and est.categories["parameters"] == weights == 2_621_442_621_480
