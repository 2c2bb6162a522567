"""Peak training memory, estimated before training: how much a batch size, optimizer and device need.

    est = estimate_training_memory(doc, batch_size=64, optimizer="adam", device="cpu")
    est.peak_bytes, est.categories["activations"], est.blocks["conv1"]["peak"]

Method: the compiled model runs two training steps on fake tensors (`FakeTensorMode`: shapes and
storages, no data, no compute) under PyTorch's `MemTracker`, with `reset_mod_stats()` between the
steps so that the second step sees the optimizer state the first one created. On CPU this matches
a real run's tracked peak exactly for convolutional and linear networks. Two corrections:

- On CPU, an LSTM's oneDNN kernel keeps a workspace for backward that fake tensors do not see
  (about 15.5 x T x N x H x 4 bytes per layer). Each recurrent block is probed: its real module
  runs once on zero inputs of the real size (or a capped batch, scaled) and the workspace the
  kernel returns is measured and added.
- On CUDA, `max_memory_allocated` excludes the CUDA context and the caching allocator's slack:
  `device_bytes` adds a context allowance and a reserve margin (`cuda_overheads`). These figures
  could not be checked on a GPU here; they are allowances, not measurements.

MemTracker is private API (`torch.distributed._tools`): when it is missing or fails, the estimate
falls back to `analytic_estimate` (exact for parameters, gradients and optimizer state; activations
from the analysed output shapes) and says so in `method`.
"""
from __future__ import annotations

import functools
import math
import threading
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

from layerloom.graph.lazy_torch import import_dynamo

CATEGORY_KEYS = ("parameters", "buffers", "gradients", "optimizer_state", "activations", "temporaries",
                 "inputs")
MIB = 1 << 20
CUDA_CONTEXT_BYTES = 400 * MIB      # allowance for the CUDA context + kernels (not in max_memory_allocated)
CUDA_RESERVE_FRACTION = 0.10        # caching allocator slack and fragmentation
CUDA_RESERVE_MIN = 64 * MIB
WORKSPACE_PROBE_ELEMENTS = 1 << 22  # a recurrent probe above this many T x N x H elements runs on a smaller batch


class MemoryEstimateError(ValueError):
    """The graph cannot be estimated (it does not compile, or the settings are unusable)."""


class EstimateCancelled(Exception):
    """The estimate was given up (see `cancellable`)."""


_cancel = threading.local()


@contextmanager
def cancellable(cancelled):
    """Estimates made in this thread inside the block stop with EstimateCancelled at their next phase
    (each estimate, the recurrent probe, each step of the largest-batch search) once `cancelled()`
    turns True. A phase is not interrupted: an exception raised under MemTracker and fake tensors
    in the middle of an operation can abort the process."""
    _cancel.check = cancelled
    try:
        yield
    finally:
        _cancel.check = None


def _stop_if_cancelled() -> None:
    check = getattr(_cancel, "check", None)
    if check is not None and check():
        raise EstimateCancelled()


@dataclass
class MemoryEstimate:
    peak_bytes: int                            # tensors alive at the peak of a training step
    categories: dict                           # CATEGORY_KEYS -> bytes at the peak
    blocks: dict                               # block id -> {"parameters", "activations", "peak"} in bytes
    batch_size: int
    optimizer: str
    device: str
    method: str                                # "memtracker" or "analytic"
    device_bytes: int = 0                      # peak plus device overheads (CUDA context, reserve)
    overheads: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    def to_json(self) -> dict:
        data = asdict(self)
        data["categories"] = {k: int(self.categories.get(k, 0)) for k in CATEGORY_KEYS}
        return data


# -- the fake-tensor estimate ----------------------------------------------------------------------

def _input_spec(doc, analysis):
    inputs = [b for b in doc.blocks.values() if b.kind == "Input"]
    outputs = [b for b in analysis.order if doc.blocks[b].kind == "Output"]
    if len(inputs) != 1 or len(outputs) != 1:
        raise MemoryEstimateError("a memory estimate needs exactly one Input and one Output block")
    params = inputs[0].full_params()
    out_shape = analysis.blocks[outputs[0]].output_shape
    if out_shape is None or len(out_shape) != 1:
        raise MemoryEstimateError("a memory estimate needs a classifier: the Output must receive one score "
                                  "per class per sample")
    return tuple(params["shape"]), params.get("dtype", "float32"), int(out_shape[0])


