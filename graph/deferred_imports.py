"""Keep the first analysis from importing TorchDynamo and TorchInductor (about 340 modules).

PyTorch marks some functions "never trace me" with `torch._disable_dynamo`: every
`TorchDispatchMode.__torch_dispatch__` (FlopCounterMode's, which counts every block's MACs), and some
reference and meta functions. Its wrapper imports `torch._dynamo` on the function's first call, to
build the marker, even when nothing is being traced. Nothing can be traced before `torch._dynamo` is
imported (Dynamo is the tracer), so until then the marked function can simply run; once Dynamo is
imported, the first call builds the real marker and every later call uses it, exactly as before.

`install()` makes that so for functions marked from now on (the decorator is replaced where PyTorch
looks it up: `torch._disable_dynamo` and `torch._compile._disable_dynamo`) and for those already made
that analysis reaches (see `_marked_already`; a scan of every live object would cost seconds).
graph/analysis.py installs it before it imports FlopCounterMode. It changes no result: the marked
function runs either way.

`flop_counter()` imports FlopCounterMode without Triton (about 80 ms before the first shapes): its
module imports Triton's `JITFunction` only so that a flop formula can be registered for a Triton
kernel, which nothing in Layerloom does and analysis on the meta device never runs. Only the importing
thread is refused Triton, and only while that one module loads; a Triton imported later (by
torch.compile) is untouched.

SymPy (about 480 modules) still comes: PyTorch's meta kernels (a convolution's output shape) import
its symbolic-shapes module on every call, and that imports SymPy.
"""
from __future__ import annotations

import functools
import logging
import sys
import threading

FLOP_COUNTER = "torch.utils.flop_counter"

_installed = False


def _dynamo_ready() -> bool:
    """Whether TorchDynamo is imported and finished initialising. While another thread is still
    importing it (it is in sys.modules from the start of that import) the marked function runs as
    itself: importing it from a second thread then could meet half-initialised modules of its circle
    of imports ("cannot import name …")."""
    module = sys.modules.get("torch._dynamo")
    if module is None:
        return False
    return not getattr(getattr(module, "__spec__", None), "_initializing", False)


def _deferred(fn, recursive: bool):
    """What the marker's wrapper calls instead of building the marker: `fn` itself until Dynamo is
    imported, then the real marker (built once and kept on `fn`, where the wrapper looks)."""
    def call(*args, **kwargs):
        if not _dynamo_ready():
            return fn(*args, **kwargs)
        import torch._dynamo

        real = torch._dynamo.disable(fn, recursive, wrapping=False)
        setattr(fn, "__dynamo_disable", real)
        return real(*args, **kwargs)
    return call


ALREADY_MARKED_IN = ("torch._refs", "torch._prims", "torch._decomp", "torch.utils.flop_counter")


def _marked_already(code):
    """Wrappers made before install() that a meta-device analysis calls: the reference and meta
    functions of torch._refs / _prims / _decomp and FlopCounterMode's dispatch (a scan of these
    modules' namespaces and classes, not of every live object)."""
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith(ALREADY_MARKED_IN):
            continue
        for value in list(vars(module).values()):
            candidates = list(vars(value).values()) if isinstance(value, type) else [value]
            for obj in candidates:
                for _ in range(8):                 # through decorators that wrap the marked function
                    if getattr(obj, "__code__", None) is code and obj.__closure__:
                        yield obj
                    obj = getattr(obj, "__wrapped__", None)
                    if obj is None:
                        break


def install() -> int:
    """Defer the Dynamo import of `torch._disable_dynamo`; returns how many already-marked functions were
    changed. Safe to call more than once; does nothing where PyTorch's wrapper is not as expected."""
    global _installed
    import torch
    import torch._compile as compile_module

    original = getattr(compile_module, "_disable_dynamo", None)
    if _installed or original is None:
        return 0
    probe = original(lambda: None)
    code = getattr(probe, "__code__", None)
    if code is None or not {"fn", "recursive"} <= set(code.co_freevars):
        return 0                                   # another PyTorch: leave it alone

    @functools.wraps(original)
    def disable_dynamo(fn=None, recursive=True):
        if fn is None:
            return functools.partial(disable_dynamo, recursive=recursive)
        wrapper = original(fn, recursive)
        if getattr(fn, "__dynamo_disable", None) is None:
            try:
                setattr(fn, "__dynamo_disable", _deferred(fn, recursive))
            except (AttributeError, TypeError):
                pass
        return wrapper

    compile_module._disable_dynamo = disable_dynamo
    torch._disable_dynamo = disable_dynamo
    found = 0
    for wrapper in _marked_already(code):
        cells = dict(zip(code.co_freevars, (c.cell_contents for c in wrapper.__closure__)))
        fn = cells.get("fn")
        if fn is not None and getattr(fn, "__dynamo_disable", None) is None:
            try:
                setattr(fn, "__dynamo_disable", _deferred(fn, cells.get("recursive", True)))
            except (AttributeError, TypeError):
                continue
            found += 1
    _installed = True
    return found


class _NoTritonInThisThread:
    """A meta-path finder that refuses `triton` to one thread; every other thread imports as usual."""

    def __init__(self):
        self.thread = threading.get_ident()

    def find_spec(self, name, path=None, target=None):
        if (name == "triton" or name.startswith("triton.")) and threading.get_ident() == self.thread:
            raise ModuleNotFoundError(f"No module named {name!r} (not while {FLOP_COUNTER} loads)", name=name)
        return None


def flop_counter():
    """`torch.utils.flop_counter`, imported without Triton when neither is imported yet (see the
    module's text). Its one use of Triton, registering a flop formula for a Triton kernel, then raises
    ValueError; counting aten operators, all analysis does, is the same."""
    module = sys.modules.get(FLOP_COUNTER)
    if module is not None or "triton" in sys.modules:
        import torch.utils.flop_counter
        return torch.utils.flop_counter
    finder = _NoTritonInThisThread()
    log = logging.getLogger(FLOP_COUNTER)      # it warns that Triton is missing where torch has CUDA
    was_disabled, log.disabled = log.disabled, True
    sys.meta_path.insert(0, finder)
    try:
        import torch.utils.flop_counter
    finally:
        sys.meta_path.remove(finder)
        log.disabled = was_disabled
    return torch.utils.flop_counter
