"""Reading CIFAR-10/100 "python version" batch files without running code from them.

The batches are Python pickles (a dict holding a uint8 numpy array and a list of labels). A
plain ``pickle.load`` would run whatever a crafted file asks for, which the house rules forbid,
so this reader only lets a pickle build dicts, lists, strings, bytes, numbers and numpy arrays:
anything else (a function call, an import of ``os``) is refused with a DataError.
"""

from __future__ import annotations

import codecs
import io
import math
import pickle
from pathlib import Path

import numpy as np

from .base import DataError


def _numpy_callables() -> dict[tuple[str, str], object]:
    try:  # numpy 2 renamed numpy.core to numpy._core
        from numpy._core import multiarray, numeric
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray, numeric
    allowed: dict[tuple[str, str], object] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        # Python 3 writes bytes at pickle protocol 2 as _codecs.encode(text, "latin1").
        ("_codecs", "encode"): codecs.encode,
    }
    for package in ("numpy.core", "numpy._core"):
        allowed[(f"{package}.multiarray", "_reconstruct")] = multiarray._reconstruct
        allowed[(f"{package}.multiarray", "scalar")] = multiarray.scalar
        if hasattr(numeric, "_frombuffer"):
            allowed[(f"{package}.numeric", "_frombuffer")] = numeric._frombuffer
    return allowed


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Builds plain containers and numpy arrays, refuses every other global.

    Arrays may not be larger than the file: a real batch carries its pixels, while a crafted one
    could ask `ndarray((N, 3072))` for any N (193 bytes asked for 2.35 GB)."""

    _ALLOWED = _numpy_callables()
    _SIZED = {"ndarray", "_reconstruct", "_frombuffer"}

    def __init__(self, file, budget: int, **kwargs):
        super().__init__(file, **kwargs)
        self.budget = budget

    def find_class(self, module: str, name: str):
        try:
            target = self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}") from None
        if name not in self._SIZED:
            return target

        def bounded(*args, **kwargs):
            # _reconstruct(ndarray, ...) is handed the class itself, not this wrapper
            args = tuple(getattr(a, "wrapped", a) for a in args)
            self._charge(name, args, kwargs)
            return target(*args, **kwargs)
        bounded.wrapped = target
        return bounded

    def _charge(self, name: str, args, kwargs) -> None:
        if name == "_frombuffer":        # (buffer, dtype, shape, order): the buffer is in the file
            return
        shape = args[1] if name == "_reconstruct" and len(args) > 1 else (args[0] if args else kwargs.get("shape", ()))
        dims = shape if isinstance(shape, (tuple, list)) else (shape,)
        if not all(isinstance(d, int) and d >= 0 for d in dims):
            raise pickle.UnpicklingError("an array with a shape that is not whole numbers")
        dtype = kwargs.get("dtype", args[1] if name == "ndarray" and len(args) > 1 else np.uint8)
        if name == "_reconstruct" and len(args) > 2:
            dtype = args[2]
        try:
            itemsize = np.dtype(dtype).itemsize
        except TypeError:
            raise pickle.UnpicklingError("an array of an unknown type") from None
        size = itemsize * math.prod(dims)
        if size > self.budget:
            raise pickle.UnpicklingError(f"an array of {size:,} bytes in a file of fewer bytes")
        self.budget -= size


def read_batch(path: Path) -> dict:
    """One CIFAR batch file as a dict with str keys (``data``, ``labels``/``fine_labels`` ...)."""
    try:
        raw = path.read_bytes()
        # latin1 decodes the Python 2 strings and the numpy buffers of the original files.
        batch = _ArraysOnlyUnpickler(io.BytesIO(raw), budget=len(raw) + 4096, encoding="latin1").load()
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError,
            AttributeError, IndexError) as exc:
        raise DataError(
            f"The CIFAR batch file {path} cannot be read ({exc}): delete it and its folder, "
            "then download or copy the data set again."
        ) from exc
    if not isinstance(batch, dict):
        raise DataError(
            f"The CIFAR batch file {path} does not hold a batch dictionary: delete it and its "
            "folder, then download or copy the data set again."
        )
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}


def read_split(paths: list[Path], label_key: str) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate batch files into (images uint8 [N, 3, 32, 32], labels int64 [N])."""
    images, labels = [], []
    for path in paths:
        batch = read_batch(path)
        if "data" not in batch or label_key not in batch:
            missing = "data" if "data" not in batch else label_key
            raise DataError(
                f"The CIFAR batch file {path} lacks '{missing}': "
                "it is not a CIFAR python batch; delete it and download or copy the data set again."
            )
        data = np.asarray(batch["data"])
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise DataError(
                f"The CIFAR batch file {path} holds {data.dtype} data of shape {data.shape}, not "
                "uint8 rows of 3,072 pixels: delete it and download or copy the data set again."
            )
        lab = np.asarray(batch[label_key], dtype=np.int64)
        if lab.shape != (data.shape[0],):
            raise DataError(
                f"The CIFAR batch file {path} has {data.shape[0]} images but {lab.size} labels: "
                "delete it and download or copy the data set again."
            )
        images.append(data.reshape(-1, 3, 32, 32))
        labels.append(lab)
    return np.concatenate(images), np.concatenate(labels)
