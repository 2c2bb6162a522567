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

from PySide6.QtCore import QObject, QThread, Signal

from layerloom.runtime.data import DataError, load_dataset

from .. import background

CACHE_SIZE = 2


def request_key(name: str, options: dict, input_shape, seed: int) -> str:
    return json.dumps([name, options, list(input_shape) if input_shape else None, int(seed)], sort_keys=True,
                      default=str)


class _LoadThread(QThread):
    """Loads one data set; `result` and `message` are read in the GUI thread once it has finished."""

    def __init__(self, key: str, name: str, options: dict, input_shape, seed: int):
        super().__init__()
        self.setObjectName("layerloom-data")
        self.key, self.name, self.options, self.input_shape, self.seed = key, name, options, input_shape, seed
        self.result = None
        self.message = ""

    def run(self) -> None:
        try:
            self.result = load_dataset(self.name, input_shape=self.input_shape, seed=self.seed, **self.options)
        except DataError as exc:
            self.message = str(exc)
        except Exception as exc:   # a broken file must not take the window down
            self.message = f"{self.name} could not be loaded: {type(exc).__name__}: {exc}"


class DatasetLoader(QObject):
    loaded = Signal(str, object)      # key, DataBundle
    failed = Signal(str, str)         # key, message

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.cache: OrderedDict[str, object] = OrderedDict()
        self.errors: dict[str, str] = {}
        self._thread: _LoadThread | None = None
        self._queued: tuple | None = None

    @property
    def busy(self) -> bool:
        return self._thread is not None

    def get(self, key: str):
        return self.cache.get(key)

    def request(self, name: str, options: dict, input_shape, seed: int = 0) -> str:
        """Make sure the set is loaded (or loading); returns its key. Cached sets answer at once."""
        key = request_key(name, options, input_shape, seed)
        if key in self.cache:
            self.cache.move_to_end(key)
            self.loaded.emit(key, self.cache[key])
            return key
        if self._thread is not None and self._thread.key == key:
            self._queued = None
            return key
        self._queued = (key, name, dict(options), tuple(input_shape) if input_shape else None, seed)
        if self._thread is None:
            self._start_next()
        return key

    def _start_next(self) -> None:
        if self._queued is None:
            return
        key, name, options, shape, seed = self._queued
        self._queued = None
        self.errors.pop(key, None)
        self._thread = _LoadThread(key, name, options, shape, seed)
        self._thread.finished.connect(self._thread_finished)
        self._thread.start()

    def _thread_finished(self) -> None:
        thread = self._thread
        if thread is None or not thread.isFinished():
            return
        thread.wait()
        self._thread = None
        thread.deleteLater()
        if thread.result is not None:
            self.cache[thread.key] = thread.result
            while len(self.cache) > CACHE_SIZE:
                self.cache.popitem(last=False)
        else:
            self.errors[thread.key] = thread.message
        self._start_next()
        if thread.result is not None:
            self.loaded.emit(thread.key, thread.result)
        else:
            self.failed.emit(thread.key, thread.message)

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Drop queued requests and wait for the one loading; a thread still busy after the timeout is
        kept alive (a running QThread must never be destroyed) until it ends."""
        self._queued = None
        thread = self._thread
        if thread is None:
            return True
        ok = thread.wait(timeout_ms)
        self._thread = None
        if not ok:
            background.keep_until_finished(thread)
        return ok
