"""int8 ONNX: `onnx-int8-dynamic` (Linear, LSTM, GRU) and `onnx-int8-static` (QDQ per-channel, CNNs).

Both start from the verified fp32 ONNX export (with a plain RNN unrolled into MatMuls per time step,
which quantize, rather than the one RNN operator of the `onnx` format, which onnxruntime keeps in
fp32), run onnxruntime's pre-processing (shape inference and graph optimisation: without it an LSTM
is not quantized), then onnxruntime's quantizer. The static
format is calibrated on 256 training samples. torch.ao.quantization is deprecated in this torch and
is not used.

Each file is verified on the run's validation split against the fp32 ONNX model: accuracy of both,
top-1 agreement, file sizes and onnxruntime latency at batch 1 and 32. A drop of more than one
accuracy point is flagged. The figures travel in the result's `report` (and so into model.json).

Sequences: a graph whose fp32 ONNX file takes any number of steps is quantized from that file, and the
int8 file takes any number too (checked at two other lengths). Where the length stays fixed (a plain RNN
is quantized as its unrolled steps; a Flatten then a Linear over the steps), the note and model.json say
so, and the validation and calibration samples are brought to that length as a text set pads a batch:
token id 0 (<pad>) on the left (texts longer than it keep their last steps). The fp32 and int8 files are
compared on the same padded samples. Should the int8 file fail with its steps free, it is made again at the
Input's length, and says why.

onnxruntime's per-channel static quantization cannot hold a ConvTranspose with groups (it broadcasts one
scale per group against every output channel): such a graph is quantized per tensor, and its note says so.
"""
from __future__ import annotations

import contextlib
import io
import logging
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import threads as thread_policy
from ..data import DataError
from ..evaluation import TIMING_SAMPLES, ClassesChanged, evaluation_data
from ..latency import onnx_latency, onnx_session
from .formats import ExportResult, atomic_target, export_onnx, size_of
from .onnx_limits import block_of, plain
from .source import ExportError, ExportSource, metadata_strings
from .steps import dynamic_note, fixed_note, other_lengths, sequence_steps

CALIBRATION_SAMPLES = 256
FLAG_DROP_POINTS = 1.0
CHECK_BATCH = 3        # a batch size unlike the calibration's checks the dynamic batch dimension


def export_onnx_int8_dynamic(src: ExportSource, path: Path) -> ExportResult:
    return _export(src, path, "dynamic")


def export_onnx_int8_static(src: ExportSource, path: Path) -> ExportResult:
    return _export(src, path, "static")


PLAIN_RNN_FIXED = "onnxruntime quantizes a plain RNN as its unrolled time steps, one copy of the cell per step"


def one_line(exc: BaseException) -> str:
    """onnxruntime's message (often several lines) as one line."""
    return " ".join(plain(str(exc)).split())[:300] or type(exc).__name__


def fixed_steps(model) -> int | None:
    """The number of steps the ONNX `model`'s input holds fixed on its sequence axis (1), or None (a free axis,
    or no such axis)."""
    dims = model.graph.input[0].type.tensor_type.shape.dim
    return int(dims[1].dim_value) if len(dims) >= 2 and dims[1].HasField("dim_value") else None


@dataclass
class Lengths:
    """Brings samples to the `steps` a fixed-length model takes (None: leaves them as they are), as a text set pads
    a batch: token id 0 (<pad>) on the left; a longer batch keeps its last steps. Remembers what it did."""
    steps: int | None = None
    padded: bool = False
    cut: bool = False

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.steps is None or x.dim() < 2 or x.shape[1] == self.steps:
            return x
        if x.shape[1] > self.steps:
            self.cut = True
            return x[:, x.shape[1] - self.steps:]
        self.padded = True
        return torch.cat([x.new_zeros((x.shape[0], self.steps - x.shape[1], *x.shape[2:])), x], dim=1)

    def note(self) -> str | None:
        if not (self.padded or self.cut):
            return None
        done = " and ".join(["shorter ones padded on the left with token id 0, as training pads a batch"] * self.padded
                            + [f"longer ones cut to their last {self.steps}"] * self.cut)
        return f"the run's samples brought to {self.steps} steps ({done})"


class _Calibration:
    """onnxruntime's CalibrationDataReader protocol over a tensor of samples."""

    def __init__(self, name: str, samples: torch.Tensor, batch: int = 32):
        self.items = [{name: samples[i:i + batch].numpy()} for i in range(0, len(samples), batch)]
        self.pos = 0

    def get_next(self):
        if self.pos >= len(self.items):
            return None
        self.pos += 1
        return self.items[self.pos - 1]

    def rewind(self):
        self.pos = 0


