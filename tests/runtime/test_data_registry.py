"""The registry, the data folder and the package's promises (clear errors; no Qt: tests/test_no_qt.py)."""

from pathlib import Path

import pytest
import torch

from layerloom.graph import user_folder
from layerloom.runtime import data
from layerloom.runtime.data import (DataBundle, DataError, DatasetInfo, InMemorySplit,
                                    data_root, dataset_info, list_datasets, load_dataset,
                                    register, unregister)

BUILTIN = ["mnist-sample", "seq-mnist", "mnist", "fashion-mnist", "kmnist", "cifar10", "cifar100",
           "shapes", "figures", "image-folder", "text-csv", "text-corpus"]
IMAGES = [n for n in BUILTIN if n not in ("seq-mnist", "text-csv", "text-corpus")]


def test_every_builtin_set_is_listed_with_a_complete_description():
    infos = list_datasets()
    assert [i.name for i in infos][:len(BUILTIN)] == BUILTIN
    for info in infos:
        assert isinstance(info, DatasetInfo) and info.title and info.description
        assert len(info.class_names) == info.num_classes
        if info.name in IMAGES:
            assert info.input_dtype == "float32"
            assert len(info.mean) == len(info.std) == info.sample_shape[0]
        elif info.name.startswith("text"):
            assert info.input_dtype == "int64"
    downloads = {i.name for i in infos if i.needs_download}
    assert downloads == {"mnist", "fashion-mnist", "kmnist", "cifar10", "cifar100"}


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(DataError) as err:
        dataset_info("mnsit")
    assert "mnsit" in str(err.value)
    for name in BUILTIN:
        assert name in str(err.value)
    with pytest.raises(DataError, match="cifar10"):
        load_dataset("imagenet")


def test_unknown_option_is_refused_with_the_accepted_ones():
    with pytest.raises(DataError, match="shapes has no option trian_count: it takes size, "
                                        "channels, train_count, val_count"):
        load_dataset("shapes", trian_count=10)
    with pytest.raises(DataError, match="mnist-sample has no option size: it takes train_count"):
        dataset_info("mnist-sample", size=32)
    with pytest.raises(DataError, match="cifar10 has no option size: it takes no options"):
        dataset_info("cifar10", size=32)


def test_a_new_set_can_be_registered_and_loaded(tmp_path):
    seen = {}

    def info_factory(*, input_shape=None, length=8, **_):
        return DatasetInfo(name="toy-sequences", title="Toy", description="Counting tokens.",
                           sample_shape=(length,), input_dtype="int64", num_classes=2,
                           class_names=("even", "odd"), mean=(), std=(), needs_download=False)

    def loader(info, *, root, input_shape, seed, download, length=8, **_):
        seen.update(root=root, seed=seed, download=download)
        x = torch.arange(4 * length).view(4, length)
        return DataBundle(info, InMemorySplit(x, torch.tensor([0, 1, 0, 1])),
                          InMemorySplit(x[:2], torch.tensor([0, 1])))

    assert register(info_factory, loader, options=("length",)) == "toy-sequences"
    try:
        with pytest.raises(ValueError, match="already registered"):
            register(info_factory, loader)
        assert "toy-sequences" in [i.name for i in list_datasets()]
        assert dataset_info("toy-sequences", length=5).sample_shape == (5,)
        bundle = load_dataset("toy-sequences", root=tmp_path, seed=9, download=False, length=3)
        assert seen == {"root": tmp_path, "seed": 9, "download": False}
        x, y = bundle.train.batch(torch.tensor([1, 2]))
        assert x.dtype == torch.int64 and x.tolist() == [[3, 4, 5], [6, 7, 8]]
        assert y.tolist() == [1, 0]
    finally:
        unregister("toy-sequences")
    with pytest.raises(DataError):
        dataset_info("toy-sequences")


def test_data_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("LAYERLOOM_DATA", str(tmp_path / "from-env"))
    assert data_root(tmp_path / "explicit") == tmp_path / "explicit"
    assert data_root() == tmp_path / "from-env"
    monkeypatch.delenv("LAYERLOOM_DATA")
    monkeypatch.setattr(user_folder.sys, "platform", "linux")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert data_root() == tmp_path / "xdg" / "layerloom" / "datasets"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert data_root() == Path.home() / ".local" / "share" / "layerloom" / "datasets"