def _make_optimizer(name: str, params):
    import torch
    import_dynamo()           # its first step imports torch._dynamo: one thread at a time
    if name == "sgd":
        return torch.optim.SGD(params, lr=1e-3, momentum=0.9)
    if name == "sgd-nomomentum":
        return torch.optim.SGD(params, lr=1e-3)
    if name == "adam":
        return torch.optim.Adam(params, lr=1e-3)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=1e-3)
    raise MemoryEstimateError(f"unknown optimizer {name!r}: use sgd, adam or adamw")


def make_batch(shape, dtype: str, batch_size: int, device="cpu"):
    """An input batch and labels of the training shapes (zeros; under FakeTensorMode, fakes)."""
    import torch
    x = torch.zeros((batch_size, *shape), dtype=getattr(torch, dtype), device=device)
    y = torch.zeros((batch_size,), dtype=torch.int64, device=device)
    return x, y


def training_steps(model, optimizer, x, y, tracker, loss: str = "cross_entropy", steps: int = 2) -> None:
    """The Trainer's step, `steps` times, inside `tracker` (a MemTracker), resetting its module
    statistics after the first step so the recorded module peaks are the steady-state ones."""
    import torch
    with tracker:
        confine_to_this_thread(tracker)
        for i in range(steps):
            logits = model(x)
            if loss == "mse":
                target = torch.nn.functional.one_hot(y, logits.shape[1]).to(logits.dtype)
                value = torch.nn.functional.mse_loss(logits, target)
            else:
                value = torch.nn.functional.cross_entropy(logits, y)
            optimizer.zero_grad(set_to_none=True)
            value.backward()
            optimizer.step()
            del logits, value
            if i == 0:
                tracker.reset_mod_stats()


def confine_to_this_thread(tracker) -> None:
    """Make an entered MemTracker's global hooks act only in the calling thread.

    MemTracker hooks every module's forward and every optimizer's step in the process. The app
    estimates in a worker thread while the GUI thread analyses (module calls on meta tensors) and
    other threads may train: their calls would be counted, or break the tracker's module
    bookkeeping ("The Module hierarchy tracking is wrong") in the middle of their own work."""
    owner = threading.get_ident()
    mod_tracker = getattr(tracker, "_mod_tracker", None)
    handles = [getattr(mod_tracker, name, None) for name in ("_fw_pre_handle", "_fw_post_handle")]
    handles += list(getattr(tracker, "_optimizer_hook_handles", None) or ())
    for handle in handles:
        hooks = handle.hooks_dict_ref() if hasattr(handle, "hooks_dict_ref") else None
        if hooks is None or handle.id not in hooks:
            continue
        hook = hooks[handle.id]

        @functools.wraps(hook)
        def only_here(*args, _hook=hook, **kwargs):
            return _hook(*args, **kwargs) if threading.get_ident() == owner else None

        hooks[handle.id] = only_here


class _NoHook:
    def remove(self) -> None:
        pass


def skip_frozen(tracker, model) -> None:
    """MemTracker hooks every parameter's gradient, and a frozen parameter (requires_grad off) refuses a hook:
    mark those as hooked already (they never get a gradient, so there is nothing to track)."""
    handles = getattr(tracker, "_param_to_grad_hook_handles", None)
    if handles is None:
        return
    for p in model.parameters():
        if not p.requires_grad:
            handles[p] = (_NoHook(), _NoHook())


def _categories(snapshot: dict) -> dict:
    by_name = {getattr(k, "value", k): int(v) for k, v in snapshot.items()}
    return {"parameters": by_name.get("Parameter", 0), "buffers": by_name.get("Buffer", 0),
            "gradients": by_name.get("Gradient", 0), "optimizer_state": by_name.get("Optstate", 0),
            "activations": by_name.get("Activation", 0), "temporaries": by_name.get("Temp", 0),
            "inputs": by_name.get("Other", 0)}


