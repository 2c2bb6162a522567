"""Opaque blocks: a module Layerloom has no block kind for, kept as data and run as itself.

An Opaque block stores where its module's class lives and how to construct it, never the module:

    target   "package.module:Class" (importable) or "/path/to/model.py:Class" (a Python file)
    args     constructor arguments as JSON; {"$class": "torch.nn:BatchNorm2d"} stands for a class
    kwargs   constructor keyword arguments, the same way
    origin   where it came from, in words ("model.py:Net, submodule gate: data-dependent control flow")

It compiles to a `call_module` like any other block, so the compiled module's state_dict holds its
weights under `<block id>.<name>`, and analysis shows its shapes (on meta tensors, or once on real
zeros when the module's code looks at values).

Code runs only where the person asked for it: classes from torch, torchvision and Layerloom are
always allowed; another package or a Python file only once allowed, in this process (`allow_code`) or
in the record of allowed code kept between runs (graph/trust.py: a file for the content that was
allowed, a package by its name). `layerloom import` and the app's import record the file they were
asked to import; `--trust-code` on a command, or "Run its code" when the app opens the graph, allows and
records the rest. A file changed since it was allowed is refused, in words, until allowed again.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path

from .blocks import BlockKind, register
from .lazy_torch import torch
from .problems import BlockProblem
from .params import MAX_TEXT, Param
from .quoting import py_literal, shown
from . import trust

TRUSTED_PACKAGES = ("torch", "torchvision", "layerloom")
_ALLOWED: dict[str, str | None] = {}   # allowed in this process: resolved file path -> sha-256 of its content
                                       # that was allowed; package name -> None
_FILE_MODULES: dict[str, object] = {}
_FILE_OF_MODULE: dict[str, str] = {}   # synthetic module name -> the Python file it was loaded from
_RAN: dict[str, str] = {}              # resolved file path -> sha-256 of the content that ran
_TRUST_RUN = False                     # `--trust-code`: code a graph of this run names is allowed (and recorded)
REAL_RUN_BYTES = 2 * 2**30   # weights and inputs of the one run on real zeros that finds a shape


class OpaqueError(BlockProblem):
    """An Opaque block whose module cannot be found, trusted or constructed; the message says why. It is one
    printable line: a target, path or error text from a file (a class called "Net\\x1b[2J\\n...") is escaped."""

    code = "opaque"

    def __init__(self, message: str = ""):
        super().__init__(shown(str(message), MAX_TEXT))


def allow_code(where: str) -> None:
    """Allow Opaque blocks to run code from a package (by name) or a Python file (by path: its content now)
    in this process."""
    key = _key(where)
    _ALLOWED[key] = _digest_of(key) if key.endswith(".py") else None


def remember_code(where: str) -> None:
    """Allow `where` (as `allow_code`) and record it for later runs (graph/trust.py): a file with the hash of
    the content that ran in this process, else of its content now. Raises trust.TrustRecordError."""
    key = _key(where)
    if not key.endswith(".py"):
        _ALLOWED[key] = None
        trust.remember_package(key)
        return
    digest = _RAN.get(key) or _digest_of(key)
    if digest is not None:
        _ALLOWED[key] = digest
        trust.remember_file(key, digest)


def remember_import(source: str) -> str | None:
    """After `layerloom import SOURCE` (or the app's import): record the Python file it ran, so that later
    runs may run its Opaque blocks. None, or why the record could not be written."""
    where = str(source).rpartition(":")[0]
    if not where.endswith(".py"):
        return None
    try:
        remember_code(where)
    except OSError as exc:
        return f"{exc}; later commands need --trust-code to run its Opaque blocks"
    return None


def trust_code_for_run() -> None:
    """`--trust-code`: the Opaque blocks of what this run loads may run code from any file or package; each
    one that runs is recorded as allowed."""
    global _TRUST_RUN
    _TRUST_RUN = True


def _record(remember, *args) -> None:
    """Record an allowance made by `--trust-code`; one that cannot be written still holds for this run."""
    try:
        remember(*args)
    except OSError:
        pass


def allow_for_run(doc) -> None:
    """Under `--trust-code`: allow and record now what `doc`'s Opaque blocks would run (so that the
    processes a command starts, which read the record, may run it too). Nothing otherwise."""
    if not _TRUST_RUN:
        return
    for where, _why in code_to_allow(doc):
        _ALLOWED[where] = _digest_of(where) if where.endswith(".py") else None
        if where.endswith(".py"):
            if _ALLOWED[where] is not None:
                _record(trust.remember_file, where, _ALLOWED[where])
        else:
            _record(trust.remember_package, where)


def _key(where: str) -> str:
    return str(Path(where).resolve()) if where.endswith(".py") else where


def _digest_of(path: str) -> str | None:
    try:
        return trust.sha256(Path(path).read_bytes())
    except OSError:
        return None


def split_target(target: str) -> tuple[str, str]:
    where, sep, qualname = str(target).rpartition(":")
    if not sep or not where or not qualname:
        raise OpaqueError(f'Opaque target "{target}" must read "package.module:Class" or "path/to/file.py:Class"')
    return where, qualname


def is_trusted(where: str, digest: str | None = None) -> bool:
    return _refusal(where, digest) is None


def _module_refusal(where: str) -> str | None:
    """Why the module path `where` is never one an Opaque block imports, whatever is allowed: a `__main__`
    part is a program (importing it runs it: "torch.utils.model_dump.__main__" starts torch's model viewer)."""
    if "__main__" in where.split("."):
        return (f"this Opaque block names the module {where}, a program's __main__: importing it would run that "
                "program; name the module that defines the class")
    return None


def _private_part(where: str) -> str | None:
    """The first part of the module path `where` after its package that starts with "_" (a private module,
    "torch._dynamo"), or None."""
    return next((p for p in where.split(".")[1:] if p.startswith("_")), None)


def _refusal(where: str, digest: str | None = None) -> str | None:
    """Why code from `where` may not run, or None when it may. `digest`: the hash of the file's content
    that would run (else its content now). torch, torchvision and Layerloom are trusted for their public
    modules only: text in a graph file may not pick their private modules or programs to import."""
    key = _key(where)
    if not key.endswith(".py"):
        parts = key.split(".")
        never = _module_refusal(key)
        if never:
            return never
        if any(".".join(parts[:n]) in _ALLOWED for n in range(1, len(parts) + 1)) or trust.package_recorded(key):
            return None
        private = _private_part(key)
        if parts[0] in TRUSTED_PACKAGES and private is None:
            return None
        if parts[0] in TRUSTED_PACKAGES:
            return (f"this Opaque block runs code from {where}, a private module of {parts[0]} ({private}); Layerloom "
                    f"runs only {parts[0]}'s public modules without being asked: name the class where {parts[0]} "
                    "makes it public (such as torch.nn:Linear), or allow the module with --trust-code")
        return (f"this Opaque block runs code from the package {where}; Layerloom runs a person's own code only "
                "when asked: allow the package with --trust-code (a package is allowed by its name, whatever "
                "version is installed; it has no one content to check)")
    digest = digest or _digest_of(key)
    allowed = [h for h in (_ALLOWED.get(key), trust.recorded_hash(key)) if h]
    if digest is not None and digest in allowed:
        return None
    if allowed and digest is not None:
        return (f"{Path(key).name} changed since it was allowed: {key}; import it again or allow it with "
                "--trust-code (Layerloom runs only the content that was allowed)")
    return (f"this Opaque block runs code from the file {key}; Layerloom runs a person's own code only when asked: "
            "import the model again, or allow it with --trust-code")


def code_to_allow(doc) -> list[tuple[str, str]]:
    """What the Opaque blocks of `doc` would run that is not allowed: [(file path or package, why)], each
    once. A file that is not there, or a program's __main__, is left out (nothing would run; analysis says why)."""
    found: dict[str, str] = {}
    for block in doc.blocks.values():
        if block.kind != "Opaque":
            continue
        targets = [block.params.get("target", "")]
        _class_targets(block.params.get("args"), targets)
        _class_targets(block.params.get("kwargs"), targets)
        for target in targets:
            where = str(target).rpartition(":")[0]
            if not where or _key(where) in found or (where.endswith(".py") and not Path(where).is_file()):
                continue
            if not where.endswith(".py") and _module_refusal(where):
                continue      # never runs, allowed or not: analysis says why
            why = _refusal(where)
            if why is not None:
                found[_key(where)] = why
    return list(found.items())


def _class_targets(value, out: list) -> None:
    if isinstance(value, dict):
        if set(value) == {"$class"}:
            out.append(value["$class"])
        for v in value.values():
            _class_targets(v, out)
    elif isinstance(value, list):
        for v in value:
            _class_targets(v, out)


def exit_text(exc: SystemExit) -> str:
    """What a person's code that raised SystemExit did, in words: "it called sys.exit(3)"."""
    return f"it called sys.exit({shown(repr(exc.code), 80) if exc.code is not None else ''})"


def _import(where: str, trusted: bool = False):
    if not where.endswith(".py"):
        never = _module_refusal(where)
        if never:                 # (a program, even where the code is trusted: it is no class's home)
            raise OpaqueError(never)
        why = None if trusted else _refusal(where)
        if why is not None and _TRUST_RUN:
            _ALLOWED[where] = None
            _record(trust.remember_package, where)
        elif why is not None:
            raise OpaqueError(why)
        try:
            return importlib.import_module(where)
        except SystemExit as exc:     # a module that ends the program as it loads: in words, and Layerloom goes on
            raise OpaqueError(f"importing the module {where} of this Opaque block failed: {exit_text(exc)}") from None
        except Exception as exc:
            raise OpaqueError(f"the module {where} of this Opaque block cannot be imported "
                              f"({type(exc).__name__}: {exc})") from None
    path = Path(where).resolve()
    if str(path) in _FILE_MODULES:      # it ran, allowed, in this process: nothing new runs
        return _FILE_MODULES[str(path)]
    if not path.is_file():
        raise OpaqueError(f"this Opaque block's code is in {path}, which does not exist any more")
    try:
        data = path.read_bytes()        # what is checked is what runs
    except OSError as exc:
        raise OpaqueError(f"this Opaque block's code in {path} cannot be read ({exc.strerror or exc})") from None
    digest = trust.sha256(data)
    why = None if trusted else _refusal(str(path), digest)
    if why is not None and _TRUST_RUN:
        _ALLOWED[str(path)] = digest
        _record(trust.remember_file, str(path), digest)
    elif why is not None:
        raise OpaqueError(why)
    name = "layerloom_user_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        exec(compile(data, str(path), "exec"), module.__dict__)    # the person's own file, allowed above
    except SystemExit as exc:     # sys.exit() in the file: it failed to load, said so (Ctrl-C still interrupts)
        sys.modules.pop(name, None)
        raise OpaqueError(f"running {path} failed: {exit_text(exc)}") from None
    except Exception as exc:
        sys.modules.pop(name, None)
        raise OpaqueError(f"running {path} failed ({type(exc).__name__}: {exc})") from None
    _FILE_MODULES[str(path)] = module
    _FILE_OF_MODULE[name] = str(path)
    _RAN[str(path)] = digest
    return module


def load_file_module(path) -> object:
    """Run a Python file the person asked to import (allowing it for Opaque blocks) and return it."""
    path = str(Path(path).resolve())
    module = _import(path, trusted=True)
    _ALLOWED[path] = _RAN.get(path) or _ALLOWED.get(path)
    return module


def target_of(cls: type) -> str:
    """The Opaque target of a class: "package.module:Class", or "/path/file.py:Class" for a class
    from a Python file loaded by `load_file_module`."""
    where = _FILE_OF_MODULE.get(cls.__module__, cls.__module__)
    return f"{where}:{cls.__qualname__}"


def resolve_class(target: str, trusted: bool = False) -> type:
    where, qualname = split_target(target)
    obj = _import(where, trusted)
    obj = _walk(obj, where, qualname)
    if not (isinstance(obj, type) and issubclass(obj, torch.nn.Module)):
        raise OpaqueError(f"{target} is not a torch.nn.Module class; an Opaque block only constructs modules")
    return obj


def _walk(module, where: str, qualname: str) -> type:
    """`module.a.b` for qualname "a.b", refusing anything defined outside the package it was asked from:
    "torch.utils.cpp_extension:subprocess.Popen" names a class of the standard library, not of torch."""
    obj = module
    parts = qualname.split(".")
    for i, part in enumerate(parts):
        if part.startswith("__"):
            raise OpaqueError(f'"{where}:{qualname}" reaches into Python internals; name a class directly')
        if part.startswith("_") and i < len(parts) - 1 and where.split(".")[0] in TRUSTED_PACKAGES:
            # torch's lazy attributes import modules ("torch:_dynamo.X"): as the module path would
            raise OpaqueError(f'"{where}:{qualname}" reaches into a private part of {where.split(".")[0]} ({part}); '
                              "name the class where it is public (such as torch.nn:Linear)")
        obj = getattr(obj, part, None)
        if obj is None:
            raise OpaqueError(f"{where} has no {qualname}")
    home = getattr(obj, "__module__", "") or ""
    package = where if where.endswith(".py") else where.split(".")[0]
    own = home == getattr(module, "__name__", None) or home.split(".")[0] == package
    if not isinstance(obj, type):
        raise OpaqueError(f"{where}:{qualname} is not a torch.nn.Module class; an Opaque block only constructs "
                          "modules")
    if not own:
        raise OpaqueError(f'"{where}:{qualname}" is not a class of {package}; an Opaque block only uses classes '
                          "defined in the package or file it names")
    return obj


def _decode(value, trusted: bool = False):
    if isinstance(value, dict):
        if set(value) == {"$class"}:
            where, qualname = split_target(value["$class"])
            obj = _walk(_import(where, trusted), where, qualname)
            if not issubclass(obj, torch.nn.Module):
                raise OpaqueError(f'{value["$class"]} is not a torch.nn.Module class; class arguments of an '
                                  "Opaque block are layer types such as torch.nn:BatchNorm2d")
            return obj
        return {k: _decode(v, trusted) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v, trusted) for v in value]
    return value


