"""Bring your own network: PyTorch modules (and, later, other formats) as editable graphs.

    from layerloom.graph.importers import import_source, save_import
    result = import_source("torchvision:resnet18", input_shape=(3, 224, 224))
    save_import(result, "resnet18.loom.json")      # + resnet18.safetensors, named by the graph
    print(result.report.text())

SOURCE is an ONNX file (`model.onnx`, mapped by onnx_import.py), a torch.export program (`model.pt2`,
export_import.py; also the fallback for a model torch.fx cannot trace), `path/to/model.py:Net` (a class)
or `path/to/model.py:build` (a factory function),
constructed with `args` (a JSON object of keyword arguments, or a list of positional ones), or
`torchvision:NAME` (torchvision's architecture with fresh weights; start from published weights
with the training option `init_from: torchvision:NAME`). Importing a Python file runs it: only
do it for code you trust; the import allows that file for the graph's Opaque blocks.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from ..fileformat import save_graph
from ..opaque import OpaqueError, exit_text, load_file_module
from ..quoting import shown
from ..weights import save_graph_weights
from .batch_check import OTHER_BATCH, byte_text, check_affordable
from .fx_import import ImportFailure, ImportReport, check_fidelity, import_module

MAX_WEIGHT_BYTES = 8 * 2**30     # the largest torchvision model (regnet_y_128gf) holds 2.4 GiB

__all__ = ["ImportFailure", "ImportReport", "ImportResult", "import_source", "load_source_module", "parse_args_json",
           "parse_input_shape", "save_import"]


@dataclass
class ImportResult:
    doc: object
    state: dict
    report: ImportReport
    model: nn.Module


def parse_input_shape(text: str, what: str = "the input shape") -> tuple[int, ...]:
    """One sample's shape from text such as "3,224,224" (or 3x224x224); raises ImportFailure."""
    parts = str(text).replace("x", ",").split(",")
    try:
        shape = tuple(int(v) for v in parts)          # "3,,32" is a typo, not the shape (3, 32)
    except ValueError:
        raise ImportFailure(f"{what} must be whole numbers separated by commas, such as 3,224,224; "
                            f"got {shown(json.dumps(str(text)), 80)}") from None
    if any(v < 1 for v in shape):
        raise ImportFailure(f"each size in {what} must be at least 1, such as 3,224,224; "
                            f"got {shown(json.dumps(str(text)), 80)}")
    return shape


