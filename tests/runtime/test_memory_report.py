"""The training-memory line the app shows: the settings it is estimated for, its words, and the check
against the memory free on the device."""
import re

import pytest

from layerloom.graph import analyze, load_graph
from layerloom.presets import preset_path
from layerloom.runtime.config import ConfigError
from layerloom.runtime.memory import MIB, estimate_training_memory
from layerloom.runtime.memory_report import estimate_arguments, fit_check, headline, settings_estimate

from .test_memory import real_peak


def _in_mib(value: str, unit: str) -> float:
    return float(value.replace(",", "")) * (1024 if unit == "GiB" else 1)


def mib_figures(text: str) -> dict[str, float]:
    """{"total": peak, "weights": ..., ...} in MiB, read back from a headline."""
    total = _in_mib(*re.search(r": ([\d,.]+) (MiB|GiB) \(", text).groups())
    named = r"(weights|gradients|optimizer state|activations|temporaries|inputs) ([\d,.]+) (MiB|GiB)"
    parts = {name: _in_mib(v, unit) for name, v, unit in re.findall(named, text)}
    return {"total": total, **parts}


def test_headline_states_a_real_runs_peak_and_its_parts():
    doc = load_graph(preset_path("lenet5"))
    est = settings_estimate(doc, {"batch_size": 32, "optimizer": "sgd", "momentum": 0.9, "device": "cpu"})
    text = headline(est)
    assert text.startswith("Training memory at batch 32 with SGD with momentum on CPU: ")
    peak, parts = real_peak(doc, 32, "sgd")            # a real two-step loop measured by MemTracker
    figures = mib_figures(text)
    assert figures["total"] == round(peak / MIB, 1)
    assert figures["weights"] == round(parts["parameters"] / MIB, 1)
    assert figures["gradients"] == round(parts["gradients"] / MIB, 1)
    assert figures["optimizer state"] == round(parts["optimizer_state"] / MIB, 1)
    # the named parts are the whole peak (to the rounding of each figure)
    assert abs(sum(v for k, v in figures.items() if k != "total") - figures["total"]) <= 0.05 * len(figures)


def test_settings_become_the_estimates_arguments():
    assert estimate_arguments({}) == (64, "adam", "cpu")            # TrainConfig's defaults; auto is the CPU here
    assert estimate_arguments({"optimizer": "sgd", "momentum": 0.0, "batch_size": 8}) == (8, "sgd-nomomentum", "cpu")
    assert estimate_arguments({"optimizer": "adamw", "device": "cuda"})[1:] == ("adamw", "cuda")
    with pytest.raises(ConfigError):
        estimate_arguments({"batch_size": 0})


def test_fit_check_names_the_largest_batch_that_fits():
    doc = load_graph(preset_path("lenet5"))
    result = analyze(doc)
    est = estimate_training_memory(doc, 256, "adam", "cpu", analysis=result)
    budget = estimate_training_memory(doc, 40, "adam", "cpu", analysis=result).device_bytes
    check = fit_check(est, doc, result, free=budget)
    assert not check.fits and check.free_bytes == budget
    assert check.largest_batch is not None and 36 <= check.largest_batch <= 40   # within the search's 1 %... of 40
    assert estimate_training_memory(doc, check.largest_batch, "adam", "cpu", analysis=result).device_bytes <= budget
    assert f"lower the batch size to {check.largest_batch:,} or less" in check.warning
    assert "batch 256" in check.warning and "free on the CPU" in check.warning
    assert fit_check(est, free=est.device_bytes).fits
    assert fit_check(est, doc, result, free=1000).warning.endswith(
        "not even a batch of one fits: make the network smaller, or free some memory.")


def test_an_estimate_in_a_thread_ignores_modules_and_optimizers_used_elsewhere():
    """The app estimates in a worker thread while other threads analyse or train: MemTracker's global
    hooks must neither count their work nor break it."""
    import threading

    import torch

    doc = load_graph(preset_path("lenet5"))
    result = analyze(doc)
    quiet = estimate_training_memory(doc, 32, "adam", "cpu", analysis=result)
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    opt = torch.optim.Adam(model.parameters())
    done, failures, steps = threading.Event(), [], [0]

    def busy():
        while not done.is_set():
            try:
                loss = model(torch.rand(4, 8)).sum()
                opt.zero_grad()
                loss.backward()
                opt.step()
                steps[0] += 1
            except Exception as exc:     # what the tracker's hooks would raise in this thread
                failures.append(repr(exc))
                return

    other = threading.Thread(target=busy)
    other.start()
    try:
        found = {}
        worker = threading.Thread(target=lambda: found.update(
            est=estimate_training_memory(doc, 32, "adam", "cpu", analysis=result)))
        worker.start()
        worker.join()
    finally:
        done.set()
        other.join()
    assert not failures and steps[0] > 0
    assert found["est"].peak_bytes == quiet.peak_bytes and found["est"].categories == quiet.categories
    assert found["est"].blocks == quiet.blocks