@contextlib.contextmanager
def _quiet():
    """onnxruntime's quantizer logs and prints advice on every call; keep the CLI output ours."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)


def grouped_transposes(model) -> list[str]:
    """The blocks (or nodes) of the ONNX `model` that are ConvTranspose with groups: onnxruntime's per-channel
    quantization cannot hold their weights (it broadcasts a per-group scale against all the output channels)."""
    out = []
    for node in model.graph.node:
        if node.op_type == "ConvTranspose" and any(a.name == "group" and a.i > 1 for a in node.attribute):
            name = block_of(node) or node.name
            if name not in out:
                out.append(name)
    return out


def per_tensor_reason(model) -> str | None:
    """Why the static mode quantizes the ONNX `model`'s weights per tensor rather than per channel, or None."""
    grouped = grouped_transposes(model)
    if not grouped:
        return None
    return (f"weights quantized per tensor, not per channel: onnxruntime's per-channel quantization cannot hold "
            f"the grouped ConvTranspose {', '.join(grouped)}")


def _quantize(pre: Path, tmp: Path, mode: str, input_name: str, data) -> None:
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static

    if mode == "dynamic":
        quantize_dynamic(pre, tmp, weight_type=QuantType.QInt8)
    else:
        model = onnx.load(str(pre))
        fit = Lengths(fixed_steps(model))
        reader = _Calibration(input_name, fit(data.calibration(CALIBRATION_SAMPLES)))
        quantize_static(pre, tmp, reader, quant_format=QuantFormat.QDQ, per_channel=per_tensor_reason(model) is None,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)


def _pre_process(fp32: Path, pre: Path) -> None:
    """onnxruntime's pre-processing; its symbolic shape inference does not know every operator (a global
    max pool's ReduceMax with axes as an input fails inside it), and ONNX's own shape inference then does."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        quant_pre_process(str(fp32), str(pre))
    except Exception:
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)


def _through_onnx(exc: BaseException) -> bool:
    """Whether `exc` was raised in, or passed through, onnxruntime's or onnx's code (their refusal of a model),
    rather than only through Layerloom's."""
    tb = exc.__traceback__
    while tb is not None:
        if str(tb.tb_frame.f_globals.get("__name__", "")).split(".")[0] in ("onnxruntime", "onnx"):
            return True
        tb = tb.tb_next
    return False


def quantize_onnx(src: ExportSource, fp32: Path, path: Path, mode: str, data) -> list[str]:
    """Quantize the fp32 ONNX file `fp32` into `path` (atomically) with onnxruntime's pre-processing and
    quantizer; `data` (EvaluationData) gives the calibration samples of the static mode (load_data(src,
    "static") loads it, or says why it cannot). Returns the recurrent op types the file keeps in fp32."""
    import onnx

    if mode == "static" and data is None:
        raise ExportError(f"onnx-int8-static calibrates on {CALIBRATION_SAMPLES} training samples, and none were "
                          "given: load the run's data set first (load_data says why it cannot be loaded)")

    with tempfile.TemporaryDirectory(prefix="layerloom-int8-") as work:
        pre = Path(work) / "model.pre.onnx"
        with atomic_target(path) as tmp:
            try:
                with _quiet():
                    _pre_process(fp32, pre)
                    _quantize(pre, tmp, mode, "input", data)
            except ExportError:
                raise
            except Exception as exc:
                if not _through_onnx(exc):      # our own mistake, not the model's: not relabelled as onnxruntime's
                    raise
                raise ExportError(f"onnxruntime could not quantize this model ({one_line(exc)}): export the fp32 "
                                  "onnx format instead") from None
            model = onnx.load(str(tmp))
            recurrent = sorted({n.op_type for n in model.graph.node} & {"LSTM", "GRU", "RNN"})
            del model.metadata_props[:]
            for key, value in {**metadata_strings(src.metadata), "quantization": f"onnx-int8-{mode}"}.items():
                entry = model.metadata_props.add()
                entry.key, entry.value = key, value
            onnx.save(model, str(tmp))
            onnx.checker.check_model(str(tmp))
    return recurrent


