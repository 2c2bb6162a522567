"""Reading an ONNX file before it is mapped: the model, its weights kept in side files (within a limit), its
free sizes fixed where Layerloom's export named them, and its shapes inferred; and the value of a Constant
node. Any failure reads as what is wrong with the file.
"""
from __future__ import annotations

import math
import os
from functools import lru_cache
from pathlib import Path

from ..quoting import shown
from .fx_import import ImportFailure
from .onnx_shapes import fix_free_sizes

EXTERNAL_BYTES = 8 * 2**30     # weights read from an ONNX file's side files (as MAX_WEIGHT_BYTES for torchvision)


def read_model(path):
    """(the ONNX model with its shapes inferred, the free sizes fixed or None); raises ImportFailure."""
    import onnx
    try:
        model = onnx.load(str(path), load_external_data=False)
        _load_side_data(model, path)
        steps = fix_free_sizes(model)
        return onnx.shape_inference.infer_shapes(model), steps
    except ImportFailure:
        raise
    except Exception as exc:
        raise ImportFailure(f"{path} is not a readable ONNX model ({first_line(exc)})") from None


def _load_side_data(model, path) -> None:
    """Read the weights an ONNX file keeps in side files (external data), each from a plain file beside it
    that holds what its tensor needs, once their sizes fit in EXTERNAL_BYTES (onnx would read whatever the
    file names, an 8 GB file beside it, into memory). Layerloom reads the bytes itself, as the offsets and
    lengths it checked say: onnx's own reader differs between versions (1.16 reads a length of 0 as "to the
    end of the file"), and it refuses a side file outside the model's folder, named by a path from the root,
    or reached through a link in words of its own. The folder is the one the model file is named in, as onnx
    and onnxruntime take it. Every external tensor is read here: none is left to be looked for later."""
    from onnx import TensorProto
    from onnx.external_data_helper import _get_all_tensors, uses_external_data
    folder, total, misfit, reads = Path(os.path.abspath(path)).parent, 0, None, []
    for tensor in _get_all_tensors(model):
        if not uses_external_data(tensor):
            continue
        entries = {e.key: e.value for e in tensor.external_data}
        location = entries.get("location", "")
        whose = _whose(path, tensor.name, location)
        try:
            offset = int(entries.get("offset") or 0)
            length = int(entries["length"]) if entries.get("length") else None
        except ValueError:
            offset = -1
        if offset < 0 or (length is not None and length < 0):
            raise ImportFailure(f"{whose}, at an offset or length that is not a whole number of zero or more: the "
                                "file is damaged; export the model again")
        if any(d < 0 for d in tensor.dims):
            raise ImportFailure(f"{whose}, for a shape {list(tensor.dims)} with a size below zero: the file is "
                                "damaged; export the model again")
        side = _side_file(path, folder, tensor.name, location)
        size = side.stat().st_size
        length = max(0, size - offset) if length is None else length
        if offset + length > size:
            raise ImportFailure(f"{whose}, which holds {size:,} bytes, fewer than the {offset + length:,} it should: "
                                "the side file is cut short or from another export; export the model again")
        bits = _element_bits().get(tensor.data_type)
        needed = -(-bits * math.prod(tensor.dims) // 8) if bits else None
        if needed is not None and length != needed and misfit is None:
            misfit = (f"{whose}, as {length:,} bytes where its shape {list(tensor.dims)} needs {needed:,}: the file "
                      "is damaged; export the model again")
        total += length
        reads.append((tensor, side, offset, length))
    if total > EXTERNAL_BYTES:
        from .batch_check import byte_text
        raise ImportFailure(f"{shown(str(path), 200)} keeps {byte_text(total)} of weights in side files, more than "
                            f"the {byte_text(EXTERNAL_BYTES)} Layerloom imports; import a smaller model")
    if misfit:
        raise ImportFailure(misfit)
    for tensor, side, offset, length in reads:
        with open(side, "rb") as f:
            f.seek(offset)
            tensor.raw_data = f.read(length)
        del tensor.external_data[:]
        tensor.data_location = TensorProto.DEFAULT


@lru_cache(maxsize=1)
def _element_bits() -> dict[int, int]:
    """Bits per element of the ONNX tensor types of a fixed size (2- and 4-bit ones pack several to a byte): a
    side file's weights must fill their shape exactly. Text has no fixed size, and is left out."""
    from onnx import TensorProto
    sizes = {"FLOAT": 32, "UINT8": 8, "INT8": 8, "UINT16": 16, "INT16": 16, "INT32": 32, "INT64": 64, "BOOL": 8,
             "FLOAT16": 16, "DOUBLE": 64, "UINT32": 32, "UINT64": 64, "COMPLEX64": 64, "COMPLEX128": 128,
             "BFLOAT16": 16, "FLOAT8E4M3FN": 8, "FLOAT8E4M3FNUZ": 8, "FLOAT8E5M2": 8, "FLOAT8E5M2FNUZ": 8,
             "FLOAT8E8M0": 8, "UINT4": 4, "INT4": 4, "FLOAT4E2M1": 4, "UINT2": 2, "INT2": 2}
    return {TensorProto.DataType.Value(name): n for name, n in sizes.items() if name in TensorProto.DataType.keys()}


def _whose(path, tensor: str, location: str) -> str:
    return (f"{shown(str(path), 200)} keeps the weights of {shown(tensor, 80)} in a side file named "
            f"{shown(location, 120)}")


def _side_file(path, folder: Path, tensor: str, location: str) -> Path:
    """The side file that holds a tensor's weights: a plain file in the model's folder (or below it), reached
    through no link."""
    whose = _whose(path, tensor, location)
    if location.replace("\\", "/").rsplit("/", 1)[-1] in ("", ".", ".."):    # no file at the end of the name
        raise ImportFailure(f"{shown(str(path), 200)} names no side file for the weights of {shown(tensor, 80)}: "
                            "the file is damaged; export the model again")
    where = "by a path from the root" if Path(location).is_absolute() else "outside the model's folder"
    side, plain = folder / location, Path(os.path.normpath(location))
    if Path(location).is_absolute() or plain.parts[:1] == ("..",):
        raise ImportFailure(f"{whose}, {where}; Layerloom reads side files only beside the .onnx file: put them "
                            "there and name them by their file name")
    try:
        if "\x00" in location:
            raise ValueError("embedded NUL")
        linked = side.is_symlink() or (side.exists() and side.resolve() != folder.resolve() / plain)
        exists, plain_file = side.exists(), side.is_file()
    except (OSError, ValueError):          # a name with a NUL, or longer than the system allows
        raise ImportFailure(f"{whose}, which this system cannot open as a file name: the file is damaged; export the "
                            "model again") from None
    if linked:
        raise ImportFailure(f"{whose}, which is reached through a link; Layerloom reads side files only as plain "
                            "files beside the .onnx file: copy the file there in its place")
    if not exists:
        raise ImportFailure(f"{whose}, which is not beside it in {shown(str(folder), 200)}: copy the side files "
                            "that came with the model into that folder")
    if not plain_file:
        raise ImportFailure(f"{whose}, which is not a plain file (a folder, a pipe or a device): the file is "
                            "damaged; export the model again")
    return side


_PLAIN_CONSTANTS = {"value_float": "float32", "value_floats": "float32", "value_int": "int64", "value_ints": "int64"}


def constant_value(node):
    """The value of a Constant node, whichever attribute holds it: a tensor (`value`), or a number or list of
    numbers (`value_float`, `value_ints`, ...); raises ImportFailure for a sparse tensor or text."""
    import numpy as np
    from onnx import helper, numpy_helper
    attrs = {a.name: a for a in node.attribute}
    if "value" in attrs:
        return numpy_helper.to_array(attrs["value"].t)
    for name, dtype in _PLAIN_CONSTANTS.items():
        if name in attrs:
            return np.array(helper.get_attribute_value(attrs[name]), dtype=dtype)
    held = {"sparse_value": "a sparse tensor", "value_string": "text", "value_strings": "text"}
    what = next((held[k] for k in attrs if k in held), "no value")
    raise ImportFailure(f"the Constant that gives {shown(node.output[0] if node.output else '?', 80)} holds {what}, "
                        "which a Layerloom graph cannot use: export the model with dense numeric constants")


def first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return shown(f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}", 200)
