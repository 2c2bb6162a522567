"""One function per format. Each writes its file(s) atomically and verifies what it wrote by
loading it back and comparing outputs with the torch model on a probe batch."""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from layerloom.graph.fileformat import atomic_write_text, default_mode

from .onnx_limits import explain_export_failure, first_line, unsupported_layers
from .onnx_recurrent import translations
from .recurrent_scan import has_recurrence, scanned
from .source import ExportError, ExportSource, metadata_strings
from .steps import (dynamic_note, export_steps, fixed_note, fixed_reason, free_onnx_steps, length_difference,
                    optimize_with_free_steps, sequence_steps, steps_dim)

TOLERANCE = 1e-4
SHORT_TRACE = 4          # the steps a recurrent graph is traced at for ONNX before its length is freed


@dataclass
class ExportResult:
    format: str
    path: Path
    size: int                        # bytes on disk (folder: sum of files)
    max_abs_diff: float | None       # against the torch model on a probe batch
    verified: bool
    notes: list[str] = field(default_factory=list)
    report: dict | None = None       # measured figures that go into model.json (int8: accuracy, latency)

    def line(self) -> str:
        diff = "" if self.max_abs_diff is None else f", max |Δ| {self.max_abs_diff:.2e} vs torch"
        ok = "verified" if self.verified else "NOT verified"
        extra = "".join(f"; {n}" for n in self.notes)
        return f"{self.format}: {self.path} ({_size(self.size)}, {ok}{diff}){extra}"


def _size(n: int) -> str:
    for unit, div in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return f"{n} B"


