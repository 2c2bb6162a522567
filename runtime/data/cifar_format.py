"""Reading CIFAR-10/100 "python version" batch files without running code from them.

The batches are Python pickles (a dict holding a uint8 numpy array and a list of labels). A
plain ``pickle.load`` would run whatever a crafted file asks for, which the house rules forbid,
so this reader only lets a pickle build dicts, lists, strings, bytes, numbers and numpy arrays:
anything else (a function call, an import of ``os``) is refused with a DataError.
"""

from __future__ import annotations

import codecs
import io
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
    """Builds plain containers and numpy arrays, refuses every other global."""

    _ALLOWED = _numpy_callables()

    def find_class(self, module: str, name: str):
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}") from None


def read_batch(path: Path) -> dict:
    """One CIFAR batch file as a dict with str keys (``data``, ``labels``/``fine_labels`` ...)."""
    try:
        raw = path.read_bytes()
        # latin1 decodes the Python 2 strings and the numpy buffers of the original files.
        batch = _ArraysOnlyUnpickler(io.BytesIO(raw), encoding="latin1").load()
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
