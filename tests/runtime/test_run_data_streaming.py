"""Judging a run (bench, int8 export, pruning, ensembles) reads its validation split a batch at a time: the
largest read is one batch, whatever the split's size, and the accuracy counted batch by batch is the one torch
computes on the whole split at once. (The reads are counted through the split's own read function rather than
by measuring memory: a count does not depend on the machine.)"""
import pytest
import torch

from layerloom.graph import compile_graph, save_graph
from layerloom.runtime import evaluation
from layerloom.runtime.data import InMemorySplit, build_transforms, load_dataset
from layerloom.runtime.ensemble import evaluate, load_members
from layerloom.runtime.evaluation import evaluation_data
from layerloom.runtime.export import load_source
from layerloom.runtime.latency import ACCURACY_BATCH, benchmark
from layerloom.runtime.trainer import Trainer

from .trainer_helpers import lenet, mnist_small, small_net

MNIST_VAL = 1000


@pytest.fixture
def reads(monkeypatch):
    """The number of samples of every read of an in-memory split (InMemorySplit.batch, its read function)."""
    sizes = []
    real = InMemorySplit.batch

    def batch(self, idx):
        sizes.append(len(idx))
        return real(self, idx)

    monkeypatch.setattr(InMemorySplit, "batch", batch)
    return sizes


def whole_split_predictions(model, val, info, normalize=True):
    """torch's own answer: every validation sample read, transformed and classified in one call."""
    x, y = val.images.float() / 255, val.labels              # (uint8 digits, as InMemorySplit stores them)
    transform = build_transforms(info, augment=None, normalize=normalize, train=False)
    with torch.no_grad():
        return model(transform(x)).argmax(1), y


def test_streamed_accuracy_equals_the_accuracy_of_the_whole_split_at_once(reads, monkeypatch):
    monkeypatch.setattr(evaluation, "KEEP_BYTES", 0, raising=False)       # nothing kept: every pass reads
    bundle = mnist_small(64, 300)
    model = compile_graph(small_net(dropout=False)).eval()
    data = evaluation_data({"dataset": "mnist-sample"}, (1, 28, 28), bundle=bundle)
    accuracy, predicted = data.accuracy(model), data.predictions(model)
    assert reads and max(reads) < 300 and sum(reads) >= 2 * 300         # two passes, a batch at a time
    reference, labels = whole_split_predictions(model, bundle.val, bundle.info)
    assert torch.equal(predicted, reference) and torch.equal(data.val_y, labels)
    assert accuracy == float((reference == labels).double().mean())
    assert 0 < accuracy < 1


def test_bench_reads_a_batch_at_a_time_and_times_a_pool_of_samples(reads, tmp_path):
    from layerloom.runtime.export.quantized import load_data
    path = tmp_path / "lenet.loom.json"
    save_graph(lenet(), path)
    report = benchmark(path, batches=(1, 32), threads=1, repeats=1, budget_s=0.01, formats={"torch"})
    assert report["samples"] == "validation" and reads and max(reads) <= ACCURACY_BATCH < MNIST_VAL, max(reads)
    src = load_source(path)
    digits = load_dataset("mnist-sample")
    reference, labels = whole_split_predictions(src.model, digits.val, digits.info)
    assert report["backends"][0]["accuracy"] == float((reference == labels).double().mean())
    reads.clear()
    pool = load_data(src, "dynamic").val_x                      # what a latency measurement repeats
    assert 32 <= len(pool) <= 64 and max(reads) <= 64


@pytest.fixture(scope="module")
def mnist_runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    out = []
    for seed in (1, 2):                 # mnist-sample's split is fixed: the ensemble compares the two splits
        trainer = Trainer(small_net(dropout=False), {"epochs": 1, "max_steps": 3, "seed": seed, "batch_size": 64,
                                                     "threads": 1}, runs_base=base)
        assert trainer.run()["status"] == "finished"
        out.append(trainer.run_dir)
    return out


def test_ensemble_scores_and_compares_splits_a_batch_at_a_time(mnist_runs, reads):
    report = evaluate(load_members(mnist_runs))
    assert report["num_val"] == MNIST_VAL and reads and max(reads) <= 500, max(reads)


def test_pruning_and_the_int8_check_read_a_batch_at_a_time(mnist_runs, reads, tmp_path):
    from layerloom.runtime.checkpoints import load_checkpoint
    from layerloom.runtime.export.quantized import export_onnx_int8_dynamic
    from layerloom.runtime.pruning import model_accuracy, run_evaluation
    meta = load_checkpoint(mnist_runs[0]).meta
    src = load_source(mnist_runs[0])
    data = run_evaluation(meta)
    accuracy = model_accuracy(src.doc, {k: v for k, v in src.model.state_dict().items()}, meta["data_context"], data)
    assert max(reads) <= 128 < len(data.val_y) == MNIST_VAL, max(reads)
    digits = load_dataset("mnist-sample")
    reference, labels = whole_split_predictions(src.model, digits.val, digits.info)
    assert accuracy == float((reference == labels).double().mean())
    reads.clear()
    result = export_onnx_int8_dynamic(src, tmp_path / "model.onnx")
    assert result.report["samples"] == MNIST_VAL and reads and max(reads) <= 128, max(reads)

