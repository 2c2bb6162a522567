"""MNIST family and CIFAR from tiny files written here in the real on-disk formats."""

import gzip
import pickle
import struct
import tarfile
from urllib.error import URLError

import numpy as np
import pytest
import torch

from layerloom.runtime.data import DataError, InMemorySplit, dataset_info, load_dataset
from layerloom.runtime.data import torchvision_sets

IDX_SETS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "kmnist": "KMNIST"}


def write_idx_images(path, images, packed=False):
    n, h, w = images.shape
    payload = struct.pack(">iiii", 0x803, n, h, w) + images.astype(np.uint8).tobytes()
    with (gzip.open if packed else open)(path, "wb") as f:
        f.write(payload)


def write_idx_labels(path, labels, packed=False):
    payload = struct.pack(">ii", 0x801, len(labels)) + labels.astype(np.uint8).tobytes()
    with (gzip.open if packed else open)(path, "wb") as f:
        f.write(payload)


def idx_set(raw, n_train=20, n_test=10, packed=False, seed=0):
    """Write the four IDX files into ``raw``; return what was written."""
    rng = np.random.default_rng(seed)
    raw.mkdir(parents=True, exist_ok=True)
    data = {
        "train": (rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
                  rng.integers(0, 10, n_train, dtype=np.uint8)),
        "t10k": (rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
                 rng.integers(0, 10, n_test, dtype=np.uint8)),
    }
    suffix = ".gz" if packed else ""
    for prefix, (images, labels) in data.items():
        write_idx_images(raw / f"{prefix}-images-idx3-ubyte{suffix}", images, packed)
        write_idx_labels(raw / f"{prefix}-labels-idx1-ubyte{suffix}", labels, packed)
    return data


@pytest.mark.parametrize("name", sorted(IDX_SETS))
def test_idx_sets_load_from_disk(tmp_path, name):
    data = idx_set(tmp_path / name / IDX_SETS[name] / "raw", seed=len(name))
    bundle = load_dataset(name, root=tmp_path, download=False)
    assert isinstance(bundle.train, InMemorySplit)
    assert len(bundle.train) == 20 and len(bundle.val) == 10
    assert bundle.train.images.shape == (20, 1, 28, 28)
    assert bundle.train.images.dtype == torch.uint8
    assert np.array_equal(bundle.train.images[:, 0].numpy(), data["train"][0])
    assert np.array_equal(bundle.val.images[:, 0].numpy(), data["t10k"][0])
    assert bundle.train.labels.tolist() == data["train"][1].tolist()
    assert bundle.val.labels.dtype == torch.int64
    x, y = bundle.val.batch(torch.tensor([2]))
    assert torch.allclose(x[0, 0], torch.from_numpy(data["t10k"][0][2]).float() / 255)
    assert bundle.info == dataset_info(name) and bundle.info.needs_download


def test_gzipped_idx_files_are_unpacked(tmp_path):
    raw = tmp_path / "mnist" / "MNIST" / "raw"
    data = idx_set(raw, n_train=12, n_test=6, packed=True)
    bundle = load_dataset("mnist", root=tmp_path, download=False)
    assert len(bundle.train) == 12 and len(bundle.val) == 6
    assert np.array_equal(bundle.train.images[:, 0].numpy(), data["train"][0])
    assert (raw / "train-images-idx3-ubyte").is_file()


def test_missing_mnist_offline_names_files_and_folder(tmp_path):
    with pytest.raises(DataError) as err:
        load_dataset("mnist", root=tmp_path, download=False)
    text = str(err.value)
    assert str(tmp_path / "mnist" / "MNIST" / "raw") in text
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        assert name in text
    assert "downloading is switched off" in text


