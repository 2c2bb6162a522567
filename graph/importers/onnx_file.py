"""Reading an ONNX file before it is mapped: the model, its weights kept in side files (within a limit), its
free sizes fixed where Layerloom's export named them, and its shapes inferred; and the value of a Constant
node. Any failure reads as what is wrong with the file.
"""
from __future__ import annotations

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
        raise ImportFailure(f"{path} is not a readable ONNX model ({type(exc).__name__}: {exc})") from None


def _load_side_data(model, path) -> None:
    """Read the weights an ONNX file keeps in side files (external data) once their declared sizes fit in
    EXTERNAL_BYTES: onnx would read whatever the file names (an 8 GB file beside it) into memory."""
    from onnx.external_data_helper import ExternalDataInfo, _get_all_tensors, load_external_data_for_model
    from onnx.external_data_helper import uses_external_data
    folder, total = Path(path).resolve().parent, 0
    for tensor in _get_all_tensors(model):
        if uses_external_data(tensor):
            info = ExternalDataInfo(tensor)
            side = folder / str(info.location)
            size = side.stat().st_size if side.is_file() else 0
            total += int(info.length) if info.length is not None else max(0, size - int(info.offset or 0))
    if total > EXTERNAL_BYTES:
        from .batch_check import byte_text
        raise ImportFailure(f"{shown(str(path), 200)} keeps {byte_text(total)} of weights in side files, more than "
                            f"the {byte_text(EXTERNAL_BYTES)} Layerloom imports; import a smaller model")
    if total:
        load_external_data_for_model(model, str(folder))


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