def size_of(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


@contextlib.contextmanager
def atomic_target(path: Path):
    """Yield a path with `path`'s own name inside a private temp folder beside it; move it into place
    only if the block succeeds. The name matters: torch's zip archives (.pt, .pt2, TorchScript) take
    their root folder name from it. The file gets the usual mode (safetensors writes 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    tmp = folder / path.name
    try:
        yield tmp
        os.chmod(tmp, default_mode())
        os.replace(tmp, path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def staged_folder(folder: Path, prefix: str):
    """Yield a temp folder beside `folder` to fill; it becomes `folder` (which must be absent or empty)
    only if the block succeeds, and is removed otherwise: never a half-written folder."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=prefix, dir=folder.parent))
    try:
        yield staging
        os.chmod(staging, default_mode() | 0o111)
        if folder.exists():
            folder.rmdir()
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def max_difference(a, b) -> float:
    """The largest difference over every output (a graph with several Output blocks gives a tuple); inf when
    the two do not give the same number of outputs."""
    a = list(a) if isinstance(a, (tuple, list)) else [a]
    b = list(b) if isinstance(b, (tuple, list)) else [b]
    if len(a) != len(b):
        return float("inf")
    return max(float((torch.as_tensor(x).float() - torch.as_tensor(y).float()).abs().max()) for x, y in zip(a, b))


def _reference(src: ExportSource, x):
    with torch.no_grad():
        return src.model(x)


def write_model_json(src: ExportSource, folder: Path, files: dict, reports: dict | None = None) -> Path:
    path = folder / "model.json"
    extra = {"verification": reports} if reports else {}
    atomic_write_text(path, json.dumps({**src.metadata, "files": files, **extra}, indent=2) + "\n")
    return path


def export_safetensors(src: ExportSource, path: Path) -> ExportResult:
    state = {k: v.detach().contiguous().cpu() for k, v in src.model.state_dict().items()}
    with atomic_target(path) as tmp:
        save_file(state, str(tmp), metadata=metadata_strings(src.metadata))
    back = load_file(str(path))
    same = back.keys() == state.keys() and all(torch.equal(back[k], state[k]) for k in state)
    return ExportResult("safetensors", path, size_of(path), 0.0 if same else None, same)


def export_state_dict(src: ExportSource, path: Path) -> ExportResult:
    state = {k: v.detach().cpu() for k, v in src.model.state_dict().items()}
    with atomic_target(path) as tmp:
        torch.save(state, tmp)
    back = torch.load(path, weights_only=True)
    same = back.keys() == state.keys() and all(torch.equal(back[k], state[k]) for k in state)
    return ExportResult("state-dict", path, size_of(path), 0.0 if same else None, same,
                        ["keys match the generated model code's attributes"])


def _batch_dim():
    return torch.export.Dim("batch", min=1, max=65536)


def _onnx_export(src: ExportSource, path: Path, x, shapes: dict, rnn_operator: bool, free_steps: bool = False) -> None:
    """`free_steps`: `x` holds a few of the steps of a recurrent graph, whose file is to take any number: the
    graph is optimized once the steps axis is free (steps.py)."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(src.model, (x,), None if free_steps else str(path), dynamo=True,
                                    external_data=False, verbose=False, input_names=["input"],
                                    output_names=["output"], dynamic_shapes=(shapes,), optimize=not free_steps,
                                    custom_translation_table=translations() if rnn_operator else None)
        if free_steps:
            optimize_with_free_steps(program)
            program.save(str(path), external_data=False)


def _with_metadata(model, src: ExportSource):
    for key, value in metadata_strings(src.metadata).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    return model


def export_onnx(src: ExportSource, path: Path, rnn_operator: bool = True, any_length: bool = True) -> ExportResult:
    """`rnn_operator`: write each plain RNN layer as one ONNX RNN operator (readable, smaller, imports back
    as an RNN block); False leaves torch's own export, which unrolls it into MatMuls per time step (what
    onnxruntime's quantizer can make int8). `any_length`: a graph that reads a sequence takes any number of
    steps where it can (steps.py); False keeps the Input's length."""
    import onnx
    import onnxruntime as ort

    why_not = unsupported_layers(src.model)
    if why_not is not None:
        raise ExportError(why_not)
    length = sequence_steps(src) if any_length else None
    # the file depends on rnn_operator only where there are recurrent layers, and on any_length only where the
    # Input is a sequence: where neither, `onnx` and the int8 formats' fp32 file are one file, exported once
    key = ("onnx", rnn_operator and has_recurrence(src.model), length)
    if key in src.made:
        data, result = src.made[key]
        with atomic_target(path) as tmp:
            tmp.write_bytes(data)
        return replace(result, path=path, notes=list(result.notes))
    fixed = fixed_reason(src, length) if length is not None else None
    # without recurrent layers, torch.export follows the steps itself; ONNX's recurrent operators take any
    # length, but torch.export unrolls the layers it traces, so the length is freed in the ONNX file after,
    # from a short trace (a 200-step one takes minutes), and checked at the Input's length and two others
    native = length is not None and fixed is None and not has_recurrence(src.model)
    freeing = length is not None and fixed is None and not native
    traced = min(length, SHORT_TRACE) if freeing else None
    with atomic_target(path) as tmp:
        try:
            if native:
                try:
                    _onnx_export(src, tmp, src.probe(2, steps=export_steps(length)),
                                 {0: _batch_dim(), 1: steps_dim()}, rnn_operator)
                except Exception as exc:
                    native, fixed = False, f"torch.export cannot follow it ({first_line(exc)})"
            if not native:
                _onnx_export(src, tmp, src.probe(2, steps=traced), {0: _batch_dim()}, rnn_operator, freeing)
            model = _with_metadata(onnx.load(str(tmp)), src)
            if freeing:
                free, fixed = free_onnx_steps(model, src, length)
                if free is not None:
                    model = free
                elif traced != length:      # the short trace cannot stand for the Input's length: trace that
                    _onnx_export(src, tmp, src.probe(2), {0: _batch_dim()}, rnn_operator)
                    model = _with_metadata(onnx.load(str(tmp)), src)
        except Exception as exc:
            program = lambda: torch.export.export(src.model, (src.probe(2),))     # noqa: E731  (only to name blocks)
            raise ExportError(f"ONNX export failed: {explain_export_failure(exc, program)}") from None
        onnx.save(model, str(tmp))
        onnx.checker.check_model(str(tmp))
        if any(p != tmp for p in tmp.parent.iterdir()):
            raise ExportError("the ONNX exporter wrote a side .data file; the model must be one file")
        # Checked before it takes its place: a file onnxruntime cannot run is never left in the folder.
        probe = src.probe(3, seed=1)          # a different batch size checks the dynamic batch dimension
        try:
            session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
            run = lambda x: session.run(None, {session.get_inputs()[0].name: x.numpy()})     # noqa: E731
            diff = max_difference(run(probe), _reference(src, probe))
            if length is not None and fixed is None:
                diff = max(diff, length_difference(run, src, length))
        except Exception as exc:
            raise ExportError(f"onnxruntime cannot run the exported model: {first_line(exc)}") from None
    notes = ["checked with onnx.checker and onnxruntime (batch 3)"]
    if length is not None:
        notes.append(dynamic_note(length) if fixed is None else fixed_note(length, fixed))
    result = ExportResult("onnx", path, size_of(path), diff, diff <= TOLERANCE, notes)
    if src.share_onnx:            # another format of this export starts from the same file
        src.made[key] = (path.read_bytes(), replace(result, notes=list(notes)))
    return result


def _scan_grad_mode(src: ExportSource):
    """torch.no_grad() to export a graph whose recurrent layers become scans, else nothing: with autograd on,
    torch.export takes about twice as long over a scan, and gives the same program (graphs, state_dict and
    outputs: bench/pt2_scan_grad_mode.py): no block's module takes another path without autograd while it is
    traced (MultiheadAttention keeps off its fast path). An Opaque block runs code Layerloom does not know,
    which might: its graph is exported as it is."""
    if has_recurrence(src.model) and not any(b.kind == "Opaque" for b in src.doc.blocks.values()):
        return torch.no_grad()
    return contextlib.nullcontext()


def _pt2_program(src: ExportSource, length: int | None):
    """(program, why the steps stay fixed or None). Recurrent layers are exported as scans (recurrent_scan.py):
    torch.export would unroll them over the example's steps."""
    fixed = fixed_reason(src, length) if length is not None else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # e.g. RNN flat-weight notes that do not affect the program
        if length is not None and fixed is None:
            model = scanned(src.model) if has_recurrence(src.model) else src.model
            try:
                with _scan_grad_mode(src):
                    program = torch.export.export(model, (src.probe(2, steps=export_steps(length)),),
                                                  dynamic_shapes=({0: _batch_dim(), 1: steps_dim()},))
                diff = length_difference(program.module(), src, length)
                if diff <= TOLERANCE:
                    return program, None
                fixed = f"the exported program gives other outputs on other lengths (max |Δ| {diff:.2e})"
            except Exception as exc:
                fixed = f"torch.export cannot follow it ({first_line(exc)})"
        try:
            return torch.export.export(src.model, (src.probe(2),), dynamic_shapes=({0: _batch_dim()},)), fixed
        except Exception as exc:
            raise ExportError(f"torch.export failed: {first_line(exc)}") from None


def export_pt2(src: ExportSource, path: Path) -> ExportResult:
    length = sequence_steps(src)
    with atomic_target(path) as tmp:
        program, fixed = _pt2_program(src, length)
        torch.export.save(program, str(tmp), extra_files={"layerloom.json": json.dumps(src.metadata)})
    loaded = torch.export.load(str(path)).module()
    probe = src.probe(3, seed=1)
    with torch.no_grad():
        diff = max_difference(loaded(probe), _reference(src, probe))
    notes = ["dynamic batch dimension"]
    if length is not None:
        if fixed is None:
            diff = max(diff, length_difference(loaded, src, length))
        notes.append(dynamic_note(length) if fixed is None else fixed_note(length, fixed))
    return ExportResult("pt2", path, size_of(path), diff, diff <= TOLERANCE, notes)


def export_torchscript(src: ExportSource, path: Path) -> ExportResult:
    x = src.probe(2)
    with atomic_target(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")          # torch marks TorchScript as deprecated
        try:
            scripted = torch.jit.trace(src.model, (x,), check_trace=False)
        except Exception as exc:
            raise ExportError(f"TorchScript tracing failed: {first_line(exc)}") from None
        torch.jit.save(scripted, str(tmp), _extra_files={"layerloom.json": json.dumps(src.metadata)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = torch.jit.load(str(path))
    probe = src.probe(3, seed=1)
    with torch.no_grad():
        diff = max_difference(loaded(probe), _reference(src, probe))
    return ExportResult("torchscript", path, size_of(path), diff, diff <= TOLERANCE,
                        ["legacy: torch deprecates TorchScript; prefer pt2 or onnx"])

