"""torch and torch.nn's classes named without importing torch.

The block registry, the document and the file format are what the window needs to draw a graph; they
must load in a few milliseconds, before torch (about a second and a half of imports). The registry
therefore names each kind's module class with a `ModuleRef`, which imports the class the first time
something builds, inspects or calls it (analysis, the compiler, an importer), and `torch` here is a
stand-in that imports the real package on first attribute access (e.g. `torch.cat` inside a forward).

    from .lazy_torch import nn, torch
    nn.Conv2d                  # ModuleRef("torch.nn", "Conv2d"): no import yet
    nn.Conv2d(1, 6, 5)         # imports torch.nn, then constructs torch.nn.Conv2d(1, 6, 5)
"""
from __future__ import annotations

import importlib
import inspect
import sys
import threading


class ModuleRef:
    """Stands for the callable `name` of module `where` (a torch.nn class, or a Layerloom factory) and
    behaves like it once called: it is imported on first use."""

    def __init__(self, where: str, name: str):
        self.where, self.__name__, self.__qualname__ = where, name, name
        self._target = None

    def resolve(self):
        if self._target is None:
            self._target = getattr(importlib.import_module(self.where), self.__name__)
        return self._target

    def __call__(self, *args, **kwargs):
        return self.resolve()(*args, **kwargs)

    @property
    def __signature__(self) -> inspect.Signature:    # inspect.signature(ref) is the class's signature
        return inspect.signature(self.resolve())

    def __eq__(self, other) -> bool:
        if isinstance(other, ModuleRef):
            return (self.where, self.__name__) == (other.where, other.__name__)
        return self._target is not None and other is self._target

    def __hash__(self) -> int:
        return hash((self.where, self.__name__))

    def __repr__(self) -> str:
        return f"ModuleRef({self.where}.{self.__name__})"


def resolved(factory):
    """The class or function itself for a ModuleRef (anything else is returned as it is)."""
    return factory.resolve() if isinstance(factory, ModuleRef) else factory


class _NN:
    """`nn.Conv2d` is ModuleRef("torch.nn", "Conv2d")."""

    def __getattr__(self, name: str) -> ModuleRef:
        if name.startswith("_"):
            raise AttributeError(name)
        return ModuleRef("torch.nn", name)


class _Torch:
    """`torch.cat` imports torch and returns torch.cat."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(import_or_explain("torch"), name)


nn = _NN()
torch = _Torch()


def torch_loaded() -> bool:
    """Whether torch has been imported in this process (by anything)."""
    return "torch" in sys.modules


_DYNAMO_LOCK = threading.Lock()


def import_dynamo() -> None:
    """Import torch._dynamo (with the parts of torch._inductor it brings) in this thread, one thread at a
    time. torch imports it lazily on first use: at an optimizer's first step, at the import of its
    memory tracker, in torch.export. Those first uses happen in several of Layerloom's threads (a run,
    the memory estimate, Step mode, an export), and two threads importing that package's circular
    modules at once can each hold half of the cycle: one then fails with "cannot import name … from
    partially initialized module". Each of those paths calls this first; once the package is whole it
    costs a dictionary look-up."""
    if imported("torch._dynamo"):
        return
    with _DYNAMO_LOCK:
        importlib.import_module("torch._dynamo")


def imported(name: str) -> bool:
    """Whether module `name` has been imported completely (not merely begun, in this or another thread)."""
    module = sys.modules.get(name)
    return module is not None and not getattr(getattr(module, "__spec__", None), "_initializing", False)


class LibraryUnavailable(RuntimeError):
    """A library that analysis, training and export need could not be imported (a broken or partial
    install, a missing shared library, mismatched versions): the message says which, why, and what to do;
    `library` names it."""

    def __init__(self, message: str, library: str = "PyTorch"):
        super().__init__(message)
        self.library = library


REINSTALL = ("Reinstall it in the Python environment Layerloom runs in; in a Layerloom checkout, “make clean” "
             "and then “make run” set it up again.")


def import_or_explain(module: str, library: str = "PyTorch"):
    """Import `module` (torch, or a module of Layerloom's that imports it) and return it, or raise
    LibraryUnavailable (see `explained`)."""
    try:
        return importlib.import_module(module)
    except Exception as exc:  # ImportError, an OSError from a shared library, a version check's RuntimeError
        problem = explained(exc, library, importing_torch=module.partition(".")[0] == "torch")
        if problem is None:
            raise
        raise problem from exc


def explained(exc: BaseException, library: str = "PyTorch", importing_torch: bool = False):
    """A LibraryUnavailable saying which library could not be loaded and why, in one paragraph, when `exc`
    (raised by an import) is a library's fault, else None. `library` names it where the error names no
    missing module (a library's own import that fails). An ImportError is a library's fault unless the
    module it could not find is Layerloom's own; an OSError only when it was raised while importing (a
    shared library); any other error only while importing torch itself (`importing_torch`)."""
    missing = getattr(exc, "name", None) if isinstance(exc, ImportError) else None
    top = missing.partition(".")[0] if missing else None
    if top == "layerloom":
        return None
    if isinstance(exc, OSError) and not isinstance(exc, ImportError) and not _while_importing(exc):
        return None
    if not isinstance(exc, (ImportError, OSError)) and not importing_torch:
        return None
    top = top or _raised_in(exc) or library
    name = "PyTorch" if top == "torch" else top
    why = " ".join(f"{type(exc).__name__}: {exc}".split())
    why = why if len(why) <= 300 else why[:299] + "…"
    return LibraryUnavailable(f"{name} could not be loaded ({why}). {REINSTALL}", name)


def _raised_in(exc: BaseException) -> str | None:
    """The installed package whose code raised `exc`: the first folder, under its entry of sys.path, of the
    deepest frame that is neither Python's own library nor Layerloom's."""
    import os
    import sysconfig
    own = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))     # Layerloom's root folder
    stdlib = os.path.realpath(sysconfig.get_paths()["stdlib"])
    roots = sorted({os.path.realpath(p) for p in sys.path if p and os.path.isdir(p)}, key=len, reverse=True)
    found, tb = None, exc.__traceback__
    while tb is not None:
        path = os.path.realpath(tb.tb_frame.f_code.co_filename)
        tb = tb.tb_next
        if path.startswith(own + os.sep) or (path.startswith(stdlib + os.sep) and "-packages" not in path):
            continue
        root = next((r for r in roots if path.startswith(r + os.sep)), None)
        if root is not None:
            found = path[len(root) + 1:].split(os.sep)[0].removesuffix(".py")
    return found


def _while_importing(exc: BaseException) -> bool:
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        tb = tb.tb_next
    return False
