"""Parameter schemas: the type, default, bounds and choices of every block parameter.

One `Param` describes one keyword argument of a `torch.nn` module (or of a Layerloom block
such as Input). The same schema validates files on load, edits in the inspector and values
in analysis, so a value that passes here is one the block's factory accepts.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .quoting import shown

AUTO = "auto"

# Parameter types:
#   int      a whole number (bools are refused)
#   float    any real number (ints accepted)
#   bool     true/false
#   choice   one string out of `choices`
#   size     an int, or a list of `length` ints (kernel_size=3 or [3, 5]); `strings` may allow
#            named values such as padding="same"
#   shape    a list of ints (Input shape, Reshape shape, Permute dims, LayerNorm shape)
#   text     a short string (an Opaque block's import path and origin)
#   json     plain JSON data: null, true/false, numbers, strings, lists and objects (an Opaque
#            block's constructor arguments); never code, never a pickle
PARAM_TYPES = ("int", "float", "bool", "choice", "size", "shape", "text", "json")
MAX_TEXT = 2000
MAX_JSON_ITEMS = 10_000


class ParamError(ValueError):
    """A parameter value that the block cannot take; the message says why and what fits."""


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    default: Any
    doc: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    auto: bool = False          # accepts "auto": filled in from the incoming tensor's shape
    optional: bool = False      # accepts null (torch's None)
    length: int | None = None   # for "size": how many ints a list form must have
    strings: tuple[str, ...] = ()  # extra named values a "size" accepts ("same", "valid")
    allow_negative_one: bool = False  # for "shape": one -1 may stand for "the rest"
    min_items: int = 1
    max_items: int = 8
    hidden: bool = field(default=False, compare=False)  # not shown in the inspector
    # "auto" filled from the data set rather than the input shape: "vocab_size" or "num_classes";
    # until a data set is known, analysis uses `data_fallback`.
    data_auto: str | None = None
    data_fallback: int | None = None

    def __post_init__(self):
        if self.type not in PARAM_TYPES:
            raise TypeError(f"unknown param type {self.type!r}")

    # -- validation ---------------------------------------------------------------------------
    def check(self, value: Any) -> Any:
        """Return the value normalised (tuples -> lists) or raise ParamError."""
        if value is None:
            if self.optional or self.default is None:
                return None
            raise ParamError(f"{self.name} cannot be empty; {self.expects()}")
        if isinstance(value, str) and value == AUTO:
            if self.auto:
                return AUTO
            raise ParamError(f"{self.name} does not accept \"auto\"; {self.expects()}")
        t = self.type
        if t == "bool":
            if isinstance(value, bool):
                return value
            raise ParamError(f"{self.name} must be true or false, not {_show(value)}")
        if t == "int":
            return self._check_int(value, self.name)
        if t == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ParamError(f"{self.name} must be a number, not {_show(value)}")
            try:
                value = float(value)
            except OverflowError:
                raise ParamError(f"{self.name} must be a number{self._range()}, not one with "
                                 f"about {int(value.bit_length() * 0.30103) + 1} digits") from None
            if not math.isfinite(value):
                raise ParamError(f"{self.name} must be a finite number, not {value}")
            self._check_bounds(value, self.name)
            return value
        if t == "choice":
            if isinstance(value, str) and value in self.choices:
                return value
            raise ParamError(f"{self.name} must be one of {', '.join(self.choices)}; got {_show(value)}")
        if t == "size":
            if isinstance(value, str):
                if value in self.strings:
                    return value
                raise ParamError(f"{self.name} {self.expects()}; got {_show(value)}")
            if isinstance(value, (list, tuple)):
                if self.length is not None and len(value) != self.length:
                    raise ParamError(
                        f"{self.name} must be one number or a list of {self.length} "
                        f"number{'s' if self.length != 1 else ''}; "
                        f"got {len(value)} number{'s' if len(value) != 1 else ''}")
                return [self._check_int(v, self.name) for v in value]
            return self._check_int(value, self.name)
        if t == "shape":
            if not isinstance(value, (list, tuple)):
                raise ParamError(f"{self.name} must be a list of whole numbers such as [1, 28, 28]; got {_show(value)}")
            if not (self.min_items <= len(value) <= self.max_items):
                raise ParamError(
                    f"{self.name} must have between {self.min_items} and {self.max_items} entries; got {len(value)}")
            out = []
            for v in value:
                if isinstance(v, bool) or not isinstance(v, int):
                    raise ParamError(f"{self.name} must contain whole numbers only; got {_show(v)}")
                if v == -1 and self.allow_negative_one:
                    out.append(v)
                    continue
                self._check_bounds(v, self.name)
                out.append(v)
            if out.count(-1) > 1:
                raise ParamError(f"{self.name} may contain at most one -1")
            return out
        if t == "text":
            if not isinstance(value, str):
                raise ParamError(f"{self.name} must be text, not {_show(value)}")
            if len(value) > MAX_TEXT:
                raise ParamError(f"{self.name} is {len(value)} characters long; at most {MAX_TEXT} fit")
            return value
        if t == "json":
            return _check_json(value, self.name)
        raise AssertionError(t)

    def _check_int(self, value: Any, label: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise ParamError(f"{label} must be a whole number, not {_show(value)}")
        self._check_bounds(value, label)
        return value

    def _check_bounds(self, value: float, label: str) -> None:
        if self.min is not None and value < self.min:
            raise ParamError(f"{label} must be at least {_num(self.min)}; got {_num(value)}")
        if self.max is not None and value > self.max:
            raise ParamError(f"{label} must be at most {_num(self.max)}; got {_num(value)}")

    def expects(self) -> str:
        """Plain words for what this parameter takes: `expects a whole number from 1 to 1024, ...`."""
        return "expects " + self.takes()

    def takes(self) -> str:
        """The values this parameter takes, as a sentence ends with them (`set it to ...`)."""
        t = self.type
        parts = []
        if t == "int":
            parts.append("a whole number" + self._range())
        elif t == "float":
            parts.append("a number" + self._range())
        elif t == "bool":
            parts.extend(["true", "false"] if self.optional else ["true or false"])
        elif t == "choice":
            parts.append("one of " + ", ".join(self.choices))
        elif t == "size":
            n = ("a list of whole numbers" if not self.length else "a list of 1 whole number" if self.length == 1
                 else f"a list of {self.length} whole numbers")
            parts.append(f"a whole number{self._range()}")
            parts.append(n)
            parts.extend(f'"{s}"' for s in self.strings)
        elif t == "shape":
            parts.append("a list of whole numbers")
        elif t == "text":
            parts.append("text")
        elif t == "json":
            parts.append("JSON data")
        if self.auto:
            parts.append('"auto"')
        if self.optional:
            parts.append("empty")
        return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]

    def _range(self) -> str:
        if self.min is not None and self.max is not None:
            return f" from {_num(self.min)} to {_num(self.max)}"
        if self.min is not None:
            return f" ≥ {_num(self.min)}"
        if self.max is not None:
            return f" ≤ {_num(self.max)}"
        return ""


def _num(v: float) -> str:
    if isinstance(v, int):
        text = str(v)
        return text if len(text) <= 20 else f"a number with {len(text.lstrip('-'))} digits"
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def _show(value: Any) -> str:
    """A value as a message quotes it: one printable line (a newline or an escape in a file's text shows
    escaped), cut at 40 characters."""
    text = repr(value) if not isinstance(value, str) else f'"{value}"'
    return shown(text, 40)


def _check_json(value: Any, name: str) -> Any:
    """A copy of `value` if it is plain JSON data (lists for tuples), else ParamError."""
    count = 0

    def walk(v, depth):
        nonlocal count
        count += 1
        if count > MAX_JSON_ITEMS or depth > 32:
            raise ParamError(f"{name} is too large or too deeply nested")
        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, int):
            return v
        if isinstance(v, float):
            if not math.isfinite(v):
                raise ParamError(f"{name} must contain finite numbers only; got {v}")
            return v
        if isinstance(v, (list, tuple)):
            return [walk(x, depth + 1) for x in v]
        if isinstance(v, dict):
            if not all(isinstance(k, str) for k in v):
                raise ParamError(f"{name}: object keys must be strings")
            return {k: walk(x, depth + 1) for k, x in v.items()}
        raise ParamError(f"{name} must be plain JSON data (numbers, text, lists, objects); got {_show(v)}")
    return walk(value, 0)