def parse_args_json(text: str, what: str = "the Arguments field"):
    """Constructor arguments typed as JSON (an object or a list); raises ImportFailure for text that is not JSON,
    or JSON nested too deep for Python to read (a thousand "[")."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        why = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ImportFailure(f"{what} is not valid JSON ({why}); give an object such as {{\"width\": 64}} or a "
                            "list such as [64]") from None


def load_source_module(source: str, args=None) -> tuple[nn.Module, str]:
    """The module SOURCE names, constructed with `args`, and a name for the graph."""
    if args is None:
        args = {}
    if not isinstance(args, (dict, list)):
        raise ImportFailure("--args must be a JSON object of keyword arguments or a list of positional ones")
    pos, kw = (list(args), {}) if isinstance(args, list) else ([], dict(args))
    if source.startswith("torchvision:"):
        import torchvision
        name = source.split(":", 1)[1]
        try:
            builder = torchvision.models.get_model_builder(name)
        except ValueError:
            raise ImportFailure(f'torchvision has no model called "{name}" (see torchvision.models.list_models())'
                                ) from None
        kw.setdefault("weights", None)
        if name == "googlenet" or name.startswith("inception"):
            kw.setdefault("aux_logits", False)    # the auxiliary heads only run while training
            kw.setdefault("init_weights", True)
        try:
            _check_weight_size(builder, pos, kw, name)
            return builder(*pos, **kw), name
        except TypeError as exc:
            raise ImportFailure(f"torchvision's {name} does not take these arguments: {exc}") from None
    path_text, sep, attr = source.rpartition(":")
    if not sep or not path_text.endswith(".py") or not attr:
        raise ImportFailure(f'"{source}" is not a source Layerloom can import: give model.py:ClassName, '
                            "model.py:factory_function or torchvision:NAME")
    path = Path(path_text)
    if not path.is_file():
        raise ImportFailure(f"{path} does not exist: check the file's path (relative paths start from the folder "
                            f"Layerloom runs in, {Path.cwd()})")
    try:
        module = load_file_module(path)
    except OpaqueError as exc:
        raise ImportFailure(str(exc)) from None
    obj = getattr(module, attr, None)
    if obj is None or not callable(obj):
        raise ImportFailure(f"{path} has no class or function called {attr}")
    call = ", ".join([*(json.dumps(v) for v in pos), *(f"{k}={json.dumps(v)}" for k, v in kw.items())])
    try:
        model = obj(*pos, **kw)
    except SystemExit as exc:     # the file's code ends the program: the import failed, said so (Ctrl-C still stops)
        raise ImportFailure(f"{attr}({shown(call, 200)}) in {path} failed: {exit_text(exc)}: the error is in the "
                            "file's own code; fix it there") from None
    except Exception as exc:
        advice = (": give the arguments it takes as JSON (--args, or Arguments in the import dialog), such as "
                  '{"width": 64} or [64]' if isinstance(exc, TypeError) else
                  ": the error is in the file's own code; fix it there, or give other arguments")
        raise ImportFailure(f"{attr}({shown(call, 200)}) failed ({type(exc).__name__}: {exc}){advice}") from None
    if not isinstance(model, nn.Module):
        raise ImportFailure(f"{attr} gave {type(model).__name__}, not a torch.nn.Module")
    return model, attr


def _check_weight_size(builder, pos, kw, name: str) -> None:
    """Refuse, before allocating them, weights over MAX_WEIGHT_BYTES (`num_classes: 100000000` asks for 205 GB):
    the model is built on the meta device first, which holds shapes and no values."""
    import torch
    try:
        with torch.device("meta"):
            model = builder(*pos, **kw)
    except TypeError:
        raise
    except Exception:      # a model that cannot be built without values: its own construction says why
        return
    size = sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))
    if size > MAX_WEIGHT_BYTES:
        raise ImportFailure(f"torchvision's {name} with these arguments holds {byte_text(size)} of weights, more "
                            f"than the {byte_text(MAX_WEIGHT_BYTES)} Layerloom imports; give smaller arguments "
                            "(such as num_classes) in --args")


def import_source(source: str, input_shape=(3, 224, 224), args=None, input_dtype: str = "float32",
                  fidelity: bool = True) -> ImportResult:
    """Import SOURCE (see the module docstring); raises ImportFailure with a one-line reason."""
    suffix = source.lower().rsplit(".", 1)[-1] if "." in source and ":" not in source else ""
    if suffix == "pt2":
        from .export_import import import_pt2
        doc, state, report = import_pt2(source, fidelity)
        return ImportResult(doc, state, report, None)
    if suffix == "onnx":
        from .onnx_check import onnx_fidelity
        from .onnx_import import import_onnx
        if not Path(source).is_file():
            raise ImportFailure(f"{source} does not exist")
        doc, state, report = import_onnx(source)
        if fidelity:
            onnx_fidelity(doc, state, source, report)
        return ImportResult(doc, state, report, None)
    check_affordable(tuple(input_shape), OTHER_BATCH, input_dtype)
    model, name = load_source_module(source, args)
    doc, state, report = import_module(model, tuple(input_shape), name, source, input_dtype)
    if fidelity:
        check_affordable(doc, OTHER_BATCH)
        check_fidelity(doc, state, model, tuple(input_shape), report, input_dtype)
    return ImportResult(doc, state, report, model)


def save_import(result: ImportResult, out) -> Path:
    """Write the graph (format version 2) and its weights next to it (`NAME.safetensors`)."""
    out = Path(out)
    if not out.name.endswith(".loom.json"):
        raise ImportFailure(f"{out} should end in .loom.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = result.doc
    doc.path = str(out.resolve())
    weights = out.with_name(out.name[: -len(".loom.json")] + ".safetensors")
    if result.state:
        save_graph_weights(doc, result.state, weights.resolve())
    save_graph(doc, out)
    return weights if result.state else out


def report_json(result: ImportResult) -> str:
    return json.dumps(result.report.to_dict(), indent=2, default=str) + os.linesep