def test_partial_idx_files_count_as_missing(tmp_path):
    raw = tmp_path / "kmnist" / "KMNIST" / "raw"
    idx_set(raw)
    (raw / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte"):
        load_dataset("kmnist", root=tmp_path, download=False)


def test_unreachable_server_fails_fast_with_instructions(tmp_path, monkeypatch):
    def refuse(address, timeout=None):
        raise OSError(101, "Network is unreachable")
    monkeypatch.setattr(torchvision_sets.socket, "create_connection", refuse)
    with pytest.raises(DataError) as err:
        load_dataset("fashion-mnist", root=tmp_path, download=True)
    text = str(err.value)
    assert "cannot reach the download server" in text
    assert str(tmp_path / "fashion-mnist" / "FashionMNIST" / "raw") in text


def test_failed_download_becomes_data_error(tmp_path, monkeypatch):
    import torchvision.datasets.mnist as tv_mnist

    monkeypatch.setattr(torchvision_sets, "_unreachable", lambda urls: None)

    def broken(*args, **kwargs):
        raise URLError("connection reset")
    monkeypatch.setattr(tv_mnist, "download_and_extract_archive", broken)
    with pytest.raises(DataError, match="the download failed"):
        load_dataset("mnist", root=tmp_path, download=True)


def test_download_path_fetches_missing_files(tmp_path, monkeypatch):
    """With a (fake) reachable server, the files torchvision fetches are loaded."""
    import torchvision.datasets.mnist as tv_mnist

    monkeypatch.setattr(torchvision_sets, "_unreachable", lambda urls: None)
    staged = tmp_path / "server"
    idx_set(staged, n_train=8, n_test=4)
    fetched = []

    def fake_download(url, download_root, filename, md5):
        name = filename[:-3]
        fetched.append(name)
        (torchvision_sets.Path(download_root) / name).write_bytes((staged / name).read_bytes())
    monkeypatch.setattr(tv_mnist, "download_and_extract_archive", fake_download)
    bundle = load_dataset("mnist", root=tmp_path / "data", download=True)
    assert len(bundle.train) == 8 and len(bundle.val) == 4
    assert sorted(fetched) == sorted(torchvision_sets.IDX_FILES)


# -- CIFAR --------------------------------------------------------------------------------------

def cifar_batch(n, rng, label_key="labels", classes=10, protocol=2):
    data = rng.integers(0, 256, (n, 3 * 32 * 32), dtype=np.uint8)
    batch = {"batch_label": "testing batch", "data": data,
             label_key: rng.integers(0, classes, n).tolist(),
             "filenames": [f"img_{i}.png".encode() for i in range(n)]}
    if label_key == "fine_labels":
        batch["coarse_labels"] = rng.integers(0, 20, n).tolist()
    return pickle.dumps(batch, protocol=protocol), data, batch[label_key]


def write_cifar10(folder, per_batch=4, n_test=6, protocol=2):
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True)
    train_x, train_y = [], []
    for i in range(1, 6):
        raw, x, y = cifar_batch(per_batch, rng, protocol=protocol)
        (folder / f"data_batch_{i}").write_bytes(raw)
        train_x.append(x)
        train_y += y
    raw, test_x, test_y = cifar_batch(n_test, rng, protocol=protocol)
    (folder / "test_batch").write_bytes(raw)
    return np.concatenate(train_x), train_y, test_x, test_y


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_cifar10_loads_batches_in_channel_first_order(tmp_path, protocol):
    train_x, train_y, test_x, test_y = write_cifar10(
        tmp_path / "cifar10" / "cifar-10-batches-py", protocol=protocol)
    bundle = load_dataset("cifar10", root=tmp_path, download=False)
    assert len(bundle.train) == 20 and len(bundle.val) == 6
    images = bundle.train.images
    assert images.shape == (20, 3, 32, 32) and images.dtype == torch.uint8
    # rows hold 1024 red, then 1024 green, then 1024 blue values, each 32×32 row-major
    assert int(images[3, 0, 1, 2]) == train_x[3, 0 * 1024 + 1 * 32 + 2]
    assert int(images[3, 2, 31, 0]) == train_x[3, 2 * 1024 + 31 * 32 + 0]
    assert bundle.train.labels.tolist() == train_y
    assert bundle.val.labels.tolist() == test_y
    x, _ = bundle.val[5]
    assert x.shape == (3, 32, 32) and float(x.max()) <= 1.0
    assert bundle.info.class_names[0] == "airplane" and bundle.info.num_classes == 10


def test_cifar10_archive_is_extracted(tmp_path):
    staging = tmp_path / "staging" / "cifar-10-batches-py"
    _, train_y, _, _ = write_cifar10(staging)
    (tmp_path / "cifar10").mkdir()
    with tarfile.open(tmp_path / "cifar10" / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(staging, arcname="cifar-10-batches-py")
    bundle = load_dataset("cifar10", root=tmp_path, download=False)
    assert bundle.train.labels.tolist() == train_y
    assert (tmp_path / "cifar10" / "cifar-10-batches-py" / "test_batch").is_file()


def test_cifar100_uses_fine_labels(tmp_path):
    folder = tmp_path / "cifar100" / "cifar-100-python"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(2)
    raw, train_x, train_y = cifar_batch(15, rng, "fine_labels", classes=100)
    (folder / "train").write_bytes(raw)
    raw, _, test_y = cifar_batch(5, rng, "fine_labels", classes=100)
    (folder / "test").write_bytes(raw)
    bundle = load_dataset("cifar100", root=tmp_path, download=False)
    assert len(bundle.train) == 15 and len(bundle.val) == 5
    assert bundle.train.labels.tolist() == train_y and bundle.val.labels.tolist() == test_y
    assert np.array_equal(bundle.train.images.reshape(15, -1).numpy(), train_x)
    info = bundle.info
    assert info.num_classes == 100 == len(set(info.class_names))
    assert info.class_names[:3] == ("apple", "aquarium_fish", "baby")
    assert info.class_names[-1] == "worm"


def test_missing_cifar_offline_names_archive_and_folder(tmp_path):
    with pytest.raises(DataError) as err:
        load_dataset("cifar10", root=tmp_path, download=False)
    text = str(err.value)
    assert "cifar-10-python.tar.gz" in text and "cifar-10-batches-py" in text
    assert str(tmp_path / "cifar10") in text and "data_batch_1" in text
    with pytest.raises(DataError, match="cifar-100-python"):
        load_dataset("cifar100", root=tmp_path, download=False)


class _Exploit:
    def __reduce__(self):
        import os
        return (os.system, ("echo owned > owned.txt",))


def test_cifar_batch_that_would_run_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "cifar10" / "cifar-10-batches-py"
    write_cifar10(folder)
    (folder / "data_batch_3").write_bytes(pickle.dumps({"data": _Exploit(), "labels": []}))
    with pytest.raises(DataError, match="data_batch_3.*refused to load"):
        load_dataset("cifar10", root=tmp_path, download=False)
    assert not (tmp_path / "owned.txt").exists()


def test_cifar_batch_with_wrong_layout_is_refused(tmp_path):
    folder = tmp_path / "cifar10" / "cifar-10-batches-py"
    write_cifar10(folder)
    bad = {"data": np.zeros((4, 100), np.uint8), "labels": [0, 1, 2, 3]}
    (folder / "test_batch").write_bytes(pickle.dumps(bad))
    with pytest.raises(DataError, match="3,072 pixels"):
        load_dataset("cifar10", root=tmp_path, download=False)