def _tracked_estimate(doc, analysis, batch_size, optimizer, loss, fake_device: str):
    import_dynamo()           # the memory tracker's import brings torch._dynamo: one thread at a time
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.distributed._tools.mem_tracker import MemTracker

    from layerloom.graph import compile_graph

    from .freezing import freeze, frozen_blocks

    shape, dtype, _ = _input_spec(doc, analysis)
    with FakeTensorMode(allow_non_fake_inputs=False):
        model = compile_graph(doc, analysis)
        if fake_device != "cpu":
            model = model.to(fake_device)
        freeze(model, frozen_blocks(doc))         # as the trainer does: no gradients, no optimizer state for them
        opt = _make_optimizer(optimizer, [p for p in model.parameters() if p.requires_grad])
        x, y = make_batch(shape, dtype, batch_size, fake_device)
        tracker = MemTracker()
        skip_frozen(tracker, model)
        tracker.track_external(model, opt, x, y)
        training_steps(model, opt, x, y, tracker, loss)
    peak = tracker.get_tracker_snapshot("peak")
    if not peak:
        raise RuntimeError("MemTracker recorded no memory")
    dev_snap = next(iter(peak.values()))
    total = int(dev_snap.get("Total", sum(v for k, v in dev_snap.items() if k != "Total")))
    names = {module: name for name, module in model.named_children()}
    blocks = {}
    for module, stats in tracker.memory_tracking.items():
        bid = names.get(module)
        if bid is None:
            continue
        local = max(stats.local_peak.values(), default=0)
        blocks[bid] = {"parameters": int(getattr(stats, "parameter_mem", 0) + getattr(stats, "buffer_mem", 0)),
                       "activations": int(getattr(stats, "output_mem", 0)), "peak": int(local)}
    return total, _categories(dev_snap), blocks


# -- corrections -----------------------------------------------------------------------------------