def test_data_root_on_macos_and_windows(monkeypatch, tmp_path):
    monkeypatch.delenv("LAYERLOOM_DATA", raising=False)
    monkeypatch.setattr(user_folder.sys, "platform", "darwin")
    assert data_root() == Path.home() / "Library" / "Application Support" / "layerloom" / "datasets"
    monkeypatch.setattr(user_folder.sys, "platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "Local"))
    assert data_root() == tmp_path / "Local" / "layerloom" / "datasets"


def test_the_env_var_is_where_downloadable_sets_are_looked_for(monkeypatch, tmp_path):
    monkeypatch.setenv("LAYERLOOM_DATA", str(tmp_path))
    with pytest.raises(DataError) as err:
        load_dataset("kmnist", download=False)
    assert str(tmp_path / "kmnist" / "KMNIST" / "raw") in str(err.value)


def test_every_exported_name_works_with_the_others_on_a_real_graph(tmp_path, monkeypatch):
    """Each name in `__all__` is imported from the package and used: a set registered by the caller
    is described, loaded (tokens and pixels), transformed and trained on by the trainer."""
    import importlib

    from layerloom.graph import analyze, load_graph
    from layerloom.presets import preset_path
    from layerloom.runtime.trainer import Trainer

    api = {name: getattr(importlib.import_module("layerloom.runtime.data"), name) for name in data.__all__}
    assert set(api) == {"DataBundle", "DataError", "DatasetInfo", "InMemorySplit", "SequenceSplit",
                        "build_transforms", "data_root", "dataset_info", "list_datasets", "load_dataset",
                        "register", "unregister"}
    monkeypatch.setenv("LAYERLOOM_DATA", str(tmp_path))
    assert api["data_root"]() == tmp_path
    g = torch.Generator().manual_seed(0)

    def info(input_shape=None):
        return api["DatasetInfo"]("api-digits", "Digits", "eight-pixel noise in two classes", (1, 28, 28),
                                  "float32", 2, ("a", "b"), (0.5,), (0.25,), False)

    def load(described, root=None, input_shape=None, seed=0, download=True):
        x = torch.randint(0, 256, (40, 1, 28, 28), dtype=torch.uint8, generator=g)
        y = torch.arange(40) % 2
        return api["DataBundle"](described, api["InMemorySplit"](x[:32], y[:32]), api["InMemorySplit"](x[32:], y[32:]))

    assert api["register"](info, load) == "api-digits"
    try:
        assert "api-digits" in [i.name for i in api["list_datasets"]()]
        described = api["dataset_info"]("api-digits")
        bundle = api["load_dataset"]("api-digits")
        assert bundle.info == described
        x, y = bundle.train.batch(torch.arange(8))
        assert x.dtype == torch.float32 and 0 <= float(x.min()) and float(x.max()) <= 1 and y.tolist() == [0, 1] * 4
        normalise = api["build_transforms"](described, augment=None, normalize=True, train=False)
        assert torch.allclose(normalise(x), (x - 0.5) / 0.25)
        doc = load_graph(preset_path("lenet5"))
        doc.set_param("fc3", "out_features", "auto")          # one output per class of the set
        assert analyze(doc, described.data_context()).blocks["fc3"].output_shape == (2,)
        summary = Trainer(doc, {"dataset": "api-digits", "epochs": 1, "batch_size": 16, "device": "cpu"},
                          runs_base=tmp_path / "runs").run()
        assert summary is not None and summary["steps"] == 2 and summary["dataset"] == "api-digits"
    finally:
        api["unregister"]("api-digits")
    with pytest.raises(api["DataError"]):
        api["dataset_info"]("api-digits")
    tokens = api["SequenceSplit"](torch.tensor([[0, 5, 6], [7, 8, 9]]), torch.tensor([2, 3]), torch.tensor([0, 1]))
    assert tokens[0][0].tolist() == [5, 6] and tokens.batch(torch.tensor([0]))[0].tolist() == [[5, 6]]
