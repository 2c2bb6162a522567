"""Export a trained (or untrained) graph: weights, ONNX (fp32 and int8), torch.export, TorchScript, a PyTorch
project.

    from layerloom.runtime.export import export_model
    results = export_model("runs/20260101-120000-lenet-5", ["onnx", "pt2"], "exports/lenet")
Each result says where the file went, its size and the verification against torch.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from layerloom.graph.quoting import shown

from ..path_problems import os_error_text
from ..runs import slug
from .formats import (ExportResult, export_onnx, export_pt2, export_safetensors, export_state_dict,
                      export_torchscript, write_model_json)
from .project import export_project
from .quantized import export_onnx_int8_dynamic, export_onnx_int8_static
from .source import ExportError, ExportSource, load_source
from .staging import (Interruption, check_places, clear_stale_staging, earlier_files, places_problem, publish,
                      stale_warning, staged_export)

FORMATS = {
    "safetensors": (export_safetensors, "{stem}.safetensors"),
    "state-dict": (export_state_dict, "{stem}.state_dict.pt"),
    "onnx": (export_onnx, "{stem}.onnx"),
    "onnx-int8-dynamic": (export_onnx_int8_dynamic, "{stem}.int8-dynamic.onnx"),
    "onnx-int8-static": (export_onnx_int8_static, "{stem}.int8-static.onnx"),
    "pt2": (export_pt2, "{stem}.pt2"),
    "torchscript": (export_torchscript, "{stem}.torchscript.pt"),
    "project": (export_project, "project"),
}
LEGACY = {"torchscript"}
WEIGHTS_ONLY = ("safetensors", "state-dict")      # the formats that do not run the model on one probe input


@dataclass
class FormatFailure:
    format: str
    message: str

    verified = False

    def line(self) -> str:
        return f"{self.format}: not exported: {self.message}"


ONNX_BASED = ("onnx", "onnx-int8-dynamic", "onnx-int8-static")      # formats made from an fp32 ONNX file


def file_names(graph_name: str, formats) -> dict[str, str]:
    """The name each format's file (or folder) gets in the export folder, and model.json's."""
    stem = slug(graph_name)
    return {**{fmt: FORMATS[fmt][1].format(stem=stem) for fmt in dict.fromkeys(formats)}, "model.json": "model.json"}


def export_model(source, formats, out, progress=None, stop: Interruption | None = None) -> tuple[ExportSource, list]:
    """Export `source` (run folder, checkpoint folder, .loom.json or ExportSource) to every format in
    `formats` inside the folder `out`. A format that fails is reported, the others still go ahead. The export
    is all or nothing on disk (staging.py): ExportError, with `out` as it was, when it cannot be completed.
    `stop` (Ctrl-C, SIGTERM) is looked at between formats: once it was requested, the export ends with
    KeyboardInterrupt and `out` as it was, and a format that failed meanwhile failed because of it (an
    interrupted import inside torch leaves it half-loaded, and every later format would fail for that)."""
    stop = stop or Interruption()
    src = source if isinstance(source, ExportSource) else load_source(source)
    stop.check()
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ExportError(f"unknown export format {', '.join(unknown)}: choose from {', '.join(FORMATS)}")
    out = Path(out)
    order = list(dict.fromkeys(formats))
    names = file_names(src.doc.name, order)
    check_places(out, names, src.metadata)
    results: list = []
    inputs = [name for name, _, _ in src.model.meta["layerloom"]["inputs"]]
    # the ONNX formats may share one fp32 file: kept in memory only while more than one of them is made
    src.share_onnx = sum(f in ONNX_BASED for f in order) > 1
    stale = clear_stale_staging(out)          # what exports killed on the way left here
    if stale:
        src.warnings.append(stale_warning(out, stale))
    with staged_export(out, stop) as staging:
        try:
            for i, fmt in enumerate(order):
                stop.check()
                if progress:
                    progress(fmt, i, len(order))
                result = _export_one(src, fmt, staging / names[fmt], inputs)
                stop.check()                  # (a failure while a stop was requested is the stop's doing)
                results.append(result)
        finally:
            src.share_onnx = False
            src.made.clear()
        done = [r for r in results if isinstance(r, ExportResult)]
        files = {r.format: r.path.name for r in done if r.format != "project"}
        if files:
            reports = {r.format: r.report for r in done if r.report}
            write_model_json(src, staging, files, reports)
        moved = [names[r.format] for r in done] + (["model.json"] if files else [])
        left = earlier_files(out, moved) if files else []
        stop.check()
        with stop.holding():                  # all the files move into place, or none
            publish(staging, out, moved)
    if left:
        src.warnings.append(f"{shown(str(out), 120)} still holds {', '.join(shown(f) for f in left)} from an earlier "
                            "export, which model.json no longer lists: it may be another model's; remove it, or "
                            "export into a new folder")
    for r in results:
        if isinstance(r, ExportResult):
            r.path = out / r.path.name
    return src, results


def _export_one(src: ExportSource, fmt: str, path: Path, inputs: list):
    """One format's ExportResult, or a FormatFailure that says why it was not exported."""
    if len(inputs) > 1 and fmt not in WEIGHTS_ONLY:
        return FormatFailure(fmt, f"this graph has {len(inputs)} Input blocks ({', '.join(inputs)}) and "
                                  f"{fmt} takes one input: export {' or '.join(WEIGHTS_ONLY)} instead")
    try:
        return FORMATS[fmt][0](src, path)
    except ExportError as exc:
        return FormatFailure(fmt, str(exc))
    except OSError as exc:     # a path the system refused (a full disk): in words
        return FormatFailure(fmt, os_error_text(exc))
    except Exception as exc:   # an exporter bug must not lose the other formats
        return FormatFailure(fmt, f"{type(exc).__name__}: {exc}")

__all__ = ["ExportError", "ExportResult", "ExportSource", "FORMATS", "FormatFailure", "Interruption", "LEGACY",
           "export_model", "file_names", "load_source", "places_problem"]