def load_data(src: ExportSource, mode: str):
    """The run's data for calibration and checks, read a batch at a time (its `val_x` is a pool of
    TIMING_SAMPLES for latency); None (dynamic only) when it cannot be loaded. A data set whose classes
    changed since the run trained is refused in either mode: its accuracy would be counted against other
    classes."""
    try:
        return evaluation_data(src.config, src.input_shape, src.metadata.get("dataset"), pool=TIMING_SAMPLES,
                               class_names=src.metadata.get("class_names") if src.trained else None)
    except ClassesChanged as exc:
        raise ExportError(f"the run's validation accuracy cannot be measured: {exc}") from None
    except DataError as exc:
        if mode == "static":
            raise ExportError(f"onnx-int8-static calibrates on {CALIBRATION_SAMPLES} training samples, but the "
                              f"data set cannot be loaded: {exc}") from None
        return None


def _sequence(src: ExportSource, fp32: Path, base: ExportResult, plain_rnn: bool) -> tuple[int | None, str | None]:
    """(the steps the fp32 file holds fixed or None, the note on its sequence length or None: not a sequence)."""
    import onnx

    length = sequence_steps(src)
    if length is None:
        return None, None
    fixed = fixed_steps(onnx.load(str(fp32)))
    if fixed is None:
        return None, dynamic_note(length)
    said = next((n for n in base.notes if n.startswith("sequence length fixed at")), None)
    return fixed, said or fixed_note(fixed, PLAIN_RNN_FIXED if plain_rnn else "the fp32 ONNX model it starts from "
                                                                                "takes only that length")


def _quantized(src: ExportSource, path: Path, mode: str, data, any_length: bool, plain_rnn: bool, made: dict):
    """Export the fp32 base, quantize it into `path` and check it: (report, steps note, Lengths, per-tensor reason,
    recurrent ops kept in fp32). `made["free"]`: whether the base took any number of steps."""
    import onnx

    with tempfile.TemporaryDirectory(prefix="layerloom-int8-") as work:
        fp32 = Path(work) / "model.onnx"
        base = export_onnx(src, fp32, rnn_operator=not plain_rnn, any_length=any_length)
        if not base.verified:
            raise ExportError(f"the fp32 ONNX model this starts from does not match torch ({base.line()})")
        fixed, sequence = _sequence(src, fp32, base, plain_rnn)
        made["free"] = sequence is not None and fixed is None
        per_tensor = per_tensor_reason(onnx.load(str(fp32))) if mode == "static" else None
        recurrent = quantize_onnx(src, fp32, path, mode, data)
        fit = Lengths(fixed)
        report = _verify(src, fp32, path, data, mode, fit, free=sequence is not None and fixed is None)
        if sequence is not None and fixed is None and not report["runs"]:
            raise ExportError("the int8 model does not run on other sequence lengths")
    return report, sequence, fit, per_tensor, recurrent


def _export(src: ExportSource, path: Path, mode: str) -> ExportResult:
    fmt = f"onnx-int8-{mode}"
    data = load_data(src, mode)
    # a plain RNN unrolled into its steps quantizes (its one ONNX RNN operator would stay fp32), at the Input's length;
    # any other graph starts from the `onnx` format's own file, which takes any length where it can
    plain_rnn = any(isinstance(m, torch.nn.RNN) for m in src.model.modules())
    made: dict = {}
    try:
        report, sequence, fit, per_tensor, recurrent = _quantized(src, path, mode, data, not plain_rnn, plain_rnn,
                                                                  made)
    except ExportError as exc:
        if not made.get("free"):
            raise
        # quantized with its steps free, the file failed: at the Input's length it may not
        path.unlink(missing_ok=True)
        report, sequence, fit, per_tensor, recurrent = _quantized(src, path, mode, data, False, plain_rnn, made)
        sequence = fixed_note(int(src.input_shape[0]), f"the int8 file failed with the steps free: {exc}")
    report["per_channel"] = mode == "static" and per_tensor is None
    if sequence is not None:
        report.update(sequence_length=sequence, fixed_steps=fit.steps)
    notes = [f"{report['size_ratio'] * 100:.0f} % of the fp32 ONNX file"]
    if sequence is not None:
        notes.append(sequence)
    if fit.note():
        notes.append(fit.note())
        report["samples_fitted"] = fit.note()
    if per_tensor:
        notes.append(per_tensor)
    if report.get("int8_accuracy") is not None:
        notes.append(f"validation accuracy {report['fp32_accuracy'] * 100:.2f} % fp32 -> "
                     f"{report['int8_accuracy'] * 100:.2f} % int8, top-1 agreement "
                     f"{report['top1_agreement'] * 100:.2f} % on {report['samples']:,} samples")
    else:
        notes.append("checked on random inputs only: " + report["unverified_reason"])
    lat = report["latency_ms"]
    notes.append("onnxruntime latency (median, {} thread{}) batch 1: {:.2f} -> {:.2f} ms, batch 32: {:.2f} -> "
                 "{:.2f} ms".format(lat["threads"], "" if lat["threads"] == 1 else "s",
                                    lat["fp32"]["1"]["median_ms"], lat["int8"]["1"]["median_ms"],
                                    lat["fp32"]["32"]["median_ms"], lat["int8"]["32"]["median_ms"]))
    if recurrent and mode == "static":
        notes.append(f"the static (QDQ) flow leaves {', '.join(recurrent)} in fp32: onnx-int8-dynamic suits this graph")
    elif recurrent:          # onnxruntime quantizes LSTM (DynamicQuantizeLSTM) only
        notes.append(f"onnxruntime has no int8 {' or '.join(recurrent)}: that layer stays fp32, the rest is int8")
    if report["flagged"]:
        notes.append(f"WARNING: accuracy drops {report['accuracy_drop_points']:.2f} points (more than "
                     f"{FLAG_DROP_POINTS:g}): keep the fp32 model or try the other int8 format")
    return ExportResult(fmt, path, size_of(path), None, report["runs"], notes, report)


