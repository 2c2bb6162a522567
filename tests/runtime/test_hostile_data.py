"""Hostile data files: a crafted CIFAR batch, a huge CSV field, a symlink loop and a FIFO in an
image folder each end in a DataError (or are skipped), quickly and in bounded memory."""
import os
import pickle
import threading

import numpy as np
import pytest

from layerloom.runtime.data import DataError, load_dataset
from layerloom.runtime.data.cifar_format import read_batch

from .test_data_image_folder import write_images
from .test_data_torchvision_sets import cifar_batch


class _HugeArray:
    """Pickles as numpy.ndarray((N, 3072)): uninitialised memory of any size from a tiny file."""

    def __reduce__(self):
        return (np.ndarray, ((100_000_000, 3072),))


def test_a_cifar_batch_cannot_ask_for_more_memory_than_it_holds(tmp_path):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({"data": _HugeArray(), "labels": [0]}, protocol=2))
    assert path.stat().st_size < 300
    with pytest.raises(DataError, match="cannot be read"):
        read_batch(path)
    # a real batch still reads, pixels intact
    raw, data, labels = cifar_batch(5, np.random.default_rng(0))
    good = tmp_path / "data_batch_2"
    good.write_bytes(raw)
    batch = read_batch(good)
    np.testing.assert_array_equal(batch["data"], data)
    assert list(batch["labels"]) == list(labels)


def test_a_csv_field_over_the_limit_names_the_line_and_the_limit(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("text,label\nhello,a\nbye,b\n\"" + "x" * 1_000_000 + "\",a\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_dataset("text-csv", path=str(path))
    message = str(info.value)
    assert "line" in message and "131,072" in message and "\n" not in message


def test_image_folder_skips_symlink_loops_and_fifos(tmp_path):
    write_images(tmp_path, per_class=5)
    os.symlink(tmp_path / "cats", tmp_path / "cats" / "loop")           # cats/loop/loop/... forever
    os.mkfifo(tmp_path / "dogs" / "blocked.png")                       # reading it would block
    result = {}

    def load():
        try:
            result["bundle"] = load_dataset("image-folder", path=str(tmp_path), input_shape=(3, 10, 12))
        except BaseException as exc:   # reported below
            result["error"] = exc

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    thread.join(120)                  # a hang guard, not a timing assertion
    assert not thread.is_alive(), "loading the image folder hung"
    assert "error" not in result, result.get("error")
    bundle = result["bundle"]
    assert len(bundle.train) + len(bundle.val) == 10
