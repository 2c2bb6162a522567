"""The data-set registry: names -> (info factory, loader), extensible with ``register``.

An info factory is called as ``info_factory(input_shape=..., **options)`` and returns the
DatasetInfo the set will have; it must be cheap (no loading). A loader is called as
``loader(info, root=Path, input_shape=..., seed=int, download=bool, **options)`` and returns a
DataBundle. Both receive every option the caller gave, so each should accept ``**_`` for the
ones it does not use. ``options`` names the options a set accepts; anything else is refused
with a DataError that lists them (catching typos such as ``trian_count``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import corpus, figures, image_folder, mnist_sample, shapes, text, torchvision_sets
from .base import DataBundle, DataError, DatasetInfo
from .paths import data_root


@dataclass(frozen=True)
class Entry:
    name: str
    info_factory: Callable[..., DatasetInfo]
    loader: Callable[..., DataBundle]
    options: tuple[str, ...]


_REGISTRY: dict[str, Entry] = {}


def register(info_factory: Callable[..., DatasetInfo], loader: Callable[..., DataBundle], *,
             options: tuple[str, ...] = (), replace: bool = False) -> str:
    """Add a data set; its name is ``info_factory().name``. Returns that name."""
    name = info_factory().name
    if name in _REGISTRY and not replace:
        raise ValueError(f"a data set named {name!r} is already registered")
    _REGISTRY[name] = Entry(name, info_factory, loader, tuple(options))
    return name


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def names() -> list[str]:
    return list(_REGISTRY)


def _entry(name: str) -> Entry:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise DataError(f"There is no data set called {name!r}: pick one of "
                        f"{', '.join(_REGISTRY)}.") from None


def dataset_options(name: str) -> tuple[str, ...]:
    """The options data set ``name`` accepts (DataError for an unknown name)."""
    return _entry(name).options


def _check_options(entry: Entry, options: dict) -> None:
    unknown = sorted(set(options) - set(entry.options))
    if unknown:
        takes = (f"it takes {', '.join(entry.options)}" if entry.options
                 else "it takes no options")
        raise DataError(f"{entry.name} has no option {', '.join(unknown)}: {takes}.")


def list_datasets() -> list[DatasetInfo]:
    """The default description of every registered data set, in registration order."""
    return [entry.info_factory() for entry in _REGISTRY.values()]


def dataset_info(name: str, *, input_shape: tuple[int, ...] | None = None,
                 **options) -> DatasetInfo:
    """What ``load_dataset(name, input_shape=..., **options)`` will give, without loading."""
    entry = _entry(name)
    _check_options(entry, options)
    shape = tuple(int(s) for s in input_shape) if input_shape is not None else None
    return entry.info_factory(input_shape=shape, **options)


def load_dataset(name: str, *, root: str | Path | None = None,
                 input_shape: tuple[int, ...] | None = None, seed: int = 0,
                 download: bool = True, **options) -> DataBundle:
    """Load a registered data set.

    ``root`` overrides the data folder (``data_root()``); downloadable sets live in
    ``<root>/<name>/``. ``input_shape`` is the graph Input's shape without the batch dimension:
    sets that are generated or resized (shapes, image-folder) follow it.
    """
    entry = _entry(name)
    _check_options(entry, options)
    shape = tuple(int(s) for s in input_shape) if input_shape is not None else None
    info = entry.info_factory(input_shape=shape, **options)
    return entry.loader(info, root=data_root(root), input_shape=shape, seed=int(seed),
                        download=bool(download), **options)


def _register_builtins() -> None:
    register(mnist_sample.info, mnist_sample.load, options=("train_count",))
    register(mnist_sample.seq_info, mnist_sample.seq_load, options=("train_count",))
    for name in torchvision_sets.SPECS:
        register(torchvision_sets.info_for(name), torchvision_sets.load)
    for generated in (shapes, figures):
        register(generated.info, generated.load, options=("size", "channels", "train_count", "val_count"))
    register(image_folder.info, image_folder.load,
             options=("path", "val_fraction", "size", "channels"))
    register(text.info, text.load, options=text.OPTIONS)
    register(corpus.info, corpus.load, options=corpus.OPTIONS)


_register_builtins()