def recurrent_workspace(doc, analysis, batch_size: int) -> dict[str, int]:
    """Bytes of CPU workspace each recurrent block's kernel keeps for backward, by block id.

    Measured, not modelled: the block's real module runs once (zeros, training mode) under a
    dispatch mode that records the workspace output of the fused kernel (`mkldnn_rnn_layer`)."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    from layerloom.graph.blocks import get_kind

    class _Workspace(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.bytes = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if "mkldnn_rnn" in str(func) and isinstance(out, (tuple, list)) and len(out) >= 4:
                last = out[-1]
                if isinstance(last, torch.Tensor):
                    self.bytes += last.untyped_storage().nbytes()
            return out

    found = {}
    for bid in analysis.order:
        block = doc.blocks[bid]
        kind = get_kind(block.kind)
        result = analysis.blocks[bid]
        if kind.module is None or not result.ok or not result.input_shapes:
            continue
        module = kind.module(**kind.module_kwargs(result.params))
        if not isinstance(module, torch.nn.RNNBase):
            continue
        in_shape = tuple(result.input_shapes[0])
        per_sample = math.prod(in_shape[:-1]) * module.hidden_size
        probe = max(1, min(batch_size, WORKSPACE_PROBE_ELEMENTS // max(per_sample, 1)))
        recorder = _Workspace()
        x = torch.zeros((probe, *in_shape), requires_grad=True)
        with torch.enable_grad(), recorder:
            module(x)
        if recorder.bytes:
            found[bid] = int(recorder.bytes * batch_size / probe) if probe != batch_size else recorder.bytes
    return found


def cuda_overheads(peak_bytes: int) -> dict:
    """Device memory beyond the tensors (allowances: the CUDA context and the allocator's reserve)."""
    return {"cuda_context": CUDA_CONTEXT_BYTES,
            "reserve": max(CUDA_RESERVE_MIN, int(peak_bytes * CUDA_RESERVE_FRACTION))}


# -- the analytic fallback -------------------------------------------------------------------------

def analytic_estimate(doc, analysis, batch_size: int, optimizer: str = "adam"):
    """Parameters, gradients and optimizer state counted exactly (from the modules built on the
    meta device); activations as the sum of every block's output over the batch (roughly what
    backward keeps), temporaries as the largest output."""
    import torch

    from layerloom.graph.compiler import build_modules

    shape, dtype, _ = _input_spec(doc, analysis)
    modules = build_modules(doc, analysis, "meta")
    params = [p for m in modules.values() for p in m.parameters()]
    param_bytes = sum(p.numel() * p.element_size() for p in params)
    frozen = {id(p) for bid, m in modules.items() if bid in doc.blocks and not doc.blocks[bid].trainable
              for p in m.parameters()}
    trainable = [p for p in params if p.requires_grad and id(p) not in frozen]
    grad_bytes = sum(p.numel() * p.element_size() for p in trainable)
    buffer_bytes = sum(b.numel() * b.element_size() for m in modules.values() for b in m.buffers())
    if optimizer in ("adam", "adamw"):   # exp_avg, exp_avg_sq and a float32 step counter per tensor
        opt_bytes = 2 * grad_bytes + 4 * len(trainable)
    elif optimizer == "sgd":             # the momentum buffer
        opt_bytes = grad_bytes
    else:
        opt_bytes = 0
    blocks, outputs = {}, []
    for bid in analysis.order:
        r = analysis.blocks[bid]
        if not r.ok or r.output_shape is None or doc.blocks[bid].kind in ("Input", "Output"):
            continue
        out = 4 * batch_size * math.prod(r.output_shape)
        outputs.append(out)
        own = sum(p.numel() * p.element_size() for p in modules[bid].parameters()) if bid in modules else 0
        blocks[bid] = {"parameters": own, "activations": out, "peak": 0}
    element = torch.empty((), dtype=getattr(torch, dtype), device="meta").element_size()
    categories = {"parameters": param_bytes, "buffers": buffer_bytes, "gradients": grad_bytes,
                  "optimizer_state": opt_bytes, "activations": sum(outputs), "temporaries": max(outputs, default=0),
                  "inputs": batch_size * math.prod(shape) * element + 8 * batch_size}
    return sum(categories.values()), categories, blocks


def _memtracker_available() -> bool:
    try:
        import_dynamo()
        from torch.distributed._tools.mem_tracker import MemTracker  # noqa: F401
        from torch._subclasses.fake_tensor import FakeTensorMode  # noqa: F401
    except Exception:
        return False
    return all(hasattr(MemTracker, name) for name in ("track_external", "reset_mod_stats", "get_tracker_snapshot"))


# -- the entry points ------------------------------------------------------------------------------

def estimate_training_memory(doc, batch_size: int, optimizer: str = "adam", device: str = "cpu",
                             analysis=None, data: dict | None = None, loss: str = "cross_entropy",
                             use_tracker: bool = True) -> MemoryEstimate:
    """Peak memory of one training step at `batch_size` with `optimizer` on `device` ("cpu",
    "cuda", "cuda:N", "mps"). `data` fills "auto" parameters as the data set would."""
    from layerloom.graph import analyze

    from .config import MAX_BATCH
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= MAX_BATCH:
        raise MemoryEstimateError(f"the batch size must be a whole number from 1 to {MAX_BATCH:,} (the largest "
                                  f"a run takes), not {batch_size!r}")
    if optimizer not in ("sgd", "sgd-nomomentum", "adam", "adamw"):
        raise MemoryEstimateError(f"unknown optimizer {optimizer!r}: use sgd, adam or adamw")
    analysis = analysis or analyze(doc, data)
    if analysis.errors:
        raise MemoryEstimateError("the graph has errors; fix them before estimating its memory: "
                                  + "; ".join(d.text for d in analysis.errors))
    device_type = str(device).split(":")[0]
    notes, method = [], "memtracker"
    _stop_if_cancelled()
    result = None
    if use_tracker and _memtracker_available():
        fake_device = "cpu"
        if device_type == "cuda" and cuda_available():
            fake_device = str(device)
        try:
            result = _tracked_estimate(doc, analysis, batch_size, optimizer, loss, fake_device)
        except (MemoryEstimateError, EstimateCancelled):
            raise
        except Exception as exc:   # private API: any change in it falls back rather than failing
            notes.append(f"MemTracker failed ({type(exc).__name__}: {exc}); estimated analytically")
            if fake_device != "cpu":
                try:
                    result = _tracked_estimate(doc, analysis, batch_size, optimizer, loss, "cpu")
                    notes[-1] = "fake CUDA tensors failed; estimated with fake CPU tensors"
                except Exception:
                    result = None
    elif use_tracker:
        notes.append("MemTracker is not available in this PyTorch; estimated analytically")
    if result is None:
        method = "analytic"
        result = analytic_estimate(doc, analysis, batch_size, optimizer)
    peak, categories, blocks = result
    if device_type == "cpu" and method == "memtracker":
        _stop_if_cancelled()
        for bid, extra in recurrent_workspace(doc, analysis, batch_size).items():
            peak += extra
            categories["activations"] += extra
            entry = blocks.setdefault(bid, {"parameters": 0, "activations": 0, "peak": 0})
            entry["activations"] += extra
            entry["peak"] += extra
            notes.append(f"{bid}: adds {extra:,} bytes of recurrent-kernel workspace")
    overheads = cuda_overheads(peak) if device_type == "cuda" else {}
    return MemoryEstimate(peak_bytes=int(peak), categories=categories, blocks=blocks, batch_size=batch_size,
                          optimizer=optimizer, device=str(device), method=method,
                          device_bytes=int(peak + sum(overheads.values())), overheads=overheads, notes=notes)


def cuda_available() -> bool:
    """Whether a CUDA GPU can be used here (False when torch cannot say)."""
    try:
        import torch
        return torch.cuda.is_available()
    except Exception:
        return False
