"""Loads data sets off the GUI thread, one at a time, keeping the last few in memory.

The training panel asks for the chosen set to show examples and to hand the loaded bundle to the
trainer (so the set is read once, and the validation grid can show the very samples the trainer
reports on). Generating `shapes` or reading a folder of images takes seconds: that happens in a
QThread, and `loaded` / `failed` arrive in the GUI thread. Only the latest request matters: one
made while another loads is queued, replacing any queued before it.
"""
from __future__ import annotations

import json
from collections import OrderedDict

from PySide6.QtCore import QObject, Signal

from layerloom.runtime.data import DataError, load_dataset

from .. import background

CACHE_SIZE = 2


def request_key(name: str, options: dict, input_shape, seed: int) -> str:
    return json.dumps([name, options, list(input_shape) if input_shape else None, int(seed)], sort_keys=True,
                      default=str)


def _load(name: str, options: dict, input_shape, seed: int):
    """In the worker thread: the loaded bundle, or ValueError with one sentence saying why not."""
    try:
        return load_dataset(name, input_shape=input_shape, seed=seed, **options)
    except DataError:
        raise
    except Exception as exc:   # a broken file must not take the window down
        raise DataError(f"{name} could not be loaded: {type(exc).__name__}: {exc}") from None


class DatasetLoader(QObject):
    loaded = Signal(str, object)      # key, DataBundle
    failed = Signal(str, str)         # key, message

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.cache: OrderedDict[str, object] = OrderedDict()
        self.errors: dict[str, str] = {}
        self.jobs = background.Latest("layerloom-data", expected=(DataError,), parent=self, torch_work=False)
        self.jobs.done.connect(self._finished)

    @property
    def busy(self) -> bool:
        return self.jobs.running is not None

    def get(self, key: str):
        return self.cache.get(key)

    def request(self, name: str, options: dict, input_shape, seed: int = 0) -> str:
        """Make sure the set is loaded (or loading); returns its key. Cached sets answer at once."""
        key = request_key(name, options, input_shape, seed)
        if key in self.cache:
            self.cache.move_to_end(key)
            self.loaded.emit(key, self.cache[key])
            return key
        if self.jobs.running is not None and self.jobs.running.key == key:
            self.jobs.drop_queued()
            return key
        self.errors.pop(key, None)
        options, shape = dict(options), tuple(input_shape) if input_shape else None
        self.jobs.submit(key, lambda job: _load(name, options, shape, seed))
        return key

    def _finished(self, job) -> None:
        if job.result is not None:
            self.cache[job.key] = job.result
            while len(self.cache) > CACHE_SIZE:
                self.cache.popitem(last=False)
            self.loaded.emit(job.key, job.result)
        else:
            self.errors[job.key] = job.error
            self.failed.emit(job.key, job.error)

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Drop queued requests and wait for the one loading; a thread still busy after the timeout is
        kept alive (a running QThread must never be destroyed) until it ends."""
        return self.jobs.shutdown(timeout_ms)