def test_a_cancelled_estimate_stops_instead_of_falling_back():
    from layerloom.runtime.memory import EstimateCancelled, cancellable

    doc = load_graph(preset_path("seq_mnist_lstm"))
    result = analyze(doc)
    asked = []

    def cancelled():                    # given up once the tracked estimate has run: before the LSTM probe
        asked.append(1)
        return len(asked) > 1
    with pytest.raises(EstimateCancelled), cancellable(cancelled):
        estimate_training_memory(doc, 8, "adam", "cpu", analysis=result)
    assert len(asked) == 2
    with pytest.raises(EstimateCancelled), cancellable(lambda: True):   # the largest-batch search too
        fit_check(estimate_training_memory(doc, 8, "adam", "cpu", analysis=result), doc, result, free=1)
    # outside the block nothing is checked, and the estimate is whole
    assert estimate_training_memory(doc, 8, "adam", "cpu", analysis=result).method == "memtracker"


def test_sizes_of_a_gib_and_more_read_in_gib():
    from layerloom.runtime.memory_report import size_text
    assert size_text(4_823_449) == "4.6 MiB"
    assert size_text(1023 * MIB) == "1,023.0 MiB" and size_text(1024 * MIB) == "1.00 GiB"
    assert size_text(240_704 * MIB) == "235.06 GiB"
    est = settings_estimate(load_graph(preset_path("alexnet")), {"batch_size": 4096, "optimizer": "adam",
                                                                  "device": "cpu"})
    text = headline(est)
    figures = mib_figures(text)
    assert " GiB (" in text and figures["total"] == pytest.approx(est.peak_bytes / MIB, abs=0.01 * 1024)


def test_summary_says_why_it_names_no_largest_batch_when_asked_for_one(monkeypatch, capsys):
    """--largest-batch used to print nothing at all when no batch fits or the free memory is not known (no GPU);
    and the search's upper bound read as if it were the memory's limit."""
    import json

    from layerloom.app.main import main
    from layerloom.runtime import memory_fit, memory_report
    mlp = str(preset_path("mlp"))
    for module in (memory_fit, memory_report):
        monkeypatch.setattr(module, "available_bytes", lambda device: None)          # no CUDA device here
    assert main(["summary", mlp, "--batch-size", "8", "--largest-batch", "--device", "cuda", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)["training_memory"]
    assert data["largest_batch"] is None and data["text"][-1] == (
        "  largest batch that fits: none known, this machine has no CUDA device to ask how much memory is free")
    est = estimate_training_memory(load_graph(preset_path("mlp")), 8, "adam", "cuda")
    assert memory_report.memory_lines(est, None, asked=True)[-1] == ("  largest batch that fits: none known, this "
                                                                     "machine has no CUDA device to ask how much "
                                                                     "memory is free")
    monkeypatch.setattr(memory_report, "available_bytes", lambda device: 3 * MIB)
    assert memory_report.memory_lines(est, None, asked=True)[-1] == ("  largest batch that fits: none known, not even "
                                                                     "a batch of 1 fits in the 3.0 MiB free on the "
                                                                     "CUDA now")
    assert memory_report.memory_lines(est, 65_536)[-1].endswith(": 65,536 (the largest a run takes: more would fit)")
    assert memory_report.memory_lines(est, None)[-1].startswith("  on the device")          # not asked: no line


class BatchSeen:
    """A trainer extension: the batch sizes the model really received in training."""

    def __init__(self):
        self.sizes = []

    def setup(self, trainer):
        def seen(module, args):
            if module.training:
                self.sizes.append(args[0].shape[0])
        trainer.model.register_forward_pre_hook(seen)


@pytest.mark.parametrize("batch_size", [64, 65_536])
def test_the_estimate_is_made_at_the_batch_the_run_trains_with(tmp_path, batch_size):
    """A batch size larger than the training set: the run trains with the whole set as one batch, and the
    estimate (and so its line and its fit check) is for that batch, and equals the estimate at that batch."""
    from layerloom.runtime.trainer import Trainer

    from .trainer_helpers import mnist_small
    doc = load_graph(preset_path("lenet5"))
    data = mnist_small(300, 64)
    config = {"batch_size": batch_size, "optimizer": "adam", "device": "cpu", "epochs": 1, "max_steps": 1}
    seen = BatchSeen()
    assert Trainer(doc, config, None, runs_base=tmp_path, data=data, extensions=[seen]).run()["status"] == "finished"
    est = settings_estimate(doc, config, train_size=len(data.train))
    assert est.batch_size == seen.sizes[0] == min(batch_size, 300)
    assert est.peak_bytes == estimate_training_memory(doc, seen.sizes[0], "adam", "cpu").peak_bytes
    assert headline(est).startswith(f"Training memory at batch {seen.sizes[0]} with Adam")
    assert settings_estimate(doc, config).batch_size == batch_size          # the set's size not known yet