def encode_argument(value):
    """A constructor argument as JSON data, or raise TypeError when it cannot be one."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [encode_argument(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: encode_argument(v) for k, v in value.items()}
    if isinstance(value, type):
        return {"$class": f"{value.__module__}:{value.__qualname__}"}
    raise TypeError(f"{type(value).__name__} is not plain data")


def opaque_module(target: str, args: list, kwargs: dict, trusted: bool = False) -> torch.nn.Module:
    """Construct the module; `trusted=True` skips the allow-list (generated code the person runs)."""
    cls = resolve_class(target, trusted)
    try:
        return cls(*_decode(list(args or []), trusted), **_decode(dict(kwargs or {}), trusted))
    except OpaqueError:
        raise
    except SystemExit as exc:
        raise OpaqueError(f"constructing {target} failed: {exit_text(exc)}") from None
    except Exception as exc:
        raise OpaqueError(f"constructing {target} failed ({type(exc).__name__}: {exc})") from None


def _opaque_forward(call, inputs, params):
    if not isinstance(inputs[0], torch.Tensor) or inputs[0].device.type != "meta":
        return call(*inputs)                       # compiling: records a call_module node
    try:
        y = call(*inputs)
    except OpaqueError:
        raise
    except SystemExit as exc:         # its forward ends the program: the block's problem, in words
        raise OpaqueError(f"running {params['target']} failed: {exit_text(exc)}") from None
    except Exception as exc:
        # The module's code looks at values (a data-dependent branch): run it once on real zeros,
        # when its weights and inputs fit in memory (a file may name Linear(100000, 100000)).
        need = sum(t.numel() * t.element_size() for t in (*call.parameters(), *call.buffers(), *inputs))
        if need > REAL_RUN_BYTES:
            raise OpaqueError(
                f"{params['target']} does not run on shape-only tensors ({shown(str(exc), 160)}), and running it "
                f"once on real zeros would need {need / 2**30:,.1f} GB of memory (at most "
                f"{REAL_RUN_BYTES // 2**30} GB is used for that): check its arguments against its input") from None
        module = opaque_module(params["target"], params["args"], params["kwargs"]).eval()
        try:
            with torch.no_grad():
                y = module(*[torch.zeros(x.shape, dtype=x.dtype) for x in inputs])
        except SystemExit as exit_:
            raise OpaqueError(f"running {params['target']} failed: {exit_text(exit_)}") from None
        y = y.to("meta") if isinstance(y, torch.Tensor) else y
    if not isinstance(y, torch.Tensor):
        raise OpaqueError(f"the module returns {type(y).__name__}; an Opaque block must return one tensor")
    return y


def _code(params: dict) -> tuple[str, str]:
    """Generated code constructs the module through this file (the person chose to run that code)."""
    args = ", ".join(py_literal(params[k], f"Opaque {k}", width=10**6) for k in ("target", "args", "kwargs"))
    return "from layerloom.graph.opaque import opaque_module", f"opaque_module({args}, trusted=True)"


register(BlockKind(
    "Opaque", "Opaque",
    "A module Layerloom has no block kind for, run as itself: it keeps its import path and constructor "
    "arguments (as data), and its shapes are computed by running it.",
    params=(
        Param("target", "text", "torch.nn:Identity", 'where the class lives: "package.module:Class" or '
              '"path/to/file.py:Class"'),
        Param("args", "json", [], "constructor arguments (a JSON list)"),
        Param("kwargs", "json", {}, "constructor keyword arguments (a JSON object)"),
        Param("origin", "text", "", "where the block came from"),
        Param("num_inputs", "int", 1, "number of tensors the module takes", min=1, max=16),
    ),
    module=opaque_module, forward=_opaque_forward, inputs="num_inputs",
    module_params=("target", "args", "kwargs"), code=_code,
    label=lambda p: p["target"].rpartition(":")[2],
))
