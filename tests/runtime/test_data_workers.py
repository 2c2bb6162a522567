"""Image folders decode in DataLoader worker processes: the same batches, in the same order, with the
same contents as reading each sample in the training thread."""
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from layerloom.runtime.batches import epoch_batches, loader_workers
from layerloom.runtime.data import InMemorySplit, load_dataset
from layerloom.runtime.trainer import Trainer

from .trainer_helpers import Recorder, small_net, weights_equal


def write_folder(folder, per_class=14, classes=("cats", "dogs", "fish")):
    rng = np.random.default_rng(0)
    for c, cls in enumerate(classes):
        (folder / cls).mkdir(parents=True)
        for i in range(per_class):
            w, h = 20 + 3 * (i % 4), 18 + 2 * (i % 3)           # sizes differ: every image is resized
            pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            pixels[..., c] = 255
            Image.fromarray(pixels).save(folder / cls / f"{cls}_{i}.png")


def test_workers_give_the_batches_the_training_thread_reads(tmp_path):
    write_folder(tmp_path)
    bundle = load_dataset("image-folder", path=tmp_path, input_shape=(1, 28, 28), size=28, seed=0)
    split = bundle.train
    perm = torch.randperm(len(split), generator=torch.Generator().manual_seed(5))
    batches = [perm[i:i + 8] for i in range(0, len(perm), 8)]
    streamed = list(epoch_batches(split, batches, workers=2))
    assert len(streamed) == len(batches)
    for idx, (x, y) in zip(batches, streamed):
        expected = [split[int(i)] for i in idx]                    # ImageFolder's own item, one by one
        assert torch.equal(x, torch.stack([a for a, _ in expected]))
        assert torch.equal(y, torch.tensor([int(b) for _, b in expected]))
        assert x.shape[1:] == (1, 28, 28) and y.dtype == torch.int64
    # in-memory sets keep batching by indexing, in the calling thread
    memory = InMemorySplit(torch.arange(24, dtype=torch.uint8).reshape(6, 1, 2, 2), torch.arange(6))
    (x, y), = epoch_batches(memory, [torch.tensor([5, 0, 3])], workers=2)
    assert torch.equal(y, torch.tensor([5, 0, 3])) and torch.equal(x, memory.batch(torch.tensor([5, 0, 3]))[0])


def test_worker_count_follows_the_cores(monkeypatch):
    monkeypatch.delenv("LAYERLOOM_LOADER_WORKERS", raising=False)
    assert loader_workers(1) == 0 and loader_workers(2) == 1 and loader_workers(4) == 3 and loader_workers(64) == 8
    monkeypatch.setenv("LAYERLOOM_LOADER_WORKERS", "0")
    assert loader_workers(16) == 0


def image_net():
    doc = small_net(dropout=False)
    linear = next(b for b in doc.blocks.values() if b.kind == "Linear")
    doc.set_param(linear.id, "out_features", 3)
    return doc


def train(tmp_path, folder, workers, name, data=None):
    events = Recorder()
    t = Trainer(image_net(), {"dataset": "image-folder", "dataset_options": {"path": str(folder), "size": 28},
                              "epochs": 2, "batch_size": 8, "seed": 1}, events, runs_base=tmp_path / name, data=data)
    t.loader_workers = workers
    summary = t.run()
    return t, events, summary


def test_training_with_workers_is_identical_to_training_without(tmp_path):
    folder = tmp_path / "pictures"
    write_folder(folder)
    a, events_a, summary_a = train(tmp_path, folder, 2, "workers")
    b, events_b, summary_b = train(tmp_path, folder, 0, "inline")
    assert summary_a["status"] == summary_b["status"] == "finished"
    assert events_a.of("started")[0]["loader_workers"] == 2 and events_b.of("started")[0]["loader_workers"] == 0
    # (step events average over a time window, so they depend on speed; epoch results do not)
    assert [(e["train_loss"], e["val_loss"]) for e in events_a.of("epoch_end")] == \
        [(e["train_loss"], e["val_loss"]) for e in events_b.of("epoch_end")]
    assert weights_equal(a.model.state_dict(), b.model.state_dict())


def test_a_broken_image_in_a_worker_is_a_one_line_failure(tmp_path):
    folder = tmp_path / "pictures"
    write_folder(folder, per_class=6)
    bundle = load_dataset("image-folder", path=folder, input_shape=(1, 28, 28), size=28, seed=1)
    for i in bundle.train.indices:                     # training images break after the set was listed
        Path(bundle.train.dataset.samples[i][0]).write_bytes(b"not a png at all")
    _, events, summary = train(tmp_path, folder, 2, "broken", data=bundle)
    failed = events.of("failed")
    assert summary is None or summary.get("status") != "finished"
    assert failed and "reading the training data failed" in failed[0]["message"]
    assert "Traceback" not in failed[0]["message"] and "\n" not in failed[0]["message"]
    # the sentence a worker's error gives is the one reading in the training thread gives: no module path, and
    # Layerloom's own DataError (a sentence already) without its class name, once or twice
    _, inline, _ = train(tmp_path, folder, 0, "broken-inline", data=bundle)
    assert inline.of("failed")[0]["message"] == failed[0]["message"]
    assert "layerloom." not in failed[0]["message"] and "DataError" not in failed[0]["message"]