def _from_onnxruntime(exc: BaseException) -> bool:
    return type(exc).__module__.split(".")[0] == "onnxruntime"


def _verify(src: ExportSource, fp32: Path, path: Path, data, mode: str, fit: Lengths, free: bool = False) -> dict:
    """`fit` brings samples to a fixed-length model's steps; `free`: the int8 file should take any number of steps
    (it is run at two other lengths)."""
    try:
        return _measure(src, fp32, path, data, mode, fit, free)
    except Exception as exc:
        if not _from_onnxruntime(exc):
            raise
        raise ExportError(f"onnxruntime could not check the int8 model on the run's samples: {one_line(exc)}") from None


def _measure(src: ExportSource, fp32: Path, path: Path, data, mode: str, fit: Lengths, free: bool) -> dict:
    threads = thread_policy.default_threads()
    ref, q = onnx_session(fp32, threads), onnx_session(path, threads)
    inp = q.get_inputs()[0]
    same_input = (inp.name, inp.type, inp.shape) == tuple(
        (i.name, i.type, i.shape) for i in ref.get_inputs()[:1])[0]
    runs = same_input
    probes = [src.probe(CHECK_BATCH, seed=1)]
    if free:
        probes += [src.probe(CHECK_BATCH, seed=1, steps=n) for n in other_lengths(int(src.input_shape[0]))]
    for probe in probes:
        out = q.run(None, {inp.name: probe.numpy()})[0]
        runs = bool(runs and out.shape == ref.run(None, {inp.name: probe.numpy()})[0].shape and np.isfinite(out).all())
    report = {"mode": mode, "per_channel": mode == "static", "fp32_bytes": size_of(fp32), "int8_bytes": size_of(path),
              "runs": runs}
    report["size_ratio"] = report["int8_bytes"] / report["fp32_bytes"]
    if mode == "static":
        report["calibration_samples"] = min(CALIBRATION_SAMPLES, len(data.train))
    if data is not None:
        def run(session):
            return lambda x: session.run(None, {inp.name: fit(x).numpy()})[0]
        try:                                             # (read a batch at a time: a file may fail now)
            p32, p8 = data.predictions(run(ref)), data.predictions(run(q))
        except DataError as exc:
            raise ExportError(f"the validation samples that check the int8 model cannot be read: {exc}") from None
        acc32 = float((p32 == data.val_y).double().mean())      # (labels remembered from the pass above)
        acc8 = float((p8 == data.val_y).double().mean())
        report.update(dataset=data.dataset, split="validation", samples=len(data), fp32_accuracy=acc32,
                      int8_accuracy=acc8, accuracy_drop_points=(acc32 - acc8) * 100,
                      top1_agreement=float((p32 == p8).double().mean()))
        sample_source = fit(data.samples(TIMING_SAMPLES))       # a pool for timing, not the whole split
    else:
        report.update(fp32_accuracy=None, int8_accuracy=None, accuracy_drop_points=None, top1_agreement=None,
                      unverified_reason="the data set could not be loaded")
        sample_source = src.probe(32, seed=2)

    def sample(batch):
        reps = -(-batch // len(sample_source))
        return sample_source.repeat(reps, *([1] * (sample_source.dim() - 1)))[:batch].numpy()
    report["latency_ms"] = {"threads": threads, "fp32": onnx_latency(ref, sample),
                            "int8": onnx_latency(q, sample)}
    drop = report["accuracy_drop_points"]
    report["flagged"] = drop is not None and drop > FLAG_DROP_POINTS
    return report
