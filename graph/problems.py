"""A problem in plain words: the `Diagnostic` record, and the pieces every explanation is worded
with (shapes as text, a block's signature, the fixes offered as data).

Nothing here knows a block kind by name: the block registry (graph/blocks.py) holds each kind's
own facts, and the kinds' explain hooks (graph/failures.py) are written with these pieces.
"""
from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Diagnostic:
    block: str | None          # the block it is about; None for the graph as a whole
    message: str               # a sentence without the block id
    code: str                  # machine-readable kind of problem
    severity: str = "error"    # error | warning | info
    fix: dict | None = None    # {"action": ..., "label": ...} where the fix is obvious

    def for_block(self, block_id: str) -> "Diagnostic":
        fix = dict(self.fix, block=block_id) if self.fix else None
        if fix and "label" in fix:
            fix["label"] = fix["label"].replace("{block}", block_id)
        return replace(self, block=block_id, fix=fix)

    @property
    def text(self) -> str:
        return f"{self.block}: {self.message}" if self.block else self.message


class Findings:
    """What a check found, sorted by severity (for classes that hold a `diagnostics` list)."""

    diagnostics: list

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]

    @property
    def infos(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "info"]


class RankError(Exception):
    """A sample of the wrong rank for the kind (args: the rank and its form, e.g. (3, "C×H×W"))."""


class BlockProblem(ValueError):
    """Raised while building or running a block with a message that is already a sentence for the user."""

    code = "block"


FLATTEN_FIX = {"action": "insert_before", "kind": "Flatten", "label": "Insert a Flatten before {block}"}


def fix_auto(param: str) -> dict:
    return {"action": "set_param", "param": param, "value": "auto", "label": f'Set {param} to "auto"'}


def count(n, noun: str, plural: str | None = None) -> str:
    """`1 input channel`, `3 input channels`: a number with its noun in the right number."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def scalar_text(kind_name: str) -> str:
    """What a block that needs a dimension says of a scalar sample."""
    return (f"{kind_name} needs at least one dimension per sample but receives a scalar: insert a Reshape to [1] "
            "before it, or, if a Select upstream took away the last dimension, remove that Select.")


def shape_text(shape) -> str:
    if shape is None:
        return "?"
    if len(shape) == 0:
        return "a scalar"
    return "×".join(str(s) for s in shape)


def signature(kind, params: dict, also=()) -> str:
    """`MaxPool2d(kernel_size=3, stride=2)`: the params that differ from the defaults, and the kind's
    key params (its `key_params`) and those named in `also` always."""
    parts = []
    for p in kind.params:
        v = params.get(p.name, p.default)
        if (p.auto and not p.data_auto) or p.name in ("output", "num_inputs"):
            continue
        if v != p.default or p.name in kind.key_params or p.name in also:
            parts.append(f"{p.name}={_value_text(v)}")
    return f"{kind.name}({', '.join(parts)})"


def _value_text(v) -> str:
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, list):
        return "(" + ", ".join(str(x) for x in v) + ")"
    return str(v)


@dataclass(frozen=True)
class Failure:
    """What an explain hook is given: the kind, its resolved params, its inputs and torch's exception."""
    kind: object
    params: dict
    inputs: list            # [(sample shape, dtype name)]
    exc: Exception

    @property
    def shapes(self) -> list:
        return [s for s, _ in self.inputs]

    @property
    def dtypes(self) -> list:
        return [d for _, d in self.inputs]

    @property
    def x(self) -> tuple:
        """The first input's sample shape (() when there is none)."""
        return self.inputs[0][0] if self.inputs else ()

    @property
    def xt(self) -> str:
        return shape_text(self.x)

    @property
    def sig(self) -> str:
        return signature(self.kind, self.params)

    @property
    def raw(self) -> str:
        """The first line of torch's message."""
        text = str(self.exc).strip()
        return text.splitlines()[0] if text else type(self.exc).__name__


def rank_problem(failure: Failure, hint: str | None = None) -> Diagnostic:
    """The sentence for a sample of the wrong rank; `hint` replaces the generic advice."""
    rank, form = failure.exc.args
    x = failure.x
    if hint is None:
        hint = ("Insert a Reshape before it to give each sample that shape"
                if len(x) < rank else "Insert a Flatten or Reshape before it to drop the extra dimensions")
    return Diagnostic("", f"{failure.kind.name} needs a {form} input ({rank}-D per sample) but receives "
                          f"{failure.xt} ({len(x)}-D). {hint}.", "rank")
