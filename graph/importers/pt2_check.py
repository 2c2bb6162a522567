"""What a .pt2 file may hold before torch.export.load reads it.

torch.export.load runs code from the file (its documentation: never load one from an untrusted
source) in four ways: pickled tensors and constants (torch.load with weights_only=False, and its
fallback to it), pickled and TorchScript objects among the constants, shape expressions that
sympy parses with eval, and names of weights that torch.fx pastes into the Python code it
generates. Layerloom reads a .pt2 only when the file holds none of them:

  - every name (of a weight, constant, node, input or module) is a dotted Python name (a weight's path may
    also hold "-", which torch writes inside quotes);
  - every shape expression is arithmetic on shape symbols (s0, u1) with sympy's and torch's
    shape functions, numbers and operators, nothing else;
  - no constant is an object and no payload is pickled;
  - every guard (Python that torch runs as the program becomes a module) is arithmetic on the input's
    sizes, and every call is of an operator of torch, operator or math (pt2_guards.py);

and while torch loads it, torch.load reads plain tensors only (TORCH_FORCE_WEIGHTS_ONLY_LOAD).
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import warnings
import zipfile

from ..quoting import shown
from .fx_import import ImportFailure
from .pt2_guards import plain_guard, plain_target

JSON_BYTES = 256 * 2**20    # the program and its configs together (ResNet-50's program is about 2 MB)
NAME = re.compile(r"[A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*")
NAME_KEYS = {"name", "fqn", "target"}
# a weight's path may also hold "-" (torchvision's RegNet names its blocks block1-0): where torch pastes such a path
# into code it writes a part that is not a Python name as getattr(self, "block1-0"), inside quotes
PATH = re.compile(r"[A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*")
PATH_KEYS = {"fqn", "parameter_name", "buffer_name", "tensor_constant_name"}
TOKEN = re.compile(r"\s+|\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|'[A-Za-z_][A-Za-z0-9_]*'|[A-Za-z_][A-Za-z0-9_]*|\*\*|//|"
                   r"[-+*/%(),<>=!&|~]")
SYMBOL = re.compile(r"[a-z]{1,4}\d+")
SYMPY_NAMES = {"Symbol", "Integer", "Rational", "Float", "Max", "Min", "Abs", "Mod", "floor", "ceiling", "Eq",
               "Ne", "Lt", "Le", "Gt", "Ge", "And", "Or", "Not", "sqrt", "Pow", "Mul", "Add", "oo", "zoo", "nan",
               "True", "False", "positive", "negative", "nonnegative", "nonpositive", "integer", "real", "finite",
               "infinite", "zero", "nonzero", "even", "odd", "commutative", "Piecewise", "ITE"}


def _shape_functions() -> set[str]:
    import torch.utils._sympy.functions as functions
    return {n for n in dir(functions) if not n.startswith("_") and isinstance(getattr(functions, n), type)}


def _plain_expression(text: str, allowed: set[str]) -> bool:
    """Shape arithmetic only: allowed names and symbols, numbers of at most 20 digits, operators, and
    powers of a number or symbol by at most 64 (sympy evaluates 10**10**10 as it parses)."""
    tokens, pos = [], 0
    while pos < len(text) and len(text) <= 10_000:
        m = TOKEN.match(text, pos)
        if m is None:
            return False
        if not m.group().isspace():
            tokens.append(m.group())
        pos = m.end()
    if pos < len(text):
        return False
    for i, token in enumerate(tokens):
        if (token[0].isalpha() or token[0] == "_") and token not in allowed and not SYMBOL.fullmatch(token):
            return False
        if token[0].isdigit() and len(token) > 20:
            return False
        if token == "**" and not (0 < i and tokens[i - 1] != ")" and i + 1 < len(tokens) and tokens[i + 1].isdigit()
                                  and int(tokens[i + 1]) <= 64 and tokens[i + 2:i + 3] != ["**"]):
            return False    # a power of a symbol or a number, by a small number, never raised again
    return True


def refusal(path, what: str) -> ImportFailure:
    return ImportFailure(f"{path} holds {what}, which could run code as the file loads: Layerloom imports a "
                         ".pt2 only when it holds plain tensors and a program (export it again with "
                         "torch.export.save, or import the model.py it came from)")


def check_pt2(path) -> None:
    """Raise ImportFailure when the .pt2 file at `path` holds something that would run code as it loads."""
    def refuse(what: str):
        raise refusal(path, what)

    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ImportFailure(f"{path} is not a torch.export program file ({shown(str(exc), 120)})") from None
    allowed = SYMPY_NAMES | _shape_functions()
    with archive:
        unpacked, size = sum(i.file_size for i in archive.infolist()), os.path.getsize(path)
        if unpacked > size + 2**20:     # torch.export.save stores its members; torch would inflate them all
            raise ImportFailure(f"{path} unpacks to {unpacked / 2**20:,.0f} MB from a file of {size / 2**20:,.1f} MB; "
                                "torch.export.save never writes that: export the program again")
        # files saved with extra_files= (Layerloom's own layerloom.json) are text that torch.export.load reads only
        # when asked for them by name: not program, so not held to its rules
        members = [i for i in archive.infolist() if i.filename.endswith(".json")
                   and i.filename.split("/")[1:2] != ["extra"]]
        if sum(i.file_size for i in members) > JSON_BYTES:
            raise ImportFailure(f"{path} holds more than {JSON_BYTES // 2**20} MB of program text; it is not a "
                                "program Layerloom can import")
        for info in members:
            try:
                data = json.loads(archive.read(info))
            except (ValueError, RecursionError, zipfile.BadZipFile, OSError) as exc:
                raise ImportFailure(f"{path} is not a torch.export program file ({info.filename}: "
                                    f"{shown(str(exc), 120)})") from None
            configured = isinstance(data, dict) and isinstance(data.get("config"), dict)
            if info.filename.endswith("_config.json") and configured:
                for key, entry in data["config"].items():
                    if not PATH.fullmatch(key):
                        refuse(f"a weight named {shown(json.dumps(key))}")
                    if not isinstance(entry, dict) or entry.get("use_pickle") is not False:
                        refuse(f"a pickled payload ({shown(key)})")
                    if not str(entry.get("path_name", "")).startswith(("weight_", "tensor_")):
                        refuse(f"an object among its constants ({shown(key)})")
            guards = data.get("guards_code", []) if isinstance(data, dict) else []
            if not isinstance(guards, list) or not all(isinstance(g, str) for g in guards):
                refuse(f"guards that are not a list of text ({shown(json.dumps(guards), 120)})")
            for key, value in _strings(data):
                if key == "guards_code" and not plain_guard(value):
                    refuse(f"a guard that is not arithmetic on the input's sizes ({shown(json.dumps(value))})")
                if key == "target" and not plain_target(value):
                    refuse(f"a call of {shown(json.dumps(value))}, which is not an operator of torch, operator or math")
                if key == "expr_str" and not _plain_expression(value, allowed):
                    refuse(f"a shape expression that is not arithmetic ({shown(json.dumps(value))})")
                named = PATH if key in PATH_KEYS else NAME
                if (key in NAME_KEYS or key.endswith("_name")) and not named.fullmatch(value):
                    refuse(f"a name that is not a Python name ({shown(json.dumps(value))})")


def layerloom_steps(path) -> int | None:
    """The number of steps its graph was drawn for when the .pt2 file at `path` (already checked) is Layerloom's
    own export of a sequence model (its extra file layerloom.json describes a Layerloom model with a T or T×F
    input), else None."""
    try:
        with zipfile.ZipFile(path) as archive:
            member = next((i for i in archive.infolist() if i.filename.endswith("/extra/layerloom.json")), None)
            if member is None or member.file_size > JSON_BYTES:
                return None
            meta = json.loads(archive.read(member))
    except (ValueError, RecursionError, zipfile.BadZipFile, OSError):
        return None
    shape = meta.get("input_shape") if isinstance(meta, dict) and meta.get("format") == "layerloom.model" else None
    if isinstance(shape, list) and len(shape) in (1, 2) and isinstance(shape[0], int) \
            and not isinstance(shape[0], bool) and 1 <= shape[0] <= 65536:
        return shape[0]
    return None


def _strings(data, key: str = ""):
    """(key, text) of every string in parsed JSON, with the key of the object that holds it."""
    stack = [(key, data)]
    while stack:
        key, value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.items())
        elif isinstance(value, list):
            stack.extend((key, v) for v in value)
        elif isinstance(value, str):
            yield key, value


@contextlib.contextmanager
def plain_tensors_only():
    """While torch loads a .pt2: torch.load reads plain tensors only (no fallback to full pickle), and
    torch's own log lines and warnings about a file it cannot read stay quiet (the failure is reported once)."""
    saved = os.environ.get("TORCH_FORCE_WEIGHTS_ONLY_LOAD")
    logger = logging.getLogger("torch.export")
    level = logger.level
    os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
    logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
        if saved is None:
            os.environ.pop("TORCH_FORCE_WEIGHTS_ONLY_LOAD", None)
        else:
            os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = saved
